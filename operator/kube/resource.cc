#include "operator/kube/resource.h"

#include <string>
#include <string_view>

namespace bursar::kube {

std::string ApiPrefix(std::string_view group, std::string_view version) {
  std::string out = group.empty() ? "/api/" : "/apis/";
  if (!group.empty()) {
    out.append(group);
    out.push_back('/');
  }
  out.append(version);
  return out;
}

std::string ResourceType::ApiPrefix() const {
  return kube::ApiPrefix(group, version);
}

std::string ResourceType::ApiVersion() const {
  if (group.empty()) {
    return std::string(version);
  }
  std::string out(group);
  out.push_back('/');
  out.append(version);
  return out;
}

}  // namespace bursar::kube
