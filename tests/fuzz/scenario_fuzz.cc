// Scenario files for `bursar simulate` (controllers/sim/scenario.cc). The input is the scenario;
// beside it lie copies of a small set of example manifests and a trace, under fixed names that
// the seed corpus refers to (budgets.yaml, pools.yaml, pricebook.yaml, trace.csv), so that the
// fuzzer reaches the checks that join the scenario with its manifests.

#include <cstddef>
#include <cstdint>
#include <fstream>
#include <sstream>
#include <string>

#include "controllers/sim/scenario.h"
#include "tests/fuzz/fuzz_files.h"

namespace {

std::string ReadSource(const std::string& relative) {
  std::ifstream in(std::string(BURSAR_SOURCE_DIR) + "/" + relative, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

const bursar::fuzz::FuzzDir& Dir() {
  static const bursar::fuzz::FuzzDir dir;
  static const bool seeded = [] {
    dir.Write("budgets.yaml", ReadSource("examples/scenarios/hourly-drift/budgets.yaml"));
    dir.Write("pools.yaml", ReadSource("examples/scenarios/three-teams/pools.yaml"));
    dir.Write("pricebook.yaml", ReadSource("examples/pricebooks/default.yaml"));
    dir.Write("trace.csv", ReadSource("examples/traces/smoke.csv"));
    return true;
  }();
  (void)seeded;
  return dir;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = Dir().Write("scenario.yaml", bursar::fuzz::AsText(data, size));
  (void)bursar::sim::LoadScenario(path);
  return 0;
}
