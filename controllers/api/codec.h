#pragma once

// Codecs between json::Value trees (from YAML manifests or API server JSON) and the plain
// structs of types.h.
//
// Decoders read spec and status (the operator restores its ledger from status), apply every CRD
// default (an absent or null field keeps the initialiser in types.h) and check everything the
// CRD checks, CEL rules included, so `bursar simulate` rejects exactly what the API server
// would. Every error names its place, `<source>:<line>: <json path>: <reason>`, and all errors
// of an object (at most 20) come back together in one InvalidArgument status, one per line, the
// most important first.
//
// Encoders produce the API object shape (camelCase keys, decimal strings for money, Go
// durations, RFC 3339 times); optional fields that are unset are left out, but lists whose
// absence would mean a default (thresholds, quota.resources, spotValues) are always written.
// Beyond the schema: metadata.namespace is dropped (our kinds are cluster-scoped, as the API
// server does), and a Kwok pool without kwok.nodeNamePrefix gets the CRD's documented default,
// "<pool name>-".
// Pitfalls: a time is written at second precision (as metav1.Time), except the ledger's own
// timestamps, which keep any fraction so that a restored ledger never re-charges a part-second.
// Inside namespace bursar::api, call `api::FormatTime`: ADL also finds absl::FormatTime(Time).

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "controllers/api/types.h"
#include "operator/json/json.h"

namespace bursar::api {

struct DecodeOptions {
  std::string source;  // file name or "apiserver", used in messages
  // Manifests: true (as `kubectl apply --validate=strict`); API server objects: false.
  bool reject_unknown_fields = true;
};

absl::StatusOr<ComputeBudget> DecodeComputeBudget(const json::Value& v, const DecodeOptions& o);
absl::StatusOr<GPUNodePool> DecodeGPUNodePool(const json::Value& v, const DecodeOptions& o);
absl::StatusOr<PriceBook> DecodePriceBook(const json::Value& v, const DecodeOptions& o);
// The `metadata` object of any kind (the name must be a DNS-1123 subdomain).
absl::StatusOr<ObjectMeta> DecodeObjectMeta(const json::Value& v, const DecodeOptions& o);

// apiVersion, kind, metadata, spec and status.
json::Value EncodeComputeBudget(const ComputeBudget& budget);
json::Value EncodeGPUNodePool(const GPUNodePool& pool);
json::Value EncodePriceBook(const PriceBook& book);
// The `status` object alone, for a server-side apply to the /status subresource.
json::Value EncodeComputeBudgetStatus(const ComputeBudgetStatus& status);
json::Value EncodeGPUNodePoolStatus(const GPUNodePoolStatus& status);
json::Value EncodePriceBookStatus(const PriceBook& book);
// A status.conditions list (metav1.Condition shape), for a merge patch of conditions alone.
json::Value EncodeConditions(const std::vector<Condition>& conditions);
json::Value EncodeObjectMeta(const ObjectMeta& meta);

// RFC 3339 in UTC at second precision (fractions truncated): "2026-11-27T08:00:00Z".
std::string FormatTime(absl::Time t);
// RFC 3339 with a "Z" or numeric offset and an optional fraction of a second.
absl::StatusOr<absl::Time> ParseTime(std::string_view text);

}  // namespace bursar::api
