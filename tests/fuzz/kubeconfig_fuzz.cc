// kubeconfig files (operator/kube/kubeconfig.cc): the input is written as a kubeconfig and
// loaded with its current-context and with a named one. Properties: no crash, no unbounded
// recursion or allocation (YAML aliases, nesting), errors instead of exceptions.

#include <cstddef>
#include <cstdint>
#include <string>

#include "operator/kube/kubeconfig.h"
#include "tests/fuzz/fuzz_files.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const bursar::fuzz::FuzzDir dir;
  const std::string path = dir.Write("config", bursar::fuzz::AsText(data, size));
  (void)bursar::kube::LoadKubeconfig(path);
  (void)bursar::kube::LoadKubeconfig(path, "dev");
  return 0;
}
