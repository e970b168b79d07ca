// Registration points of the `fcast` subcommands; each lives in its own file.
#pragma once
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <string>

namespace fcast {
struct ModelEntry;
}

namespace fcast::tools {

void register_predict(CLI::App& app);             // cmd_predict.cc: `predict MODEL` for every registered model
void register_init_model(CLI::App& app);          // cmd_init_model.cc: `init-model MODEL` for every registered model
void register_predict_toto(CLI::App& predict);    // cmd_predict_toto.cc
// The generic `predict MODEL` over the forecasting API, for models without a command of their own.
void register_generic_predict(CLI::App& predict, const ModelEntry& e);  // cmd_predict.cc
void register_predict_kronos(CLI::App& predict);  // cmd_predict_kronos.cc
void register_golden(CLI::App& app);              // cmd_golden.cc
void register_bench(CLI::App& app);               // cmd_bench.cc
void register_config(CLI::App& app);              // cmd_config.cc
void register_compile(CLI::App& app);             // cmd_compile.cc
void register_stress(CLI::App& app);              // cmd_stress.cc
void register_profile(CLI::App& app);             // cmd_profile.cc
void register_serve(CLI::App& app);               // cmd_serve.cc

// Golden runners: return the number of failed cases; print one line per case and
// "N passed, M failed" last (printed by the caller).
struct GoldenTally {
  int passed = 0;
  int failed = 0;
};
GoldenTally run_toto_golden(const std::string& dir, const nlohmann::json& manifest);    // golden_toto.cc
GoldenTally run_kronos_golden(const std::string& dir, const nlohmann::json& manifest);  // golden_kronos.cc

// Tool pieces a registered model may add to what the registry gives every model
// (models/registry.h): a `predict` subcommand of its own (otherwise `predict MODEL` is the
// generic one over the forecasting API) and a golden runner for its reference files.
struct ModelTools {
  void (*register_predict)(CLI::App& predict) = nullptr;
  bool (*golden_accepts)(const nlohmann::json& manifest) = nullptr;
  GoldenTally (*run_golden)(const std::string& dir, const nlohmann::json& manifest) = nullptr;
};
// The pieces of the registered model `name` (all null when it has none); model_tools.cc.
const ModelTools& model_tools(const std::string& name);

}  // namespace fcast::tools
