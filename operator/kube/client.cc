#include "operator/kube/client.h"

#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "controllers/values/strings.h"

namespace bursar::kube {
namespace {

constexpr std::string_view kStatusSubresource = "status";
constexpr std::string_view kScaleSubresource = "scale";
// The server ends a watch without timeoutSeconds after 30 to 60 minutes.
constexpr absl::Duration kServerWatchTimeout = absl::Hours(1);

using values::AbslView;

bool IsBlank(std::string_view s) {
  return s.find_first_not_of(" \t\r\n") == std::string_view::npos;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// WatchStream.

absl::StatusOr<std::optional<WatchEvent>> WatchStream::Next() {
  while (true) {
    absl::StatusOr<std::optional<std::string>> line = lines_->Next();
    if (!line.ok()) {
      return line.status();
    }
    if (!line->has_value()) {
      return std::optional<WatchEvent>();
    }
    if (IsBlank(**line)) {
      continue;
    }
    absl::StatusOr<WatchEvent> event = DecodeWatchEvent(**line);
    if (!event.ok()) {
      return event.status();
    }
    if (event->type == WatchEvent::Type::kError) {
      return ErrorOf(*event);
    }
    if (std::string_view rv = event->ResourceVersion(); !rv.empty()) {
      resource_version_ = std::string(rv);
    }
    return std::optional<WatchEvent>(*std::move(event));
  }
}

void WatchStream::Cancel() {
  lines_->Cancel();
}

// ---------------------------------------------------------------------------------------------
// ApiClient.

ApiClient::ApiClient(Transport& transport, Options options)
    : transport_(transport), options_(std::move(options)) {
  if (!options_.now) {
    options_.now = &absl::Now;
  }
}

absl::StatusOr<HttpResponse> ApiClient::Send(const HttpRequest& request) const {
  const absl::Time start = options_.now();
  absl::StatusOr<HttpResponse> response = transport_.Send(request, options_.timeout);
  if (options_.observer) {
    options_.observer(request, response.ok() ? response->status : 0, options_.now() - start);
  }
  return response;
}

absl::StatusOr<json::Value> ApiClient::Call(const absl::StatusOr<HttpRequest>& request) const {
  if (!request.ok()) {
    return request.status();
  }
  absl::StatusOr<HttpResponse> response = Send(*request);
  if (!response.ok()) {
    return response.status();
  }
  if (response->status < 200 || response->status > 299) {
    return ErrorFromResponse(response->status, response->body);
  }
  if (IsBlank(response->body)) {
    return json::Value();
  }
  absl::StatusOr<json::Value> value = json::Parse(response->body);
  if (!value.ok()) {
    return absl::InternalError(
        absl::StrCat(request->method, " ", request->path,
                     ": the response is not JSON: ", value.status().message()));
  }
  return value;
}

absl::StatusOr<json::Value> ApiClient::Get(const ResourceType& type, std::string_view ns,
                                           std::string_view name) const {
  return Call(RequestBuilder(type, ns).Get(name));
}

absl::StatusOr<ObjectList> ApiClient::List(const ResourceType& type, std::string_view ns,
                                           const ListOptions& options) const {
  absl::StatusOr<json::Value> doc = Call(RequestBuilder(type, ns).List(options));
  if (!doc.ok()) {
    return doc.status();
  }
  const json::Value* items = doc->Find("items");
  if (items == nullptr || !(items->is_array() || items->is_null())) {
    return absl::InternalError(
        absl::StrCat("list of ", AbslView(type.plural), ": the response has no items array"));
  }
  ObjectList list;
  if (items->is_array()) {
    list.items = items->elements();  // json::Value offers no way to move them out
  }
  list.resource_version = json::StringAt(*doc, "metadata.resourceVersion");
  list.continue_token = json::StringAt(*doc, "metadata.continue");
  return list;
}

absl::StatusOr<ObjectList> ApiClient::ListAll(const ResourceType& type, std::string_view ns,
                                              const ListOptions& options) const {
  ListOptions first = options;
  if (first.limit == 0) {
    first.limit = options_.list_page_size;
  }
  ListOptions page_options = first;
  ObjectList all;
  int restarts = 0;
  while (true) {
    absl::StatusOr<ObjectList> page = List(type, ns, page_options);
    if (!page.ok()) {
      // The continue token outlived the server's history: the pages so far are from a
      // snapshot that can no longer be continued, so start over.
      if (IsGone(page.status()) && !page_options.continue_token.empty() &&
          restarts < options_.max_list_restarts) {
        ++restarts;
        all = ObjectList();
        page_options = first;
        continue;
      }
      return page.status();
    }
    if (all.items.empty()) {
      all.items = std::move(page->items);
    } else {
      all.items.reserve(all.items.size() + page->items.size());
      for (json::Value& item : page->items) {
        all.items.push_back(std::move(item));
      }
    }
    all.resource_version = std::move(page->resource_version);
    if (page->continue_token.empty()) {
      return all;
    }
    page_options.continue_token = std::move(page->continue_token);
    // The token pins the snapshot; the server rejects a resourceVersion next to it.
    page_options.resource_version.clear();
    page_options.resource_version_match = ResourceVersionMatch::kUnset;
  }
}

absl::StatusOr<std::string> ApiClient::ListRaw(const ResourceType& type, std::string_view ns,
                                               const ListOptions& options) const {
  absl::StatusOr<HttpRequest> request = RequestBuilder(type, ns).List(options);
  if (!request.ok()) {
    return request.status();
  }
  absl::StatusOr<HttpResponse> response = Send(*request);
  if (!response.ok()) {
    return response.status();
  }
  if (response->status < 200 || response->status > 299) {
    return ErrorFromResponse(response->status, response->body);
  }
  return std::move(response->body);
}

absl::StatusOr<std::unique_ptr<LineStream>> ApiClient::WatchLines(
    const ResourceType& type, std::string_view ns, const WatchOptions& options) const {
  absl::StatusOr<HttpRequest> request = RequestBuilder(type, ns).Watch(options);
  if (!request.ok()) {
    return request.status();
  }
  const absl::Duration server_timeout =
      options.timeout_seconds > 0 ? absl::Seconds(options.timeout_seconds) : kServerWatchTimeout;
  const absl::Time start = options_.now();
  absl::StatusOr<StreamResponse> response =
      transport_.Stream(*request, server_timeout + options_.watch_idle_margin);
  if (options_.observer) {
    options_.observer(*request, response.ok() ? response->status : 0, options_.now() - start);
  }
  if (!response.ok()) {
    return response.status();
  }
  if (response->status < 200 || response->status > 299) {
    return ErrorFromResponse(response->status, response->error_body);
  }
  if (response->lines == nullptr) {
    return absl::InternalError(
        absl::StrCat("watch ", request->path, ": the transport returned no stream"));
  }
  return std::move(response->lines);
}

absl::StatusOr<WatchStream> ApiClient::Watch(const ResourceType& type, std::string_view ns,
                                             const WatchOptions& options) const {
  absl::StatusOr<std::unique_ptr<LineStream>> lines = WatchLines(type, ns, options);
  if (!lines.ok()) {
    return lines.status();
  }
  return WatchStream(*std::move(lines));
}

absl::StatusOr<json::Value> ApiClient::Create(const ResourceType& type, std::string_view ns,
                                              const json::Value& object,
                                              const WriteOptions& options) const {
  return Call(RequestBuilder(type, ns).Create(object, options));
}

absl::StatusOr<json::Value> ApiClient::Update(const ResourceType& type, std::string_view ns,
                                              const json::Value& object,
                                              const WriteOptions& options) const {
  return Call(RequestBuilder(type, ns).Update(object, options));
}

absl::StatusOr<json::Value> ApiClient::Patch(const ResourceType& type, std::string_view ns,
                                             std::string_view name, PatchType patch_type,
                                             const json::Value& patch,
                                             const PatchOptions& options) const {
  return Call(RequestBuilder(type, ns).Patch(name, patch_type, patch, options));
}

absl::StatusOr<json::Value> ApiClient::Apply(const ResourceType& type, std::string_view ns,
                                             const json::Value& object,
                                             std::string_view field_manager, bool force) const {
  return Call(RequestBuilder(type, ns).Apply(object, field_manager, force));
}

absl::StatusOr<json::Value> ApiClient::Delete(const ResourceType& type, std::string_view ns,
                                              std::string_view name,
                                              const DeleteOptions& options) const {
  return Call(RequestBuilder(type, ns).Delete(name, options));
}

absl::StatusOr<json::Value> ApiClient::GetStatus(const ResourceType& type, std::string_view ns,
                                                 std::string_view name) const {
  return Call(RequestBuilder(type, ns).GetSubresource(name, kStatusSubresource));
}

absl::StatusOr<json::Value> ApiClient::UpdateStatus(const ResourceType& type, std::string_view ns,
                                                    const json::Value& object,
                                                    const WriteOptions& options) const {
  return Call(RequestBuilder(type, ns).UpdateSubresource(kStatusSubresource, object, options));
}

absl::StatusOr<json::Value> ApiClient::PatchStatus(const ResourceType& type, std::string_view ns,
                                                   std::string_view name, PatchType patch_type,
                                                   const json::Value& patch,
                                                   const PatchOptions& options) const {
  return Call(RequestBuilder(type, ns).PatchSubresource(name, kStatusSubresource, patch_type, patch,
                                                        options));
}

absl::StatusOr<json::Value> ApiClient::ApplyStatus(const ResourceType& type, std::string_view ns,
                                                   const json::Value& object,
                                                   std::string_view field_manager,
                                                   bool force) const {
  return Call(
      RequestBuilder(type, ns).ApplySubresource(kStatusSubresource, object, field_manager, force));
}

absl::StatusOr<json::Value> ApiClient::GetScale(const ResourceType& type, std::string_view ns,
                                                std::string_view name) const {
  return Call(RequestBuilder(type, ns).GetSubresource(name, kScaleSubresource));
}

absl::StatusOr<json::Value> ApiClient::UpdateScale(const ResourceType& type, std::string_view ns,
                                                   const json::Value& scale,
                                                   const WriteOptions& options) const {
  return Call(RequestBuilder(type, ns).UpdateSubresource(kScaleSubresource, scale, options));
}

absl::StatusOr<json::Value> ApiClient::PatchScale(const ResourceType& type, std::string_view ns,
                                                  std::string_view name, PatchType patch_type,
                                                  const json::Value& patch,
                                                  const PatchOptions& options) const {
  return Call(RequestBuilder(type, ns).PatchSubresource(name, kScaleSubresource, patch_type, patch,
                                                        options));
}

absl::StatusOr<bool> ApiClient::HasResource(std::string_view group, std::string_view version,
                                            std::string_view plural) const {
  absl::StatusOr<json::Value> list = Call(DiscoveryRequest(group, version));
  if (!list.ok()) {
    if (kube::IsNotFound(list.status())) {
      return false;  // the group/version is not served: the CRD is not installed
    }
    return list.status();
  }
  const json::Value* resources = list->Find("resources");
  if (resources == nullptr || !resources->is_array()) {
    return false;
  }
  for (const json::Value& resource : resources->elements()) {
    const json::Value* name = resource.Find("name");
    if (name != nullptr && name->is_string() && name->string_value() == plural) {
      return true;
    }
  }
  return false;
}

}  // namespace bursar::kube
