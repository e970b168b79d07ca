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
  explicit GraphRecorder(std::shared_ptr<Executor> e) : exec_(std::move(e)) {
    exec_->set_observer([this](const Graph& g, TensorMap&) {
      if (auto* c = dynamic_cast<CompiledExecutor*>(exec_.get()); c && seen_.insert(c->signature_of(g).key()).second)
        graphs_.push_back(g);
    });
  }
  const std::shared_ptr<Executor>& executor() const { return exec_; }
  const std::vector<Graph>& graphs() const { return graphs_; }

 private:
  std::shared_ptr<Executor> exec_;
  std::set<std::string> seen_;
  std::vector<Graph> graphs_;
};

struct ProfileArgs {
  std::string model = "toto";
  std::string executor = "compiled";
  std::string toto_model, kronos_model, kronos_tokenizer, models_cache = "stress_results/models";
  std::string data;
  int64_t context_length = 512, num_samples = 128, prediction_length = 1;
  int runs = 5;
  std::string compile_mode, compile_backend, precision;
  bool use_cache = false;
  int top = 30;
  int threads = 0;
};

// One model instance with recorded executors; forecast() runs the last window of the series.
struct Subject {
  std::vector<std::shared_ptr<GraphRecorder>> execs;
  std::unique_ptr<TotoRunner> toto;
  std::unique_ptr<KronosRunner> kronos;
  double load_ms = 0;
};

Subject make_subject(const ProfileArgs& a, const std::string& toto_dir, const std::string& kdir,
                     const std::string& tdir, const CompileSettings* s) {
  Subject sub;
  auto exec = [&](const std::string& id) {
    std::shared_ptr<Executor> e = s ? make_executor(*s, id) : std::make_shared<EagerExecutor>();
    return std::make_shared<GraphRecorder>(e);
  };
  const auto t0 = Clock::now();
  if (a.model == "toto") {
    toto::TotoWeights w = toto::load_toto(toto_dir);
    sub.execs.push_back(exec(w.identity));
    sub.toto = std::make_unique<TotoRunner>(std::move(w), sub.execs[0]->executor());
  } else {
    kronos::KronosPredictorWeights pw = kronos::load_kronos_predictor(kdir);
    kronos::KronosTokenizerWeights tw = kronos::load_kronos_tokenizer(tdir);
    sub.execs.push_back(exec(pw.identity));
    sub.execs.push_back(exec(tw.identity));
    sub.kronos = std::make_unique<KronosRunner>(std::move(pw), std::move(tw), sub.execs[0]->executor(),
                                                sub.execs[1]->executor(), a.context_length);
  }
  sub.load_ms = ms_since(t0);
  return sub;
}

double forecast_ms(Subject& s, const MarketSeries& series, const Window& w, const ForecastSettings& fs) {
  const auto t0 = Clock::now();
  if (s.toto) s.toto->forecast(series, w, fs);
  else s.kronos->forecast(series, w, fs);
  return ms_since(t0);
}

void row(const std::string& name, double ms, double total, const std::string& note = "") {
  std::printf("  %-52s %10.2f ms %6.1f %%  %s\n", name.c_str(), ms, total > 0 ? 100.0 * ms / total : 0.0, note.c_str());
}

void run_profile(const ProfileArgs& a) {
  FCAST_CHECK(a.model == "toto" || a.model == "kronos", "--model must be toto or kronos, got '", a.model, "'");
  FCAST_CHECK(a.executor == "eager" || a.executor == "compiled", "--executor must be eager or compiled, got '",
              a.executor, "'");
  FCAST_CHECK(a.runs >= 1, "--runs must be >= 1, got ", a.runs);
  FCAST_CHECK(a.context_length >= 16, "--context-length must be >= 16, got ", a.context_length);
  FCAST_CHECK(a.num_samples >= 1, "--num-samples must be >= 1, got ", a.num_samples);
  FCAST_CHECK(a.prediction_length >= 1, "--prediction-length must be >= 1, got ", a.prediction_length);
  if (a.threads > 0) omp_set_num_threads(a.threads);
  const bool toto_model = a.model == "toto";

  DefaultModels dm;
  const bool need_default = toto_model ? a.toto_model.empty() : (a.kronos_model.empty() || a.kronos_tokenizer.empty());
  if (need_default) dm = ensure_default_models(a.models_cache, toto_model, !toto_model);
  const std::string toto_dir = a.toto_model.empty() ? dm.toto : a.toto_model;
  const std::string kdir = a.kronos_model.empty() ? dm.kronos_model : a.kronos_model;
  const std::string tdir = a.kronos_tokenizer.empty() ? dm.kronos_tokenizer : a.kronos_tokenizer;
  if (toto_model) check_model_dir(toto_dir, "--toto-model");
  else {
    check_model_dir(kdir, "--kronos-model");
    check_model_dir(tdir, "--kronos-tokenizer");
  }

  std::string data = a.data;
  if (data.empty()) data = (fs::path(default_data_files().front())).string();  // MSTR.csv
  std::vector<MarketSeries> series = load_series({data}, a.context_length + a.prediction_length);
  FCAST_CHECK(!series.empty(), data, ": no series with the ", a.context_length + a.prediction_length,
              " rows --context-length needs");
  const MarketSeries& s = series.front();
  const Window w = walk_forward(s, a.context_length, a.prediction_length, 1, 0).front();
  const ForecastSettings fs{a.context_length, a.prediction_length, a.num_samples, 0};

  CompileOverrides ov;
  if (!a.compile_mode.empty()) ov.mode = a.compile_mode;
  if (!a.compile_backend.empty()) ov.backend = a.compile_backend;
  if (!a.precision.empty()) ov.precision = a.precision;
  CompileSettings cs = resolve_compile_settings(toto_model ? ModelFamily::Toto : ModelFamily::Kronos,
                                                Environment::from_process(), ov);
  cs.enabled = true;
  // Cold compile unless asked: a warm persistent cache would hide the passes being measured.
  if (!a.use_cache) cs.persistent_cache = false;
  const bool compiled = a.executor == "compiled";

  std::printf("fcast profile: %s, %s executor%s, context %lld, %lld samples, prediction length %lld, %d runs, "
              "%d threads, series %s\n",
              a.model.c_str(), compiled ? "compiled" : "eager",
              compiled ? cat(" (", to_string(cs.mode), "/", to_string(cs.backend), "/", to_string(cs.precision),
                             a.use_cache ? ", persistent cache on" : ", cold: persistent cache off", ")")
                             .c_str()
                       : "",
              static_cast<long long>(a.context_length), static_cast<long long>(a.num_samples),
              static_cast<long long>(a.prediction_length), a.runs, omp_get_max_threads(), s.label.c_str());
  if ((toto_model && has_random_marker(toto_dir)) || (!toto_model && (has_random_marker(kdir) || has_random_marker(tdir))))
    std::printf("NOTE: RANDOM-weight checkpoints: timings are real, forecasts mean nothing.\n");

  Subject sub = make_subject(a, toto_dir, kdir, tdir, compiled ? &cs : nullptr);
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
    Subject other = make_subject(a, toto_dir, kdir, tdir, &plain);
    const double plain_first = forecast_ms(other, s, w, fs);
    autotune_ms = std::max(0.0, first_ms - plain_first);
  }
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
    const std::string part = toto_model ? "toto" : (i == 0 ? "predictor" : "tokenizer");
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
  cmd->add_option("--model", a->model, "toto | kronos")->capture_default_str();
  cmd->add_option("--executor", a->executor, "compiled | eager (eager ops are the reference kernels)")
      ->capture_default_str();
  cmd->add_option("--toto-model", a->toto_model, "Toto checkpoint folder; default: random tiny under --models-cache");
  cmd->add_option("--kronos-model", a->kronos_model, "Kronos predictor folder; default: random kronos-tiny");
  cmd->add_option("--kronos-tokenizer", a->kronos_tokenizer, "Kronos tokenizer folder; default: random tiny");
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
