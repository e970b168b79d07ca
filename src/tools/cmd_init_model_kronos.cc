// `fcast init-model kronos`: write RANDOM-weight Kronos checkpoints in the published layout.
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>

#include "core/error.h"
#include "models/kronos/predictor.h"
#include "tools/commands.h"

namespace fcast::tools {

namespace {

namespace fs = std::filesystem;
using namespace fcast::kronos;

constexpr const char* kRandomWeightsMarker = "RANDOM_WEIGHTS.txt";  // as cmd_init_model.cc, cmd_predict_kronos.cc

struct InitKronosArgs {
  std::string preset = "kronos-tiny";
  uint64_t seed = 0;
  std::string out, tokenizer_out;
};

void write_marker(const fs::path& dir, const std::string& preset, uint64_t seed) {
  std::ofstream marker(dir / kRandomWeightsMarker);
  marker << "RANDOM weights written by `fcast init-model kronos --preset " << preset << " --seed " << seed
         << "`.\nThis is not a trained Kronos model; forecasts made with it mean nothing.\n";
  FCAST_CHECK(marker.good(), "cannot write ", (dir / kRandomWeightsMarker).string());
}

void report(const fs::path& dir, const std::string& what) {
  std::error_code ec;
  std::cout << "wrote " << what << " to " << dir.string() << "\n";
  for (const char* f : {"config.json", "model.safetensors", kRandomWeightsMarker})
    std::cout << "  " << (dir / f).string() << " (" << fs::file_size(dir / f, ec) << " bytes)\n";
}

void run_init_kronos(const InitKronosArgs& a) {
  FCAST_CHECK(!a.out.empty(), "missing --out DIR");
  if (is_kronos_tokenizer_preset(a.preset)) {
    FCAST_CHECK(a.tokenizer_out.empty(), "--tokenizer-out is for predictor presets; '", a.preset,
                "' is a tokenizer preset and is written to --out");
    write_random_kronos_tokenizer(kronos_tokenizer_preset(a.preset), a.seed, a.out);
    write_marker(a.out, a.preset, a.seed);
    report(a.out, cat("Kronos tokenizer '", a.preset, "' (seed ", a.seed, ")"));
  } else {
    const KronosPredictorConfig pc = kronos_predictor_preset(a.preset);  // errors list the presets
    write_random_kronos_predictor(pc, a.seed, a.out);
    write_marker(a.out, a.preset, a.seed);
    report(a.out, cat("Kronos predictor '", a.preset, "' (seed ", a.seed, ")"));
    const std::string tp = kronos_matching_tokenizer(a.preset);
    if (!a.tokenizer_out.empty()) {
      write_random_kronos_tokenizer(kronos_tokenizer_preset(tp), a.seed + 1, a.tokenizer_out);
      write_marker(a.tokenizer_out, tp, a.seed + 1);
      report(a.tokenizer_out, cat("matching Kronos tokenizer '", tp, "' (seed ", a.seed + 1, ")"));
    } else {
      std::cout << "the matching tokenizer is '" << tp << "': write it with --tokenizer-out DIR, or `fcast init-model "
                << "kronos --preset " << tp << " --out DIR`\n";
    }
  }
  std::cout << "NOTE: these are RANDOM weights, not a trained Kronos model; forecasts made with them mean nothing.\n";
}

std::string preset_list() {
  std::string all;
  for (const auto& n : kronos_preset_names()) all += (all.empty() ? "" : ", ") + n;
  return all;
}

}  // namespace

void register_init_kronos(CLI::App& init) {
  auto a = std::make_shared<InitKronosArgs>();
  auto* cmd = init.add_subcommand(
      "kronos",
      "Write a RANDOM-weight Kronos checkpoint (config.json + model.safetensors in the published layout, including "
      "the persistent buffers). Predictor presets write the predictor to --out and, with --tokenizer-out, the "
      "tokenizer published with it; tokenizer presets write the tokenizer to --out.");
  cmd->add_option("--preset", a->preset, "one of: " + preset_list())->capture_default_str();
  cmd->add_option("--seed", a->seed, "random seed (the tokenizer written by --tokenizer-out uses seed + 1)")
      ->capture_default_str();
  cmd->add_option("--out", a->out, "output folder (created)")->required();
  cmd->add_option("--tokenizer-out", a->tokenizer_out,
                  "for a predictor preset: also write the matching tokenizer here (kronos-mini -> kronos-tokenizer-2k, "
                  "kronos-small/base -> kronos-tokenizer-base, kronos-tiny -> kronos-tokenizer-tiny)");
  cmd->callback([a] { run_init_kronos(*a); });
}

}  // namespace fcast::tools
