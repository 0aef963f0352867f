#include "controllers/signals/drift_inbox.h"

#include <cmath>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "controllers/values/strings.h"

namespace bursar::signals {
namespace {

using values::IsAlnum;

// values::IsLabelValue's rule, non-empty here (a model must be named), with a message per
// failure for the client that sent the report.
absl::Status CheckLabelValue(const std::string& value) {
  if (value.empty()) {
    return absl::InvalidArgumentError("model: must not be empty");
  }
  if (value.size() > 63) {
    return absl::InvalidArgumentError(
        absl::StrCat("model: must be at most 63 characters (got ", value.size(), ")"));
  }
  for (char c : value) {
    if (!IsAlnum(c) && c != '.' && c != '_' && c != '-') {
      return absl::InvalidArgumentError(
          absl::StrCat("model: \"", value, "\" may contain only [A-Za-z0-9._-]"));
    }
  }
  if (!IsAlnum(value.front()) || !IsAlnum(value.back())) {
    return absl::InvalidArgumentError(
        absl::StrCat("model: \"", value, "\" must begin and end with an alphanumeric character"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<engine::ModelDriftSignal> ValidateModelDriftReport(const ModelDriftReport& report,
                                                                  absl::Time now) {
  if (absl::Status s = CheckLabelValue(report.model); !s.ok()) {
    return s;
  }
  if (!std::isfinite(report.score) || report.score < 0.0 || report.score > 1.0) {
    return absl::InvalidArgumentError(
        absl::StrCat("score: must be a finite number within [0, 1] (got ", report.score, ")"));
  }
  if (report.time == absl::InfinitePast() || report.time == absl::InfiniteFuture()) {
    return absl::InvalidArgumentError("time: is required");
  }
  if (report.time - now > kMaxFutureSkew) {
    return absl::InvalidArgumentError(absl::StrCat(
        "time: ", absl::FormatTime(absl::RFC3339_full, report.time, absl::UTCTimeZone()),
        " is more than ", absl::FormatDuration(kMaxFutureSkew), " ahead of the operator's clock"));
  }
  // The source reaches Events and status beside the caller's identity ("<source> as <user>"),
  // so it may not contain spaces or words that could pass for another identity.
  if (report.source.size() > 63) {
    return absl::InvalidArgumentError(
        absl::StrCat("source: must be at most 63 characters (got ", report.source.size(), ")"));
  }
  for (char c : report.source) {
    if (!IsAlnum(c) && c != '.' && c != '_' && c != '-' && c != '/' && c != ':' && c != '@') {
      return absl::InvalidArgumentError(
          absl::StrCat("source: \"", report.source, "\" may contain only [A-Za-z0-9._/:@-]"));
    }
  }
  engine::ModelDriftSignal signal;
  signal.model = report.model;
  // In [0, 1] the product is in [0, 1e6], so the conversion cannot overflow.
  signal.score_micros = static_cast<int64_t>(std::llround(report.score * 1e6));
  signal.metric = report.metric;
  signal.time = report.time;
  signal.source = report.source.empty() ? std::string(kDefaultDriftSource) : report.source;
  return signal;
}

DriftInbox::DriftInbox(size_t capacity) : capacity_(capacity == 0 ? 1 : capacity) {}

void DriftInbox::Push(engine::ModelDriftSignal signal) {
  absl::MutexLock lock(&mu_);
  while (queue_.size() >= capacity_) {
    queue_.pop_front();
    ++dropped_;
  }
  queue_.push_back(std::move(signal));
}

std::vector<engine::ModelDriftSignal> DriftInbox::Drain() {
  std::deque<engine::ModelDriftSignal> taken;
  {
    absl::MutexLock lock(&mu_);
    taken.swap(queue_);
  }
  return {std::make_move_iterator(taken.begin()), std::make_move_iterator(taken.end())};
}

size_t DriftInbox::size() const {
  absl::MutexLock lock(&mu_);
  return queue_.size();
}

uint64_t DriftInbox::dropped() const {
  absl::MutexLock lock(&mu_);
  return dropped_;
}

}  // namespace bursar::signals
