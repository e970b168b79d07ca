// Registration points of the `fcast` subcommands; each lives in its own file.
#pragma once
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <string>

namespace fcast::tools {

void register_predict_toto(CLI::App& predict);    // cmd_predict_toto.cc
void register_predict_kronos(CLI::App& predict);  // cmd_predict_kronos.cc
void register_init_toto(CLI::App& init);          // cmd_init_model.cc
void register_init_kronos(CLI::App& init);        // cmd_init_model_kronos.cc
void register_golden(CLI::App& app);              // cmd_golden.cc
void register_bench(CLI::App& app);               // cmd_bench.cc
void register_config(CLI::App& app);              // cmd_config.cc
void register_compile(CLI::App& app);             // cmd_compile.cc
void register_stress(CLI::App& app);              // cmd_stress.cc
void register_profile(CLI::App& app);             // cmd_profile.cc

// Golden runners: return the number of failed cases; print one line per case and
// "N passed, M failed" last (printed by the caller).
struct GoldenTally {
  int passed = 0;
  int failed = 0;
};
GoldenTally run_toto_golden(const std::string& dir, const nlohmann::json& manifest);    // golden_toto.cc
GoldenTally run_kronos_golden(const std::string& dir, const nlohmann::json& manifest);  // golden_kronos.cc

}  // namespace fcast::tools
