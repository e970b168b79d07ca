// `fcast init-model toto`: writes a RANDOM-weight Toto checkpoint in the published layout
// (config.json + model.safetensors), so the engine can be exercised without the trained model.
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>

#include "core/error.h"
#include "models/toto/config.h"
#include "models/toto/weights.h"
#include "tools/commands.h"

namespace fcast::tools {

namespace {

// Also spelled in cmd_predict_toto.cc, which reads it (commands.h is not this file's to change).
constexpr const char* kRandomWeightsMarker = "RANDOM_WEIGHTS.txt";

struct InitTotoArgs {
  std::string preset = "tiny";
  uint64_t seed = 0;
  std::string out;
};

std::string preset_list() {
  std::string all;
  for (const auto& n : toto::toto_preset_names()) all += (all.empty() ? "" : ", ") + n;
  return all;
}

void run_init_toto(const InitTotoArgs& a) {
  const toto::TotoConfig cfg = toto::toto_preset(a.preset);  // errors list the valid presets
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::create_directories(a.out, ec);
  FCAST_CHECK(!ec, "cannot create output directory '", a.out, "': ", ec.message());
  toto::write_random_toto(cfg, a.seed, a.out);
  const fs::path dir(a.out);
  // A marker beside the checkpoint, so that `fcast predict` can say the weights are random.
  {
    std::ofstream marker(dir / kRandomWeightsMarker);
    marker << "RANDOM weights written by `fcast init-model toto --preset " << a.preset << " --seed " << a.seed
           << "`.\nThis is not the trained Toto model; forecasts made with it mean nothing.\n";
    FCAST_CHECK(marker.good(), "cannot write ", (dir / kRandomWeightsMarker).string());
  }
  std::cout << "wrote Toto checkpoint '" << a.preset << "' (seed " << a.seed << ") to " << dir.string() << "\n";
  for (const char* f : {"config.json", "model.safetensors", kRandomWeightsMarker}) {
    const fs::path p = dir / f;
    std::cout << "  " << p.string();
    if (fs::exists(p, ec)) std::cout << " (" << fs::file_size(p, ec) << " bytes)";
    std::cout << "\n";
  }
  std::cout << "  shape: patch " << cfg.patch_size << ", embed " << cfg.embed_dim << ", layers " << cfg.num_layers
            << ", heads " << cfg.num_heads << ", mlp " << cfg.mlp_hidden_dim << ", mixture components "
            << cfg.components() << "\n"
            << "NOTE: these are RANDOM weights, not the trained Toto model; forecasts made with them mean nothing.\n";
}

}  // namespace

void register_init_toto(CLI::App& init) {
  auto args = std::make_shared<InitTotoArgs>();
  CLI::App* cmd = init.add_subcommand(
      "toto", "Write a RANDOM-weight Toto checkpoint (config.json + model.safetensors) for tests and benchmarks");
  cmd->add_option("--preset", args->preset, "Model shape: " + preset_list() + " (default: tiny)");
  cmd->add_option("--seed", args->seed, "Seed of the random weights (default: 0)");
  cmd->add_option("--out", args->out, "Output directory (created if missing; files in it are overwritten)")
      ->required();
  cmd->callback([args] { run_init_toto(*args); });
}

}  // namespace fcast::tools
