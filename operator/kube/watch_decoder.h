#pragma once

// Decoding of watch streams: one JSON event per line, {"type": ..., "object": {...}}.
//
// - DecodeWatchEvent builds the whole json::Value tree: for every resource except Pods.
//   An ERROR event carries a metav1.Status (ErrorOf turns it into an absl::Status; a 410 in
//   it means the resourceVersion is too old: relist).
// - LineAssembler cuts arbitrary chunks (split anywhere, several lines per chunk, CRLF) into
//   lines, for transports that deliver chunks rather than lines.
// - PodSummaryDecoder is the hot path: Bursar caches every Pod of the cluster, so it decodes a
//   Pod straight from the text into a PodSummary that holds only what the meter and the
//   enforcer use, without building the tree. It uses simdjson's On-Demand API directly: the
//   one exception to "only operator/json talks to the parser", for speed and memory; every
//   other decoder goes through json.h.
//
// Memory: a PodSummary of a typical GPU pod is well under 1 KiB including its heap (see
// ApproximateBytes and watch_decoder_test). Namespaces, label keys, owner kinds and container
// names repeat across pods and are interned (InternedString); names, UIDs and label values
// are not.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "operator/json/json.h"
#include "operator/kube/kube_status.h"

namespace bursar::kube {

struct WatchEvent {
  enum class Type { kAdded, kModified, kDeleted, kBookmark, kError };
  Type type = Type::kAdded;
  // The object; for kBookmark only its kind, apiVersion and metadata.resourceVersion (and the
  // k8s.io/initial-events-end annotation); for kError a metav1.Status.
  json::Value object;

  // metadata.resourceVersion of the object; "" when absent.
  std::string_view ResourceVersion() const;
  // A BOOKMARK annotated k8s.io/initial-events-end: "true": the end of a streaming list's
  // initial state (sendInitialEvents=true).
  bool EndsInitialEvents() const;
  // For kError: the Status in `object`; nullopt otherwise or when it is not a Status.
  std::optional<KubeStatus> ErrorStatus() const;
};

std::string_view WatchEventTypeName(WatchEvent::Type type);

// The annotation on the BOOKMARK that ends a streaming list's initial events.
inline constexpr std::string_view kInitialEventsEndAnnotation = "k8s.io/initial-events-end";

// One watch line. A line that is not an event (bad JSON, unknown type, no object) is
// kInvalidArgument; an ERROR event is an event, not an error (see ErrorOf).
absl::StatusOr<WatchEvent> DecodeWatchEvent(std::string_view line);

// The error an ERROR event reports, with its Status attached (IsGone for a 410); OK for other
// events.
absl::Status ErrorOf(const WatchEvent& event);

// Cuts a byte stream into lines. A line ends at '\n'; a '\r' before it is dropped; empty lines
// are returned too (the caller skips them). Thread-compatible.
class LineAssembler {
 public:
  // Larger than any object the API server stores (etcd's default limit is 1.5 MiB).
  static constexpr size_t kDefaultMaxLineBytes = 16 << 20;

  explicit LineAssembler(size_t max_line_bytes = kDefaultMaxLineBytes)
      : max_line_bytes_(max_line_bytes) {}

  // Adds a chunk. Fails (and the stream should be dropped) when an unterminated line grows
  // beyond the limit.
  absl::Status Feed(std::string_view chunk);
  // The next complete line, without its line ending; nullopt until more is fed.
  std::optional<std::string> NextLine();
  // At the end of the stream: the unterminated last line, if there is one.
  std::optional<std::string> Finish();

 private:
  std::string buffer_;
  size_t start_ = 0;  // where the next line begins
  size_t scan_ = 0;   // no '\n' in [start_, scan_)
  size_t tail_ = 0;   // bytes after the last '\n' fed
  size_t max_line_bytes_;
};

// Cuts a protobuf watch stream (Content-Type application/vnd.kubernetes.protobuf;stream=watch)
// into its frames: a 4-byte big-endian length, then that many bytes. Thread-compatible.
class FrameAssembler {
 public:
  // Larger than any object the API server stores, as LineAssembler's.
  static constexpr uint32_t kDefaultMaxFrameBytes = 16u << 20;

  explicit FrameAssembler(uint32_t max_frame_bytes = kDefaultMaxFrameBytes)
      : max_frame_bytes_(max_frame_bytes) {}

  void Feed(std::string_view chunk);
  // The next complete frame without its length; nullopt until more is fed; an error (and the
  // stream should be dropped) for a frame longer than the limit.
  absl::StatusOr<std::optional<std::string>> NextFrame();
  // At the end of the stream: an error when it ended inside a frame.
  absl::Status Finish() const;

 private:
  std::string buffer_;
  size_t start_ = 0;  // where the next frame's length begins
  uint32_t max_frame_bytes_;
};

// A string stored once per process and shared by every copy: for the small, repetitive sets
// that fill a pod cache (namespaces, label keys, owner kinds, container names). The pool never
// shrinks, so do not intern values that grow without bound (pod or job names, UIDs).
// Thread-safe. Copies are a pointer; equality compares pointers.
class InternedString {
 public:
  InternedString() = default;  // ""
  explicit InternedString(std::string_view s);

  std::string_view view() const { return s_ == nullptr ? std::string_view() : *s_; }
  operator std::string_view() const { return view(); }  // NOLINT: reads as the string it is
  bool empty() const { return s_ == nullptr; }

  friend bool operator==(InternedString a, InternedString b) { return a.s_ == b.s_; }
  friend bool operator==(InternedString a, std::string_view b) { return a.view() == b; }

  // Distinct strings interned so far (for metrics and tests).
  static size_t PoolSize();

 private:
  const std::string* s_ = nullptr;
};

enum class PodPhase : uint8_t { kUnknown, kPending, kRunning, kSucceeded, kFailed };

std::string_view PodPhaseName(PodPhase phase);

// What Bursar uses of one container: requests (the limit stands in for a missing request, as
// API defaulting does), and when it terminated.
struct ContainerSummary {
  InternedString name;
  int64_t cpu_milli = 0;                  // requests.cpu, rounded up to milli-cores
  int64_t memory_bytes = 0;               // requests.memory, rounded up to bytes
  int64_t gpus = 0;                       // requests["nvidia.com/gpu"], whole devices
  std::optional<absl::Time> finished_at;  // status.containerStatuses[].state.terminated

  bool operator==(const ContainerSummary&) const = default;
};

// What Bursar uses of one Pod. Init containers are left out (the cost model does not charge
// them); only the labels whose keys the decoder was given are kept, in document order.
// The grace period the API server gives a pod that does not set one.
inline constexpr int32_t kDefaultTerminationGraceSeconds = 30;

struct PodSummary {
  std::string uid;
  InternedString namespace_name;
  std::string name;
  std::string resource_version;
  std::string node_name;  // spec.nodeName; "" until scheduled
  PodPhase phase = PodPhase::kUnknown;
  int32_t priority = 0;  // spec.priority
  // spec.terminationGracePeriodSeconds (Kubernetes' default when absent), at most INT32_MAX: how
  // long the pod may run on once told to stop.
  int32_t termination_grace_seconds = kDefaultTerminationGraceSeconds;
  std::optional<absl::Time> start_time;          // status.startTime
  std::optional<absl::Time> deletion_timestamp;  // metadata.deletionTimestamp
  std::vector<std::pair<InternedString, std::string>> labels;
  std::vector<ContainerSummary> containers;
  // The controller ownerReference (controller: true), e.g. kind Job.
  InternedString owner_kind;
  std::string owner_name;

  // The value of a kept label; nullptr when absent (or not kept).
  const std::string* Label(std::string_view key) const;
  int64_t TotalGpus() const;
  // sizeof(PodSummary) plus the heap it owns (string and vector capacities); interned strings
  // are shared and not counted. Excludes the allocator's per-block overhead.
  size_t ApproximateBytes() const;

  bool operator==(const PodSummary&) const = default;
};

struct PodWatchEvent {
  WatchEvent::Type type = WatchEvent::Type::kAdded;  // never kError (see DecodeWatchLine)
  PodSummary pod;                                    // for kBookmark: only resource_version
  // A BOOKMARK that ends the initial events of a sendInitialEvents watch.
  bool initial_events_end = false;
};

struct PodListPage {
  std::vector<PodSummary> items;
  std::string resource_version;  // metadata.resourceVersion of the list: watch from here
  std::string continue_token;    // metadata.continue; "" on the last page
};

// Decodes Pods without building a json::Value tree. Keeps the parser's buffers between calls,
// so reuse one per watch; buffers grown by a document over 1 MiB (a list page: ~7 MB for 500
// Pods with managedFields, and simdjson's buffers are a multiple of it) are given back before
// the next smaller document, so a watch holds buffers for its largest Pod, not its largest
// page. Thread-compatible: one decoder per thread.
class PodSummaryDecoder {
 public:
  // `label_keys`: the labels worth keeping (budget scopes and the modelDrift label); the key
  // kAllLabels keeps every label (the operator's choice: scopes change while it runs).
  static constexpr char kAllLabels[] = "*";
  explicit PodSummaryDecoder(std::vector<std::string> label_keys = {});
  ~PodSummaryDecoder();
  PodSummaryDecoder(const PodSummaryDecoder&) = delete;
  PodSummaryDecoder& operator=(const PodSummaryDecoder&) = delete;

  // One watch line. An ERROR event comes back as its error (ErrorOf: IsGone means relist);
  // a line that is not a Pod watch event is kInvalidArgument.
  absl::StatusOr<PodWatchEvent> DecodeWatchLine(std::string_view line);
  // One Pod object.
  absl::StatusOr<PodSummary> DecodePod(std::string_view json);
  // One page of a PodList response.
  absl::StatusOr<PodListPage> DecodePodList(std::string_view json);

  // The bytes of the parser's buffers and the padded copy of the input, kept for the next call.
  size_t BufferBytes() const;
  // Gives those buffers back (after a paginated list, before a quiet watch).
  void ReleaseBuffers();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace bursar::kube
