#pragma once

// For fuzz targets whose parser reads files (kubeconfig, manifests, scenarios): a private
// folder per process under $TMPDIR, removed at exit, and a helper that writes one input there.
// Thread-compatible (libFuzzer runs one input at a time per process).

#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

namespace bursar::fuzz {

class FuzzDir {
 public:
  FuzzDir() {
    const char* tmp = std::getenv("TMPDIR");
    std::string pattern =
        std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") + "/bursar-fuzz-XXXXXX";
    if (mkdtemp(pattern.data()) == nullptr) {
      std::abort();
    }
    path_ = pattern;
  }
  ~FuzzDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  FuzzDir(const FuzzDir&) = delete;
  FuzzDir& operator=(const FuzzDir&) = delete;

  const std::string& path() const { return path_; }

  // Writes `data` to `<dir>/<name>` (replacing it) and returns the file's path.
  std::string Write(std::string_view name, std::string_view data) const {
    const std::string file = path_ + "/" + std::string(name);
    std::ofstream out(file, std::ios::binary | std::ios::trunc);
    out.write(data.data(), static_cast<std::streamsize>(data.size()));
    if (!out) {
      std::abort();
    }
    return file;
  }

 private:
  std::string path_;
};

inline std::string_view AsText(const uint8_t* data, size_t size) {
  return std::string_view(reinterpret_cast<const char*>(data), size);
}

}  // namespace bursar::fuzz
