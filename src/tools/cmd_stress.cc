// `fcast stress`: the compile stress test and production check (docs/STRESS_TEST.md). For each
// iteration, registered model (models/registry.h) and mode (eager, compiled) it loads the model,
// forecasts a block of walk-forward windows of a real market series against the held-out bars
// through one session (stress::SessionRunner), and records
// accuracy, load / first-call / steady-state latency, peak RSS and the executor's plan counters.
// Reports are rewritten atomically after every record, so an interrupted run leaves valid ones.
#include <omp.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <set>

#include "core/error.h"
#include "io/file.h"
#include "models/registry.h"
#include "ops/cpu/isa.h"
#include "runtime/compile_settings.h"
#include "runtime/plan_cache.h"
#include "tools/commands.h"
#include "tools/compile_flags.h"
#include "tools/stress/metrics.h"
#include "tools/stress/perturb.h"
#include "tools/stress/report.h"
#include "tools/stress/sysmem.h"
#include "tools/stress/workload.h"

namespace fcast::tools {

namespace {

namespace fs = std::filesystem;
using namespace fcast::stress;
using Clock = std::chrono::steady_clock;

std::atomic<int> g_signal{0};

extern "C" void on_stop_signal(int sig) {
  g_signal.store(sig);
  std::signal(sig, SIG_DFL);  // a second signal ends the process at once (the reports on disk stay valid)
}

struct StressArgs {
  std::string mode = "quick";
  int iterations = -1;
  std::string model = "both";  // a registered name, or all / both (every registered model)
  int64_t context_length = 512;  // unless given: each default trained model's training context
  int64_t num_samples = 128;
  int64_t prediction_length = 4;  // multi-step windows: each forecast draws a fan
  int64_t windows = 6;
  std::vector<std::string> data;
  std::string output_dir = "stress_results";
  std::map<std::string, std::string> dirs;  // "<model>-<part>" (the --<model>-<part> flag) -> folder
  std::string models_cache;
  std::string compile_mode, compile_backend, precision, compiled_models_dir;
  uint64_t seed = 0;
  int threads = 0;
  bool no_speed_verdict = false;
  bool random_weights = false;  // --random-weights: random tiny checkpoints instead of the bundled trained ones
  std::set<std::string> given;  // the options given on the command line (for the settings' sources)
  LimitCliValues limits;  // --max-horizon, --max-samples
  ForecastLimits caps;    // resolved from `limits` and the environment in run_stress
};

double ms_since(Clock::time_point t0) { return std::chrono::duration<double, std::milli>(Clock::now() - t0).count(); }

std::string now_text() {
  const std::time_t t = std::time(nullptr);
  char buf[64];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S %Z", std::localtime(&t));
  return buf;
}

struct Interrupted {
  int sig;
};

void check_signal() {
  if (const int s = g_signal.load()) throw Interrupted{s};
}

ExecutorStats sum_stats(const std::vector<Executor*>& ex) {
  ExecutorStats t;
  for (Executor* e : ex) t += e->stats();
  return t;
}

std::string checkpoint_flag(const ModelEntry& e, const ModelPart& p) { return cat("--", e.name, "-", p.name); }

CompileSettings stress_settings(const CompileFamily& f, const StressArgs& a, const std::string& out_dir) {
  CompileOverrides ov;
  if (!a.compile_mode.empty()) ov.mode = a.compile_mode;
  if (!a.compile_backend.empty()) ov.backend = a.compile_backend;
  if (!a.precision.empty()) ov.precision = a.precision;
  if (!a.compiled_models_dir.empty()) ov.models_dir = a.compiled_models_dir;
  // The compiled mode is always compiled: TOTO_DISABLE_COMPILE & co. choose what production
  // runs, the stress test compares both. Resolving as compiled also reads the compiled-only
  // variables, which are skipped when compilation is off.
  ov.compile = true;
  CompileSettings s = resolve_compile_settings(f, Environment::from_process(), ov);
  // Without COMPILED_MODELS_DIR / --compiled-models-dir the plan cache goes with the reports,
  // not into the current directory.
  if (s.source["models_dir"] == "default") {
    s.models_dir = fs::absolute(fs::path(out_dir) / "compiled_models").string();
    s.source["models_dir"] = "default of fcast stress (OUTPUT_DIR/compiled_models)";
    if (s.source["kernel_cache_dir"] == "default") {
      s.kernel_cache_dir = s.models_dir + "/torch_inductor";
      s.source["kernel_cache_dir"] = "default (models_dir/torch_inductor)";
    }
  }
  return s;
}

// "model name" of /proc/cpuinfo (the first CPU), or "unknown".
std::string cpu_model_name() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("model name", 0) == 0) {
      const size_t colon = line.find(':');
      if (colon != std::string::npos) return line.substr(line.find_first_not_of(" \t", colon + 1));
    }
  return "unknown";
}

// The stress test's own options and where each value came from.
std::vector<SettingRow> run_setting_rows(const StressArgs& a) {
  auto src = [&](const std::string& flag, const std::string& otherwise = "default") {
    return a.given.count(flag) ? "flag " + flag : otherwise;
  };
  std::string data;
  for (const auto& f : a.data) {
    if (!data.empty()) data += ", ";
    data += f;
  }
  return {{"mode", a.mode, src("--mode")},
          {"iterations", std::to_string(a.iterations), src("--iterations", "default of --mode " + a.mode)},
          {"model", a.model, src("--model")},
          {"prediction_length", std::to_string(a.prediction_length), src("--prediction-length")},
          {"num_samples", std::to_string(a.num_samples), src("--num-samples")},
          {"forecasts", std::to_string(a.windows), src("--forecasts")},
          {"seed", std::to_string(a.seed), src("--seed")},
          {"threads", std::to_string(omp_get_max_threads()), a.given.count("--threads") ? "flag --threads"
                                                                  : "OMP_NUM_THREADS or all cores"},
          {"data", data.empty() ? "tests/data/market (bundled)" : data, src("--data")},
          {"output_dir", a.output_dir, src("--output-dir")},
          {"weights", a.random_weights ? "random" : "trained tiny (tests/data/models) unless a folder is given",
           src("--random-weights")}};
}

// One model under test: its entry, compile settings (compiled mode) and checkpoint folders.
struct ModelRun {
  const ModelEntry* entry = nullptr;
  int64_t context = 512;  // bars of history per forecast
  std::string context_source;
  std::string label;  // "Toto"
  CompileSettings settings;
  ModelPaths paths;
};

struct Context {
  StressArgs args;
  RunInfo info;
  std::vector<MarketSeries> series;
  std::vector<ModelRun> models;
  std::optional<double> perturb;
  std::vector<IterationRecord> records;
  Clock::time_point start;
};

// Eager and compiled are two loads of the model (settings.enabled off / on), each with one
// session; the compiled one's executors get the test perturbation when it is switched on.
IterationRecord run_mode(Context& c, const ModelRun& m, bool compiled, int iteration, const MarketSeries& s,
                         const std::vector<Window>& windows) {
  const StressArgs& a = c.args;
  IterationRecord r;
  r.model_name = m.label;
  const CompileSettings& cs = m.settings;
  r.compiled = compiled;
  r.compile_mode = compiled ? to_string(cs.mode) : "eager";
  r.iteration = iteration;
  r.symbol = s.label;
  r.data_file = s.file;
  r.context_length = m.context;
  r.prediction_length = a.prediction_length;
  r.num_samples = m.entry->draws_samples ? a.num_samples : 0;

  reset_peak_rss();
  CompileSettings settings = cs;
  settings.enabled = compiled;
  const auto t_load = Clock::now();
  SessionRunner runner(m.entry->load(m.paths, settings));
  const std::vector<Executor*> execs = runner.session().executors();
  FCAST_CHECK(!execs.empty(), m.entry->name, ": the session has no executor");
  if (compiled && c.perturb)
    for (Executor* e : execs) perturb_outputs(*e, *c.perturb);
  r.perf.load_ms = ms_since(t_load);
  r.perf.executor = execs[0]->name();

  for (size_t w = 0; w < windows.size(); ++w) {
    ForecastSettings fs{m.context, a.prediction_length, a.num_samples,
                        a.seed + static_cast<uint64_t>(iteration) * 1000 + w, a.caps};
    const auto t0 = Clock::now();
    const ForecastOut f = runner.forecast(s, windows[w], fs);
    const double ms = ms_since(t0);
    if (w == 0) {
      r.perf.first_call_ms = ms;
      for (Executor* e : execs) e->mark_warm();  // from here every plan build is a recompile
    } else {
      r.perf.steady_ms.push_back(ms);
    }
    WindowResult wr;
    wr.origin = format_timestamp(s.timestamps[windows[w].origin - 1], s.with_time);
    wr.last_close = s.close()[windows[w].origin - 1];
    for (int64_t k = 0; k < a.prediction_length; ++k) {
      wr.actual.push_back(s.close()[windows[w].origin + k]);
      wr.times.push_back(format_timestamp(s.timestamps[windows[w].origin + k], s.with_time));
    }
    wr.mean = f.mean;
    wr.std = f.std;
    wr.q10 = f.q10;
    wr.q90 = f.q90;
    if (w == 0) {
      // Enough history to read the fans against, without squeezing the held-out block.
      const int64_t tail = std::min<int64_t>(m.context, std::max<int64_t>(20, a.windows * a.prediction_length));
      for (int64_t t = windows[w].origin - tail; t < windows[w].origin; ++t) {
        wr.context_tail.push_back(s.close()[t]);
        wr.context_times.push_back(format_timestamp(s.timestamps[t], s.with_time));
      }
    }
    r.windows.push_back(std::move(wr));
    check_signal();
  }
  r.perf.p50_ms = percentile(r.perf.steady_ms, 50);
  r.perf.p99_ms = percentile(r.perf.steady_ms, 99);
  r.perf.mean_ms = mean_of(r.perf.steady_ms);
  if (r.perf.steady_ms.empty()) r.perf.p50_ms = r.perf.p99_ms = r.perf.mean_ms = r.perf.first_call_ms;
  r.perf.peak_rss_mb = peak_rss_mb();
  const ExecutorStats st = sum_stats(execs);
  r.perf.plans_built = st.plans_built;
  r.perf.recompiles = st.recompiles;
  r.perf.cache_hits = st.cache_hits;
  r.perf.cache_misses = st.cache_misses;
  r.perf.fallbacks_to_eager = st.fallbacks_to_eager;
  r.perf.runs = st.runs;
  r.accuracy = accuracy_of(r.windows);
  return r;
}

void save(Context& c) {
  c.info.elapsed_s = std::chrono::duration<double>(Clock::now() - c.start).count();
  const TierOptions to{c.info.rate_speed};
  write_reports(c.args.output_dir, c.info, c.records, summarize(c.records, to));
}

void print_summary(const Context& c, const std::vector<ModelSummary>& s, Tier verdict) {
  std::cout << "\n== fcast stress --mode " << c.info.mode << ": " << c.info.completed_iterations << " of "
            << c.info.iterations << " iterations, " << fixed(c.info.elapsed_s, 1) << " s\n";
  if (c.info.random_weights) std::cout << "!! " << kRandomBanner << "\n";
  if (c.info.trained_default) std::cout << "!! " << kTrainedBanner << "\n";
  const Scores sc = score_by_symbol(c.records);
  if (c.info.perturbation != 0)
    std::cout << "!! TEST SWITCH ON: compiled outputs scaled by " << fixed(1 + c.info.perturbation, 3)
              << " (FCAST_TEST_PERTURB_COMPILED)\n";
  for (const auto& m : s) {
    std::cout << "\n" << m.model_name << " (eager vs " << m.compiled_mode << "): " << tier_name(m.tier) << "\n";
    if (m.tier == Tier::Info) {
      std::cout << "  not compared: " << m.eager_iterations << " eager and " << m.compiled_iterations
                << " compiled iterations\n";
      continue;
    }
    for (const ModeScore& x : sc.modes)
      if (x.model_name == m.model_name)
        std::cout << "  " << (x.compiled ? "compiled" : "eager") << ": MAE / last-value MAE " << fixed(x.relative_mae, 3)
                  << " (geometric mean over " << x.symbols << " symbols; " << x.beats_last_value
                  << " beat the last value), q10-q90 coverage " << fixed(x.coverage, 2) << "\n";
    std::cout << "  p50 "
              << fixed(m.eager_p50_ms, 2) << " ms vs " << fixed(m.compiled_p50_ms, 2) << " ms; p99 "
              << fixed(m.eager_p99_ms, 2) << " ms vs " << fixed(m.compiled_p99_ms, 2) << " ms; first call "
              << fixed(m.eager_first_ms, 1) << " ms vs " << fixed(m.compiled_first_ms, 1) << " ms; load "
              << fixed(m.eager_load_ms, 1) << " ms vs " << fixed(m.compiled_load_ms, 1) << " ms\n";
    for (const auto& k : m.checks)
      std::cout << "  " << tier_name(k.tier) << "  " << k.name << ": " << k.shown << "\n";
  }
  std::cout << "\nVerdict: " << tier_name(verdict) << "\n";
  for (const auto& r : failure_reasons(s, Tier::Warn)) std::cout << "  - " << r << "\n";
  const std::string d = c.args.output_dir + "/";
  std::cout << "Reports: " << d << results_file(c.info.mode) << ", " << d << summary_file(c.info.mode) << ", " << d
            << markdown_file(c.info.mode) << ", " << d << html_file(c.info.mode) << "\n";
}

void run_stress(const StressArgs& in) {
  Context c;
  c.args = in;
  StressArgs& a = c.args;
  c.start = Clock::now();
  FCAST_CHECK(a.mode == "quick" || a.mode == "full" || a.mode == "production-check", "--mode must be quick, full or ",
              "production-check, got '", a.mode, "'");
  std::vector<const ModelEntry*> selected;
  for (const ModelEntry& e : model_registry()) {
    if (a.model != "all" && a.model != "both" && a.model != e.name) continue;
    bool given = true;
    for (const ModelPart& p : e.parts) given = given && !a.dirs[cat(e.name, "-", p.name)].empty();
    if (a.model != e.name && !given && !a.random_weights && !has_trained_default(e)) {
      // "all": a model without a bundled trained checkpoint needs its folders or --random-weights.
      std::cerr << "[stress] " << e.name << ": skipped (no bundled trained checkpoint; pass --" << e.name
                << "-model DIR or --random-weights)\n";
      continue;
    }
    selected.push_back(&e);
  }
  FCAST_CHECK(!selected.empty(), "--model must be a registered model (", model_names(),
              ") or all (also spelled both), got '", a.model, "'");
  if (a.iterations < 0) a.iterations = a.mode == "quick" ? 3 : a.mode == "full" ? 10 : 20;
  FCAST_CHECK(a.iterations >= 1, "--iterations must be >= 1, got ", a.iterations);
  FCAST_CHECK(a.context_length >= 16, "--context-length must be >= 16, got ", a.context_length);
  FCAST_CHECK(a.num_samples >= 2, "--num-samples must be >= 2 (the sample spread needs two paths), got ", a.num_samples);
  FCAST_CHECK(a.prediction_length >= 1, "--prediction-length must be >= 1, got ", a.prediction_length);
  a.caps = resolve_limits(Environment::from_process(), a.limits);
  check_forecast_limits(a.caps, "--prediction-length", a.prediction_length, "--num-samples", a.num_samples);
  FCAST_CHECK(a.windows >= 2, "--forecasts must be >= 2 (one first call and at least one steady-state call), got ",
              a.windows);
  FCAST_CHECK(a.threads >= 0, "--threads must be >= 0, got ", a.threads);
  if (a.threads > 0) omp_set_num_threads(a.threads);

  std::error_code ec;
  fs::create_directories(a.output_dir, ec);
  FCAST_CHECK(fs::is_directory(a.output_dir, ec), "--output-dir '", a.output_dir, "' cannot be created: ", ec.message());
  c.perturb = perturbation_from_env();
  // Settings first: a bad --compile-mode is reported before any checkpoint is written.
  for (const ModelEntry* e : selected) {
    ModelRun m;
    m.entry = e;
    m.label = model_label(*e);
    m.settings = stress_settings(e->compile, a, a.output_dir);
    c.models.push_back(std::move(m));
  }

  // Checkpoints: the given folders; for the parts not given, the bundled tiny models trained on
  // the market data (tests/data/models), or with --random-weights the model's random-weight test
  // checkpoint, written once under the cache folder.
  const fs::path root = a.models_cache.empty() ? fs::path(a.output_dir) / "models" : fs::path(a.models_cache);
  bool random = false, trained = false;
  std::map<std::string, std::string> weights;
  std::set<std::string> trained_models;  // labels of the models on the default trained checkpoints
  for (ModelRun& m : c.models) {
    bool all_given = true;
    for (const ModelPart& p : m.entry->parts) {
      auto it = a.dirs.find(cat(m.entry->name, "-", p.name));
      if (it != a.dirs.end() && !it->second.empty()) m.paths[p.name] = it->second;
      else all_given = false;
    }
    std::string what = "given folders";
    if (!all_given && a.random_weights) {
      std::cerr << "[stress] --random-weights: using a RANDOM-weight " << m.entry->test_preset << " "
                << m.entry->name << " checkpoint under " << root.string() << " (written on first use)\n";
      const ModelPaths written = ensure_random_checkpoint(*m.entry, root.string());
      for (const auto& [part, dir] : written) m.paths.emplace(part, dir);  // given folders stay
      what = cat("RANDOM weights (", m.entry->test_preset, ", written by fcast)");
    } else if (!all_given) {
      const ModelPaths bundled = trained_default_checkpoint(*m.entry);
      for (const auto& [part, dir] : bundled) m.paths.emplace(part, dir);  // given folders stay
      std::cerr << "[stress] using the tiny " << m.entry->name << " model trained on the bundled market data ("
                << fs::path(bundled.begin()->second).parent_path().string() << "/...; not the published model)\n";
      what = "tiny model trained on the bundled market data (tests/data/models), not the published one";
      trained = true;
      trained_models.insert(m.label);
    }
    for (const ModelPart& p : m.entry->parts) {
      check_model_dir(m.paths[p.name], checkpoint_flag(*m.entry, p).c_str());
      const bool r = has_random_marker(m.paths[p.name]);
      random = random || r;
      if (r && what == "given folders") what = "given folders with RANDOM weights";
    }
    std::string parts;
    for (const auto& [part, dir] : m.paths) parts += cat(parts.empty() ? "" : ", ", part, " ", dir);
    weights[m.label] = cat(what, ": ", parts);
  }

  // Context: --context-length for every model when given; else a default trained model's own
  // training context (its accuracy means something only there), else 512. Every model forecasts
  // from the same origins; the windows are placed for the longest context.
  int64_t longest = 0;
  for (ModelRun& m : c.models) {
    m.context = a.context_length;
    m.context_source = a.given.count("--context-length") ? "flag --context-length" : "default";
    if (!a.given.count("--context-length") && trained_models.count(m.label))
      if (const auto t = trained_default_context(*m.entry)) {
        m.context = *t;
        m.context_source = "training context of the default trained model (tests/data/models/stress_defaults.json)";
      }
    FCAST_CHECK(a.prediction_length <= m.context, "--prediction-length ", a.prediction_length, " exceeds the ",
                m.label, " context length ", m.context);
    longest = std::max(longest, m.context);
  }

  // Data: every series long enough for the context plus one block of held-out bars.
  const std::vector<std::string> files = a.data.empty() ? default_data_files() : a.data;
  std::vector<std::string> skipped;
  c.series = load_series(files, longest + a.windows * a.prediction_length, &skipped);
  FCAST_CHECK(!c.series.empty(), "no series in ", files.size(), " file(s) has the ",
              longest + a.windows * a.prediction_length, " rows that a context of ", longest,
              " plus ", a.windows, " forecasts of ", a.prediction_length, " bar(s) need; use a shorter --context-length");

  RunInfo& info = c.info;
  info.mode = a.mode;
  info.iterations = a.iterations;
  for (const ModelRun& m : c.models) {
    info.models.push_back(m.entry->name);
    info.checkpoints[m.entry->name] = m.paths;
  }
  info.context_length = longest;
  for (const ModelRun& m : c.models) {
    info.model_contexts[m.label] = m.context;
    info.run_settings.push_back({"context_length (" + m.label + ")", std::to_string(m.context), m.context_source});
  }
  info.prediction_length = a.prediction_length;
  info.num_samples = a.num_samples;
  info.windows = a.windows;
  const CompileSettings& shown = c.models.front().settings;
  info.compile_mode = to_string(shown.mode);
  info.compile_backend = to_string(shown.backend);
  info.precision = to_string(shown.precision);
  info.compiled_models_dir = shown.models_dir;
  info.random_weights = random;
  info.trained_default = trained;
  info.weights = weights;
  {
    const std::vector<SettingRow> rows = run_setting_rows(a);
    info.run_settings.insert(info.run_settings.begin(), rows.begin(), rows.end());
  }
  for (const ModelRun& m : c.models) info.compile_settings[m.label] = compile_setting_rows(m.settings);
  info.engine_version = PlanCache::engine_version();
  info.cpu_features = PlanCache::cpu_features();
  info.isa = cpu::isa_name(cpu::active_isa());
  info.cpu_model = cpu_model_name();
  for (const auto& s : c.series) info.series.push_back(cat(s.label, " (", s.rows(), " bars)"));
  info.skipped = skipped;
  info.started_at = now_text();
  info.threads = omp_get_max_threads();
  info.perturbation = c.perturb.value_or(0.0);
  info.rate_speed = !a.no_speed_verdict;

  if (random) {
    std::string flags;
    for (const ModelRun& m : c.models)
      for (const ModelPart& p : m.entry->parts) flags += (flags.empty() ? "" : " / ") + checkpoint_flag(*m.entry, p);
    std::cerr << "\n################################################################################\n"
              << "#  RANDOM WEIGHTS: accuracy figures (MAE, RMSE, MAPE) mean nothing as forecasts. #\n"
              << "#  Compiled-vs-eager agreement, latency, memory and recompiles are still real.   #\n"
              << "#  Pass trained checkpoints with " << flags << ".\n"
              << "################################################################################\n\n";
  }
  if (trained)
    std::cerr << "\n################################################################################\n"
              << "#  TINY MODELS TRAINED HERE, not the published Toto / Kronos: accuracy figures   #\n"
              << "#  describe these tiny models only (no claim about the published models' skill). #\n"
              << "################################################################################\n\n";
  if (c.perturb)
    std::cerr << "[stress] TEST SWITCH: " << kPerturbEnv << "=" << *c.perturb << ": compiled outputs are scaled by "
              << 1 + *c.perturb << "\n";
  std::cerr << "[stress] mode " << a.mode << ": " << a.iterations << " iterations x " << info.models.size()
            << " model(s) x 2 modes x " << a.windows << " forecasts; context " << context_text(info) << ", "
            << a.num_samples << " samples, prediction length " << a.prediction_length << "; compiled = "
            << info.compile_mode << "/" << info.compile_backend << "/" << info.precision << "; " << c.series.size()
            << " series; reports in " << a.output_dir << "/\n";

  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  struct sigaction old_int {}, old_term {};
  sigaction(SIGINT, &sa, &old_int);
  sigaction(SIGTERM, &sa, &old_term);
  auto restore = [&] {
    sigaction(SIGINT, &old_int, nullptr);
    sigaction(SIGTERM, &old_term, nullptr);
  };

  save(c);  // a valid (empty) report from the start
  const int steps_total = a.iterations * static_cast<int>(info.models.size()) * 2;
  int steps_done = 0;
  try {
    for (int it = 0; it < a.iterations; ++it) {
      const MarketSeries& s = c.series[static_cast<size_t>(it) % c.series.size()];
      const int64_t round = it / static_cast<int64_t>(c.series.size());
      const std::vector<Window> windows = walk_forward(s, longest, a.prediction_length, a.windows, round);
      for (const ModelRun& m : c.models)
        for (bool compiled : {false, true}) {
          check_signal();
          IterationRecord r = run_mode(c, m, compiled, it + 1, s, windows);
          ++steps_done;
          const double el = std::chrono::duration<double>(Clock::now() - c.start).count();
          std::cerr << "[stress] " << steps_done << "/" << steps_total << " iteration " << it + 1 << "/"
                    << a.iterations << " " << r.model_name << " " << r.compile_mode << " on " << s.label << " (origin "
                    << r.windows.front().origin << "): load " << fixed(r.perf.load_ms, 1) << " ms, first "
                    << fixed(r.perf.first_call_ms, 1) << " ms, p50 " << fixed(r.perf.p50_ms, 2) << " ms, p99 "
                    << fixed(r.perf.p99_ms, 2) << " ms, MAE " << fixed(r.accuracy.mae, 4) << ", plans "
                    << r.perf.plans_built << ", recompiles " << r.perf.recompiles << "; " << fixed(el, 0) << " s, ~"
                    << fixed(el / steps_done * (steps_total - steps_done), 0) << " s left\n";
          c.records.push_back(std::move(r));
          save(c);
        }
      info.completed_iterations = it + 1;
      save(c);
    }
  } catch (const Interrupted& x) {
    info.interrupted = true;
    info.status = cat("interrupted by ", x.sig == SIGINT ? "SIGINT" : "SIGTERM", " during iteration ",
                      info.completed_iterations + 1);
    save(c);
    restore();
    std::cerr << "[stress] " << info.status << ": partial reports (" << info.completed_iterations
              << " complete iterations, " << c.records.size() << " records) written to " << a.output_dir << "/\n";
    throw CLI::RuntimeError(128 + x.sig);
  } catch (const std::exception& e) {
    info.status = cat("failed: ", e.what());
    save(c);
    restore();
    throw;
  }
  restore();
  info.status = "complete";
  save(c);

  const std::vector<ModelSummary> summary = summarize(c.records, TierOptions{info.rate_speed});
  const Tier verdict = worst_tier(summary);
  print_summary(c, summary, verdict);
  if (a.mode == "production-check") {
    const std::string env_path = a.output_dir + "/recommended.env";
    write_file_atomic(env_path, recommended_env(info, summary));
    std::cout << "Recommended configuration: " << env_path << "\n";
    if (verdict == Tier::Fail) {
      std::cout << "PRODUCTION READINESS: FAILED\n";
      for (const auto& r : failure_reasons(summary, Tier::Fail)) std::cerr << "fcast stress: " << r << "\n";
      throw CLI::RuntimeError(2);
    }
    std::cout << "PRODUCTION READINESS: " << (verdict == Tier::Warn ? "PASSED WITH WARNINGS" : "PASSED") << "\n";
  }
}

}  // namespace

void register_stress(CLI::App& app) {
  auto a = std::make_shared<StressArgs>();
  auto* cmd = app.add_subcommand(
      "stress",
      "Compile stress test: eager vs compiled forecasts of every registered model (" + model_names() +
          ") on walk-forward windows of real market data, by default with the tiny models trained on the bundled "
      "data (tests/data/models; --random-weights for random ones). Measures per-symbol MAE against held-out bars "
      "and against a last-value forecast, interval coverage, the sample spread, load / first-call / steady-state "
      "latency (p50, p99), peak RSS, plans built, recompiles after warm-up and cache hits; rates MAE delta, "
      "recompiles and speedup as PASS/WARN/FAIL and writes JSON, markdown and HTML reports. production-check exits 2 on any FAIL and writes "
      "recommended.env. See docs/STRESS_TEST.md.");
  cmd->add_option("--mode", a->mode, "quick (3 iterations) | full (10) | production-check (20, exit 2 on FAIL)")
      ->capture_default_str();
  cmd->add_option("--iterations", a->iterations, "iterations (overrides the mode's count)");
  std::string names;
  for (const ModelEntry& e : model_registry()) names += e.name + " | ";
  cmd->add_option("--model", a->model, names + "all (every registered model; also spelled both)")
      ->capture_default_str();
  cmd->add_option("--context-length", a->context_length,
                  "bars of history per forecast, for every model (default: with the default trained models, the "
                  "context each was trained with, from tests/data/models/stress_defaults.json; else 512)");
  cmd->add_option("--num-samples", a->num_samples, "sample paths per forecast (ForecastRequest::num_samples)")
      ->capture_default_str();
  cmd->add_option("--prediction-length", a->prediction_length, "bars forecast per window")->capture_default_str();
  cmd->add_option("--forecasts", a->windows,
                  "walk-forward forecasts per iteration and mode: the first call, then steady-state calls (p50/p99)")
      ->capture_default_str();
  cmd->add_option("--data", a->data,
                  "market CSV files (long-format files give one series per symbol); default: the bundled real data "
                  "in tests/data/market (MSTR, SUIUSDT, TSLA, WIKI-AAPL adjusted, 5 hourly crypto symbols)");
  cmd->add_option("--output-dir", a->output_dir, "where the reports go")->capture_default_str();
  // --<model>-<part> for every part of every registered model (--toto-model, --kronos-tokenizer, ...).
  for (const ModelEntry& e : model_registry())
    for (const ModelPart& p : e.parts)
      cmd->add_option(checkpoint_flag(e, p), a->dirs[cat(e.name, "-", p.name)],
                      cat(p.help, "; default: the tiny ", e.name, " model trained on the bundled market data "
                          "(tests/data/models/", e.name, "-tiny-market), or with --random-weights a RANDOM-weight ",
                          e.test_preset, " checkpoint written under --models-cache"));
  cmd->add_flag("--random-weights", a->random_weights,
                "for the models whose folders are not given, write and use RANDOM-weight tiny checkpoints instead of "
                "the bundled trained ones (accuracy figures then mean nothing)");
  cmd->add_option("--models-cache", a->models_cache, "where the --random-weights checkpoints are written; default: "
                                                     "OUTPUT_DIR/models");
  cmd->add_option("--compile-mode", a->compile_mode,
                  "compiled mode: default | reduce-overhead | max-autotune (default: each model's *_COMPILE_MODE "
                  "variable, else max-autotune)");
  cmd->add_option("--compile-backend", a->compile_backend,
                  "compiled backend: inductor | aot_eager (default: the *_COMPILE_BACKEND variables, else inductor)");
  cmd->add_option("--precision", a->precision, "compiled precision: fp32 | bf16 (default: REAL_TESTING / FAST_TESTING, "
                                               "else fp32)");
  cmd->add_option("--compiled-models-dir", a->compiled_models_dir,
                  "persistent plan cache (default: COMPILED_MODELS_DIR, else OUTPUT_DIR/compiled_models)");
  add_seed_option(cmd, a->seed, "sampling seed (the same in both modes), 0 to 2^64 - 1 (default: 0)");
  cmd->add_option("--threads", a->threads, "OpenMP threads (0 = OMP_NUM_THREADS or all cores)")->capture_default_str();
  cmd->add_flag("--no-speed-verdict", a->no_speed_verdict,
                "report the speedup without rating it (for shared CI machines, where timings are noise)");
  add_limit_flags(cmd, a->limits);
  cmd->callback([a, cmd] {
    for (const CLI::Option* o : cmd->get_options())
      if (o->count() > 0) a->given.insert(o->get_name());
    run_stress(*a);
  });
}

}  // namespace fcast::tools
