// fcast: the command-line entry point. Each subcommand is registered from its own file.
#include <CLI/CLI.hpp>
#include <iostream>

#include "core/error.h"
#include "tools/commands.h"

int main(int argc, char** argv) {
  CLI::App app{"fcast: Toto and Kronos time-series forecasting engine (eager and compiled execution)"};
  app.require_subcommand(1);
  app.set_version_flag("--version", FCAST_VERSION);
  CLI::App* predict = app.add_subcommand("predict", "Forecast a CSV series with a model (toto | kronos)");
  predict->require_subcommand(1);
  fcast::tools::register_predict_toto(*predict);
  fcast::tools::register_predict_kronos(*predict);
  CLI::App* init = app.add_subcommand("init-model", "Write a random-weight checkpoint in the published layout");
  init->require_subcommand(1);
  fcast::tools::register_init_toto(*init);
  fcast::tools::register_init_kronos(*init);
  fcast::tools::register_golden(app);
  fcast::tools::register_bench(app);
  fcast::tools::register_config(app);
  fcast::tools::register_compile(app);
  fcast::tools::register_stress(app);
  fcast::tools::register_profile(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const fcast::Error& e) {
    std::cerr << "fcast: error: " << e.what() << "\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "fcast: error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
