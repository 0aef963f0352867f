// Watch streams from the API server (operator/kube/watch_decoder.cc): the input is cut into
// lines by LineAssembler in chunks of varying size, as a transport delivers them, and every line
// is decoded as a watch event (ERROR events turned into their status) and as a metav1.Status
// body. Property: the lines do not depend on how the stream was chunked.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "operator/kube/kube_status.h"
#include "operator/kube/watch_decoder.h"
#include "tests/fuzz/fuzz_files.h"

namespace {

using namespace bursar;  // NOLINT(google-build-using-namespace): a fuzz target's one function

// Every line of `text` fed in chunks of `chunk` bytes; the line limit is small so that the
// over-long path is reached too.
std::vector<std::string> Lines(std::string_view text, size_t chunk, bool* overflow) {
  kube::LineAssembler lines(/*max_line_bytes=*/4096);
  std::vector<std::string> out;
  for (size_t at = 0; at < text.size(); at += chunk) {
    if (!lines.Feed(text.substr(at, chunk)).ok()) {
      *overflow = true;
      return out;
    }
    while (std::optional<std::string> line = lines.NextLine()) {
      out.push_back(*std::move(line));
    }
  }
  if (std::optional<std::string> last = lines.Finish()) {
    out.push_back(*std::move(last));
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text = fuzz::AsText(data, size);
  bool overflow_whole = false;
  bool overflow_chunked = false;
  const std::vector<std::string> whole =
      Lines(text, std::max<size_t>(text.size(), 1), &overflow_whole);
  const size_t chunk = size == 0 ? 1 : 1 + data[0] % 17;
  const std::vector<std::string> chunked = Lines(text, chunk, &overflow_chunked);
  if (!overflow_whole && !overflow_chunked && whole != chunked) {
    std::abort();
  }
  for (const std::string& line : whole) {
    absl::StatusOr<kube::WatchEvent> event = kube::DecodeWatchEvent(line);
    if (event.ok()) {
      (void)event->ResourceVersion();
      (void)event->ErrorStatus();
      (void)kube::ErrorOf(*event);
    }
    (void)kube::ParseKubeStatus(std::string_view(line));
  }
  return 0;
}
