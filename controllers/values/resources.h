#pragma once

// Names of the Kubernetes resources Bursar reads and writes.

namespace bursar::values {

// The NVIDIA device plugin's extended resource: whole GPUs in requests, limits and capacity.
// A char array, not a std::string_view, so that Debian's absl::StrCat accepts it.
inline constexpr char kGpuResource[] = "nvidia.com/gpu";

}  // namespace bursar::values
