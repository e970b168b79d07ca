// `fcast bench`: benchmarks on random weights of the published shapes. Each workload prints
// its measurements from one run; speed is reported only as ratios between configurations
// measured in the same run.
#include <sys/resource.h>
#include <fcntl.h>
#include <sys/wait.h>

#include <csignal>
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
#include "models/registry.h"
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
  double profiled_s = 0;       // the extra call run with per-op timing (--profile)
  std::vector<std::pair<std::string, OpProfile>> ops;  // (part, op) of that call, slowest first
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

CompileSettings settings_for(const std::string& config, const CompileFamily& family) {
  // Resolved as compiled so that the compiled-only variables are read even under
  // TOTO_DISABLE_COMPILE=1: the configuration, not the switch, decides what runs here.
  CompileOverrides compiled;
  compiled.compile = true;
  CompileSettings s = resolve_compile_settings(family, Environment::from_process(), compiled);
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
  int reps = 5;  // steady-state calls when --reps is not given
};

std::vector<WorkloadSpec> workload_specs() {
  std::vector<WorkloadSpec> w;
  w.push_back({"W1", "Toto-Open-Base-1.0 shape, 1 variate, context 512, prediction 1, 128 samples"});
  w.back().reps = 50;  // the p99 target is over 50 calls
  w.push_back({"W2", "Toto, context 2048, prediction 256 (prefill + 3 decode steps), 256 samples", false, 1, 2048, 256, 256});
  w.push_back({"W3", "Toto, 5 variates, context 512, prediction 128, 64 samples", false, 5, 512, 128, 64});
  w.back().reps = 10;
  w.push_back({"W4", "Toto mean forecast at W1's shape", false, 1, 512, 1, 0});
  w.back().reps = 50;
  WorkloadSpec k1{"K1", "Kronos-small + Tokenizer-base, context 512, pred_len 8, greedy, 1 sample", true};
  k1.top_k = 1;
  w.push_back(k1);
  WorkloadSpec k2{"K2", "Kronos-small, context 400, pred_len 120, T 1.0, top_p 0.9, 5 samples", true};
  k2.k_context = 400; k2.pred_len = 120; k2.sample_count = 5; k2.top_p = 0.9; k2.reps = 3;
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

// rounds > 1 (a child of an interleaved run): after the first call the child says "ready" and
// runs its timed calls in `rounds` chunks, each when the parent sends a line on stdin, answering
// "round" when done, so that the configurations take turns on the machine. Each chunk starts
// with one untimed call: the first call after the process has waited is slower (W4 fp32: 29-39
// ms against a 26 ms median), which would otherwise put one such call per round into the tail.
Measure measure(const std::string& config, int reps, int rounds, const std::function<void()>& call,
                const std::vector<std::shared_ptr<Executor>>& execs, bool profile) {
  Measure m;
  m.config = config;
  auto t0 = std::chrono::steady_clock::now();
  call();
  m.first_s = seconds_since(t0);
  for (const auto& e : execs) e->mark_warm();
  rounds = std::max(1, std::min(rounds, reps / 2));  // at least 2 timed calls a round
  if (rounds > 1) std::cout << "ready" << std::endl;
  for (int k = 0; k < rounds; ++k) {
    if (rounds > 1) {
      std::string go;
      FCAST_CHECK(std::getline(std::cin, go), "bench child: the parent process went away");
    }
    const int chunk = reps / rounds + (k < reps % rounds ? 1 : 0);
    if (rounds > 1) call();  // resume (untimed)
    for (int r = 0; r < chunk; ++r) {
      t0 = std::chrono::steady_clock::now();
      call();
      m.calls.push_back(seconds_since(t0));
    }
    if (rounds > 1) std::cout << "round" << std::endl;
  }
  if (rounds > 1) {  // the parent closes stdin when it is this configuration's turn to finish
    std::string end;
    std::getline(std::cin, end);
  }
  for (const auto& e : execs) m.stats += e->stats();
  if (profile) {
    // One more call with per-op timing, after the timed calls so that it cannot skew them.
    for (const auto& e : execs) {
      e->clear_profile();
      e->set_profiling(true);
    }
    t0 = std::chrono::steady_clock::now();
    call();
    m.profiled_s = seconds_since(t0);
    for (size_t i = 0; i < execs.size(); ++i) {
      for (const OpProfile& p : execs[i]->profile())
        m.ops.push_back({execs.size() > 1 ? (i == 0 ? "predictor" : "tokenizer") : "", p});
      execs[i]->set_profiling(false);
    }
    std::sort(m.ops.begin(), m.ops.end(), [](const auto& a, const auto& b) { return a.second.seconds > b.second.seconds; });
  }
  return m;
}

// Runs the workload for each configuration in this process.
nlohmann::json run_workload(const WorkloadSpec& w, const std::vector<std::string>& configs, int reps, int rounds,
                            const std::string& models_root, bool quiet, bool profile) {
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
      auto exec = make_executor(settings_for(cfg, find_model("toto").compile), model.weights().identity);
      model.set_executor(exec);
      toto::TotoForecaster fc(model);
      if (!quiet) std::cerr << "bench " << w.name << ": " << cfg << " (" << reps << " calls)...\n";
      results.push_back(measure(cfg, reps, rounds, [&] { fc.forecast(series, nullptr, nullptr, o); }, {exec}, profile));
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
      auto s = settings_for(cfg, find_model("kronos").compile);
      auto pe = make_executor(s, pid);
      auto te = make_executor(s, tid);
      model->set_executor(pe);
      tok->set_executor(te);
      if (!quiet) std::cerr << "bench " << w.name << ": " << cfg << " (" << reps << " calls)...\n";
      results.push_back(
          measure(cfg, reps, rounds, [&] { predictor.predict_batch(xs, ys, w.pred_len, sp); }, {pe, te}, profile));
    }
  }
  nlohmann::json j;
  j["workload"] = w.name;
  j["description"] = w.description;
  j["weight_file_bytes"] = weight_bytes;
  j["peak_rss_bytes"] = peak_rss_bytes();
  j["peak_rss_over_weights"] = static_cast<double>(peak_rss_bytes()) / static_cast<double>(weight_bytes);
  j["steady_calls"] = reps;
  j["isolated"] = false;
  for (const auto& m : results) {
    nlohmann::json c = {{"first_call_s", m.first_s}, {"median_s", m.median()}, {"p99_s", m.p99()},
                        {"p99_over_p50", m.p99() / m.median()}, {"calls_s", m.calls},
                        {"plans_built", m.stats.plans_built}, {"recompiles", m.stats.recompiles},
                        {"fallbacks_to_eager", m.stats.fallbacks_to_eager}};
    if (profile) {
      c["profiled_call_s"] = m.profiled_s;
      for (const auto& [part, p] : m.ops)
        c["ops"].push_back({{"part", part}, {"op", p.op}, {"impl", p.impl}, {"calls", p.calls}, {"seconds", p.seconds}});
    }
    j["configs"][m.config] = c;
  }
  return j;
}

// Fills in the ratios between configurations and the targets for this workload.
void add_ratios_and_targets(nlohmann::json& j) {
  auto med = [&](const char* c) {
    return j["configs"].contains(c) ? j["configs"][c]["median_s"].get<double>() : std::numeric_limits<double>::quiet_NaN();
  };
  const double e = med("eager"), f = med("fp32"), b = med("bf16");
  if (!std::isnan(e) && !std::isnan(f)) j["ratios"]["compiled_fp32_speedup_vs_eager"] = e / f;
  if (!std::isnan(e) && !std::isnan(b)) j["ratios"]["compiled_bf16_speedup_vs_eager"] = e / b;
  if (!std::isnan(f) && !std::isnan(b)) j["ratios"]["bf16_speedup_vs_fp32"] = f / b;
  const std::string name = j["workload"];
  auto target = [&](const std::string& what, double value, double limit, bool at_least) {
    j["targets"].push_back({{"target", what}, {"value", value}, {"limit", limit},
                            {"pass", at_least ? value >= limit : value <= limit}});
  };
  if (!std::isnan(e) && !std::isnan(f)) target("compiled fp32 >= 2x eager", e / f, 2.0, true);
  if ((name == "W1" || name == "W2" || name == "K2") && !std::isnan(f) && !std::isnan(b))
    target("bf16 >= 1.5x compiled fp32", f / b, 1.5, true);
  if (name == "W1" && j["configs"].contains("fp32")) {
    const auto& c = j["configs"]["fp32"];
    if (c["calls_s"].size() >= 50) target("compiled fp32 p99 <= 1.2x p50 over >= 50 calls", c["p99_over_p50"], 1.2, false);
    if (c.contains("peak_rss_over_weights") && j.value("isolated", false))
      target("compiled fp32 peak RSS <= 1.3x the weight file", c["peak_rss_over_weights"], 1.3, false);
  }
}

// A child process `fcast bench --child ...` with a pipe to its stdin and one from its stdout.
struct Child {
  pid_t pid = -1;
  FILE* to = nullptr;    // its stdin
  FILE* from = nullptr;  // its stdout
  std::string what;

  Child(const std::string& cmd, std::string what_) : what(std::move(what_)) {
    int in[2], out[2];
    // Close-on-exec: a later child must not hold this one's pipes (its stdin would never close).
    FCAST_CHECK(pipe2(in, O_CLOEXEC) == 0 && pipe2(out, O_CLOEXEC) == 0, "bench: could not create pipes for ", what);
    pid = fork();
    FCAST_CHECK(pid >= 0, "bench: could not start ", what);
    if (pid == 0) {
      dup2(in[0], 0);
      dup2(out[1], 1);
      for (int fd : {in[0], in[1], out[0], out[1]}) close(fd);
      execl("/bin/sh", "sh", "-c", cmd.c_str(), static_cast<char*>(nullptr));
      _exit(127);
    }
    close(in[0]);
    close(out[1]);
    to = fdopen(in[1], "w");
    from = fdopen(out[0], "r");
  }
  ~Child() {
    if (pid > 0) kill(pid, SIGTERM);  // only on an error path: finish() has run otherwise
    finish();
  }
  // The next line of its output ("" at the end of it).
  std::string line() {
    std::string l;
    for (int c; (c = std::fgetc(from)) != EOF && c != '\n';) l += static_cast<char>(c);
    return l;
  }
  void expect(const std::string& want) {
    const std::string got = line();
    FCAST_CHECK(got == want, "bench: ", what, " said '", got, "' where '", want, "' was expected (it failed or exited)");
  }
  void send(const char* s) {
    std::fputs(s, to);
    std::fflush(to);
  }
  // Closes its stdin, reads the rest of its output and waits for it; returns the output.
  std::string finish(int* status = nullptr) {
    std::string rest;
    if (to) std::fclose(to), to = nullptr;
    if (from) {
      char buf[4096];
      size_t got;
      while ((got = std::fread(buf, 1, sizeof buf, from)) > 0) rest.append(buf, got);
      std::fclose(from), from = nullptr;
    }
    int st = 0;
    if (pid > 0) waitpid(pid, &st, 0), pid = -1;
    if (status) *status = st;
    return rest;
  }
};

// Runs each configuration in a child process (`fcast bench --child`), so that each reports its
// own peak RSS and none inherits another's caches or packed weights. With rounds > 1 the
// children are started together and, once all have made their first call, take turns: each
// round runs a share of every configuration's timed calls (the first configuration of a round
// rotates), so a slow spell of the shared machine falls on all of them alike. rounds = 1: one
// configuration after the other.
nlohmann::json run_workload_isolated(const WorkloadSpec& w, const std::vector<std::string>& configs, int reps,
                                     int rounds, const std::string& models_root, bool quiet, bool profile) {
  const std::string self = fs::read_symlink("/proc/self/exe").string();
  rounds = std::max(1, std::min(rounds, reps / 2));  // at least 2 timed calls a round
  auto command = [&](const std::string& cfg) {
    return cat("'", self, "' bench --child --workload ", w.name, " --configs ", cfg, " --reps ", reps, " --rounds ",
               rounds, " --models-dir '", models_root, "'", profile ? " --profile" : "", quiet ? " 2>/dev/null" : "");
  };
  std::vector<std::unique_ptr<Child>> children;
  std::vector<std::string> outputs(configs.size());
  if (rounds > 1) {
    for (const auto& cfg : configs) children.push_back(std::make_unique<Child>(command(cfg), cat("the ", cfg, " run of ", w.name)));
    for (auto& c : children) c->expect("ready");
    for (int k = 0; k < rounds; ++k)
      for (size_t i = 0; i < children.size(); ++i) {
        Child& c = *children[(i + static_cast<size_t>(k)) % children.size()];
        c.send("go\n");
        c.expect("round");
      }
  } else {
    for (const auto& cfg : configs) {
      children.push_back(std::make_unique<Child>(command(cfg), cat("the ", cfg, " run of ", w.name)));
      int st = 0;
      outputs[children.size() - 1] = children.back()->finish(&st);
      FCAST_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "bench: ", children.back()->what, " failed: ", command(cfg));
    }
  }
  nlohmann::json merged;
  for (size_t i = 0; i < configs.size(); ++i) {
    const std::string& cfg = configs[i];
    if (rounds > 1) {  // one after the other: the profiled calls do not overlap either
      int st = 0;
      outputs[i] = children[i]->finish(&st);
      FCAST_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "bench: ", children[i]->what, " failed: ", command(cfg));
    }
    const nlohmann::json j = nlohmann::json::parse(outputs[i], nullptr, false);
    FCAST_CHECK(!j.is_discarded() && j.contains("configs") && j["configs"].contains(cfg),
                "bench: the ", cfg, " run of ", w.name, " printed no result");
    if (merged.is_null()) {
      merged = j;
      merged.erase("configs");
      merged["peak_rss_bytes"] = 0;
    }
    nlohmann::json c = j["configs"][cfg];
    c["peak_rss_bytes"] = j["peak_rss_bytes"];
    c["peak_rss_over_weights"] = j["peak_rss_over_weights"];
    merged["configs"][cfg] = c;
    merged["peak_rss_bytes"] = std::max(merged["peak_rss_bytes"].get<uint64_t>(), j["peak_rss_bytes"].get<uint64_t>());
  }
  merged["rounds"] = rounds;
  merged["isolated"] = true;
  merged["peak_rss_over_weights"] =
      merged["peak_rss_bytes"].get<double>() / merged["weight_file_bytes"].get<double>();
  return merged;
}

void print_workload(const nlohmann::json& j, int top_ops) {
  const bool isolated = j.value("isolated", false);
  std::cout << j["workload"].get<std::string>() << ": " << j["description"].get<std::string>() << "\n";
  if (j.value("rounds", 1) > 1)
    std::cout << "  " << j["steady_calls"].get<int64_t>() << " timed calls per configuration, interleaved in "
              << j["rounds"].get<int64_t>() << " rounds\n";
  for (auto it = j["configs"].begin(); it != j["configs"].end(); ++it) {
    const auto& c = it.value();
    std::printf("  %-6s first %9.4f s   median %9.4f s   p99 %9.4f s   p99/p50 %5.2f   plans %lld  recompiles %lld",
                it.key().c_str(), c["first_call_s"].get<double>(), c["median_s"].get<double>(), c["p99_s"].get<double>(),
                c["p99_over_p50"].get<double>(), static_cast<long long>(c["plans_built"].get<int64_t>()),
                static_cast<long long>(c["recompiles"].get<int64_t>()));
    if (isolated) std::printf("   peak RSS %.2fx", c["peak_rss_over_weights"].get<double>());
    std::printf("\n");
    if (c.contains("ops")) {
      double total = 0;
      for (const auto& op : c["ops"]) total += op["seconds"].get<double>();
      std::printf("         profiled call %.4f s, %.4f s in ops:\n", c["profiled_call_s"].get<double>(), total);
      int shown = 0;
      for (const auto& op : c["ops"]) {
        if (shown++ >= top_ops) break;
        const std::string part = op["part"].get<std::string>();
        std::printf("           %5.1f%%  %9.2f ms  %6lld x  %-40s %s\n", 100.0 * op["seconds"].get<double>() / total,
                    op["seconds"].get<double>() * 1e3, static_cast<long long>(op["calls"].get<int64_t>()),
                    ((part.empty() ? "" : part + " ") + op["op"].get<std::string>()).c_str(),
                    op["impl"].get<std::string>().c_str());
      }
    }
  }
  if (j.contains("ratios"))
    for (auto it = j["ratios"].begin(); it != j["ratios"].end(); ++it)
      std::printf("  ratio %-32s %6.2fx\n", it.key().c_str(), it.value().get<double>());
  std::printf("  peak RSS %.1f MiB = %.2fx the weight files (%.1f MiB)%s\n", j["peak_rss_bytes"].get<double>() / 1048576.0,
              j["peak_rss_over_weights"].get<double>(), j["weight_file_bytes"].get<double>() / 1048576.0,
              isolated ? ", the largest of the per-configuration processes" : ", this process (all configurations)");
  if (j.contains("targets"))
    for (const auto& t : j["targets"])
      std::printf("  target %-50s %6.2f  (limit %.2f)  %s\n", t["target"].get<std::string>().c_str(),
                  t["value"].get<double>(), t["limit"].get<double>(), t["pass"].get<bool>() ? "PASS" : "MISS");
  std::cout.flush();
}

}  // namespace

void register_bench(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "bench",
      "Benchmarks on random weights at the published shapes. Standard workloads W1-W4 (Toto) and K1-K3 "
      "(Kronos) print eager, compiled fp32 and compiled bf16 latencies from the same run, their ratios, peak RSS "
      "and the performance targets (docs/PERFORMANCE.md); each configuration runs in its own process by default, so "
      "its peak RSS is its own. toto-published-rss checks peak RSS of a published-shape Toto forecast against the "
      "weight file.");
  auto workloads = std::make_shared<std::vector<std::string>>();
  auto configs = std::make_shared<std::vector<std::string>>(std::vector<std::string>{"eager", "fp32", "bf16"});
  auto model = std::make_shared<std::string>("out/models/toto-base-random");
  auto models_root = std::make_shared<std::string>("out/models");
  auto ratio = std::make_shared<double>(1.5);
  auto reps = std::make_shared<int>(0);
  auto rounds = std::make_shared<int>(5);
  auto json = std::make_shared<bool>(false);
  auto isolate = std::make_shared<bool>(true);
  auto child = std::make_shared<bool>(false);
  auto profile = std::make_shared<bool>(false);
  auto top = std::make_shared<int>(8);
  auto check = std::make_shared<bool>(false);
  cmd->add_option("--workload", *workloads,
                  "workloads to run: W1 W2 W3 W4 K1 K2 K3, all, or toto-published-rss (repeatable; default: all)");
  cmd->add_option("--configs", *configs, "configurations to compare: eager, fp32 (compiled), bf16 (compiled)")
      ->delimiter(',')
      ->capture_default_str();
  cmd->add_option("--reps", *reps,
                  "steady-state calls per configuration after the first call (0: the workload's default: 50 for W1 "
                  "and W4, 10 for W3, 3 for K2, 5 otherwise)")
      ->capture_default_str();
  cmd->add_option("--models-dir", *models_root,
                  "where random published-shape checkpoints are written/reused for W*/K* workloads")
      ->capture_default_str();
  cmd->add_option("--rounds", *rounds,
                  "isolated runs: the configurations' timed calls are interleaved in this many rounds (each "
                  "configuration's process waits while another runs its share), so that a slow spell of a shared "
                  "machine falls on every configuration alike; 1: each configuration's calls in one go, one "
                  "configuration after the other. Each round has at least 2 timed calls (fewer rounds when --reps is "
                  "small) and starts with one untimed call, as the first call after a wait is slower")
      ->capture_default_str();
  cmd->add_flag("--isolate,!--no-isolate", *isolate,
                "run each configuration in its own child process, one after the other (default), so that peak RSS "
                "is per configuration; --no-isolate runs them all in this process");
  cmd->add_flag("--profile", *profile,
                "after the timed calls, run one more call per configuration with per-op timing and print the slowest "
                "ops (in the JSON: configs.<name>.ops)");
  cmd->add_option("--top", *top, "--profile: ops shown per configuration")->capture_default_str();
  cmd->add_flag("--check-targets", *check, "exit 1 when a performance target of a measured workload is missed");
  cmd->add_flag("--child", *child, "internal: one configuration of an isolated run; prints its JSON")->group("");
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
    FCAST_CHECK(*reps >= 0, "--reps must be at least 1 (or 0 for the workload's default)");
    FCAST_CHECK(*rounds >= 1, "--rounds must be at least 1");
    FCAST_CHECK(*top >= 0, "--top must not be negative");
    bool missed = false;
    for (const auto& n : names) {
      if (n == "toto-published-rss") {
        const int rc = toto_published_rss(*model, *ratio, *json);
        if (rc) throw CLI::RuntimeError(rc);
        continue;
      }
      const auto specs = workload_specs();
      auto it = std::find_if(specs.begin(), specs.end(), [&](const WorkloadSpec& w) { return w.name == n; });
      FCAST_CHECK(it != specs.end(), "unknown workload '", n, "'; valid: W1 W2 W3 W4 K1 K2 K3 all toto-published-rss");
      const int r = *reps > 0 ? *reps : it->reps;
      if (*child) {
        std::cout << run_workload(*it, *configs, r, *rounds, *models_root, false, *profile).dump() << std::endl;
        continue;
      }
      nlohmann::json j = *isolate ? run_workload_isolated(*it, *configs, r, *rounds, *models_root, *json, *profile)
                                  : run_workload(*it, *configs, r, 1, *models_root, *json, *profile);
      add_ratios_and_targets(j);
      if (j.contains("targets"))
        for (const auto& t : j["targets"]) missed = missed || !t["pass"].get<bool>();
      if (*json)
        std::cout << j.dump() << std::endl;
      else
        print_workload(j, *top);
    }
    if (*check && missed) {
      std::cerr << "bench: a performance target was missed (see the MISS lines)\n";
      throw CLI::RuntimeError(1);
    }
  });
}

}  // namespace fcast::tools
