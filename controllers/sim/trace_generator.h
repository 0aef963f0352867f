#pragma once

// Seeded synthetic GPU-job traces shaped like the published cluster traces: Microsoft Philly
// (Jeon et al., "Analysis of Large-Scale Multi-Tenant GPU Clusters for DNN Training Workloads",
// USENIX ATC'19) and Alibaba PAI (Weng et al., NSDI'22). What the generator reproduces:
//   - run times: a lognormal mixture with median ~15 min and mean ~5 h, capped at
//     max_duration_s (the cap trims the heavy tail; the components are tuned so that the
//     realised mean lands near 5 h, not the uncapped one);
//   - GPUs per job: ~75% single-GPU, a tail of 2, 4, 8 and a few 16 and 32;
//   - arrivals: a Poisson process whose rate follows the hour of day and the day of week
//     (weekday working hours 4x weekday nights; a weekend day about half a weekday). t = 0 is
//     taken to be Monday 00:00 in
//     the scenario's time zone. For a fixed job count this is exact: conditioned on N arrivals,
//     a Poisson process places them independently with density proportional to its rate;
//   - priorities 0..3, mostly 0 and 1;
//   - retraining: `retrain_fraction` of the jobs have purpose "retrain", a model from their
//     team's list, 1-4 GPUs and a shorter run (median ~1 h). They are drawn from the teams that
//     list models (by weight), so teams without models get none. Of the other jobs, those of a
//     team with models are "train" jobs of one of its models 40% of the time; the rest have no
//     model and no purpose (exploratory work);
//   - outcomes: ~70% of jobs pass, ~18% fail and ~12% are killed, roughly as in Philly. Failed
//     jobs mostly die within minutes; killed jobs are long runs users gave up on. Unsuccessful
//     jobs therefore burn about half of the GPU time (45-55% over 20,000 jobs; a 3,000-job
//     trace varies more, 35-60%, because a few long multi-GPU jobs dominate).
//
// The CSV carries no outcome column: an unsuccessful job's duration_s is simply the time it ran
// before it failed or was killed. So ComputeTraceStats, given only jobs, cannot know outcomes
// and reports the unsuccessful share as NaN; GenerateTraceWithStats knows each job's outcome
// and reports the true share.
//
// Determinism: std::mt19937_64 is specified exactly by the standard, and every distribution is
// implemented here (Marsaglia's polar method for normals, inverse CDFs, rejection sampling),
// because libstdc++, libc++ and MSVC implement std:: distributions differently. The only
// library maths used is std::log, std::exp and std::sqrt, and their results are rounded to whole
// seconds, so a last-bit difference between maths libraries practically never changes a trace
// (a golden test pins one).

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "controllers/sim/trace.h"

namespace bursar::sim {

struct TeamShare {
  std::string ns;                   // the team's namespace (DNS-1123 label)
  double weight = 1;                // relative share of the jobs, >= 0
  std::vector<std::string> models;  // models the team trains and retrains; may be empty
};

struct TraceGeneratorOptions {
  uint64_t seed = 1;
  int64_t jobs = 1000;
  int64_t span_s = int64_t{30} * 86400;  // submissions spread over [0, span_s)
  std::vector<TeamShare> teams;          // default when empty: one team "default"
  double retrain_fraction = 0.05;        // share of jobs with purpose "retrain" (needs a model)
  int64_t max_duration_s = int64_t{14} * 86400;  // cap on one job's run time
};

struct TraceStats {
  int64_t jobs = 0;
  double median_duration_s = 0;  // the middle run time (mean of the two middle ones if even)
  double mean_duration_s = 0;
  double single_gpu_share = 0;  // share of all jobs (CPU-only ones included) with exactly 1 GPU
  int max_gpus = 0;
  // Share of GPU time spent by jobs that failed or were killed: the sum of gpus x duration_s
  // over the jobs whose drawn outcome was "failed" or "killed", divided by the sum over all
  // jobs. Only the generator knows outcomes: NaN from ComputeTraceStats; 0 without GPU time.
  double unsuccessful_gpu_time_share = 0;
  double total_gpu_hours = 0;  // sum of gpus x duration_s / 3600
};

struct GeneratedTrace {
  std::vector<TraceJob> jobs;     // identical to GenerateTrace(options)
  TraceStats stats;               // with the true unsuccessful share
  int64_t unsuccessful_jobs = 0;  // jobs that failed or were killed
};

// Checks what GenerateTrace would otherwise silently repair: jobs >= 0, span_s > 0,
// max_duration_s > 0, retrain_fraction in [0, 1], team namespaces valid and distinct, weights
// finite and >= 0 with a positive sum. The error names the offending option.
absl::Status ValidateTraceGeneratorOptions(const TraceGeneratorOptions& options);

// Deterministic for given options; sorted by submit time; `line` is 0. Invalid options are
// clamped (negative counts to 0, a non-positive span or cap to 1 s, bad weights to 0 and an
// all-zero team list to equal weights): call ValidateTraceGeneratorOptions first to reject them.
std::vector<TraceJob> GenerateTrace(const TraceGeneratorOptions& options);
GeneratedTrace GenerateTraceWithStats(const TraceGeneratorOptions& options);

// Statistics of any trace. It cannot know outcomes: unsuccessful_gpu_time_share is NaN.
TraceStats ComputeTraceStats(const std::vector<TraceJob>& jobs);

}  // namespace bursar::sim
