#pragma once

// What the test harnesses (tests/cluster/with-cluster.sh, tests/e2e/with-prometheus.sh) hand
// to the integration tests through the environment, and how a test says it needs it.

#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

namespace bursar::testing {

// The variable's value; "" when unset.
inline std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v == nullptr ? "" : v;
}

// Skips the test, naming the missing variable, what the test does with it and which harness
// provides it, when `var` is unset: the suite also runs against any cluster through KUBECONFIG,
// where only some capabilities exist. Under `make test` (make test-integration) every variable
// is set and nothing is skipped.
#define REQUIRE_ENV(var, why, harness)                                                \
  if (::bursar::testing::Env(var).empty()) {                                          \
    GTEST_SKIP() << var << " is unset, and this test " << why << "; only " << harness \
                 << " provides it (make test-integration runs the suite inside it)";  \
  }

}  // namespace bursar::testing
