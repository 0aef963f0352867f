#pragma once

// Go-style durations as used in Kubernetes manifests: "90s", "2m", "1h30m", "1.5h", "500ms".
// Units: ns, us (or µs), ms, s, m, h. A bare "0" is zero; negative durations are rejected
// because no Bursar field means "before".

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace bursar::values {

absl::StatusOr<absl::Duration> ParseDuration(std::string_view text);

// Shortest Go-style text: 90s -> "1m30s", 2h -> "2h", 0 -> "0s".
std::string FormatDuration(absl::Duration d);

}  // namespace bursar::values
