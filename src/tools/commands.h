// Registration points of the `fcast` subcommands; each lives in its own file.
#pragma once
#include <fcast/forecast.h>

#include <CLI/CLI.hpp>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "models/golden.h"
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

}  // namespace fcast::tools
