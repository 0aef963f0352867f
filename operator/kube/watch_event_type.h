#pragma once

// What the generic watch decoder (watch_decoder.cc) and the Pod hot path
// (pod_summary_decoder.cc) share: the event type names and the error for a line that is not a
// watch event. Internal to operator/kube.

#include <optional>
#include <string_view>

#include "absl/status/status.h"
#include "operator/kube/watch_decoder.h"

namespace bursar::kube::watch_internal {

// "ADDED", "MODIFIED", "DELETED", "BOOKMARK" or "ERROR"; nullopt for anything else.
std::optional<WatchEvent::Type> ParseEventType(std::string_view s);

// InvalidArgument "watch event: <why>".
absl::Status NotAnEvent(std::string_view why);

}  // namespace bursar::kube::watch_internal
