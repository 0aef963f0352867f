#include "controllers/api/manifests.h"

#include <algorithm>
#include <filesystem>
#include <map>
#include <system_error>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "controllers/api/codec.h"
#include "controllers/api/field_reader.h"
#include "operator/yaml/yaml.h"

namespace bursar::api {
namespace {

constexpr size_t kMaxErrors = 20;

std::string Place(std::string_view path, int line) {
  return line > 0 ? absl::StrCat(AbslView(path), ":", line) : std::string(path);
}

// Decodes documents into Manifests, collecting every error and remembering where each object
// was defined so that a duplicate can name both places.
class Loader {
 public:
  // Objects already loaded elsewhere count for duplicates.
  void Seed(const Manifests& existing) {
    for (const ComputeBudget& b : existing.budgets) {
      places_[{"ComputeBudget", b.metadata.name}] = "an earlier file";
    }
    for (const GPUNodePool& p : existing.pools) {
      places_[{"GPUNodePool", p.metadata.name}] = "an earlier file";
    }
    for (const PriceBook& b : existing.price_books) {
      places_[{"PriceBook", b.metadata.name}] = "an earlier file";
    }
  }

  void LoadPath(const std::string& path) {
    std::error_code ec;
    if (!std::filesystem::is_directory(path, ec)) {
      LoadFile(path);
      return;
    }
    std::vector<std::string> files;
    for (std::filesystem::directory_iterator it(path, ec), end; !ec && it != end;
         it.increment(ec)) {
      const std::filesystem::path& file = it->path();
      std::string extension = file.extension().string();
      if ((extension == ".yaml" || extension == ".yml") && it->is_regular_file(ec)) {
        files.push_back(file.string());
      }
    }
    if (ec) {
      AddError(absl::StatusCode::kNotFound,
               absl::StrCat(path, ": cannot list directory: ", ec.message()));
      return;
    }
    std::sort(files.begin(), files.end());
    for (const std::string& file : files) {
      LoadFile(file);
    }
  }

  void LoadFile(const std::string& path) {
    absl::StatusOr<std::vector<json::Value>> docs = yaml::ReadYamlFile(path);
    if (!docs.ok()) {
      AddStatus(docs.status());
      return;
    }
    for (const json::Value& doc : *docs) {
      LoadDocument(doc, path, /*in_list=*/false);
    }
  }

  absl::Status status() const {
    if (errors_.empty()) {
      return absl::OkStatus();
    }
    std::string message;
    size_t shown = std::min(errors_.size(), kMaxErrors);
    for (size_t i = 0; i < shown; ++i) {
      absl::StrAppend(&message, i == 0 ? "" : "\n", errors_[i]);
    }
    if (errors_.size() > shown) {
      absl::StrAppend(&message, "\n... and ", errors_.size() - shown, " more errors");
    }
    return absl::Status(code_, message);
  }

  Manifests& manifests() { return manifests_; }

 private:
  void LoadDocument(const json::Value& doc, const std::string& path, bool in_list) {
    if (!doc.is_object()) {
      AddError(absl::StatusCode::kInvalidArgument,
               absl::StrCat(Place(path, doc.line()), ": a manifest must be an object, got ",
                            Describe(doc)));
      return;
    }
    const json::Value* kind = doc.Find("kind");
    if (kind == nullptr || !kind->is_string()) {
      AddError(absl::StatusCode::kInvalidArgument,
               absl::StrCat(Place(path, kind != nullptr ? kind->line() : doc.line()), ": kind: ",
                            kind == nullptr ? "missing required field" : "must be a string"));
      return;
    }
    const std::string& k = kind->string_value();
    DecodeOptions options{.source = path, .reject_unknown_fields = true};
    if (k == "ComputeBudget") {
      Add(DecodeComputeBudget(doc, options), doc, path, &manifests_.budgets);
    } else if (k == "GPUNodePool") {
      Add(DecodeGPUNodePool(doc, options), doc, path, &manifests_.pools);
    } else if (k == "PriceBook") {
      Add(DecodePriceBook(doc, options), doc, path, &manifests_.price_books);
    } else if (!in_list && (k == "List" || k == "ComputeBudgetList" || k == "GPUNodePoolList" ||
                            k == "PriceBookList")) {
      LoadList(doc, path);
    } else {
      AddError(absl::StatusCode::kInvalidArgument,
               absl::StrCat(Place(path, kind->line()), ": kind: ", Quote(k),
                            " is not a Bursar kind (want ComputeBudget, GPUNodePool or "
                            "PriceBook)"));
    }
  }

  void LoadList(const json::Value& list, const std::string& path) {
    const json::Value* items = list.Find("items");
    if (items == nullptr || items->is_null()) {
      return;  // an empty List
    }
    if (!items->is_array()) {
      AddError(absl::StatusCode::kInvalidArgument,
               absl::StrCat(Place(path, items->line()), ": items: must be a list, got ",
                            Describe(*items)));
      return;
    }
    for (const json::Value& item : items->elements()) {
      LoadDocument(item, path, /*in_list=*/true);
    }
  }

  template <typename T>
  void Add(absl::StatusOr<T> object, const json::Value& doc, const std::string& path,
           std::vector<T>* out) {
    if (!object.ok()) {
      AddStatus(object.status());
      return;
    }
    const json::Value* name = doc.FindPath("metadata.name");
    std::string here = Place(path, name != nullptr ? name->line() : doc.line());
    std::string kind = doc.Find("kind")->string_value();
    auto [it, inserted] = places_.emplace(std::make_pair(kind, object->metadata.name), here);
    if (!inserted) {
      AddError(absl::StatusCode::kInvalidArgument,
               absl::StrCat(here, ": ", kind, " ", Quote(object->metadata.name),
                            " is defined twice: first at ", it->second));
      return;
    }
    manifests_.origins[{kind, object->metadata.name}] = ManifestOrigin{path, doc};
    out->push_back(*std::move(object));
  }

  void AddStatus(const absl::Status& status) {
    for (absl::string_view line : absl::StrSplit(status.message(), '\n')) {
      AddError(status.code(), std::string(line));
    }
  }

  void AddError(absl::StatusCode code, std::string message) {
    if (errors_.empty()) {
      code_ = code;
    }
    errors_.push_back(std::move(message));
  }

  Manifests manifests_;
  std::map<std::pair<std::string, std::string>, std::string> places_;
  std::vector<std::string> errors_;
  absl::StatusCode code_ = absl::StatusCode::kOk;
};

template <typename T>
void Append(std::vector<T>& from, std::vector<T>* to) {
  std::move(from.begin(), from.end(), std::back_inserter(*to));
}

}  // namespace

absl::Status LoadManifestFile(const std::string& path, Manifests* out) {
  Loader loader;
  loader.Seed(*out);
  loader.LoadFile(path);
  if (absl::Status status = loader.status(); !status.ok()) {
    return status;
  }
  Append(loader.manifests().budgets, &out->budgets);
  Append(loader.manifests().pools, &out->pools);
  Append(loader.manifests().price_books, &out->price_books);
  out->origins.merge(loader.manifests().origins);
  return absl::OkStatus();
}

absl::StatusOr<Manifests> LoadManifests(const std::vector<std::string>& paths) {
  Loader loader;
  for (const std::string& path : paths) {
    loader.LoadPath(path);
  }
  if (absl::Status status = loader.status(); !status.ok()) {
    return status;
  }
  return std::move(loader.manifests());
}

}  // namespace bursar::api
