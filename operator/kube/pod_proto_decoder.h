#pragma once

// PodProtoDecoder: Pods in Kubernetes' protobuf wire format (Accept:
// application/vnd.kubernetes.protobuf) straight into the PodSummary the JSON decoder
// (PodSummaryDecoder, watch_decoder.h) produces, with the same results: the same fields, the same
// label filter, the same request-or-limit rule, the same errors for bad quantities.
//
// Only the fields Bursar keeps are declared (proto/kube/core_v1_subset.proto, field numbers of
// the Kubernetes types); the parser skips the rest, managedFields included.
//
// Framing (see the .proto): a GET or LIST body is "k8s\0" + Unknown{raw}; a watch frame (the
// bytes after its 4-byte length) is a WatchEvent whose object.raw is "k8s\0" + Unknown{raw}.
//
// Pitfall: labels come out sorted by key (the API server writes them sorted in JSON too), so
// both decoders agree on objects from the server, not on hand-written JSON in another order.
// Thread-compatible: one decoder per thread (it reuses its messages between calls).

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "operator/kube/watch_decoder.h"

namespace bursar::kube {

// The media type to ask for, and the Content-Type of a protobuf watch stream.
inline constexpr std::string_view kProtobufMediaType = "application/vnd.kubernetes.protobuf";
inline constexpr std::string_view kProtobufWatchMediaType =
    "application/vnd.kubernetes.protobuf;stream=watch";

class PodProtoDecoder {
 public:
  // `label_keys` as PodSummaryDecoder's (kAllLabels keeps every label).
  explicit PodProtoDecoder(std::vector<std::string> label_keys = {});
  ~PodProtoDecoder();
  PodProtoDecoder(const PodProtoDecoder&) = delete;
  PodProtoDecoder& operator=(const PodProtoDecoder&) = delete;

  // One Pod response body ("k8s\0" + Unknown).
  absl::StatusOr<PodSummary> DecodePod(std::string_view body);
  // One page of a PodList response body.
  absl::StatusOr<PodListPage> DecodePodList(std::string_view body);
  // One watch frame without its length prefix. An ERROR event comes back as its error (IsGone
  // for a 410); anything that is not a Pod watch event is kInvalidArgument.
  absl::StatusOr<PodWatchEvent> DecodeWatchFrame(std::string_view frame);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace bursar::kube
