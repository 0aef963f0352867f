#pragma once

// Loading Bursar manifests from YAML files, as `bursar simulate` and the tests do: any number
// of documents per file, each a ComputeBudget, GPUNodePool or PriceBook, or a `kind: List`
// (also ComputeBudgetList etc.) whose items are. Decoding is strict (unknown fields are
// errors, as with `kubectl apply --validate=strict`).
//
// Errors are collected across all files and documents (at most 20 shown), one per line, each
// naming `<file>:<line>`: a kind that is not Bursar's (say a Deployment in the same file), a
// name defined twice for one kind (naming both places), and every decode error.
// Loading is all-or-nothing: on error nothing is added to the output.

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "controllers/api/types.h"
#include "operator/json/json.h"

namespace bursar::api {

// Where an object was read from: its file and its document, whose values keep their lines. For
// messages about references between objects (a budget's nodePools), which decoding one object
// cannot check but which must still name `<file>:<line>`.
struct ManifestOrigin {
  std::string file;
  json::Value document;
};

struct Manifests {
  std::vector<ComputeBudget> budgets;
  std::vector<GPUNodePool> pools;
  std::vector<PriceBook> price_books;
  // By kind and name, e.g. {"ComputeBudget", "vision"}; empty for objects built in code.
  std::map<std::pair<std::string, std::string>, ManifestOrigin> origins;
};

// Loads one YAML file and appends its objects to `out`; a name already in `out` for the same
// kind is a duplicate.
absl::Status LoadManifestFile(const std::string& path, Manifests* out);

// Loads files and directories (their *.yaml and *.yml files, not recursively, in name order),
// in the order given.
absl::StatusOr<Manifests> LoadManifests(const std::vector<std::string>& paths);

}  // namespace bursar::api
