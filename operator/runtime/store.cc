#include "operator/runtime/store.h"

#include <string>
#include <string_view>

namespace bursar::runtime {
namespace {

std::string_view MetadataString(const json::Value& object, std::string_view field) {
  const json::Value* metadata = object.Find("metadata");
  const json::Value* value = metadata == nullptr ? nullptr : metadata->Find(field);
  return value != nullptr && value->is_string() ? std::string_view(value->string_value())
                                                : std::string_view();
}

}  // namespace

std::string ObjectKey(std::string_view namespace_name, std::string_view name) {
  if (namespace_name.empty()) {
    return std::string(name);
  }
  std::string key;
  key.reserve(namespace_name.size() + 1 + name.size());
  key.append(namespace_name).append("/").append(name);
  return key;
}

std::string ObjectKeyOf(const json::Value& object) {
  return ObjectKey(MetadataString(object, "namespace"), MetadataString(object, "name"));
}

std::string ObjectKeyOf(const kube::PodSummary& pod) {
  return ObjectKey(pod.namespace_name.view(), pod.name);
}

ObjectName SplitObjectKey(std::string_view key) {
  const size_t slash = key.find('/');
  if (slash == std::string_view::npos) {
    return {std::string_view(), key};
  }
  return {key.substr(0, slash), key.substr(slash + 1)};
}

std::string_view ResourceVersionOf(const json::Value& object) {
  return MetadataString(object, "resourceVersion");
}

std::string_view ResourceVersionOf(const kube::PodSummary& pod) {
  return pod.resource_version;
}

}  // namespace bursar::runtime
