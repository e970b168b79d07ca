// The compile flags shared by `fcast predict`, `fcast compile` and `fcast config`, and the
// `--stats` JSON line. Every flag wins over its environment variable (runtime/compile_cli.h).
//
//   auto flags = std::make_shared<CompileCliValues>();
//   add_compile_flags(cmd, *flags);                          // at registration
//   CompileSettings s = resolve_cli_settings(entry.compile, *flags);  // in the callback
#pragma once
#include <fcast/forecast.h>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "core/env.h"
#include "runtime/compile_cli.h"
#include "runtime/executor.h"

namespace fcast::tools {

// Registers --compile/--no-compile, --compile-mode, --compile-backend, --precision,
// --compiled-models-dir, --recompile-limit, --kernel-cache-dir, --compile-debug/--no-compile-debug,
// --torch-logs, --context-buckets, --hybrid-min-batch, --persistent-cache/--no-persistent-cache.
// `v` must outlive the parse (hold it in a shared_ptr captured by the callback).
void add_compile_flags(CLI::App* cmd, CompileCliValues& v);

// --max-horizon N / --max-samples N: the caps on one forecast's work (ForecastLimits), each
// winning over FCAST_MAX_HORIZON / FCAST_MAX_SAMPLES; unset: the ForecastLimits defaults.
struct LimitCliValues {
  std::optional<std::string> max_horizon, max_samples;
};
void add_limit_flags(CLI::App* cmd, LimitCliValues& v);
// Throws fcast::Error naming the flag or variable for a value that is not an integer in [1, 2^40].
ForecastLimits resolve_limits(const Environment& env, const LimitCliValues& v);

// --seed as an unsigned 64-bit integer: a negative or out-of-range value is an error naming the
// flag (CLI11 alone would wrap "-1" to 2^64 - 1). `help` should state the default.
void add_seed_option(CLI::App* cmd, uint64_t& seed, const std::string& help);

// resolve_compile_cli over the process environment.
CompileSettings resolve_cli_settings(const CompileFamily& family, const CompileCliValues& v);

// Sum of the counters of several executors (Kronos runs a predictor and a tokenizer).
ExecutorStats total_stats(const std::vector<const Executor*>& executors);

// The `--stats` object: family, mode, backend, dtype, compiled, executor, the counters of
// ExecutorStats and `seconds`. Printed as one line, the last line of stdout.
nlohmann::ordered_json stats_json(const CompileFamily& family, const CompileSettings& s,
                                  const std::vector<const Executor*>& executors, double seconds);

}  // namespace fcast::tools
