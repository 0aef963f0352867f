// The safe YAML reader (operator/yaml/yaml.cc) behind manifests, scenarios and
// `bursar run --config`. Properties: no crash, no unbounded recursion or allocation (libFuzzer's
// -rss_limit_mb and -timeout catch both), and every tree it returns serialises to JSON that
// parses back equal.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "absl/status/statusor.h"
#include "operator/json/json.h"
#include "operator/yaml/yaml.h"
#include "tests/fuzz/fuzz_files.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  absl::StatusOr<std::vector<bursar::json::Value>> docs =
      bursar::yaml::ParseYamlDocuments(bursar::fuzz::AsText(data, size), "fuzz.yaml");
  if (!docs.ok()) {
    return 0;
  }
  for (const bursar::json::Value& doc : *docs) {
    absl::StatusOr<bursar::json::Value> again = bursar::json::Parse(doc.ToJson());
    if (!again.ok()) {
      std::abort();
    }
  }
  return 0;
}
