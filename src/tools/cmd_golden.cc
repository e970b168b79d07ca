// `fcast golden DIR`: runs every case of a golden folder (any registered model with a golden runner) and compares
// every output tensor at the manifest's tolerances. With a compiled executor every case runs twice: first on
// fresh models writing a persistent plan cache in a temporary folder, then on fresh models again that must load
// every plan from that cache (no plan built) and still match the golden files.
#include <stdlib.h>

#include <filesystem>
#include <iostream>

#include "core/env.h"
#include "core/error.h"
#include "io/json.h"
#include "models/registry.h"
#include "runtime/eager_executor.h"
#include "runtime/executor_factory.h"
#include "tools/commands.h"

namespace fcast::tools {

namespace fs = std::filesystem;

namespace {

// A temporary folder for the persistent plan cache of one golden run, removed at the end.
struct TempCacheDir {
  std::string path;
  TempCacheDir() {
    std::string tmpl = (fs::temp_directory_path() / "fcast-golden-cache-XXXXXX").string();
    FCAST_CHECK(::mkdtemp(tmpl.data()) != nullptr, "cannot create a temporary plan-cache folder under ",
                fs::temp_directory_path().string());
    path = tmpl;
  }
  ~TempCacheDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

ExecutorStats sum_stats(const GoldenExecutors& g) {
  ExecutorStats s;
  for (const auto& e : g.made) s += e->stats();
  return s;
}

}  // namespace

void register_golden(CLI::App& app) {
  auto* cmd = app.add_subcommand("golden",
                                 "Run every case of a golden folder (laid out like tests/data/golden/<model>: "
                                 "manifest.json + models + cases) and compare every output at the manifest's "
                                 "tolerances. Prints the worst error per case and, last, 'N passed, M failed'; "
                                 "exits non-zero if any case fails. With a compiled executor every case runs a "
                                 "second time on fresh models that load their plans from the persistent cache "
                                 "the first pass wrote (in a temporary folder).");
  auto dir = std::make_shared<std::string>();
  cmd->add_option("dir", *dir, "golden folder (contains manifest.json)")->required();
  auto exec = std::make_shared<std::string>();
  cmd->add_option("--compile", *exec,
                  "run the models through this executor: eager (default) or BACKEND[:MODE][:PRECISION], e.g. "
                  "inductor, aot_eager, inductor:reduce-overhead:bf16 (default: env FCAST_GOLDEN_EXECUTOR, else eager)");
  auto no_cache_pass = std::make_shared<bool>(false);
  cmd->add_flag("--no-cache-pass", *no_cache_pass,
                "compiled executors: skip the second pass from the persistent plan cache (default: run it)");
  cmd->callback([dir, exec, no_cache_pass] {
    // One error for a bad spec, before any case runs.
    const std::optional<std::string> env_spec = env_string("FCAST_GOLDEN_EXECUTOR");
    const std::string spec = !exec->empty() ? *exec : env_spec.value_or("");
    const std::string what = !exec->empty() ? "--compile '" + spec + "'" : env_quote("FCAST_GOLDEN_EXECUTOR", spec);
    std::optional<CompileSettings> compiled = parse_executor_spec(spec, what);

    const std::string manifest_path = (fs::path(*dir) / "manifest.json").string();
    FCAST_CHECK(fs::exists(manifest_path), *dir, ": no manifest.json (is this a golden folder?)");
    const nlohmann::json m = read_json_file(manifest_path);
    const ModelEntry* runner = nullptr;
    std::string with_runners;
    for (const ModelEntry& e : model_registry()) {
      if (!e.run_golden) continue;
      with_runners += (with_runners.empty() ? "" : ", ") + e.name;
      if (!runner && e.golden_accepts && e.golden_accepts(m)) runner = &e;
    }
    FCAST_CHECK(runner, manifest_path, ": not a golden manifest of any registered model with golden files (",
                with_runners, ")");

    std::optional<TempCacheDir> cache_dir;
    if (compiled && !*no_cache_pass) {
      cache_dir.emplace();
      compiled->persistent_cache = true;
      compiled->models_dir = cache_dir->path;
      compiled->kernel_cache_dir = (fs::path(cache_dir->path) / "torch_inductor").string();
    }
    GoldenExecutors first{compiled, {}};
    GoldenTally t = runner->run_golden(*dir, m, first);
    if (t.passed + t.failed == 0) {
      std::cout << "no cases found in " << manifest_path << "\n";
      t.failed = 1;
    }
    if (cache_dir) {
      std::cout << "second pass: every case again on fresh models reading the persistent plan cache\n";
      GoldenExecutors second{compiled, {}};
      const GoldenTally t2 = runner->run_golden(*dir, m, second);
      t.passed += t2.passed;
      t.failed += t2.failed;
      const ExecutorStats s1 = sum_stats(first), s2 = sum_stats(second);
      // Every plan of the second pass must come from the cache: none built from scratch.
      const bool ok = s1.plans_built > 0 && s2.cache_misses == 0 && s2.cache_hits > 0;
      std::cout << (ok ? "PASS " : "FAIL ") << "persistent plan cache: first pass built " << s1.plans_built
                << " plan(s) (" << s1.cache_misses << " cache misses); second pass " << s2.cache_hits
                << " cache hits, " << s2.cache_misses << " misses\n";
      (ok ? t.passed : t.failed) += 1;
    }
    std::cout << t.passed << " passed, " << t.failed << " failed" << std::endl;
    if (t.failed) throw CLI::RuntimeError(1);
  });
}

}  // namespace fcast::tools
