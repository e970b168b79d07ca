// `fcast golden DIR`: runs every case of a golden folder (any registered model with a golden runner) and compares
// every output tensor at the manifest's tolerances.
#include <filesystem>
#include <cstdlib>
#include <iostream>

#include "core/error.h"
#include "io/json.h"
#include "models/registry.h"
#include "runtime/executor_factory.h"
#include "tools/commands.h"

namespace fcast::tools {

void register_golden(CLI::App& app) {
  auto* cmd = app.add_subcommand("golden",
                                 "Run every case of a golden folder (laid out like tests/data/golden/<model>: "
                                 "manifest.json + models + cases) and compare every output at the manifest's "
                                 "tolerances. Prints the worst error per case and, last, 'N passed, M failed'; "
                                 "exits non-zero if any case fails.");
  auto dir = std::make_shared<std::string>();
  cmd->add_option("dir", *dir, "golden folder (contains manifest.json)")->required();
  auto exec = std::make_shared<std::string>();
  cmd->add_option("--compile", *exec,
                  "run the models through this executor: eager (default) or BACKEND[:MODE][:PRECISION], e.g. "
                  "inductor, aot_eager, inductor:reduce-overhead:bf16 (same as env FCAST_GOLDEN_EXECUTOR)");
  cmd->callback([dir, exec] {
    if (!exec->empty()) {
      make_executor_from_spec(*exec, "");  // a bad spec fails here, listing the valid values
      ::setenv("FCAST_GOLDEN_EXECUTOR", exec->c_str(), 1);
    }
    const std::string manifest_path = (std::filesystem::path(*dir) / "manifest.json").string();
    FCAST_CHECK(std::filesystem::exists(manifest_path), *dir, ": no manifest.json (is this a golden folder?)");
    const nlohmann::json m = read_json_file(manifest_path);
    GoldenTally t;
    const ModelTools* runner = nullptr;
    std::string with_runners;
    for (const ModelEntry& e : model_registry()) {
      const ModelTools& mt = model_tools(e.name);
      if (!mt.run_golden) continue;
      with_runners += (with_runners.empty() ? "" : ", ") + e.name;
      if (!runner && mt.golden_accepts(m)) runner = &mt;
    }
    FCAST_CHECK(runner, manifest_path, ": not a golden manifest of any registered model with golden files (",
                with_runners, ")");
    t = runner->run_golden(*dir, m);
    if (t.passed + t.failed == 0) {
      std::cout << "no cases found in " << manifest_path << "\n";
      t.failed = 1;
    }
    std::cout << t.passed << " passed, " << t.failed << " failed" << std::endl;
    if (t.failed) throw CLI::RuntimeError(1);
  });
}

}  // namespace fcast::tools
