// `fcast profile`: where a forecast's time goes. Phases: checkpoint load, each compile pass
// (fusion, memory planning) over every graph the forecast uses, autotuning, the rest of the
// first call (binding, weight packing), and the steady-state run; then a per-op (per fused
// kernel) table of the steady-state runs with time share and the implementation chosen, from
// Executor::profile(). With --executor eager the ops are the reference kernels.
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <map>
#include <memory>
#include <set>

#include "core/error.h"
#include "graph/passes/fusion.h"
#include "graph/passes/memory_plan.h"
#include "runtime/compile_settings.h"
#include "runtime/compiled_executor.h"
#include "runtime/executor_factory.h"
#include "tools/commands.h"
#include "tools/stress/metrics.h"
#include "tools/stress/workload.h"

namespace fcast::tools {

namespace {

namespace fs = std::filesystem;
using namespace fcast::stress;
using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point t0) { return std::chrono::duration<double, std::milli>(Clock::now() - t0).count(); }

// Keeps a copy of every distinct graph an executor runs (keyed by the compiled executor's plan
// signature), so the compile passes can be timed on exactly the graphs a forecast needs. It
// observes the executor (Executor::set_observer) rather than wrapping it: the models keep
// seeing the executor's own policy (context buckets, bf16 KV caches).
class GraphRecorder {
 public:
  explicit GraphRecorder(Executor* e) : exec_(e) {
    exec_->set_observer([this](const Graph& g, TensorMap&) {
      if (auto* c = dynamic_cast<CompiledExecutor*>(exec_); c && seen_.insert(c->signature_of(g).key()).second)
        graphs_.push_back(g);
    });
  }
  Executor* executor() const { return exec_; }
  const std::vector<Graph>& graphs() const { return graphs_; }

 private:
  Executor* exec_;
  std::set<std::string> seen_;
  std::vector<Graph> graphs_;
};

struct ProfileArgs {
  std::string model;  // default: the first registered model
  std::string executor = "compiled";
  std::map<std::string, std::string> dirs;  // checkpoint part -> folder (--model-dir, --tokenizer-dir, ...)
  std::string models_cache = "stress_results/models";
  std::string data;
  int64_t context_length = 512, num_samples = 128, prediction_length = 1;
  int runs = 5;
  std::string compile_mode, compile_backend, precision;
  bool use_cache = false;
  int top = 30;
  int threads = 0;
};

// One loaded model and one session with recorded executors; forecast() runs the last window.
struct Subject {
  std::unique_ptr<SessionRunner> runner;
  std::vector<std::shared_ptr<GraphRecorder>> execs;  // one per executor of the session (its parts)
  double load_ms = 0;
};

Subject make_subject(const ModelEntry& e, const ModelPaths& paths, const CompileSettings& s) {
  Subject sub;
  const auto t0 = Clock::now();
  sub.runner = std::make_unique<SessionRunner>(e.load(paths, s));
  for (Executor* x : sub.runner->session().executors()) sub.execs.push_back(std::make_shared<GraphRecorder>(x));
  sub.load_ms = ms_since(t0);
  return sub;
}

double forecast_ms(Subject& s, const MarketSeries& series, const Window& w, const ForecastSettings& fs) {
  const auto t0 = Clock::now();
  s.runner->forecast(series, w, fs);
  return ms_since(t0);
}

// Key caches are the graph inputs "k<layer>" (and Kronos's dependency-layer "dep_k").
bool is_key_cache_name(const std::string& n) {
  return n == "dep_k" || (n.size() > 1 && n[0] == 'k' && n.find_first_not_of("0123456789", 1) == std::string::npos);
}

void row(const std::string& name, double ms, double total, const std::string& note = "") {
  std::printf("  %-52s %10.2f ms %6.1f %%  %s\n", name.c_str(), ms, total > 0 ? 100.0 * ms / total : 0.0, note.c_str());
}

void run_profile(const ProfileArgs& a) {
  const ModelEntry& entry = a.model.empty() ? model_registry().front() : find_model(a.model);  // errors list them
  FCAST_CHECK(a.executor == "eager" || a.executor == "compiled", "--executor must be eager or compiled, got '",
              a.executor, "'");
  FCAST_CHECK(a.runs >= 1, "--runs must be >= 1, got ", a.runs);
  FCAST_CHECK(a.context_length >= 16, "--context-length must be >= 16, got ", a.context_length);
  FCAST_CHECK(a.num_samples >= 1, "--num-samples must be >= 1, got ", a.num_samples);
  FCAST_CHECK(a.prediction_length >= 1, "--prediction-length must be >= 1, got ", a.prediction_length);
  if (a.threads > 0) omp_set_num_threads(a.threads);

  // Checkpoint folders: the ones given, else the model's random test checkpoint.
  for (const auto& [part, dir] : a.dirs) {
    bool known = false;
    for (const ModelPart& p : entry.parts) known |= p.name == part;
    FCAST_CHECK(known || dir.empty(), "--", part, "-dir: ", entry.name, " has no '", part, "' part");
  }
  ModelPaths paths;
  bool all_given = true;
  for (const ModelPart& p : entry.parts) {
    auto it = a.dirs.find(p.name);
    all_given = all_given && it != a.dirs.end() && !it->second.empty();
  }
  if (all_given) {
    for (const ModelPart& p : entry.parts) {
      paths[p.name] = a.dirs.at(p.name);
      check_model_dir(paths[p.name], cat("--", p.name, "-dir").c_str());
    }
  } else {
    paths = ensure_random_checkpoint(entry, a.models_cache);
  }
  bool random = false;
  for (const auto& [part, dir] : paths) random = random || has_random_marker(dir);

  std::string data = a.data;
  if (data.empty()) data = (fs::path(default_data_files().front())).string();  // MSTR.csv
  std::vector<MarketSeries> series = load_series({data}, a.context_length + a.prediction_length);
  FCAST_CHECK(!series.empty(), data, ": no series with the ", a.context_length + a.prediction_length,
              " rows --context-length needs");
  const MarketSeries& s = series.front();
  const Window w = walk_forward(s, a.context_length, a.prediction_length, 1, 0).front();
  // Quantile models (draws_samples false) forecast without sample paths.
  const ForecastSettings fs{a.context_length, a.prediction_length, entry.draws_samples ? a.num_samples : 0, 0,
                           ForecastLimits{}};

  CompileOverrides ov;
  ov.compile = true;  // profile always compiles: read the compiled-only variables even under *_DISABLE_COMPILE
  if (!a.compile_mode.empty()) ov.mode = a.compile_mode;
  if (!a.compile_backend.empty()) ov.backend = a.compile_backend;
  if (!a.precision.empty()) ov.precision = a.precision;
  CompileSettings cs = resolve_compile_settings(entry.compile, Environment::from_process(), ov);
  cs.enabled = true;
  // Cold compile unless asked: a warm persistent cache would hide the passes being measured.
  if (!a.use_cache) cs.persistent_cache = false;
  const bool compiled = a.executor == "compiled";

  std::printf("fcast profile: %s, %s executor%s, context %lld, %lld samples, prediction length %lld, %d runs, "
              "%d threads, series %s\n",
              entry.name.c_str(), compiled ? "compiled" : "eager",
              compiled ? cat(" (", to_string(cs.mode), "/", to_string(cs.backend), "/", to_string(cs.precision),
                             a.use_cache ? ", persistent cache on" : ", cold: persistent cache off", ")")
                             .c_str()
                       : "",
              static_cast<long long>(a.context_length), static_cast<long long>(a.num_samples),
              static_cast<long long>(a.prediction_length), a.runs, omp_get_max_threads(), s.label.c_str());
  if (random)
    std::printf("NOTE: RANDOM-weight checkpoints: timings are real, forecasts mean nothing.\n");

  CompileSettings run_settings = cs;
  run_settings.enabled = compiled;
  Subject sub = make_subject(entry, paths, run_settings);
  const double first_ms = forecast_ms(sub, s, w, fs);
  for (auto& e : sub.execs) e->executor()->mark_warm();
  for (auto& e : sub.execs) e->executor()->set_profiling(true);
  std::vector<double> steady;
  for (int r = 0; r < a.runs; ++r) steady.push_back(forecast_ms(sub, s, w, fs));
  const double run_ms = mean_of(steady);

  // The compile passes, re-run on the recorded graphs (the same work the first call did).
  double fusion_ms = 0, memory_ms = 0;
  size_t graphs = 0, steps = 0;
  if (compiled) {
    const bool fuse = cs.backend == CompileBackend::Inductor;
    for (auto& e : sub.execs)
      for (const Graph& g : e->graphs()) {
        ++graphs;
        auto t0 = Clock::now();
        Plan p;
        p.steps = lower_graph(g, fuse);
        fusion_ms += ms_since(t0);
        t0 = Clock::now();
        plan_memory(g, p);
        memory_ms += ms_since(t0);
        steps += p.steps.size();
      }
  }
  // Autotuning: the first call of max-autotune minus that of mode "default" (no tuning), both cold.
  double autotune_ms = -1;
  if (compiled && cs.mode == CompileMode::MaxAutotune && !a.use_cache) {
    CompileSettings plain = cs;
    plain.mode = CompileMode::Default;
    Subject other = make_subject(entry, paths, plain);
    const double plain_first = forecast_ms(other, s, w, fs);
    autotune_ms = std::max(0.0, first_ms - plain_first);
  }
  // The KV caches the models gave the plans (graph inputs of the recorded graphs): bf16 plans
  // use bf16 caches where the attention kernel reads them (ExecPolicy), fp32 otherwise.
  std::set<std::string> cache_dtypes;
  for (auto& e : sub.execs)
    for (const Graph& g : e->graphs())
      for (const auto& v : g.values())
        if (v.kind == Graph::Kind::Input && is_key_cache_name(v.name))
          cache_dtypes.insert(v.dtype == DType::BF16 ? "bf16" : "fp32");
  const double build_rest = std::max(0.0, first_ms - run_ms - fusion_ms - memory_ms - std::max(0.0, autotune_ms));
  const double total = sub.load_ms + first_ms + run_ms * a.runs;

  std::printf("\nWhere the time goes (one load, one first call, %d steady-state runs):\n", a.runs);
  row("load (read checkpoint, build model)", sub.load_ms, total);
  if (compiled) {
    row(cat("compile pass: fusion (", graphs, " graphs -> ", steps, " steps)"), fusion_ms, total);
    row("compile pass: memory planning", memory_ms, total);
    if (autotune_ms >= 0)
      row("autotuning (first call max-autotune - default)", autotune_ms, total, "estimate");
    else
      row("autotuning", 0, total, cs.mode == CompileMode::MaxAutotune ? "cached (--use-cache)" : "off in this mode");
    row("first call: binding, weight packing, other set-up", build_rest, total, "first call - run - passes");
  }
  row(cat("first call (total)"), first_ms, total, "included in the rows above");
  row(cat("run: ", a.runs, " steady-state forecasts (", fixed(run_ms, 2), " ms each)"), run_ms * a.runs, total);
  ExecutorStats st;
  for (auto& e : sub.execs) st += e->executor()->stats();
  if (compiled) {
    std::string kv;
    for (const auto& d : cache_dtypes) kv += (kv.empty() ? "" : " and ") + d;
    std::printf("  KV caches: %s\n", kv.empty() ? "none (no cached graph ran)" : kv.c_str());
  }
  std::printf("  plans built %lld, recompiles after warm-up %lld, cache hits %lld, misses %lld; p50 %.2f ms, p99 %.2f ms\n",
              static_cast<long long>(st.plans_built), static_cast<long long>(st.recompiles),
              static_cast<long long>(st.cache_hits), static_cast<long long>(st.cache_misses), percentile(steady, 50),
              percentile(steady, 99));

  // Per-op table over the steady-state runs.
  struct Row {
    std::string part, op, impl;
    double seconds = 0;
    int64_t calls = 0;
  };
  std::vector<Row> rows;
  double op_total = 0;
  for (size_t i = 0; i < sub.execs.size(); ++i) {
    const std::string part = entry.parts.size() == 1 ? entry.name : entry.parts[std::min(i, entry.parts.size() - 1)].name;
    for (const OpProfile& p : sub.execs[i]->executor()->profile()) {
      rows.push_back({part, p.op, p.impl, p.seconds, p.calls});
      op_total += p.seconds;
    }
  }
  std::sort(rows.begin(), rows.end(), [](const Row& x, const Row& y) { return x.seconds > y.seconds; });
  std::printf("\nPer op (%s) over the steady-state runs: %.2f ms in ops of %.2f ms wall\n",
              compiled ? "fused kernels" : "reference kernels", op_total * 1e3, run_ms * a.runs);
  std::printf("  %-10s %-34s %-16s %8s %12s %10s %7s\n", "part", "op", "impl", "calls", "total ms", "us/call", "share");
  int shown = 0;
  for (const Row& r : rows) {
    if (shown++ >= a.top) {
      std::printf("  ... %zu more (--top)\n", rows.size() - static_cast<size_t>(a.top));
      break;
    }
    std::printf("  %-10s %-34s %-16s %8lld %12.3f %10.1f %6.1f%%\n", r.part.c_str(), r.op.c_str(), r.impl.c_str(),
                static_cast<long long>(r.calls), r.seconds * 1e3, r.calls ? r.seconds * 1e6 / static_cast<double>(r.calls) : 0.0,
                op_total > 0 ? 100.0 * r.seconds / op_total : 0.0);
  }
  if (rows.empty()) std::printf("  (the executor recorded no ops)\n");
}

}  // namespace

void register_profile(CLI::App& app) {
  auto a = std::make_shared<ProfileArgs>();
  auto* cmd = app.add_subcommand(
      "profile",
      "Where a forecast's time goes: load, each compile pass (fusion, memory planning), autotuning, first-call set-up "
      "and the steady-state run, then a per-op (per fused kernel) table with time share and the implementation "
      "chosen. Default models: RANDOM-weight tiny checkpoints (timings only).");
  cmd->add_option("--model", a->model, "registered model: " + model_names() + " (default: " + model_registry().front().name + ")");
  cmd->add_option("--executor", a->executor, "compiled | eager (eager ops are the reference kernels)")
      ->capture_default_str();
  std::set<std::string> part_names;
  for (const ModelEntry& e : model_registry())
    for (const ModelPart& p : e.parts)
      if (part_names.insert(p.name).second)
        cmd->add_option(cat("--", p.name, "-dir"), a->dirs[p.name],
                        cat("checkpoint folder of the model's '", p.name, "' part (", p.help,
                            "); default: a RANDOM-weight test checkpoint under --models-cache"));
  cmd->add_option("--models-cache", a->models_cache, "where default random checkpoints are written")
      ->capture_default_str();
  cmd->add_option("--data", a->data, "market CSV whose last bars are forecast; default: the bundled MSTR.csv");
  cmd->add_option("--context-length", a->context_length, "bars of history")->capture_default_str();
  cmd->add_option("--num-samples", a->num_samples, "sample paths")->capture_default_str();
  cmd->add_option("--prediction-length", a->prediction_length, "bars forecast")->capture_default_str();
  cmd->add_option("--runs", a->runs, "steady-state forecasts profiled")->capture_default_str();
  cmd->add_option("--compile-mode", a->compile_mode, "default | reduce-overhead | max-autotune (default: environment, "
                                                     "else max-autotune)");
  cmd->add_option("--compile-backend", a->compile_backend, "inductor | aot_eager (default: environment, else inductor)");
  cmd->add_option("--precision", a->precision, "fp32 | bf16 (default: environment, else fp32)");
  cmd->add_flag("--use-cache", a->use_cache, "use the persistent plan cache (default: off, so compiling is measured cold)");
  cmd->add_option("--top", a->top, "rows of the per-op table")->capture_default_str();
  cmd->add_option("--threads", a->threads, "OpenMP threads (0 = default)")->capture_default_str();
  cmd->callback([a] { run_profile(*a); });
}

}  // namespace fcast::tools
