#include "controllers/sim/admission_queue.h"

namespace bursar::sim::internal {

void AdmissionQueue::Insert(size_t index, const TraceJob& job, const engine::JobLengths& lengths) {
  if (!by_length_) {
    order_.insert(
        KeyOf(job.priority, job.submit_time_s, DueAfter(job.priority, std::nullopt, 0), index));
    return;
  }
  if (job.expected_duration_s.has_value()) {
    const int64_t due_after =
        DueAfter(job.priority, absl::Seconds(*job.expected_duration_s), job.gpus);
    order_.insert(KeyOf(job.priority, job.submit_time_s, due_after, index));
    return;
  }
  auto [group, added] = groups_.try_emplace({job.priority, job.model, job.gpus});
  if (added) {
    group->second.due_after =
        DueAfter(job.priority, engine::LearnedLength(lengths, job.model), job.gpus);
  }
  group->second.members.emplace(job.submit_time_s, index);
  group_of_[index] = group;
  order_.insert(KeyOf(job.priority, job.submit_time_s, group->second.due_after, index));
}

void AdmissionQueue::Refresh(const engine::JobLengths& lengths) {
  if (seen_version_ == lengths.version()) {
    return;
  }
  seen_version_ = lengths.version();
  for (auto& [key, group] : groups_) {
    const auto& [priority, model, gpus] = key;
    const int64_t due_after = DueAfter(priority, engine::LearnedLength(lengths, model), gpus);
    if (due_after == group.due_after) {
      continue;
    }
    for (const auto& [submit_s, index] : group.members) {
      order_.erase(KeyOf(priority, submit_s, group.due_after, index));
      order_.insert(KeyOf(priority, submit_s, due_after, index));
    }
    group.due_after = due_after;
  }
}

void AdmissionQueue::Remove(std::set<Key>::iterator at) {
  const auto [neg_priority, due, submit_s, index] = *at;
  order_.erase(at);
  auto member = group_of_.find(index);
  if (member == group_of_.end()) {
    return;
  }
  Groups::iterator group = member->second;
  group->second.members.erase({submit_s, index});
  if (group->second.members.empty()) {
    groups_.erase(group);
  }
  group_of_.erase(member);
}

std::vector<size_t> AdmissionQueue::Front(const engine::JobLengths& lengths, size_t n) {
  std::vector<size_t> out;
  Scan(lengths, [&](size_t index) {
    out.push_back(index);
    return out.size() < n ? Visit::kSkip : Visit::kStop;
  });
  return out;
}

}  // namespace bursar::sim::internal
