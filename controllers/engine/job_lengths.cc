#include "controllers/engine/job_lengths.h"

#include <algorithm>
#include <charconv>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "controllers/values/strings.h"
#include "controllers/values/validation.h"

namespace bursar::engine {
namespace {

constexpr std::string_view kVersion = "v1";
constexpr int64_t kMostSeconds = int64_t{366} * 86400;  // a Job's learned length, at most
constexpr int64_t kMostWeight = 100000;                 // GPUs of one Job (kMaxTraceGpus)

using values::AbslView;

absl::Status Corrupt(const std::string& why) {
  return absl::InvalidArgumentError(absl::StrCat("jobLengths: ", why));
}

// "<key>=<value>" -> value, or an error naming the key.
absl::StatusOr<std::string_view> Field(std::string_view part, std::string_view key) {
  if (!part.starts_with(key) || part.substr(key.size(), 1) != "=") {
    return Corrupt(absl::StrCat("expected \"", AbslView(key), "=\""));
  }
  return part.substr(key.size() + 1);
}

// The parts of `text` between `sep`s, at most `most` (the last one keeps the rest); none when
// `text` is empty.
std::vector<std::string_view> Split(std::string_view text, char sep, size_t most = SIZE_MAX) {
  std::vector<std::string_view> out;
  while (!text.empty() || !out.empty()) {
    size_t at = out.size() + 1 == most ? std::string_view::npos : text.find(sep);
    out.push_back(text.substr(0, at));
    if (at == std::string_view::npos) {
      break;
    }
    text.remove_prefix(at + 1);
    if (text.empty()) {
      out.emplace_back();
      break;
    }
  }
  return out;
}

bool ParseInt(std::string_view text, int64_t* out) {
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), *out);
  return ec == std::errc() && end == text.data() + text.size() && !text.empty();
}

}  // namespace

std::optional<uint8_t> JobLengths::FindModel(std::string_view model) const {
  for (size_t i = 0; i < models_.size(); ++i) {
    if (models_[i] == model) {
      return static_cast<uint8_t>(i);
    }
  }
  return std::nullopt;
}

uint8_t JobLengths::ModelIndex(std::string_view model) {
  if (model.empty() || model.size() > kMaxModelName || !values::IsLabelValue(model)) {
    return kNoModel;
  }
  if (std::optional<uint8_t> i = FindModel(model)) {
    return *i;
  }
  if (models_.size() < kMaxModels) {
    models_.emplace_back(model);
    return static_cast<uint8_t>(models_.size() - 1);
  }
  for (size_t i = 0; i < kMaxModels; ++i) {
    if (model_count_[i] == 0) {
      models_[i] = std::string(model);
      return static_cast<uint8_t>(i);
    }
  }
  return kNoModel;
}

void JobLengths::EvictOldest() {
  if (size_ < kCapacity) {
    return;
  }
  const Sample& old = samples_[next_];
  all_seconds_ -= old.seconds;
  if (old.model != kNoModel) {
    model_seconds_[old.model] -= old.seconds;
    --model_count_[old.model];
  }
  --size_;
}

void JobLengths::Push(const Sample& s) {
  EvictOldest();
  samples_[next_] = s;
  all_seconds_ += s.seconds;
  if (s.model != kNoModel) {
    model_seconds_[s.model] += s.seconds;
    ++model_count_[s.model];
  }
  next_ = (next_ + 1) % kCapacity;
  ++size_;
  ++version_;
}

void JobLengths::Add(absl::Duration length, int64_t gpus, std::string_view model,
                     absl::Time ended) {
  // Forget the oldest sample before choosing a model index, so that a name only it referred to
  // may be reused.
  EvictOldest();
  const uint8_t index = ModelIndex(model);
  Push({.seconds = std::clamp<int64_t>(absl::ToInt64Seconds(length), 0, kMostSeconds),
        .weight = std::clamp<int64_t>(gpus, 1, kMostWeight),
        .model = index});
  learned_until_ = std::max(learned_until_, ended);
}

double JobLengths::FractionLongerThan(absl::Duration left) const {
  if (size_ == 0) {
    return 1.0;
  }
  const int64_t left_s = absl::ToInt64Seconds(left);
  int64_t longer = 0;
  int64_t total = 0;
  for (size_t i = 0; i < size_; ++i) {
    total += samples_[i].weight;
    if (samples_[i].seconds > left_s) {
      longer += samples_[i].weight;
    }
  }
  return static_cast<double>(longer) / static_cast<double>(total);
}

std::optional<absl::Duration> JobLengths::Typical(std::string_view model) const {
  const std::optional<uint8_t> index = model.empty() ? std::nullopt : FindModel(model);
  if (index.has_value() && std::cmp_greater_equal(model_count_[*index], kLeastSamples)) {
    return absl::Seconds(model_seconds_[*index] / model_count_[*index]);
  }
  if (size_ >= kLeastSamples) {
    return absl::Seconds(all_seconds_ / static_cast<int64_t>(size_));
  }
  return std::nullopt;
}

std::string JobLengths::Encode() const {
  std::string out = absl::StrCat(
      AbslView(kVersion), ";until=",
      learned_until_ == absl::InfinitePast() ? int64_t{0} : absl::ToUnixSeconds(learned_until_),
      ";models=", absl::StrJoin(models_, ","), ";samples=");
  for (size_t i = 0; i < size_; ++i) {
    const Sample& s = At(i);
    absl::StrAppend(&out, i == 0 ? "" : " ", s.seconds, "x", s.weight);
    if (s.model != kNoModel) {
      absl::StrAppend(&out, "/", s.model);
    }
  }
  return out;
}

absl::StatusOr<JobLengths> JobLengths::Decode(std::string_view text) {
  if (text.size() > kMaxEncodedBytes) {
    return Corrupt(absl::StrCat(text.size(), " bytes, more than ", kMaxEncodedBytes));
  }
  std::vector<std::string_view> parts = Split(text, ';');
  if (parts.size() != 4 || parts[0] != kVersion) {
    return Corrupt("expected \"v1;until=...;models=...;samples=...\"");
  }
  JobLengths out;
  absl::StatusOr<std::string_view> until = Field(parts[1], "until");
  int64_t until_s = 0;
  if (!until.ok()) {
    return until.status();
  }
  if (!ParseInt(*until, &until_s) || until_s < 0) {
    return Corrupt(absl::StrCat("until: \"", AbslView(*until), "\" is not a Unix time"));
  }
  absl::StatusOr<std::string_view> models = Field(parts[2], "models");
  if (!models.ok()) {
    return models.status();
  }
  std::vector<std::string> names;
  for (std::string_view name : Split(*models, ',')) {
    names.emplace_back(name);
  }
  if (names.size() > kMaxModels) {
    return Corrupt(absl::StrCat("models: ", names.size(), " names, more than ", kMaxModels));
  }
  for (const std::string& name : names) {
    if (name.empty() || !values::IsLabelValue(name)) {
      return Corrupt(absl::StrCat("models: \"", name, "\" is not a label value"));
    }
  }
  absl::StatusOr<std::string_view> samples = Field(parts[3], "samples");
  if (!samples.ok()) {
    return samples.status();
  }
  std::vector<std::string_view> items = Split(*samples, ' ');
  if (items.size() > kCapacity) {
    return Corrupt(absl::StrCat("samples: ", items.size(), ", more than ", kCapacity));
  }
  for (std::string_view item : items) {
    std::vector<std::string_view> length_rest = Split(item, 'x', 2);
    std::vector<std::string_view> weight_model =
        length_rest.size() == 2 ? Split(length_rest[1], '/', 2) : std::vector<std::string_view>{};
    int64_t seconds = 0, weight = 0, model = kNoModel;
    if (weight_model.empty() || !ParseInt(length_rest[0], &seconds) ||
        !ParseInt(weight_model[0], &weight) ||
        (weight_model.size() == 2 && !ParseInt(weight_model[1], &model)) || seconds < 0 ||
        seconds > kMostSeconds || weight < 1 || weight > kMostWeight ||
        (weight_model.size() == 2 && (model < 0 || std::cmp_greater_equal(model, names.size())))) {
      return Corrupt(absl::StrCat("samples: \"", AbslView(item),
                                  "\" is not <seconds>x<gpus>[/<model index>] within bounds"));
    }
    out.Push({.seconds = seconds, .weight = weight, .model = static_cast<uint8_t>(model)});
  }
  out.models_ = std::move(names);
  if (until_s > 0) {
    out.learned_until_ = absl::FromUnixSeconds(until_s);
  }
  return out;
}

}  // namespace bursar::engine
