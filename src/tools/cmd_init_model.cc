// `fcast init-model MODEL` (every registered model): writes a RANDOM-weight checkpoint in the
// published layout (config.json + model.safetensors per part, and a RANDOM_WEIGHTS.txt marker),
// so the engine can be exercised without the trained weights.
#include <filesystem>
#include <iostream>
#include <memory>

#include "core/error.h"
#include "models/registry.h"
#include "tools/commands.h"
#include "tools/compile_flags.h"

namespace fcast::tools {

namespace {

namespace fs = std::filesystem;

struct InitArgs {
  std::string preset;  // default: the model's test preset (its smallest)
  uint64_t seed = 0;
  ModelPaths out;      // per part: "model" from --out, others from --<part>-out
  bool force = false;  // write over a checkpoint fcast did not write
};

// "--out" for the main part, "--<part>-out" for the others (Kronos: --tokenizer-out).
std::string out_flag(const ModelPart& p) { return p.name == "model" ? "--out" : "--" + p.name + "-out"; }

void run_init(const ModelEntry& e, const InitArgs& a) {
  ModelPaths out;
  for (const auto& [part, dir] : a.out)
    if (!dir.empty()) out[part] = dir;
  FCAST_CHECK(!out.empty(), "missing --out DIR (the folder to write the checkpoint to)");
  const std::string preset = a.preset.empty() ? e.test_preset : a.preset;
  // A folder with a checkpoint but without our marker holds weights fcast did not write (a
  // downloaded model, say): random weights must not silently replace them.
  for (const auto& [part, dir] : out) {
    std::error_code ec;
    std::string found;
    for (const char* f : {"config.json", "model.safetensors"})
      if (fs::exists(fs::path(dir) / f, ec)) {
        if (!found.empty()) found += " and ";
        found += f;
      }
    FCAST_CHECK(found.empty() || has_random_weights_marker(dir) || a.force, dir, " holds a checkpoint fcast did not write (",
                found, ", no RANDOM_WEIGHTS.txt): init-model would replace it with random weights; choose another ",
                out_flag(ModelPart{part, ""}), " folder, or pass --force to overwrite it");
  }
  for (const auto& [part, dir] : out) {
    std::error_code ec;
    fs::create_directories(dir, ec);
    FCAST_CHECK(!ec, "cannot create output directory '", dir, "': ", ec.message());
  }
  const ModelPaths written = e.write_random(preset, a.seed, out);  // errors list the valid presets
  for (const auto& [part, dir] : written) {
    std::cout << "wrote " << e.name << " " << part << " checkpoint '" << preset << "' (seed " << a.seed << ") to " << dir
              << "\n";
    for (const char* f : {"config.json", "model.safetensors", "RANDOM_WEIGHTS.txt"}) {
      const fs::path p = fs::path(dir) / f;
      std::error_code ec;
      std::cout << "  " << p.string();
      if (fs::exists(p, ec)) std::cout << " (" << fs::file_size(p, ec) << " bytes)";
      std::cout << "\n";
    }
  }
  // A main checkpoint written without its companions (a Kronos predictor without its tokenizer).
  for (const ModelPart& p : e.parts)
    if (written.count("model") && !written.count(p.name))
      std::cout << "not written: the '" << p.name << "' part (" << p.help << "); write it with " << out_flag(p)
                << " DIR\n";
  std::cout << "NOTE: these are RANDOM weights, not a trained " << e.name
            << " model; forecasts made with them mean nothing.\n";
}

}  // namespace

void register_init_model(CLI::App& app) {
  CLI::App& init = *app.add_subcommand("init-model", "Write a random-weight checkpoint in the published layout (" +
                                                         model_names() + ")");
  init.require_subcommand(1);
  for (const ModelEntry& e : model_registry()) {
    auto a = std::make_shared<InitArgs>();
    std::string presets;
    for (const ModelPreset& p : e.presets) presets += (presets.empty() ? "" : ", ") + p.name;
    CLI::App* cmd = init.add_subcommand(
        e.name, "Write a RANDOM-weight " + e.name + " checkpoint (config.json + model.safetensors in the published "
                    "layout) for tests and benchmarks; " + e.summary);
    cmd->add_option("--preset", a->preset, "Model shape, one of: " + presets + " (default: " + e.test_preset + ")");
    add_seed_option(cmd, a->seed, "Seed of the random weights, 0 to 2^64 - 1 (default: 0)");
    for (const ModelPart& p : e.parts)
      cmd->add_option(out_flag(p), a->out[p.name],
                      "Output folder of the '" + p.name + "' part (" + p.help + "); created if missing" +
                          (p.name == "model" ? " (required)" : ""));
    cmd->add_flag("--force", a->force,
                  "Write even into a folder holding a checkpoint fcast did not write (a downloaded model): it is "
                  "replaced by random weights");
    cmd->callback([&e, a] { run_init(e, *a); });
  }
}

}  // namespace fcast::tools
