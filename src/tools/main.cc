// fcast: the command-line entry point. Each subcommand is registered from its own file.
#include <CLI/CLI.hpp>
#include <iostream>

#include "core/error.h"
#include "tools/commands.h"

int main(int argc, char** argv) {
  CLI::App app{"fcast: time-series forecasting engine for Toto, Kronos and the other registered models (eager and compiled execution)"};
  app.require_subcommand(1);
  app.set_version_flag("--version", FCAST_VERSION);
  fcast::tools::register_predict(app);
  fcast::tools::register_init_model(app);
  fcast::tools::register_golden(app);
  fcast::tools::register_bench(app);
  fcast::tools::register_config(app);
  fcast::tools::register_compile(app);
  fcast::tools::register_stress(app);
  fcast::tools::register_profile(app);
  fcast::tools::register_serve(app);
  fcast::tools::register_loadtest(app);
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
