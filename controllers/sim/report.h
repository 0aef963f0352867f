#pragma once

// Renders a simulation report: a table for people, JSON for programs, CSV per period or per
// Job, and a comparison of policies side by side. Numbers in JSON are plain numbers in the budget's
// unit (currency, or GPU-hours for gpuHours-only budgets), rounded to cents.

#include <string>
#include <vector>

#include "controllers/sim/simulator.h"

namespace bursar::sim {

std::string FormatReportTable(const SimReport& report);
std::string FormatReportJson(const SimReport& report);
std::string FormatReportCsv(const SimReport& report);
// One row per submitted Job (SimReport::jobs): job (index in the trace), budget, namespace,
// priority, gpus, duration_s, submit_s, first_start_s and finish_s (seconds since the scenario
// start; empty when it never started / did not finish), state, suspensions, gpu_hours (paid
// while it ran), cost (its pods' charges; idle capacity is charged to budgets, not to Jobs).
std::string FormatJobsCsv(const SimReport& report);
// --decisions: one row per budget and decision step (every tick) of a run, for seeing why a Job
// was held or drained: time (UTC), budget, rung, usage_percent (of the binding dimension),
// quota_gpus and keep_gpus / reserve_keep_gpus (empty when unset), allowed_gpus, the GPUs
// running (regular, reserve), idle (nodes it pays for) and stopping, spent and gpu_hours so far
// in the period, lookahead_s, and the engine's reason.
extern const char kDecisionsCsvHeader[];
std::string FormatDecisionCsvRow(const DecisionTrace& d);
// One row per policy and budget: spent, overspend, overspent periods, work done, waits.
std::string FormatComparisonTable(const std::vector<SimReport>& reports);
std::string FormatComparisonJson(const std::vector<SimReport>& reports);

}  // namespace bursar::sim
