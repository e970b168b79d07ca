// `fcast bench`: benchmarks on random weights of the published shapes. The workloads are declared
// by the models (ModelEntry::bench, models/registry.h); each is one ForecastRequest, repeated
// through a session of the loaded model. Each workload prints its measurements from one run;
// speed is reported only as ratios between configurations measured in the same run.
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
#include <set>

#include "core/error.h"
#include "core/rng.h"
#include "models/registry.h"
#include "runtime/compile_settings.h"
#include "tools/commands.h"
#include "tools/backtest/walk_forward.h"
#include "tools/stress/workload.h"

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

// A workload and the model that declares it.
struct Workload {
  const ModelEntry* entry = nullptr;
  const BenchWorkload* w = nullptr;
};

std::vector<Workload> all_workloads() {
  std::vector<Workload> out;
  for (const ModelEntry& e : model_registry())
    for (const BenchWorkload& w : e.bench) out.push_back({&e, &w});
  return out;
}

// Workloads run only when named: RSS checks and command-line comparisons.
bool named_only(const BenchWorkload& w) { return w.rss_check || w.cli_batch || w.backtest_batch; }

// "W1 W2 ... K3" (standard) or "toto-published-rss M1" (run only when named), in registry order.
std::string workload_ids(bool named) {
  std::string out;
  for (const Workload& x : all_workloads())
    if (named_only(*x.w) == named) out += (out.empty() ? "" : " ") + x.w->id;
  return out;
}

// The checkpoint folders of a workload: <models_root>/<folder> for each part; `first_part_dir`
// (--model, for RSS checks) replaces the first part's folder when given.
ModelPaths checkpoint_paths(const BenchWorkload& w, const std::string& models_root, const std::string& first_part_dir) {
  ModelPaths p;
  for (size_t i = 0; i < w.checkpoints.size(); ++i) {
    const BenchCheckpoint& c = w.checkpoints[i];
    p[c.part] = i == 0 && !first_part_dir.empty() ? first_part_dir : (fs::path(models_root) / c.folder).string();
  }
  return p;
}

bool checkpoint_present(const std::string& dir) {
  std::error_code ec;
  return fs::exists(fs::path(dir) / "model.safetensors", ec) && fs::exists(fs::path(dir) / "config.json", ec);
}

// Writes the missing random checkpoints of a workload in this process (entry.write_random).
void write_checkpoints(const Workload& x, const std::string& models_root, const std::string& first_part_dir) {
  const ModelPaths paths = checkpoint_paths(*x.w, models_root, first_part_dir);
  for (const BenchCheckpoint& c : x.w->checkpoints) {
    const std::string& dir = paths.at(c.part);
    if (checkpoint_present(dir)) continue;
    std::cerr << "bench: writing a random " << c.preset << " checkpoint to " << dir << "\n";
    x.entry->write_random(c.preset, c.seed, ModelPaths{{c.part, dir}});
  }
}

// The missing random checkpoints of a workload, written by a child process (`fcast bench
// --write-checkpoints`), so that the writer's buffers never count towards this process's peak RSS.
void ensure_checkpoints(const Workload& x, const std::string& models_root, const std::string& first_part_dir) {
  const ModelPaths paths = checkpoint_paths(*x.w, models_root, first_part_dir);
  bool missing = false;
  for (const auto& [part, dir] : paths) missing = missing || !checkpoint_present(dir);
  if (!missing) return;
  const std::string self = fs::read_symlink("/proc/self/exe").string();
  std::string cmd = cat("'", self, "' bench --write-checkpoints --workload '", x.w->id, "' --models-dir '", models_root, "'");
  if (!first_part_dir.empty()) cmd += cat(" --model '", first_part_dir, "'");
  cmd += " > /dev/null";
  FCAST_CHECK(std::system(cmd.c_str()) == 0, "could not write the random checkpoints with: ", cmd);
}

CompileSettings settings_for(const std::string& config, const ModelEntry& entry);

// A backtest comparison (BenchWorkload::backtest_batch): one symbol of random daily bars, the
// backtest's one-step jobs (tools/backtest/walk_forward.h) forecast in requests of 256 jobs
// against one job per request, in one compiled session (plans of both shapes built by an untimed
// pass first). Both must give identical numbers (each job draws from its own seed).
int backtest_batch_bench(const Workload& x, const std::string& models_root, bool json) {
  const BenchWorkload& w = *x.w;
  ensure_checkpoints(x, models_root, "");
  const ModelPaths paths = checkpoint_paths(w, models_root, "");
  backtest::Bars b;
  b.symbol = "RANDOM";
  b.file = "(random walk)";
  Rng rng(w.data_seed);
  double price = 100;
  const int64_t rows = w.context + w.series + w.horizon + 2;
  for (int64_t t = 0; t < rows; ++t) {
    b.timestamps.push_back(1577836800 + 86400 * t);
    const double open = price;
    price *= std::exp(0.015 * rng.normal());
    b.columns["open"].push_back(open);
    b.columns["close"].push_back(price);
    b.columns["high"].push_back(std::max(open, price) * (1 + 0.005 * std::fabs(rng.normal())));
    b.columns["low"].push_back(std::min(open, price) * (1 - 0.005 * std::fabs(rng.normal())));
  }
  backtest::Protocol p;
  p.simulations = w.series;
  p.days = w.horizon;
  p.context = w.context;
  const std::vector<backtest::Job> jobs = backtest::one_step_jobs({b}, p);
  CompileSettings s = settings_for("fp32", *x.entry);
  std::shared_ptr<LoadedModel> m = x.entry->load(paths, s);
  std::unique_ptr<ForecastSession> session = m->new_session();
  ForecastRequest base;
  base.num_samples = w.samples;
  base.options = w.options;
  base.seed = 1;
  const size_t batched = 256;
  std::cerr << "bench " << w.id << ": " << w.description << "\nbench " << w.id << ": " << jobs.size()
            << " forecasts; untimed pass first (builds the plans of both batch shapes)\n";
  const std::vector<backtest::Job> warm(jobs.begin(), jobs.begin() + std::min<size_t>(jobs.size(), batched));
  backtest::forecast_jobs(*session, warm, base, 1, batched);
  backtest::forecast_jobs(*session, {jobs.front()}, base, 1, 1);
  std::set<std::string> distinct;
  for (const backtest::Job& job : jobs) distinct.insert(backtest::job_identity(job));
  // Three ways, the same numbers: every window's forecast one request at a time (the Python
  // system's call pattern), every window batched, and the distinct forecasts batched (what
  // `fcast backtest` does).
  auto t = std::chrono::steady_clock::now();
  const auto one = backtest::forecast_jobs(*session, jobs, base, 1, 1, {}, false);
  const double t_one = seconds_since(t);
  t = std::chrono::steady_clock::now();
  const auto many = backtest::forecast_jobs(*session, jobs, base, 1, batched, {}, false);
  const double t_many = seconds_since(t);
  t = std::chrono::steady_clock::now();
  const auto unique = backtest::forecast_jobs(*session, jobs, base, 1, batched, {}, true);
  const double t_unique = seconds_since(t);
  bool identical = true;
  for (size_t k = 0; k < jobs.size(); ++k)
    identical = identical && one[k].paths == many[k].paths && one[k].paths == unique[k].paths;
  nlohmann::json j = {{"workload", w.id},
                      {"description", w.description},
                      {"forecasts", jobs.size()},
                      {"distinct_forecasts", distinct.size()},
                      {"one_at_a_time_seconds", t_one},
                      {"batched_seconds", t_many},
                      {"batched_distinct_seconds", t_unique},
                      {"batch", batched},
                      {"batched_speedup", t_one / t_many},
                      {"backtest_speedup", t_one / t_unique},
                      {"seconds_per_symbol", t_unique},
                      {"outputs_identical", identical}};
  if (json) {
    std::cout << j.dump() << std::endl;
  } else {
    std::cout << "workload " << w.id << ": " << w.description << "\n"
              << "  one forecast at a time, every window (" << jobs.size() << " requests): " << t_one << " s\n"
              << "  batched, every window (" << batched << " per request): " << t_many << " s   ratio "
              << t_one / t_many << "x (target >= 3x)\n"
              << "  batched, distinct forecasts only (" << distinct.size() << ", as fcast backtest runs): " << t_unique
              << " s   ratio " << t_one / t_unique << "x\n"
              << "  seconds per symbol (fcast backtest): " << t_unique
              << " (random weights, this CPU; the Python system took about 18 s per symbol on a GPU)\n"
              << "  outputs identical: " << (identical ? "yes" : "NO") << "\n";
  }
  return identical ? 0 : 1;
}

// A command-line comparison (BenchWorkload::cli_batch): the workload's symbols of random bars in
// one long-format CSV; one `fcast predict --symbol all` process against one process per symbol,
// both on the compiled default with one persistent cache (filled by an untimed run of each
// first), alternating in `rounds`. The outputs must be identical row for row.
int cli_batch_bench(const Workload& x, const std::string& models_root, int rounds, bool json) {
  const BenchWorkload& w = *x.w;
  ensure_checkpoints(x, models_root, "");
  const ModelPaths paths = checkpoint_paths(w, models_root, "");
  const fs::path tmp = fs::temp_directory_path() / cat("fcast_bench_", w.id, "_", ::getpid());
  fs::create_directories(tmp / "out");
  struct Cleanup {
    fs::path p;
    ~Cleanup() {
      std::error_code ec;
      fs::remove_all(p, ec);
    }
  } cleanup{tmp};
  // Random-walk hourly bars, one stream per symbol.
  std::vector<std::string> symbols;
  {
    std::ofstream csv(tmp / "bars.csv");
    csv << "timestamp,symbol,close\n";
    const int64_t t0 = 1735689600;  // 2025-01-01 00:00 UTC
    for (int64_t s = 0; s < w.series; ++s) {
      symbols.push_back(cat("S", s < 9 ? "0" : "", s + 1));
      Rng rng(w.data_seed + static_cast<uint64_t>(s));
      double price = 100.0;
      for (int64_t t = 0; t < w.context; ++t) {
        price *= std::exp(0.01 * rng.normal());
        csv << format_timestamp(t0 + 3600 * t, true) << "," << symbols.back() << "," << price << "\n";
      }
    }
    FCAST_CHECK(csv.good(), "could not write ", (tmp / "bars.csv").string());
  }
  const std::string self = fs::read_symlink("/proc/self/exe").string();
  std::string base = cat("'", self, "' predict ", x.entry->name);
  for (const auto& [part, dir] : paths) base += cat(" --", part, " '", dir, "'");
  base += cat(" -i '", (tmp / "bars.csv").string(), "' --context ", w.context, " -n ", w.horizon, " --num-samples ",
              w.samples, " --quiet --compiled-models-dir '", (tmp / "cache").string(), "'");
  for (const auto& [k, v] : w.options) base += cat(" --option ", k, "=", v);
  auto run = [&](const std::string& sel, const std::string& out) {
    const std::string cmd = cat(base, " ", sel, " -o '", out, "'");
    FCAST_CHECK(std::system(cmd.c_str()) == 0, "bench ", w.id, ": this command failed: ", cmd);
  };
  auto batched = [&] { run("--symbol all", (tmp / "out" / "all.csv").string()); };
  auto separate = [&] {
    for (const std::string& s : symbols) run("--symbol " + s, (tmp / "out" / (s + ".csv")).string());
  };
  std::cerr << "bench " << w.id << ": " << w.description << "\nbench " << w.id
            << ": untimed runs first (they fill the persistent cache)\n";
  batched();
  separate();
  std::vector<double> t_sep, t_all;
  for (int r = 0; r < rounds; ++r) {
    auto t = std::chrono::steady_clock::now();
    separate();
    t_sep.push_back(seconds_since(t));
    t = std::chrono::steady_clock::now();
    batched();
    t_all.push_back(seconds_since(t));
    std::cerr << "bench " << w.id << ": round " << r + 1 << "/" << rounds << ": " << symbols.size()
              << " processes " << t_sep.back() << " s, one batched process " << t_all.back() << " s\n";
  }
  // Same numbers either way: the batched file's rows are the per-symbol files' rows, in order.
  auto body = [](const std::string& text) { return text.substr(text.find('\n') + 1); };
  std::string joined;
  for (const std::string& s : symbols) joined += body(read_file((tmp / "out" / (s + ".csv")).string()));
  const bool identical = joined == body(read_file((tmp / "out" / "all.csv").string()));
  auto median = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
  };
  const double sep = median(t_sep), all = median(t_all);
  nlohmann::json j = {{"workload", w.id},          {"description", w.description}, {"symbols", symbols.size()},
                      {"rounds", rounds},           {"processes_seconds", t_sep},    {"batched_seconds", t_all},
                      {"processes_median_seconds", sep}, {"batched_median_seconds", all},
                      {"batched_speedup", sep / all}, {"outputs_identical", identical}};
  if (json) {
    std::cout << j.dump() << std::endl;
  } else {
    std::cout << "workload " << w.id << ": " << w.description << "\n"
              << "  " << symbols.size() << " processes (one per symbol): " << sep << " s (median of " << rounds
              << ")\n  1 process, --symbol all (batched): " << all << " s\n  ratio (processes / batched): " << sep / all
              << "x\n  outputs identical: " << (identical ? "yes" : "NO") << "\n";
  }
  return identical ? 0 : 1;
}

// An RSS check (Toto): load by mmap (eager), forecast once, report peak RSS against
// the weight files.
int rss_check(const Workload& x, const std::string& models_root, const std::string& model_dir, double max_ratio,
              bool json) {
  const BenchWorkload& w = *x.w;
  ensure_checkpoints(x, models_root, model_dir);
  const ForecastRequest req = stress::bench_request(*x.entry, w);
  const auto t0 = std::chrono::steady_clock::now();
  std::shared_ptr<LoadedModel> model = x.entry->load(checkpoint_paths(w, models_root, model_dir), settings_for("eager", *x.entry));
  const double load_s = seconds_since(t0);
  std::unique_ptr<ForecastSession> session = model->new_session();
  const auto t1 = std::chrono::steady_clock::now();
  const ForecastResult f = session->forecast(req);
  const double run_s = seconds_since(t1);
  const uint64_t rss = peak_rss_bytes(), weights = static_cast<uint64_t>(model->weight_file_bytes());
  const double ratio = static_cast<double>(rss) / static_cast<double>(weights);
  // [series, variates, steps, samples] of the sample paths (the mean when there are none)
  bool finite = true;
  std::vector<int64_t> shape = {static_cast<int64_t>(f.series.size()), 0, 0, 0};
  for (const SeriesForecast& s : f.series) {
    const bool paths = !s.samples.empty();
    shape[1] = static_cast<int64_t>(paths ? s.samples.size() : s.mean.size());
    for (size_t v = 0; v < (paths ? s.samples.size() : s.mean.size()); ++v) {
      if (paths) {
        shape[2] = static_cast<int64_t>(s.samples[v].size());
        for (const auto& step : s.samples[v]) {
          shape[3] = static_cast<int64_t>(step.size());
          for (float y : step) finite = finite && std::isfinite(y);
        }
      } else {
        shape[2] = static_cast<int64_t>(s.mean[v].size());
        for (float y : s.mean[v]) finite = finite && std::isfinite(y);
      }
    }
  }
  if (shape[3] == 0) shape.pop_back();
  const bool ok = ratio <= max_ratio && finite;
  if (json) {
    nlohmann::json j = {{"workload", w.id}, {"weight_file_bytes", weights}, {"peak_rss_bytes", rss},
                        {"rss_over_weights", ratio}, {"limit", max_ratio}, {"load_seconds", load_s},
                        {"forecast_seconds", run_s}, {"samples_shape", shape}, {"ok", ok}};
    std::cout << j.dump() << std::endl;
  } else {
    std::cout << "workload " << w.id << ": " << w.description << "\n"
              << "  weight file      " << weights / 1048576.0 << " MiB\n"
              << "  peak RSS         " << rss / 1048576.0 << " MiB\n"
              << "  RSS / weights    " << ratio << " (limit " << max_ratio << ")\n"
              << "  load             " << load_s << " s (mmap)\n"
              << "  forecast         " << run_s << " s\n"
              << "  samples          " << shape_str(shape) << (finite ? ", all finite" : ", NON-FINITE") << "\n"
              << (ok ? "OK" : "FAILED") << std::endl;
  }
  return ok ? 0 : 1;
}


// ---- the standard workloads: eager vs compiled fp32 vs compiled bf16 ----

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

CompileSettings settings_for(const std::string& config, const ModelEntry& entry) {
  // Resolved as compiled so that the compiled-only variables are read even under a model's
  // kill switch (TOTO_DISABLE_COMPILE=1): the configuration, not the switch, decides what runs here.
  CompileOverrides compiled;
  compiled.compile = true;
  CompileSettings s = resolve_compile_settings(entry.compile, Environment::from_process(), compiled);
  if (config == "eager") {
    s.enabled = false;
  } else {
    s.enabled = true;
    s.backend = CompileBackend::Inductor;
    s.precision = config == "bf16" ? Precision::BF16 : Precision::FP32;
  }
  return s;
}

// rounds > 1 (a child of an interleaved run): after the first call the child says "ready" and
// runs its timed calls in `rounds` chunks, each when the parent sends a line on stdin, answering
// "round" when done, so that the configurations take turns on the machine. Each chunk starts
// with one untimed call: the first call after the process has waited is slower (W4 fp32: 29-39
// ms against a 26 ms median), which would otherwise put one such call per round into the tail.
Measure measure(const std::string& config, int reps, int rounds, const std::function<void()>& call,
                const std::vector<Executor*>& execs, const std::vector<std::string>& parts, bool profile) {
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
        m.ops.push_back({execs.size() > 1 && i < parts.size() ? parts[i] : "", p});
      execs[i]->set_profiling(false);
    }
    std::sort(m.ops.begin(), m.ops.end(), [](const auto& a, const auto& b) { return a.second.seconds > b.second.seconds; });
  }
  return m;
}

// Runs the workload for each configuration in this process: one load (eager, or compiled at the
// configuration's precision) and one session per configuration.
nlohmann::json run_workload(const Workload& x, const std::vector<std::string>& configs, int reps, int rounds,
                            const std::string& models_root, bool quiet, bool profile) {
  const BenchWorkload& w = *x.w;
  std::vector<Measure> results;
  uint64_t weight_bytes = 0;
  ensure_checkpoints(x, models_root, "");
  const ModelPaths paths = checkpoint_paths(w, models_root, "");
  const ForecastRequest req = stress::bench_request(*x.entry, w);
  std::vector<std::string> parts;  // part names label the executors' ops (a session has one per part)
  for (const ModelPart& p : x.entry->parts) parts.push_back(p.name);
  for (const auto& cfg : configs) {
    std::shared_ptr<LoadedModel> model = x.entry->load(paths, settings_for(cfg, *x.entry));
    weight_bytes = static_cast<uint64_t>(model->weight_file_bytes());
    std::unique_ptr<ForecastSession> session = model->new_session();
    if (!quiet) std::cerr << "bench " << w.id << ": " << cfg << " (" << reps << " calls)...\n";
    results.push_back(
        measure(cfg, reps, rounds, [&] { session->forecast(req); }, session->executors(), parts, profile));
  }
  nlohmann::json j;
  j["workload"] = w.id;
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
void add_ratios_and_targets(nlohmann::json& j, const BenchWorkload& w) {
  auto med = [&](const char* c) {
    return j["configs"].contains(c) ? j["configs"][c]["median_s"].get<double>() : std::numeric_limits<double>::quiet_NaN();
  };
  const double e = med("eager"), f = med("fp32"), b = med("bf16");
  if (!std::isnan(e) && !std::isnan(f)) j["ratios"]["compiled_fp32_speedup_vs_eager"] = e / f;
  if (!std::isnan(e) && !std::isnan(b)) j["ratios"]["compiled_bf16_speedup_vs_eager"] = e / b;
  if (!std::isnan(f) && !std::isnan(b)) j["ratios"]["bf16_speedup_vs_fp32"] = f / b;
  auto target = [&](const std::string& what, double value, double limit, bool at_least) {
    j["targets"].push_back({{"target", what}, {"value", value}, {"limit", limit},
                            {"pass", at_least ? value >= limit : value <= limit}});
  };
  if (!std::isnan(e) && !std::isnan(f)) target("compiled fp32 >= 2x eager", e / f, 2.0, true);
  if (w.target_bf16 && !std::isnan(f) && !std::isnan(b))
    target("bf16 >= 1.5x compiled fp32", f / b, 1.5, true);
  if (j["configs"].contains("fp32")) {
    const auto& c = j["configs"]["fp32"];
    if (w.target_tail && c["calls_s"].size() >= 50) target("compiled fp32 p99 <= 1.2x p50 over >= 50 calls", c["p99_over_p50"], 1.2, false);
    if (w.target_rss && c.contains("peak_rss_over_weights") && j.value("isolated", false))
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
nlohmann::json run_workload_isolated(const Workload& x, const std::vector<std::string>& configs, int reps,
                                     int rounds, const std::string& models_root, bool quiet, bool profile) {
  const BenchWorkload& w = *x.w;
  // Each child writes missing checkpoints itself (through its own writer process, so its peak RSS
  // stays its forecast's): a failure to write then shows as that child's failure, named.
  const std::string self = fs::read_symlink("/proc/self/exe").string();
  rounds = std::max(1, std::min(rounds, reps / 2));  // at least 2 timed calls a round
  auto command = [&](const std::string& cfg) {
    return cat("'", self, "' bench --child --workload '", w.id, "'", " --configs ", cfg, " --reps ", reps, " --rounds ",
               rounds, " --models-dir '", models_root, "'", profile ? " --profile" : "", quiet ? " 2>/dev/null" : "");
  };
  std::vector<std::unique_ptr<Child>> children;
  std::vector<std::string> outputs(configs.size());
  if (rounds > 1) {
    for (const auto& cfg : configs) children.push_back(std::make_unique<Child>(command(cfg), cat("the ", cfg, " run of ", w.id)));
    for (auto& c : children) c->expect("ready");
    for (int k = 0; k < rounds; ++k)
      for (size_t i = 0; i < children.size(); ++i) {
        Child& c = *children[(i + static_cast<size_t>(k)) % children.size()];
        c.send("go\n");
        c.expect("round");
      }
  } else {
    for (const auto& cfg : configs) {
      children.push_back(std::make_unique<Child>(command(cfg), cat("the ", cfg, " run of ", w.id)));
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
                "bench: the ", cfg, " run of ", w.id, " printed no result");
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

struct RanWorkload {
  std::string id;
  int64_t series = 1;
  nlohmann::json result;
};

// One line per workload run in this process: the median call divided by the series in the call,
// per configuration, and the first workload's cost in the same configuration over this one's
// (several models compared in one run, e.g. `--workload W1,T2a`).
void print_cost_per_forecast(const std::vector<RanWorkload>& ran) {
  std::cout << "cost per forecast (median call / series per call), against " << ran.front().id
            << " in the same configuration:\n";
  for (const RanWorkload& r : ran) {
    std::printf("  %-18s", r.id.c_str());
    for (auto it = r.result["configs"].begin(); it != r.result["configs"].end(); ++it) {
      const double per = it.value()["median_s"].get<double>() / static_cast<double>(std::max<int64_t>(1, r.series));
      std::printf("  %s %9.3f ms", it.key().c_str(), per * 1e3);
      const auto& base = ran.front().result["configs"];
      if (&r != &ran.front() && base.contains(it.key())) {
        const double b = base[it.key()]["median_s"].get<double>() /
                         static_cast<double>(std::max<int64_t>(1, ran.front().series));
        std::printf(" (%.1fx)", b / per);
      }
    }
    std::printf("\n");
  }
  std::cout.flush();
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
  // Every workload the registered models declare, for the help and the errors.
  std::string per_model;
  for (const ModelEntry& e : model_registry()) {
    std::string ids;
    for (const BenchWorkload& w : e.bench)
      if (!named_only(w)) ids += (ids.empty() ? "" : " ") + w.id;
    if (!ids.empty()) per_model += (per_model.empty() ? "" : ", ") + ids + " (" + e.name + ")";
  }
  std::string default_reps;
  for (const Workload& x : all_workloads())
    if (!named_only(*x.w)) default_reps += (default_reps.empty() ? "" : ", ") + x.w->id + " " + std::to_string(x.w->reps);
  auto* cmd = app.add_subcommand(
      "bench",
      "Benchmarks on random weights at the published shapes. The standard workloads " + per_model +
          " print eager, compiled fp32 and compiled bf16 latencies from the same run, their ratios, peak RSS "
          "and the performance targets (docs/PERFORMANCE.md); each configuration runs in its own process by default, "
          "so its peak RSS is its own. Run only when named: RSS checks (toto-published-rss: peak RSS of a "
          "published-shape forecast against the weight files) and M1 (20 symbols of one CSV: one `fcast predict "
          "toto --symbol all` process against 20 processes, ratio printed; --rounds sets its rounds).");
  auto workloads = std::make_shared<std::vector<std::string>>();
  auto configs = std::make_shared<std::vector<std::string>>(std::vector<std::string>{"eager", "fp32", "bf16"});
  auto model = std::make_shared<std::string>();
  auto models_root = std::make_shared<std::string>("out/models");
  auto ratio = std::make_shared<double>(1.5);
  auto reps = std::make_shared<int>(0);
  auto rounds = std::make_shared<int>(5);
  auto json = std::make_shared<bool>(false);
  auto isolate = std::make_shared<bool>(true);
  auto child = std::make_shared<bool>(false);
  auto write_only = std::make_shared<bool>(false);
  auto profile = std::make_shared<bool>(false);
  auto top = std::make_shared<int>(8);
  auto check = std::make_shared<bool>(false);
  cmd->add_option("--workload", *workloads,
                  "workloads to run: " + workload_ids(false) + ", all, or one run only when named: " + workload_ids(true) +
                      " (repeatable or comma-separated; a family name such as T2a runs its T2a-... members; "
                      "default: all)")
      ->delimiter(',');
  cmd->add_option("--configs", *configs, "configurations to compare: eager, fp32 (compiled), bf16 (compiled)")
      ->delimiter(',')
      ->capture_default_str();
  cmd->add_option("--reps", *reps,
                  "steady-state calls per configuration after the first call (0: the workload's default: " +
                      default_reps + ")")
      ->capture_default_str();
  cmd->add_option("--models-dir", *models_root,
                  "where random published-shape checkpoints are written/reused (<models-dir>/<model>-...-random)")
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
  cmd->add_flag("--write-checkpoints", *write_only, "internal: write the workloads' random checkpoints and exit")
      ->group("");
  cmd->add_option("--model", *model,
                  "RSS checks: the checkpoint folder (of the model's first part); a random one at the published shape "
                  "is written there if absent (default: under --models-dir)");
  cmd->add_option("--max-rss-ratio", *ratio, "RSS checks: fail (exit 1) if peak RSS exceeds this multiple of "
                                             "the weight files")
      ->capture_default_str();
  cmd->add_flag("--json", *json, "print one JSON object per workload");
  cmd->callback([=] {
    const std::vector<Workload> known = all_workloads();
    std::vector<Workload> chosen;
    if (workloads->empty() || (workloads->size() == 1 && (*workloads)[0] == "all")) {
      for (const Workload& x : known)
        if (!named_only(*x.w)) chosen.push_back(x);
    } else {
      for (const auto& n : *workloads) {
        auto it = std::find_if(known.begin(), known.end(), [&](const Workload& x) { return x.w->id == n; });
        if (it == known.end()) {
          // A family name selects its members: "T2a" runs every "T2a-..." workload.
          const size_t before = chosen.size();
          for (const Workload& x : known)
            if (x.w->id.rfind(n + "-", 0) == 0) chosen.push_back(x);
          FCAST_CHECK(chosen.size() > before, "unknown workload '", n, "'; valid: ", workload_ids(false), " all ",
                      workload_ids(true), " (a family name such as T2a selects its T2a-... members)");
          continue;
        }
        chosen.push_back(*it);
      }
    }
    for (const auto& c : *configs)
      FCAST_CHECK(c == "eager" || c == "fp32" || c == "bf16", "unknown configuration '", c, "'; valid: eager, fp32, bf16");
    FCAST_CHECK(*reps >= 0, "--reps must be at least 1 (or 0 for the workload's default)");
    FCAST_CHECK(*rounds >= 1, "--rounds must be at least 1");
    FCAST_CHECK(*top >= 0, "--top must not be negative");
    if (*write_only) {
      for (const Workload& x : chosen) write_checkpoints(x, *models_root, x.w->rss_check ? *model : "");
      return;
    }
    bool missed = false;
    std::vector<RanWorkload> ran;  // the standard workloads run, for the cost-per-forecast table
    for (const Workload& x : chosen) {
      if (x.w->rss_check) {
        const int rc = rss_check(x, *models_root, *model, *ratio, *json);
        if (rc) throw CLI::RuntimeError(rc);
        continue;
      }
      if (x.w->backtest_batch) {
        const int rc = backtest_batch_bench(x, *models_root, *json);
        if (rc) throw CLI::RuntimeError(rc);
        continue;
      }
      if (x.w->cli_batch) {
        const int rc = cli_batch_bench(x, *models_root, *rounds, *json);
        if (rc) throw CLI::RuntimeError(rc);
        continue;
      }
      const int r = *reps > 0 ? *reps : x.w->reps;
      if (*child) {
        std::cout << run_workload(x, *configs, r, *rounds, *models_root, false, *profile).dump() << std::endl;
        continue;
      }
      nlohmann::json j = *isolate ? run_workload_isolated(x, *configs, r, *rounds, *models_root, *json, *profile)
                                  : run_workload(x, *configs, r, 1, *models_root, *json, *profile);
      add_ratios_and_targets(j, *x.w);
      if (j.contains("targets"))
        for (const auto& t : j["targets"]) missed = missed || !t["pass"].get<bool>();
      if (*json)
        std::cout << j.dump() << std::endl;
      else
        print_workload(j, *top);
      ran.push_back({x.w->id, x.w->series, j});
    }
    if (ran.size() >= 2 && !*json && !*child) print_cost_per_forecast(ran);
    if (*check && missed) {
      std::cerr << "bench: a performance target was missed (see the MISS lines)\n";
      throw CLI::RuntimeError(1);
    }
  });
}

}  // namespace fcast::tools
