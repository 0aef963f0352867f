#include "operator/kube/watch_decoder.h"

#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "controllers/values/strings.h"
#include "operator/kube/watch_event_type.h"

// The generic half of watch_decoder.h: watch events as json::Value trees, and the line
// assembler. The Pod hot path is in pod_summary_decoder.cc.

namespace bursar::kube {

using values::AbslView;

namespace watch_internal {

std::optional<WatchEvent::Type> ParseEventType(std::string_view s) {
  if (s == "ADDED") {
    return WatchEvent::Type::kAdded;
  }
  if (s == "MODIFIED") {
    return WatchEvent::Type::kModified;
  }
  if (s == "DELETED") {
    return WatchEvent::Type::kDeleted;
  }
  if (s == "BOOKMARK") {
    return WatchEvent::Type::kBookmark;
  }
  if (s == "ERROR") {
    return WatchEvent::Type::kError;
  }
  return std::nullopt;
}

absl::Status NotAnEvent(std::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat("watch event: ", AbslView(why)));
}

}  // namespace watch_internal

using watch_internal::NotAnEvent;
using watch_internal::ParseEventType;

// ---------------------------------------------------------------------------------------------
// Generic watch events.

std::string_view WatchEventTypeName(WatchEvent::Type type) {
  switch (type) {
    case WatchEvent::Type::kAdded:
      return "ADDED";
    case WatchEvent::Type::kModified:
      return "MODIFIED";
    case WatchEvent::Type::kDeleted:
      return "DELETED";
    case WatchEvent::Type::kBookmark:
      return "BOOKMARK";
    case WatchEvent::Type::kError:
      return "ERROR";
  }
  return "";
}

std::string_view WatchEvent::ResourceVersion() const {
  const json::Value* rv = object.FindPath("metadata.resourceVersion");
  return rv != nullptr && rv->is_string() ? std::string_view(rv->string_value())
                                          : std::string_view();
}

bool WatchEvent::EndsInitialEvents() const {
  if (type != Type::kBookmark) {
    return false;
  }
  const json::Value* metadata = object.Find("metadata");
  const json::Value* annotations = metadata == nullptr ? nullptr : metadata->Find("annotations");
  const json::Value* end =
      annotations == nullptr ? nullptr : annotations->Find(kInitialEventsEndAnnotation);
  return end != nullptr && end->is_string() && end->string_value() == "true";
}

std::optional<KubeStatus> WatchEvent::ErrorStatus() const {
  if (type != Type::kError) {
    return std::nullopt;
  }
  return ParseKubeStatus(object);
}

absl::StatusOr<WatchEvent> DecodeWatchEvent(std::string_view line) {
  absl::StatusOr<json::Value> doc = json::Parse(line);
  if (!doc.ok()) {
    return NotAnEvent(absl::StrCat("not JSON: ", doc.status().message()));
  }
  if (!doc->is_object()) {
    return NotAnEvent("not a JSON object");
  }
  const json::Value* type = doc->Find("type");
  if (type == nullptr || !type->is_string()) {
    return NotAnEvent("\"type\" is missing or not a string");
  }
  std::optional<WatchEvent::Type> parsed = ParseEventType(type->string_value());
  if (!parsed.has_value()) {
    return NotAnEvent(absl::StrCat("unknown type \"", type->string_value(), "\""));
  }
  json::Value* object = doc->FindMutable("object");
  if (object == nullptr || !object->is_object()) {
    return NotAnEvent("\"object\" is missing or not an object");
  }
  WatchEvent event;
  event.type = *parsed;
  event.object = std::move(*object);  // the document is dropped: no copy of the object's tree
  return event;
}

absl::Status ErrorOf(const WatchEvent& event) {
  if (event.type != WatchEvent::Type::kError) {
    return absl::OkStatus();
  }
  if (std::optional<KubeStatus> status = event.ErrorStatus(); status.has_value()) {
    return ErrorFromKubeStatus(*status);
  }
  std::string text = event.object.ToJson();
  if (text.size() > 256) {
    text.resize(256);
  }
  return absl::InternalError(absl::StrCat("watch ERROR event without a Status: ", text));
}

// ---------------------------------------------------------------------------------------------
// LineAssembler.

absl::Status LineAssembler::Feed(std::string_view chunk) {
  if (start_ > 0 && start_ * 2 >= buffer_.size()) {
    buffer_.erase(0, start_);  // drop the lines already returned
    scan_ -= start_;
    start_ = 0;
  }
  buffer_.append(chunk);
  const size_t newline = chunk.rfind('\n');
  tail_ = newline == std::string_view::npos ? tail_ + chunk.size() : chunk.size() - newline - 1;
  if (tail_ > max_line_bytes_) {
    return absl::ResourceExhaustedError(absl::StrCat("watch stream: a line is longer than ",
                                                     max_line_bytes_, " bytes without a newline"));
  }
  return absl::OkStatus();
}

std::optional<std::string> LineAssembler::NextLine() {
  const size_t newline = buffer_.find('\n', scan_);
  if (newline == std::string::npos) {
    scan_ = buffer_.size();
    return std::nullopt;
  }
  size_t end = newline;
  if (end > start_ && buffer_[end - 1] == '\r') {
    --end;
  }
  std::string line = buffer_.substr(start_, end - start_);
  start_ = scan_ = newline + 1;
  return line;
}

std::optional<std::string> LineAssembler::Finish() {
  if (start_ >= buffer_.size()) {
    buffer_.clear();
    start_ = scan_ = tail_ = 0;
    return std::nullopt;
  }
  std::string line = buffer_.substr(start_);
  if (!line.empty() && line.back() == '\r') {
    line.pop_back();
  }
  buffer_.clear();
  start_ = scan_ = tail_ = 0;
  return line;
}

void FrameAssembler::Feed(std::string_view chunk) {
  if (start_ > 0 && start_ * 2 >= buffer_.size()) {
    buffer_.erase(0, start_);  // drop the frames already returned
    start_ = 0;
  }
  buffer_.append(chunk);
}

absl::StatusOr<std::optional<std::string>> FrameAssembler::NextFrame() {
  if (buffer_.size() - start_ < 4) {
    return std::nullopt;
  }
  const auto byte = [this](size_t i) {
    return uint32_t{static_cast<uint8_t>(buffer_[start_ + i])};
  };
  const uint32_t length = (byte(0) << 24) | (byte(1) << 16) | (byte(2) << 8) | byte(3);
  if (length > max_frame_bytes_) {
    return absl::ResourceExhaustedError(
        absl::StrCat("watch stream: a frame of ", length, " bytes is over ", max_frame_bytes_));
  }
  if (buffer_.size() - start_ - 4 < length) {
    return std::nullopt;
  }
  std::string frame = buffer_.substr(start_ + 4, length);
  start_ += 4 + size_t{length};
  return frame;
}

absl::Status FrameAssembler::Finish() const {
  if (start_ < buffer_.size()) {
    return absl::UnavailableError(
        absl::StrCat("watch stream ended inside a frame (", buffer_.size() - start_, " bytes)"));
  }
  return absl::OkStatus();
}

}  // namespace bursar::kube
