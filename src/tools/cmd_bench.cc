// `fcast bench`: benchmarks on random weights of the published shapes. Each workload prints
// its measurements from one run; speed is reported only as ratios between configurations
// measured in the same run.
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "core/error.h"
#include "core/rng.h"
#include "models/toto/forecaster.h"
#include "tools/commands.h"

namespace fcast::tools {

namespace fs = std::filesystem;

namespace {

// Peak resident set size of this process in bytes (VmHWM).
uint64_t peak_rss_bytes() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmHWM:", 0) == 0) return std::stoull(line.substr(6)) * 1024;
  struct rusage ru {};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<uint64_t>(ru.ru_maxrss) * 1024;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Writes a random published-shape checkpoint in a child process, so that the writer's buffers
// never count towards this process's peak RSS.
void ensure_random_checkpoint(const std::string& dir, const std::string& preset) {
  if (fs::exists(fs::path(dir) / "model.safetensors") && fs::exists(fs::path(dir) / "config.json")) return;
  const std::string self = fs::read_symlink("/proc/self/exe").string();
  const std::string cmd = cat("'", self, "' init-model toto --preset ", preset, " --seed 1 --out '", dir, "' > /dev/null");
  std::cerr << "bench: writing a random " << preset << " checkpoint to " << dir << "\n";
  FCAST_CHECK(std::system(cmd.c_str()) == 0, "could not write the random checkpoint with: ", cmd);
}

// Issue 2's published-shape check: load by mmap, forecast (context 512, 64 steps, 256 samples),
// report peak RSS against the weight file size.
int toto_published_rss(const std::string& model_dir, double max_ratio, bool json) {
  ensure_random_checkpoint(model_dir, "toto-open-base-1.0");
  const auto t0 = std::chrono::steady_clock::now();
  toto::TotoModel model(toto::load_toto(model_dir));
  const double load_s = seconds_since(t0);
  const int64_t T = 512;
  Tensor series = Tensor::empty(DType::F32, {1, 1, T});
  Rng rng(3);
  float level = 100.0f;
  for (int64_t t = 0; t < T; ++t) series.data<float>()[t] = level += static_cast<float>(rng.normal());
  toto::TotoForecaster fc(model);
  toto::ForecastOptions o;
  o.prediction_length = 64;
  o.num_samples = 256;
  o.samples_per_batch = 256;
  const auto t1 = std::chrono::steady_clock::now();
  toto::Forecast f = fc.forecast(series, nullptr, nullptr, o);
  const double run_s = seconds_since(t1);
  const uint64_t rss = peak_rss_bytes(), weights = model.weights().weight_file_bytes;
  const double ratio = static_cast<double>(rss) / static_cast<double>(weights);
  bool finite = true;
  for (int64_t i = 0; i < f.samples().numel(); ++i) finite = finite && std::isfinite(f.samples().data<float>()[i]);
  const bool ok = ratio <= max_ratio && finite;
  if (json) {
    nlohmann::json j = {{"workload", "toto-published-rss"}, {"weight_file_bytes", weights}, {"peak_rss_bytes", rss},
                        {"rss_over_weights", ratio}, {"limit", max_ratio}, {"load_seconds", load_s},
                        {"forecast_seconds", run_s}, {"samples_shape", f.samples().shape()}, {"ok", ok}};
    std::cout << j.dump() << std::endl;
  } else {
    std::cout << "workload toto-published-rss: Toto-Open-Base-1.0 shape (random weights), context 512, 64 steps, "
                 "256 samples\n"
              << "  weight file      " << weights / 1048576.0 << " MiB\n"
              << "  peak RSS         " << rss / 1048576.0 << " MiB\n"
              << "  RSS / weights    " << ratio << " (limit " << max_ratio << ")\n"
              << "  load             " << load_s << " s (mmap)\n"
              << "  forecast         " << run_s << " s\n"
              << "  samples          " << shape_str(f.samples().shape()) << (finite ? ", all finite" : ", NON-FINITE") << "\n"
              << (ok ? "OK" : "FAILED") << std::endl;
  }
  return ok ? 0 : 1;
}

}  // namespace

void register_bench(CLI::App& app) {
  auto* cmd = app.add_subcommand("bench", "Benchmarks on random weights at the published shapes");
  auto workload = std::make_shared<std::string>("toto-published-rss");
  auto model = std::make_shared<std::string>("out/models/toto-base-random");
  auto ratio = std::make_shared<double>(1.5);
  auto json = std::make_shared<bool>(false);
  cmd->add_option("--workload", *workload, "workload to run: toto-published-rss (load by mmap + forecast at the "
                                           "published Toto shape, peak RSS vs weight file size)")
      ->capture_default_str();
  cmd->add_option("--model", *model, "checkpoint folder; a random one at the published shape is written there if absent")
      ->capture_default_str();
  cmd->add_option("--max-rss-ratio", *ratio, "fail (exit 1) if peak RSS exceeds this multiple of the weight file")
      ->capture_default_str();
  cmd->add_flag("--json", *json, "print one JSON object per workload");
  cmd->callback([=] {
    if (*workload == "toto-published-rss") {
      const int rc = toto_published_rss(*model, *ratio, *json);
      if (rc) throw CLI::RuntimeError(rc);
      return;
    }
    fail("unknown workload '", *workload, "'; valid: toto-published-rss");
  });
}

}  // namespace fcast::tools
