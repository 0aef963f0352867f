#include "controllers/sim/admission_queue.h"

namespace bursar::sim::internal {

void AdmissionQueue::Insert(size_t index, const TraceJob& job) {
  ++size_;
  if (!by_length_) {
    fixed_.emplace(RankOf(job.priority, job.submit_time_s, std::nullopt, job.gpus), index);
    return;
  }
  if (job.expected_duration_s.has_value()) {
    fixed_.emplace(
        RankOf(job.priority, job.submit_time_s, absl::Seconds(*job.expected_duration_s), job.gpus),
        index);
    return;
  }
  fifos_[{job.priority, job.model, job.gpus}].emplace(job.submit_time_s, index);
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
