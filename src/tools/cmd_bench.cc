// `fcast bench`: benchmarks on random weights of the published shapes. Each workload prints
// its measurements from one run; speed is reported only as ratios between configurations
// measured in the same run.
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <limits>

#include "core/error.h"
#include "core/rng.h"
#include "models/kronos/config.h"
#include "models/kronos/predictor.h"
#include "models/kronos/weights.h"
#include "models/toto/forecaster.h"
#include "runtime/compile_settings.h"
#include "runtime/executor_factory.h"
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


// ---- the standard workloads (issue 6): eager vs compiled fp32 vs compiled bf16 ----

struct Measure {
  std::string config;
  double first_s = 0;          // first call (includes plan compilation for compiled configs)
  std::vector<double> calls;   // steady-state calls
  ExecutorStats stats;
  double median() const { return percentile(0.5); }
  double p99() const { return percentile(0.99); }
  double percentile(double q) const {
    if (calls.empty()) return std::numeric_limits<double>::quiet_NaN();
    std::vector<double> v = calls;
    std::sort(v.begin(), v.end());
    const double pos = q * static_cast<double>(v.size() - 1);
    const size_t lo = static_cast<size_t>(pos), hi = std::min(lo + 1, v.size() - 1);
    return v[lo] + (v[hi] - v[lo]) * (pos - static_cast<double>(lo));
  }
};

CompileSettings settings_for(const std::string& config, ModelFamily family) {
  CompileSettings s = resolve_compile_settings(family, Environment::from_process());
  if (config == "eager") {
    s.enabled = false;
  } else {
    s.enabled = true;
    s.backend = CompileBackend::Inductor;
    s.precision = config == "bf16" ? Precision::BF16 : Precision::FP32;
  }
  return s;
}

struct WorkloadSpec {
  std::string name, description;
  bool kronos = false;
  // Toto
  int64_t variates = 1, context = 512, horizon = 1, samples = 128;
  // Kronos
  int64_t series = 1, k_context = 512, pred_len = 8, sample_count = 1, top_k = 0;
  double temperature = 1.0, top_p = 1.0;
};

std::vector<WorkloadSpec> workload_specs() {
  std::vector<WorkloadSpec> w;
  w.push_back({"W1", "Toto-Open-Base-1.0 shape, 1 variate, context 512, prediction 1, 128 samples"});
  w.push_back({"W2", "Toto, context 2048, prediction 256 (prefill + 3 decode steps), 256 samples", false, 1, 2048, 256, 256});
  w.push_back({"W3", "Toto, 5 variates, context 512, prediction 128, 64 samples", false, 5, 512, 128, 64});
  w.push_back({"W4", "Toto mean forecast at W1's shape", false, 1, 512, 1, 0});
  WorkloadSpec k1{"K1", "Kronos-small + Tokenizer-base, context 512, pred_len 8, greedy, 1 sample", true};
  k1.top_k = 1;
  w.push_back(k1);
  WorkloadSpec k2{"K2", "Kronos-small, context 400, pred_len 120, T 1.0, top_p 0.9, 5 samples", true};
  k2.k_context = 400; k2.pred_len = 120; k2.sample_count = 5; k2.top_p = 0.9;
  w.push_back(k2);
  WorkloadSpec k3{"K3", "Kronos-small, predict_batch of 16 series, context 256, pred_len 24, greedy", true};
  k3.series = 16; k3.k_context = 256; k3.pred_len = 24; k3.top_k = 1;
  w.push_back(k3);
  return w;
}

Tensor random_walk(int64_t B, int64_t V, int64_t T, uint64_t seed) {
  Tensor s = Tensor::empty(DType::F32, {B, V, T});
  Rng rng(seed);
  for (int64_t r = 0; r < B * V; ++r) {
    float level = 100.0f + 10.0f * static_cast<float>(r);
    for (int64_t t = 0; t < T; ++t) s.data<float>()[r * T + t] = level += static_cast<float>(rng.normal());
  }
  return s;
}

kronos::KronosSeries random_bars(int64_t L, uint64_t seed) {
  kronos::KronosSeries x;
  Rng rng(seed);
  double c = 100;
  for (int64_t t = 0; t < L; ++t) {
    x.timestamps.push_back(1700000000 + 300 * t);
    const double o = c;
    c = o * (1 + 0.002 * rng.normal());
    x.columns["open"].push_back(o);
    x.columns["high"].push_back(std::max(o, c) * 1.001);
    x.columns["low"].push_back(std::min(o, c) * 0.999);
    x.columns["close"].push_back(c);
    x.columns["volume"].push_back(1000 + 100 * rng.uniform());
    x.columns["amount"].push_back(x.columns["volume"].back() * c);
  }
  return x;
}

Measure measure(const std::string& config, int reps, const std::function<void()>& call,
                const std::shared_ptr<Executor>& exec) {
  Measure m;
  m.config = config;
  auto t0 = std::chrono::steady_clock::now();
  call();
  m.first_s = seconds_since(t0);
  exec->mark_warm();
  for (int r = 0; r < reps; ++r) {
    t0 = std::chrono::steady_clock::now();
    call();
    m.calls.push_back(seconds_since(t0));
  }
  m.stats = exec->stats();
  return m;
}

nlohmann::json run_workload(const WorkloadSpec& w, const std::vector<std::string>& configs, int reps,
                            const std::string& models_root, bool quiet) {
  std::vector<Measure> results;
  uint64_t weight_bytes = 0;
  if (!w.kronos) {
    const std::string dir = models_root + "/toto-base-random";
    ensure_random_checkpoint(dir, "toto-open-base-1.0");
    toto::TotoModel model(toto::load_toto(dir));
    weight_bytes = model.weights().weight_file_bytes;
    Tensor series = random_walk(1, w.variates, w.context, 7);
    toto::ForecastOptions o;
    o.prediction_length = w.horizon;
    o.num_samples = w.samples;
    o.samples_per_batch = std::max<int64_t>(w.samples, 1);
    for (const auto& cfg : configs) {
      auto exec = make_executor(settings_for(cfg, ModelFamily::Toto), model.weights().identity);
      model.set_executor(exec);
      toto::TotoForecaster fc(model);
      if (!quiet) std::cerr << "bench " << w.name << ": " << cfg << "...\n";
      results.push_back(measure(cfg, reps, [&] { fc.forecast(series, nullptr, nullptr, o); }, exec));
    }
  } else {
    const std::string pdir = models_root + "/kronos-small-random", tdir = models_root + "/kronos-tokenizer-base-random";
    if (!fs::exists(fs::path(pdir) / "model.safetensors"))
      kronos::write_random_kronos_predictor(kronos::kronos_predictor_preset("kronos-small"), 1, pdir);
    if (!fs::exists(fs::path(tdir) / "model.safetensors"))
      kronos::write_random_kronos_tokenizer(kronos::kronos_tokenizer_preset("kronos-tokenizer-base"), 2, tdir);
    auto pw = kronos::load_kronos_predictor(pdir);
    auto tw = kronos::load_kronos_tokenizer(tdir);
    weight_bytes = fs::file_size(fs::path(pdir) / "model.safetensors") + fs::file_size(fs::path(tdir) / "model.safetensors");
    const std::string pid = pw.identity, tid = tw.identity;
    auto model = std::make_shared<kronos::KronosModel>(std::move(pw));
    auto tok = std::make_shared<kronos::KronosTokenizer>(std::move(tw));
    kronos::KronosPredictorOptions po;
    po.log = [](const std::string&) {};
    kronos::KronosPredictor predictor(model, tok, po);
    std::vector<kronos::KronosSeries> xs;
    std::vector<std::vector<int64_t>> ys;
    for (int64_t b = 0; b < w.series; ++b) {
      xs.push_back(random_bars(w.k_context, 11 + b));
      std::vector<int64_t> y;
      for (int64_t t = 0; t < w.pred_len; ++t) y.push_back(xs.back().timestamps.back() + 300 * (t + 1));
      ys.push_back(y);
    }
    kronos::SamplingParams sp;
    sp.temperature = w.temperature;
    sp.top_k = w.top_k;
    sp.top_p = w.top_p;
    sp.sample_count = w.sample_count;
    for (const auto& cfg : configs) {
      auto s = settings_for(cfg, ModelFamily::Kronos);
      auto pe = make_executor(s, pid);
      auto te = make_executor(s, tid);
      model->set_executor(pe);
      tok->set_executor(te);
      if (!quiet) std::cerr << "bench " << w.name << ": " << cfg << "...\n";
      Measure m = measure(cfg, reps, [&] { predictor.predict_batch(xs, ys, w.pred_len, sp); }, pe);
      const ExecutorStats ts = te->stats();
      m.stats.plans_built += ts.plans_built;
      m.stats.recompiles += ts.recompiles;
      m.stats.cache_hits += ts.cache_hits;
      m.stats.cache_misses += ts.cache_misses;
      m.stats.fallbacks_to_eager += ts.fallbacks_to_eager;
      results.push_back(m);
    }
  }
  nlohmann::json j;
  j["workload"] = w.name;
  j["description"] = w.description;
  j["weight_file_bytes"] = weight_bytes;
  j["peak_rss_bytes"] = peak_rss_bytes();
  j["peak_rss_over_weights"] = static_cast<double>(peak_rss_bytes()) / static_cast<double>(weight_bytes);
  j["steady_calls"] = reps;
  for (const auto& m : results) {
    j["configs"][m.config] = {{"first_call_s", m.first_s}, {"median_s", m.median()}, {"p99_s", m.p99()},
                              {"p99_over_p50", m.p99() / m.median()}, {"plans_built", m.stats.plans_built},
                              {"recompiles", m.stats.recompiles}, {"fallbacks_to_eager", m.stats.fallbacks_to_eager}};
  }
  auto med = [&](const std::string& c) {
    for (const auto& m : results)
      if (m.config == c) return m.median();
    return std::numeric_limits<double>::quiet_NaN();
  };
  if (!std::isnan(med("eager")) && !std::isnan(med("fp32"))) j["ratios"]["compiled_fp32_speedup_vs_eager"] = med("eager") / med("fp32");
  if (!std::isnan(med("eager")) && !std::isnan(med("bf16"))) j["ratios"]["compiled_bf16_speedup_vs_eager"] = med("eager") / med("bf16");
  if (!std::isnan(med("fp32")) && !std::isnan(med("bf16"))) j["ratios"]["bf16_speedup_vs_fp32"] = med("fp32") / med("bf16");
  return j;
}

void print_workload(const nlohmann::json& j) {
  std::cout << j["workload"].get<std::string>() << ": " << j["description"].get<std::string>() << "\n";
  for (auto it = j["configs"].begin(); it != j["configs"].end(); ++it) {
    const auto& c = it.value();
    std::printf("  %-6s first %9.4f s   median %9.4f s   p99 %9.4f s   p99/p50 %5.2f   plans %lld  recompiles %lld\n",
                it.key().c_str(), c["first_call_s"].get<double>(), c["median_s"].get<double>(), c["p99_s"].get<double>(),
                c["p99_over_p50"].get<double>(), static_cast<long long>(c["plans_built"].get<int64_t>()),
                static_cast<long long>(c["recompiles"].get<int64_t>()));
  }
  if (j.contains("ratios"))
    for (auto it = j["ratios"].begin(); it != j["ratios"].end(); ++it)
      std::printf("  ratio %-32s %6.2fx\n", it.key().c_str(), it.value().get<double>());
  std::printf("  peak RSS %.1f MiB = %.2fx the weight files (%.1f MiB)\n", j["peak_rss_bytes"].get<double>() / 1048576.0,
              j["peak_rss_over_weights"].get<double>(), j["weight_file_bytes"].get<double>() / 1048576.0);
  std::cout.flush();
}

}  // namespace

void register_bench(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "bench",
      "Benchmarks on random weights at the published shapes. Standard workloads W1-W4 (Toto) and K1-K3 "
      "(Kronos) print eager, compiled fp32 and compiled bf16 latencies from the same run, their ratios and peak "
      "RSS; toto-published-rss checks peak RSS of a published-shape Toto forecast against the weight file.");
  auto workloads = std::make_shared<std::vector<std::string>>();
  auto configs = std::make_shared<std::vector<std::string>>(std::vector<std::string>{"eager", "fp32", "bf16"});
  auto model = std::make_shared<std::string>("out/models/toto-base-random");
  auto models_root = std::make_shared<std::string>("out/models");
  auto ratio = std::make_shared<double>(1.5);
  auto reps = std::make_shared<int>(5);
  auto json = std::make_shared<bool>(false);
  cmd->add_option("--workload", *workloads,
                  "workloads to run: W1 W2 W3 W4 K1 K2 K3, all, or toto-published-rss (repeatable; default: all)");
  cmd->add_option("--configs", *configs, "configurations to compare: eager, fp32 (compiled), bf16 (compiled)")
      ->delimiter(',')
      ->capture_default_str();
  cmd->add_option("--reps", *reps, "steady-state calls per configuration after the first call")->capture_default_str();
  cmd->add_option("--models-dir", *models_root,
                  "where random published-shape checkpoints are written/reused for W*/K* workloads")
      ->capture_default_str();
  cmd->add_option("--model", *model, "toto-published-rss: checkpoint folder; a random one at the published shape is "
                                     "written there if absent")
      ->capture_default_str();
  cmd->add_option("--max-rss-ratio", *ratio, "toto-published-rss: fail (exit 1) if peak RSS exceeds this multiple of "
                                             "the weight file")
      ->capture_default_str();
  cmd->add_flag("--json", *json, "print one JSON object per workload");
  cmd->callback([=] {
    std::vector<std::string> names = *workloads;
    if (names.empty() || (names.size() == 1 && names[0] == "all")) names = {"W1", "W2", "W3", "W4", "K1", "K2", "K3"};
    for (const auto& c : *configs)
      FCAST_CHECK(c == "eager" || c == "fp32" || c == "bf16", "unknown configuration '", c, "'; valid: eager, fp32, bf16");
    FCAST_CHECK(*reps >= 1, "--reps must be at least 1");
    for (const auto& n : names) {
      if (n == "toto-published-rss") {
        const int rc = toto_published_rss(*model, *ratio, *json);
        if (rc) throw CLI::RuntimeError(rc);
        continue;
      }
      const auto specs = workload_specs();
      auto it = std::find_if(specs.begin(), specs.end(), [&](const WorkloadSpec& w) { return w.name == n; });
      FCAST_CHECK(it != specs.end(), "unknown workload '", n, "'; valid: W1 W2 W3 W4 K1 K2 K3 all toto-published-rss");
      nlohmann::json j = run_workload(*it, *configs, *reps, *models_root, *json);
      if (*json)
        std::cout << j.dump() << std::endl;
      else
        print_workload(j);
    }
  });
}

}  // namespace fcast::tools
