#include "controllers/sim/trace_generator.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <random>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "controllers/values/validation.h"

namespace bursar::sim {
namespace {

// Every random draw goes through this class so that the sequence depends only on the seed.
class Random {
 public:
  explicit Random(uint64_t seed) : engine_(seed) {}

  // Uniform on [0, 1) with 53 random bits.
  double Uniform() { return static_cast<double>(engine_() >> 11) * 0x1.0p-53; }

  // Standard normal by Marsaglia's polar method (no trigonometry, so fewer libm differences).
  double Normal() {
    if (has_spare_) {
      has_spare_ = false;
      return spare_;
    }
    double u = 0;
    double v = 0;
    double s = 0;
    do {
      u = 2 * Uniform() - 1;
      v = 2 * Uniform() - 1;
      s = u * u + v * v;
    } while (s >= 1 || s == 0);
    const double scale = std::sqrt(-2 * std::log(s) / s);
    spare_ = v * scale;
    has_spare_ = true;
    return u * scale;
  }

  double LogNormal(double median, double sigma) { return median * std::exp(sigma * Normal()); }

  // Index i with probability weights[i] / sum(weights); weights are >= 0 with a positive sum.
  template <size_t N>
  size_t Pick(const std::array<double, N>& weights) {
    return PickFrom(weights.data(), N);
  }
  size_t Pick(const std::vector<double>& weights) {
    return PickFrom(weights.data(), weights.size());
  }

 private:
  size_t PickFrom(const double* weights, size_t n) {
    double total = 0;
    for (size_t i = 0; i < n; ++i) {
      total += weights[i];
    }
    double x = Uniform() * total;
    for (size_t i = 0; i < n; ++i) {
      if (x < weights[i]) {
        return i;
      }
      x -= weights[i];
    }
    // Rounding left x just above the last weight: return the last non-zero entry.
    for (size_t i = n; i > 0; --i) {
      if (weights[i - 1] > 0) {
        return i - 1;
      }
    }
    return 0;
  }

  std::mt19937_64 engine_;
  bool has_spare_ = false;
  double spare_ = 0;
};

enum class Outcome { kPassed, kFailed, kKilled };

// Philly: roughly 70% of jobs pass; the rest fail (crash) or are killed (cancelled by users).
constexpr std::array<double, 3> kOutcomeWeights = {0.70, 0.18, 0.12};

// A lognormal run time: median (s) and sigma of log(duration).
struct RunTime {
  double median_s;
  double sigma;
};

// Training jobs, per outcome. Passed jobs follow the bulk of the distribution; failed jobs
// mostly die within minutes (bad configs, OOM at start); killed jobs are long runs a user gave up
// on. Tuned so that the mixture has a ~15 min median and, after the 14-day cap, a ~5 h mean.
constexpr std::array<RunTime, 3> kTrainRunTime = {
    RunTime{850, 2.4},    // passed
    RunTime{240, 2.0},    // failed
    RunTime{10800, 2.1},  // killed
};
// Retraining jobs rerun a known pipeline: shorter and less spread (median ~1 h).
constexpr std::array<RunTime, 3> kRetrainRunTime = {
    RunTime{4000, 0.8},  // passed
    RunTime{900, 1.2},   // failed
    RunTime{6000, 0.8},  // killed
};

constexpr std::array<int, 6> kGpuSizes = {1, 2, 4, 8, 16, 32};
constexpr std::array<double, 6> kGpuWeights = {0.75, 0.10, 0.08, 0.055, 0.01, 0.005};
constexpr std::array<int, 3> kRetrainGpuSizes = {1, 2, 4};
constexpr std::array<double, 3> kRetrainGpuWeights = {0.60, 0.25, 0.15};

constexpr std::array<double, 4> kPriorityWeights = {0.50, 0.30, 0.15, 0.05};  // priority 0..3
constexpr std::array<double, 4> kRetrainPriorityWeights = {0, 0.50, 0.40, 0.10};

constexpr double kTrainWithModelShare = 0.4;

// Relative submission rate by hour of a weekday; weekends run at 0.4 + 0.2 x this profile.
constexpr std::array<double, 24> kWeekdayHourRate = {
    0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.6, 0.8, 1.2, 2.0, 2.0, 2.0,  // 00-11
    1.6, 2.0, 2.0, 2.0, 2.0, 1.7, 1.3, 1.0, 1.0, 0.8, 0.6, 0.6,  // 12-23
};
constexpr double kMaxHourRate = 2.0;

double ArrivalRate(int64_t t) {
  const int64_t hour_of_week = (t / 3600) % int64_t{7 * 24};
  const double weekday_rate = kWeekdayHourRate[static_cast<size_t>(hour_of_week % 24)];
  const bool weekend = hour_of_week >= int64_t{5 * 24};  // t = 0 is Monday 00:00
  return weekend ? 0.4 + 0.2 * weekday_rate : weekday_rate;
}

// Conditioned on their count, the points of a Poisson process are independent with density
// proportional to its rate: sample that density by rejection.
std::vector<int64_t> DrawArrivals(Random& random, int64_t count, int64_t span_s) {
  std::vector<int64_t> times;
  times.reserve(static_cast<size_t>(count));
  while (static_cast<int64_t>(times.size()) < count) {
    const auto t =
        std::min(static_cast<int64_t>(random.Uniform() * static_cast<double>(span_s)), span_s - 1);
    if (random.Uniform() * kMaxHourRate < ArrivalRate(t)) {
      times.push_back(t);
    }
  }
  std::sort(times.begin(), times.end());
  return times;
}

int64_t DrawDuration(Random& random, const RunTime& run_time, int64_t cap_s) {
  const double seconds = random.LogNormal(run_time.median_s, run_time.sigma);
  if (!(seconds < static_cast<double>(cap_s))) {
    return cap_s;
  }
  return std::max<int64_t>(1, std::llround(seconds));
}

struct SanitizedTeams {
  std::vector<TeamShare> teams;
  std::vector<double> weights;        // for any job
  std::vector<double> model_weights;  // for retraining: zero for teams without models
  bool any_models = false;
};

SanitizedTeams SanitizeTeams(const std::vector<TeamShare>& teams) {
  SanitizedTeams out;
  out.teams = teams;
  if (out.teams.empty()) {
    out.teams.emplace_back().ns = "default";
  }
  double total = 0;
  for (const TeamShare& team : out.teams) {
    const double w = std::isfinite(team.weight) && team.weight > 0 ? team.weight : 0;
    out.weights.push_back(w);
    total += w;
  }
  if (total <= 0) {
    std::fill(out.weights.begin(), out.weights.end(), 1.0);
  }
  for (size_t i = 0; i < out.teams.size(); ++i) {
    const bool has_models = !out.teams[i].models.empty() && out.weights[i] > 0;
    out.model_weights.push_back(has_models ? out.weights[i] : 0);
    out.any_models = out.any_models || has_models;
  }
  return out;
}

double GpuSeconds(const TraceJob& job) {
  return static_cast<double>(job.gpus) * static_cast<double>(job.duration_s);
}

}  // namespace

absl::Status ValidateTraceGeneratorOptions(const TraceGeneratorOptions& options) {
  constexpr int64_t kMaxJobs = 10'000'000;
  if (options.jobs < 0 || options.jobs > kMaxJobs) {
    return absl::InvalidArgumentError(
        absl::StrCat("jobs: ", options.jobs, " must be between 0 and ", kMaxJobs));
  }
  if (options.span_s <= 0 || options.span_s > kMaxTraceSeconds) {
    return absl::InvalidArgumentError(
        absl::StrCat("span_s: ", options.span_s, " must be between 1 second and 100 years"));
  }
  if (options.max_duration_s <= 0 || options.max_duration_s > kMaxTraceSeconds) {
    return absl::InvalidArgumentError(absl::StrCat("max_duration_s: ", options.max_duration_s,
                                                   " must be between 1 second and 100 years"));
  }
  if (!(options.retrain_fraction >= 0 && options.retrain_fraction <= 1)) {
    return absl::InvalidArgumentError(
        absl::StrCat("retrain_fraction: ", options.retrain_fraction, " must be between 0 and 1"));
  }
  std::set<std::string> seen;
  double total_weight = 0;
  for (size_t i = 0; i < options.teams.size(); ++i) {
    const TeamShare& team = options.teams[i];
    const std::string where = absl::StrCat("teams[", i, "] (", team.ns, ")");
    if (!values::IsDns1123Label(team.ns)) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": namespace \"", team.ns, "\" is not a valid DNS-1123 label"));
    }
    if (!seen.insert(team.ns).second) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": duplicate namespace"));
    }
    if (!std::isfinite(team.weight) || team.weight < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": weight ", team.weight, " must be a finite number >= 0"));
    }
    for (const std::string& model : team.models) {
      if (model.empty()) {
        return absl::InvalidArgumentError(absl::StrCat(where, ": empty model name"));
      }
    }
    total_weight += team.weight;
  }
  if (!options.teams.empty() && total_weight <= 0) {
    return absl::InvalidArgumentError("teams: the weights sum to 0");
  }
  return absl::OkStatus();
}

GeneratedTrace GenerateTraceWithStats(const TraceGeneratorOptions& options) {
  const int64_t count = std::max<int64_t>(0, options.jobs);
  const int64_t span_s = std::max<int64_t>(1, options.span_s);
  const int64_t cap_s = std::max<int64_t>(1, options.max_duration_s);
  const SanitizedTeams teams = SanitizeTeams(options.teams);
  const double retrain_fraction =
      teams.any_models ? std::clamp(options.retrain_fraction, 0.0, 1.0) : 0.0;

  Random random(options.seed);
  const std::vector<int64_t> arrivals = DrawArrivals(random, count, span_s);

  GeneratedTrace out;
  out.jobs.reserve(arrivals.size());
  double total_gpu_s = 0;
  double unsuccessful_gpu_s = 0;
  for (int64_t submit : arrivals) {
    TraceJob& job = out.jobs.emplace_back();
    job.submit_time_s = submit;
    const bool retrain = random.Uniform() < retrain_fraction;
    const size_t team_index = random.Pick(retrain ? teams.model_weights : teams.weights);
    const TeamShare& team = teams.teams[team_index];
    job.ns = team.ns;
    if (retrain) {
      job.purpose = "retrain";
      job.model = team.models[static_cast<size_t>(random.Uniform() *
                                                  static_cast<double>(team.models.size()))];
    } else if (!team.models.empty() && random.Uniform() < kTrainWithModelShare) {
      job.purpose = "train";
      job.model = team.models[static_cast<size_t>(random.Uniform() *
                                                  static_cast<double>(team.models.size()))];
    }
    job.gpus = retrain ? kRetrainGpuSizes[random.Pick(kRetrainGpuWeights)]
                       : kGpuSizes[random.Pick(kGpuWeights)];
    job.priority =
        static_cast<int>(random.Pick(retrain ? kRetrainPriorityWeights : kPriorityWeights));
    const auto outcome = static_cast<Outcome>(random.Pick(kOutcomeWeights));
    const RunTime& run_time =
        (retrain ? kRetrainRunTime : kTrainRunTime)[static_cast<size_t>(outcome)];
    job.duration_s = DrawDuration(random, run_time, cap_s);

    total_gpu_s += GpuSeconds(job);
    if (outcome != Outcome::kPassed) {
      ++out.unsuccessful_jobs;
      unsuccessful_gpu_s += GpuSeconds(job);
    }
  }
  out.stats = ComputeTraceStats(out.jobs);
  out.stats.unsuccessful_gpu_time_share = total_gpu_s > 0 ? unsuccessful_gpu_s / total_gpu_s : 0;
  return out;
}

std::vector<TraceJob> GenerateTrace(const TraceGeneratorOptions& options) {
  return GenerateTraceWithStats(options).jobs;
}

TraceStats ComputeTraceStats(const std::vector<TraceJob>& jobs) {
  TraceStats stats;
  stats.jobs = static_cast<int64_t>(jobs.size());
  stats.unsuccessful_gpu_time_share = std::numeric_limits<double>::quiet_NaN();
  if (jobs.empty()) {
    return stats;
  }
  std::vector<int64_t> durations;
  durations.reserve(jobs.size());
  double duration_sum = 0;
  double gpu_seconds = 0;
  int64_t single_gpu = 0;
  for (const TraceJob& job : jobs) {
    durations.push_back(job.duration_s);
    duration_sum += static_cast<double>(job.duration_s);
    gpu_seconds += GpuSeconds(job);
    single_gpu += job.gpus == 1 ? 1 : 0;
    stats.max_gpus = std::max(stats.max_gpus, job.gpus);
  }
  const size_t mid = durations.size() / 2;
  std::nth_element(durations.begin(), durations.begin() + static_cast<ptrdiff_t>(mid),
                   durations.end());
  double median = static_cast<double>(durations[mid]);
  if (durations.size() % 2 == 0) {
    const int64_t below =
        *std::max_element(durations.begin(), durations.begin() + static_cast<ptrdiff_t>(mid));
    median = (median + static_cast<double>(below)) / 2;
  }
  const auto n = static_cast<double>(jobs.size());
  stats.median_duration_s = median;
  stats.mean_duration_s = duration_sum / n;
  stats.single_gpu_share = static_cast<double>(single_gpu) / n;
  stats.total_gpu_hours = gpu_seconds / 3600;
  return stats;
}

}  // namespace bursar::sim
