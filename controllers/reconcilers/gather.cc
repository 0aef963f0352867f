#include "controllers/reconcilers/gather.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <optional>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "controllers/api/codec.h"
#include "controllers/values/duration.h"
#include "controllers/values/quantity.h"
#include "controllers/values/resources.h"
#include "controllers/values/strings.h"
#include "operator/kube/pod_summary_fields.h"

namespace bursar::reconcilers {
namespace {

absl::Time TimeAt(const json::Value& v, std::string_view dotted) {
  absl::StatusOr<absl::Time> t = api::ParseTime(json::StringAt(v, dotted));
  return t.ok() ? *t : absl::InfinitePast();
}

values::Quantity QuantityAt(const json::Value* resources, std::string_view name) {
  if (resources == nullptr) {
    return values::Quantity();
  }
  const json::Value* q = resources->Find(name);
  if (q == nullptr || !(q->is_string() || q->is_number())) {
    return values::Quantity();
  }
  absl::StatusOr<values::Quantity> parsed = values::Quantity::Parse(q->text());
  return parsed.ok() ? *parsed : values::Quantity();
}

int64_t GpusOf(const json::Value* resources) {
  return std::max<int64_t>(0, QuantityAt(resources, values::kGpuResource).Value());
}

}  // namespace

values::Labels LabelsAt(const json::Value& object, std::string_view dotted_path) {
  values::Labels labels;
  const json::Value* found = object.FindPath(dotted_path);
  if (found == nullptr || !found->is_object()) {
    return labels;
  }
  for (const auto& [key, value] : found->members()) {
    if (value.is_string()) {
      labels.emplace(key, value.string_value());
    }
  }
  return labels;
}

PodView PodViewOf(kube::PodSummary pod) {
  PodView view;
  view.uid = std::move(pod.uid);
  view.namespace_name = pod.namespace_name;
  view.name = std::move(pod.name);
  view.node_name = std::move(pod.node_name);
  view.labels.Assign(pod.labels);
  switch (pod.phase) {
    case kube::PodPhase::kSucceeded:
    case kube::PodPhase::kFailed:
      view.state = PodState::kEnded;
      break;
    case kube::PodPhase::kRunning:
      view.state = PodState::kRunning;
      break;
    case kube::PodPhase::kPending:
    case kube::PodPhase::kUnknown:
      view.state = PodState::kPending;
      break;
  }
  view.start = pod.start_time;
  view.deleting = pod.deletion_timestamp;
  view.stop_grace_seconds = pod.termination_grace_seconds;
  for (const kube::ContainerSummary& c : pod.containers) {
    view.containers.push_back(
        {.cpu_milli = c.cpu_milli, .memory_bytes = c.memory_bytes, .gpus = c.gpus});
    view.container_names.push_back(c.name);
    if (view.state == PodState::kEnded && c.finished_at.has_value()) {
      view.end = view.end.has_value() ? std::max(*view.end, *c.finished_at) : *c.finished_at;
    }
  }
  if (pod.owner_kind == std::string_view("Job")) {
    view.job = std::move(pod.owner_name);
  }
  view.priority = pod.priority;
  return view;
}

NodeView NodeViewOf(const json::Value& node) {
  NodeView view;
  view.info.name = json::StringAt(node, "metadata.name");
  view.info.labels = LabelsAt(node, "metadata.labels");
  const json::Value* capacity = node.FindPath("status.capacity");
  view.info.cpu_capacity = QuantityAt(capacity, "cpu");
  view.info.memory_capacity = QuantityAt(capacity, "memory");
  view.info.gpu_capacity = GpusOf(capacity);
  view.created = TimeAt(node, "metadata.creationTimestamp");
  view.grown_for = json::MemberStringAt(node, "metadata.annotations", kGrownForAnnotation);
  const json::Value* conditions = node.FindPath("status.conditions");
  if (conditions != nullptr && conditions->is_array()) {
    for (const json::Value& c : conditions->elements()) {
      if (json::StringAt(c, "type") == "Ready") {
        view.ready = json::StringAt(c, "status") == "True";
      }
    }
  }
  return view;
}

namespace {

// Reads the Bursar annotations of a Job into `view`. A value that does not parse is left
// unset and the first such is named in view.annotation_error.
void ReadJobAnnotations(const json::Value& job, JobView& view) {
  auto annotation = [&](const char* key) {
    return json::MemberStringAt(job, "metadata.annotations", key);
  };
  auto fail = [&](const char* key, const std::string& why) {
    if (view.annotation_error.empty()) {
      view.annotation_error = absl::StrCat(key, ": ", why);
    }
  };
  view.held_by = annotation(kHeldByAnnotation);
  view.held_for = annotation(kHeldRungAnnotation);
  auto duration = [&](const char* key) -> std::optional<absl::Duration> {
    std::string text = annotation(key);
    if (text.empty())
      return std::nullopt;
    absl::StatusOr<absl::Duration> d = values::ParseDuration(text);
    if (!d.ok()) {
      fail(key, std::string(d.status().message()));
      return std::nullopt;
    }
    return *d;
  };
  view.drain_grace = duration(kDrainGraceAnnotation).value_or(absl::ZeroDuration());
  view.expected_duration = duration(kExpectedDurationAnnotation);
  if (view.expected_duration == absl::ZeroDuration()) {
    view.expected_duration.reset();
    fail(kExpectedDurationAnnotation, "must be more than 0");
  }
  if (std::string text = annotation(kMaxCostAnnotation); !text.empty()) {
    absl::StatusOr<values::Money> cap = values::Money::Parse(text);
    if (!cap.ok()) {
      fail(kMaxCostAnnotation, std::string(cap.status().message()));
    } else if (*cap < values::Money()) {
      fail(kMaxCostAnnotation, "must not be negative");
    } else {
      view.max_cost = *cap;
    }
  }
  if (std::string text = annotation(kMaxGpuHoursAnnotation); !text.empty()) {
    double hours = 0;
    if (!absl::SimpleAtod(text, &hours) || !std::isfinite(hours) || hours < 0 || hours > 1e12) {
      fail(kMaxGpuHoursAnnotation,
           absl::StrCat("\"", text, "\" is not a number of hours in [0, 1e12]"));
    } else {
      view.max_gpu_hours = hours;
    }
  }
  int32_t priority = 0;
  std::string p = annotation(kPriorityAnnotation);
  if (!p.empty() && absl::SimpleAtoi(p, &priority)) {
    view.priority = priority;
  } else if (!p.empty()) {
    fail(kPriorityAnnotation, absl::StrCat("\"", p, "\" is not a 32-bit integer"));
  }
}

}  // namespace

JobView JobViewOf(const json::Value& job) {
  return WorkloadViewOf(BatchJobKind(), job);
}

namespace {

// What one pod of `pod_template` requests: GPUs, cpu in millicores, memory in bytes.
struct PodRequests {
  int64_t gpus = 0;
  int64_t cpu_milli = 0;
  int64_t memory_bytes = 0;
};

PodRequests RequestsOfTemplate(const json::Value& pod_template) {
  PodRequests out;
  const json::Value* containers = pod_template.FindPath("spec.containers");
  if (containers == nullptr || !containers->is_array()) {
    return out;
  }
  for (const json::Value& c : containers->elements()) {
    const json::Value* requests = c.FindPath("resources.requests");
    const json::Value* limits = c.FindPath("resources.limits");
    // Extended resources: the request equals the limit, and either may be given.
    int64_t gpus = GpusOf(requests);
    out.gpus = SaturatingAdd(out.gpus, gpus > 0 ? gpus : GpusOf(limits));
    // A container with a limit and no request is given the limit as its request.
    auto request = [&](std::string_view name) {
      values::Quantity q = QuantityAt(requests, name);
      return q == values::Quantity() ? QuantityAt(limits, name) : q;
    };
    out.cpu_milli = SaturatingAdd(out.cpu_milli, std::max<int64_t>(0, request("cpu").MilliValue()));
    out.memory_bytes =
        SaturatingAdd(out.memory_bytes, std::max<int64_t>(0, request("memory").Value()));
  }
  return out;
}

// Whether a workload has ended: a Complete, Completed, Succeeded or Failed condition that is
// True (Job, JobSet, Kubeflow), or a RayJob's jobDeploymentStatus Complete or Failed.
bool Finished(const json::Value& object) {
  const json::Value* conditions = object.FindPath("status.conditions");
  if (conditions != nullptr && conditions->is_array()) {
    for (const json::Value& c : conditions->elements()) {
      std::string type = json::StringAt(c, "type");
      if ((type == "Complete" || type == "Completed" || type == "Succeeded" || type == "Failed") &&
          json::StringAt(c, "status") == "True") {
        return true;
      }
    }
  }
  std::string ray = json::StringAt(object, "status.jobDeploymentStatus");
  return ray == "Complete" || ray == "Failed";
}

}  // namespace

JobView WorkloadViewOf(const SuspendPath& kind, const json::Value& object) {
  JobView view;
  view.kind = kind.IsBatchJob() ? nullptr : &kind;
  view.namespace_name = json::StringAt(object, "metadata.namespace");
  view.name = json::StringAt(object, "metadata.name");
  view.uid = json::StringAt(object, "metadata.uid");
  view.created = TimeAt(object, "metadata.creationTimestamp");
  const json::Value* suspend = object.FindPath(kind.path);
  view.suspended = suspend != nullptr && suspend->is_bool() && suspend->bool_value();
  view.finished = Finished(object);
  int64_t cpu_milli = 0, memory_bytes = 0;
  const std::vector<PodSet> sets = PodSetsOf(kind, object);
  if (!sets.empty()) {
    view.stop_grace = absl::ZeroDuration();  // the longest of its templates', below
  }
  for (const PodSet& set : sets) {
    if (view.labels.empty()) {
      view.labels = LabelsAt(*set.pod_template, "metadata.labels");  // the first template's
    }
    const json::Value* grace = set.pod_template->FindPath("spec.terminationGracePeriodSeconds");
    const int32_t seconds = grace != nullptr && grace->is_integer()
                                ? kube::pod_fields::ClampGrace(grace->int_value())
                                : kube::kDefaultTerminationGraceSeconds;
    view.stop_grace = std::max(view.stop_grace, absl::Seconds(seconds));
    PodRequests per_pod = RequestsOfTemplate(*set.pod_template);
    view.gpus = SaturatingAdd(view.gpus, SaturatingMul(per_pod.gpus, set.count));
    cpu_milli = SaturatingAdd(cpu_milli, SaturatingMul(per_pod.cpu_milli, set.count));
    memory_bytes = SaturatingAdd(memory_bytes, SaturatingMul(per_pod.memory_bytes, set.count));
  }
  view.cpu = values::Quantity::FromMilli(cpu_milli);
  view.memory = values::Quantity::FromUnits(memory_bytes, values::Quantity::Format::kBinarySI);
  const json::Value* deadline = object.FindPath("spec.activeDeadlineSeconds");
  if (deadline != nullptr && deadline->is_integer() && deadline->int_value() > 0) {
    view.active_deadline = absl::Seconds(deadline->int_value());
  }
  ReadJobAnnotations(object, view);
  return view;
}

RejectedObject RejectedObjectOf(std::string_view kind, const json::Value& object, std::string why) {
  RejectedObject out;
  out.kind = std::string(kind);
  out.name = json::StringAt(object, "metadata.name");
  out.uid = json::StringAt(object, "metadata.uid");
  const json::Value* generation = object.FindPath("metadata.generation");
  out.generation = generation != nullptr && generation->is_integer() ? generation->int_value() : 0;
  out.why = std::move(why);
  const json::Value* conditions = object.FindPath("status.conditions");
  if (conditions != nullptr && conditions->is_array()) {
    for (const json::Value& c : conditions->elements()) {
      api::Condition condition;
      condition.type = json::StringAt(c, "type");
      condition.status = json::StringAt(c, "status");
      condition.reason = json::StringAt(c, "reason");
      condition.message = json::StringAt(c, "message");
      condition.last_transition_time = TimeAt(c, "lastTransitionTime");
      const json::Value* observed = c.Find("observedGeneration");
      condition.observed_generation =
          observed != nullptr && observed->is_integer() ? observed->int_value() : 0;
      if (!condition.type.empty()) {
        out.conditions.push_back(std::move(condition));
      }
    }
  }
  return out;
}

}  // namespace bursar::reconcilers
