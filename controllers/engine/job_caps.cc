#include "controllers/engine/job_caps.h"

#include <algorithm>
#include <cstdint>
#include <limits>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace bursar::engine {
namespace {

using values::Accrual;
using values::kAccrualPerMicro;
using values::Money;

int64_t WholeSeconds(absl::Duration d) {
  return std::max<int64_t>(0, absl::ToInt64Seconds(d));
}

std::string Hours(double hours) {
  return absl::StrFormat("%.2f", hours);
}

}  // namespace

std::optional<std::string> CapStop(const JobCap& cap, const JobUse& used, Money rate, int64_t gpus,
                                   absl::Duration horizon) {
  const int64_t ahead = WholeSeconds(horizon);
  const Money spent = values::AccrualToMoney(used.accrued);
  const double gpu_hours = static_cast<double>(used.gpu_seconds) / 3600.0;
  std::string cost = absl::StrCat("it has cost ", spent.ToString(), " (", Hours(gpu_hours),
                                  " GPU-hours) and burns ", rate.ToString(), " per hour");
  if (cap.max_cost.has_value()) {
    const Accrual projected =
        used.accrued + static_cast<Accrual>(std::max<int64_t>(0, rate.micros())) * ahead;
    if (projected >= static_cast<Accrual>(cap.max_cost->micros()) * kAccrualPerMicro) {
      return absl::StrCat("its bursar.dev/max-cost of ", cap.max_cost->ToString(),
                          " would be passed within ", absl::FormatDuration(absl::Seconds(ahead)),
                          ": ", cost);
    }
  }
  if (cap.max_gpu_hours.has_value()) {
    const double projected =
        static_cast<double>(used.gpu_seconds) +
        static_cast<double>(std::max<int64_t>(0, gpus)) * static_cast<double>(ahead);
    if (projected >= *cap.max_gpu_hours * 3600.0) {
      return absl::StrCat("its bursar.dev/max-gpu-hours of ", Hours(*cap.max_gpu_hours),
                          " would be passed within ", absl::FormatDuration(absl::Seconds(ahead)),
                          ": ", cost);
    }
  }
  return std::nullopt;
}

Money ExpectedCost(int64_t gpus, Money gpu_hour_price, absl::Duration length) {
  if (gpus <= 0 || gpu_hour_price.micros() <= 0) {
    return Money();
  }
  // gpus x seconds may pass int64: the price takes them one factor at a time (MulDiv saturates).
  return gpu_hour_price.MulDiv(gpus, 1).MulDiv(WholeSeconds(length), 3600, values::Rounding::kUp);
}

std::optional<Unaffordable> CheckAffordable(const JobCap& cap, int64_t gpus, absl::Duration length,
                                            Money gpu_hour_price, std::optional<Money> money_left,
                                            absl::Duration time_left) {
  const Money whole = ExpectedCost(gpus, gpu_hour_price, length);
  const std::string declared =
      absl::StrCat(gpus, " GPUs for its declared ", absl::FormatDuration(length), " at ",
                   gpu_hour_price.ToString(), " per GPU-hour");
  if (cap.max_cost.has_value() && whole > *cap.max_cost) {
    return Unaffordable{
        Unaffordable::Kind::kOverCap,
        absl::StrCat("its expected cost ", whole.ToString(), " (", declared,
                     ") is more than its bursar.dev/max-cost of ", cap.max_cost->ToString())};
  }
  if (cap.max_gpu_hours.has_value()) {
    const double hours = static_cast<double>(std::max<int64_t>(0, gpus)) *
                         static_cast<double>(WholeSeconds(length)) / 3600.0;
    if (hours > *cap.max_gpu_hours) {
      return Unaffordable{Unaffordable::Kind::kOverCap,
                          absl::StrCat("its expected ", Hours(hours), " GPU-hours (", gpus,
                                       " GPUs for its declared ", absl::FormatDuration(length),
                                       ") are more than its bursar.dev/max-gpu-hours of ",
                                       Hours(*cap.max_gpu_hours))};
    }
  }
  if (money_left.has_value()) {
    const Money in_period = ExpectedCost(
        gpus, gpu_hour_price, std::min(length, std::max(time_left, absl::ZeroDuration())));
    if (in_period > *money_left) {
      return Unaffordable{
          Unaffordable::Kind::kOverBudget,
          absl::StrCat("its expected cost in this period, ", in_period.ToString(), " (", declared,
                       ", ", absl::FormatDuration(std::min(length, time_left)),
                       " of it before the period ends), is more than the ",
                       Max(*money_left, Money()).ToString(),
                       " its budget can still commit beyond the work it runs")};
    }
  }
  return std::nullopt;
}

}  // namespace bursar::engine
