// Registration points of the `fcast` subcommands; each lives in its own file.
#pragma once
#include <fcast/forecast.h>

#include <CLI/CLI.hpp>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "runtime/compile_settings.h"
#include "runtime/executor.h"

namespace fcast {
struct ModelEntry;
}

namespace fcast::tools {

void register_predict(CLI::App& app);             // cmd_predict.cc: `predict MODEL` for every registered model
// `predict NAME` for one registered model (register_predict adds one per model).
void register_model_predict(CLI::App& predict, const ModelEntry& e);  // cmd_predict.cc
void register_init_model(CLI::App& app);          // cmd_init_model.cc: `init-model MODEL` for every registered model
void register_golden(CLI::App& app);              // cmd_golden.cc
void register_bench(CLI::App& app);               // cmd_bench.cc
void register_config(CLI::App& app);              // cmd_config.cc
void register_compile(CLI::App& app);             // cmd_compile.cc
void register_stress(CLI::App& app);              // cmd_stress.cc
void register_profile(CLI::App& app);             // cmd_profile.cc
void register_serve(CLI::App& app);               // cmd_serve.cc
void register_loadtest(CLI::App& app);            // cmd_loadtest.cc
void register_backtest(CLI::App& app);            // cmd_backtest.cc

// A usage error found in a command's callback (a missing required option whose message says how
// to get what it names): `fcast` exits with status 2, as for CLI11's own usage errors.
struct UsageError : Error {
  using Error::Error;
};

// `--nonfinite error|warn` of the predict commands (NonFinitePolicy, include/fcast/forecast.h);
// cmd_predict.cc.
void add_nonfinite_flag(CLI::App* cmd, std::string& value);
NonFinitePolicy nonfinite_policy(const std::string& value);
// The stderr line for values let through by --nonfinite warn ("" when there were none).
std::string nonfinite_warning(const std::string& model, int64_t values, const std::string& detail);

// Golden runners: return the number of failed cases; print one line per case and
// "N passed, M failed" last (printed by the caller).
struct GoldenTally {
  int passed = 0;
  int failed = 0;
};
// The executors of one golden pass: eager, or compiled with `compiled`; every executor made is
// kept, so the caller can read their counters (cmd_golden.cc checks that a second pass loads
// every plan from the persistent cache the first pass wrote).
struct GoldenExecutors {
  std::optional<CompileSettings> compiled;  // nullopt: eager
  std::vector<std::shared_ptr<Executor>> made;
  std::shared_ptr<Executor> make(const std::string& model_identity);  // cmd_golden.cc
};
GoldenTally run_toto_golden(const std::string& dir, const nlohmann::json& manifest,
                            GoldenExecutors& executors);  // golden_toto.cc
GoldenTally run_kronos_golden(const std::string& dir, const nlohmann::json& manifest,
                              GoldenExecutors& executors);  // golden_kronos.cc

// Tool pieces a registered model may add to what the registry gives every model
// (models/registry.h): a golden runner for its reference files.
struct ModelTools {
  bool (*golden_accepts)(const nlohmann::json& manifest) = nullptr;
  GoldenTally (*run_golden)(const std::string& dir, const nlohmann::json& manifest, GoldenExecutors& executors) = nullptr;
};
// The pieces of the registered model `name` (all null when it has none); model_tools.cc.
const ModelTools& model_tools(const std::string& name);

}  // namespace fcast::tools
