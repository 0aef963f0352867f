#pragma once

// The rules both Pod decoders (JSON: pod_summary_decoder.cc, protobuf: pod_proto_decoder.cc)
// apply when they fill a PodSummary, kept in one place so that the two agree.
// Thread-compatible (plain functions and data).

#include <cstdint>
#include <optional>
#include <string_view>

#include "controllers/values/quantity.h"
#include "operator/kube/watch_decoder.h"

namespace bursar::kube::pod_fields {

// "Pending", "Running", ...; kUnknown for anything else.
PodPhase ParsePodPhase(std::string_view phase);

// spec.terminationGracePeriodSeconds held in an int32: negative values (which the API server
// refuses) as 0, and at most INT32_MAX seconds (68 years).
int32_t ClampGrace(int64_t seconds);

// Requests and limits of one resource; the limit stands in for a missing request (as API
// defaulting does).
struct ResourcePair {
  std::optional<values::Quantity> request;
  std::optional<values::Quantity> limit;
  const std::optional<values::Quantity>& Effective() const {
    return request.has_value() ? request : limit;
  }
};

// Fills cpu_milli, memory_bytes and gpus from the effective quantities.
void SetRequests(const ResourcePair& cpu, const ResourcePair& memory, const ResourcePair& gpu,
                 ContainerSummary& container);

}  // namespace bursar::kube::pod_fields
