#pragma once

// ApiClient: the Kubernetes API as function calls, over an injected Transport (never built
// here, so tests script replies with a fake). Requests come from requests.h, errors from
// kube_status.h (every failure keeps the server's metav1.Status: IsNotFound, IsConflict, ...),
// objects go in and out as json::Value.
//
// - ListAll follows continue tokens; when the token expires mid-way (410 Expired) it starts
//   the list over, a bounded number of times, because pages from two snapshots must not mix.
// - Watch returns a WatchStream. The stream ends cleanly (nullopt) when the server closes it
//   after timeoutSeconds: watch again from resource_version(). An ERROR event ends it with the
//   error it carries: IsGone means relist.
// - ListRaw and WatchLines hand out the undecoded body and lines, for PodSummaryDecoder.
// - An observer sees every request with its HTTP status (0 when the transport failed) and
//   latency, for metrics.
// Thread-safe when the transport is: the client holds no mutable state.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "operator/json/json.h"
#include "operator/kube/kube_status.h"
#include "operator/kube/requests.h"
#include "operator/kube/resource.h"
#include "operator/kube/transport.h"
#include "operator/kube/watch_decoder.h"

namespace bursar::kube {

struct ObjectList {
  std::vector<json::Value> items;
  std::string resource_version;  // of the list: watch from here
  std::string continue_token;    // "" on the last page
};

// The events of one watch. Thread-compatible, except Cancel, which may be called from any
// thread to unblock Next.
class WatchStream {
 public:
  explicit WatchStream(std::unique_ptr<LineStream> lines) : lines_(std::move(lines)) {}

  // The next ADDED, MODIFIED, DELETED or BOOKMARK event; nullopt when the server ended the
  // watch; an error for a broken stream, an undecodable line or an ERROR event.
  absl::StatusOr<std::optional<WatchEvent>> Next();
  void Cancel();
  // The resourceVersion of the last event (BOOKMARKs included); "" before the first.
  const std::string& resource_version() const { return resource_version_; }

 private:
  std::unique_ptr<LineStream> lines_;
  std::string resource_version_;
};

class ApiClient {
 public:
  // Called after every request: its HTTP status (0 when the transport failed) and latency.
  using Observer =
      std::function<void(const HttpRequest& request, int status, absl::Duration latency)>;

  struct Options {
    absl::Duration timeout = absl::Seconds(30);  // per request (not watches)
    // A watch's idle timeout is its timeoutSeconds plus this margin (one hour plus it when
    // timeoutSeconds is left to the server), so the server, not the client, ends it.
    absl::Duration watch_idle_margin = absl::Seconds(30);
    int64_t list_page_size = 500;  // ListAll's limit when the options give none
    int max_list_restarts = 3;     // ListAll's restarts after 410 Expired
    Observer observer;             // optional
    // Monotonic time for latencies; absl::Now when unset.
    std::function<absl::Time()> now;
  };

  explicit ApiClient(Transport& transport) : ApiClient(transport, Options()) {}
  ApiClient(Transport& transport, Options options);

  absl::StatusOr<json::Value> Get(const ResourceType& type, std::string_view ns,
                                  std::string_view name) const;
  // One page.
  absl::StatusOr<ObjectList> List(const ResourceType& type, std::string_view ns,
                                  const ListOptions& options = {}) const;
  // Every page.
  absl::StatusOr<ObjectList> ListAll(const ResourceType& type, std::string_view ns,
                                     const ListOptions& options = {}) const;
  // One page, undecoded (for PodSummaryDecoder::DecodePodList).
  absl::StatusOr<std::string> ListRaw(const ResourceType& type, std::string_view ns,
                                      const ListOptions& options = {}) const;
  absl::StatusOr<WatchStream> Watch(const ResourceType& type, std::string_view ns,
                                    const WatchOptions& options = {}) const;
  // The watch's lines, undecoded (for PodSummaryDecoder::DecodeWatchLine).
  absl::StatusOr<std::unique_ptr<LineStream>> WatchLines(const ResourceType& type,
                                                         std::string_view ns,
                                                         const WatchOptions& options = {}) const;

  absl::StatusOr<json::Value> Create(const ResourceType& type, std::string_view ns,
                                     const json::Value& object,
                                     const WriteOptions& options = {}) const;
  // Needs metadata.resourceVersion: a stale one fails with IsConflict.
  absl::StatusOr<json::Value> Update(const ResourceType& type, std::string_view ns,
                                     const json::Value& object,
                                     const WriteOptions& options = {}) const;
  absl::StatusOr<json::Value> Patch(const ResourceType& type, std::string_view ns,
                                    std::string_view name, PatchType patch_type,
                                    const json::Value& patch,
                                    const PatchOptions& options = {}) const;
  // Server-side apply of `object` (apiVersion, kind, metadata.name) as `field_manager`.
  // Without force, a field owned by another manager fails with IsConflict.
  absl::StatusOr<json::Value> Apply(const ResourceType& type, std::string_view ns,
                                    const json::Value& object, std::string_view field_manager,
                                    bool force = false) const;
  // The deleted object (or a Status when the server sends one); IsNotFound when already gone,
  // IsConflict when a precondition does not hold.
  absl::StatusOr<json::Value> Delete(const ResourceType& type, std::string_view ns,
                                     std::string_view name,
                                     const DeleteOptions& options = {}) const;

  // The status subresource.
  absl::StatusOr<json::Value> GetStatus(const ResourceType& type, std::string_view ns,
                                        std::string_view name) const;
  absl::StatusOr<json::Value> UpdateStatus(const ResourceType& type, std::string_view ns,
                                           const json::Value& object,
                                           const WriteOptions& options = {}) const;
  absl::StatusOr<json::Value> PatchStatus(const ResourceType& type, std::string_view ns,
                                          std::string_view name, PatchType patch_type,
                                          const json::Value& patch,
                                          const PatchOptions& options = {}) const;
  absl::StatusOr<json::Value> ApplyStatus(const ResourceType& type, std::string_view ns,
                                          const json::Value& object, std::string_view field_manager,
                                          bool force = false) const;

  // The scale subresource (an autoscaling/v1 Scale).
  absl::StatusOr<json::Value> GetScale(const ResourceType& type, std::string_view ns,
                                       std::string_view name) const;
  absl::StatusOr<json::Value> UpdateScale(const ResourceType& type, std::string_view ns,
                                          const json::Value& scale,
                                          const WriteOptions& options = {}) const;
  absl::StatusOr<json::Value> PatchScale(const ResourceType& type, std::string_view ns,
                                         std::string_view name, PatchType patch_type,
                                         const json::Value& patch,
                                         const PatchOptions& options = {}) const;

  // Whether the server serves `plural` in group/version (optional CRDs: Kueue, Karpenter,
  // Cluster API). A group/version the server does not know is false, not an error.
  absl::StatusOr<bool> HasResource(std::string_view group, std::string_view version,
                                   std::string_view plural) const;

 private:
  // Sends and reports to the observer; the response whatever its status.
  absl::StatusOr<HttpResponse> Send(const HttpRequest& request) const;
  // Sends; a 2xx body parsed as JSON (null when empty), any other status as its error.
  absl::StatusOr<json::Value> Call(const absl::StatusOr<HttpRequest>& request) const;

  Transport& transport_;
  Options options_;
};

}  // namespace bursar::kube
