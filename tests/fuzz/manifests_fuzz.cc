// Manifest loading and the CRD decoders (controllers/api/manifests.cc, codec_decode.cc): YAML
// documents and Lists of ComputeBudgets, GPUNodePools and PriceBooks, decoded strictly as
// `bursar simulate` does. Property: every object that decodes encodes to an API object that
// decodes again (the operator writes status with the encoders and reads it back after a restart).

#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "controllers/api/codec.h"
#include "controllers/api/manifests.h"
#include "tests/fuzz/fuzz_files.h"

namespace {

using namespace bursar;  // NOLINT(google-build-using-namespace): a fuzz target's one function

template <typename T, typename Encode, typename Decode>
void CheckRoundTrip(const T& object, Encode encode, Decode decode) {
  const api::DecodeOptions options{.source = "roundtrip", .reject_unknown_fields = false};
  if (!decode(encode(object), options).ok()) {
    std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const fuzz::FuzzDir dir;
  const std::string path = dir.Write("manifest.yaml", fuzz::AsText(data, size));
  api::Manifests manifests;
  if (!api::LoadManifestFile(path, &manifests).ok()) {
    return 0;
  }
  for (const api::ComputeBudget& budget : manifests.budgets) {
    CheckRoundTrip(budget, api::EncodeComputeBudget, api::DecodeComputeBudget);
  }
  for (const api::GPUNodePool& pool : manifests.pools) {
    CheckRoundTrip(pool, api::EncodeGPUNodePool, api::DecodeGPUNodePool);
  }
  for (const api::PriceBook& book : manifests.price_books) {
    CheckRoundTrip(book, api::EncodePriceBook, api::DecodePriceBook);
  }
  return 0;
}
