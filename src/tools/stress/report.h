// The stress test's outputs: the per-iteration JSON (the Python tool's schema, extended), the
// summary JSON, the markdown report, a self-contained HTML report with inline SVG plots, and the
// recommended environment file. Every file is written atomically (temporary + rename), so a run
// interrupted at any point leaves the previous complete version.
//
//   RunInfo info;  ...
//   write_reports(dir, info, records, summarize(records, {}));
#pragma once
#include <algorithm>
#include <cmath>
#include <map>
#include <optional>
#include <cctype>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "io/file.h"
#include "models/registry.h"
#include "runtime/compile_cli.h"
#include "tools/stress/charts.h"
#include "tools/stress/metrics.h"

namespace fcast::stress {

// The environment assignments that switch one model's compilation on or off (its compile
// family's variables, found by the caller), for recommended.env.
struct CompileSwitches {
  std::vector<std::string> on;   // "TOTO_DISABLE_COMPILE=0", "TOTO_COMPILE=1", ... (mode and backend appended)
  std::string mode_var, backend_var;  // the variables that set the compiled mode and backend ("" when none)
  std::vector<std::string> off;  // "TOTO_DISABLE_COMPILE=1"
};

// One effective setting and where its value came from ("default", "env VAR", "flag --x", ...).
struct SettingRow {
  std::string name, value, source;
};

// The compile settings as `fcast config` lists them, with their sources.
inline std::vector<SettingRow> compile_setting_rows(const CompileSettings& s) {
  auto src = [&](const char* k) {
    auto it = s.source.find(k);
    return it == s.source.end() ? std::string("default") : it->second;
  };
  auto onoff = [](bool b) { return std::string(b ? "on" : "off"); };
  std::string buckets;
  for (int64_t b : s.context_buckets) {
    if (!buckets.empty()) buckets += ',';
    buckets += std::to_string(b);
  }
  return {{"mode", to_string(s.mode), src("mode")},
          {"backend", to_string(s.backend), src("backend")},
          {"precision", to_string(s.precision), src("precision")},
          {"models_dir", s.models_dir, src("models_dir")},
          {"kernel_cache_dir", s.kernel_cache_dir, src("kernel_cache_dir")},
          {"recompile_limit", std::to_string(s.recompile_limit), src("recompile_limit")},
          {"context_buckets", buckets, src("context_buckets")},
          {"hybrid_min_batch", std::to_string(s.hybrid_min_batch), src("hybrid_min_batch")},
          {"persistent_cache", onoff(s.persistent_cache), src("persistent_cache")}};
}

struct RunInfo {
  std::string mode = "quick";  // quick | full | production-check
  int iterations = 0, completed_iterations = 0;
  std::vector<std::string> models;  // registered model names, in registry order
  int64_t context_length = 512, prediction_length = 1, num_samples = 128, windows = 0;
  std::string compile_mode, compile_backend, precision, compiled_models_dir;
  std::map<std::string, std::map<std::string, std::string>> checkpoints;  // model name -> part -> folder
  bool random_weights = false;       // some checkpoint carries the random-weights marker
  bool trained_default = false;      // some checkpoint is the bundled tiny trained one (tests/data/models)
  std::map<std::string, std::string> weights;  // model name -> what its checkpoints are, in words
  std::vector<SettingRow> run_settings;        // the stress test's own options, with their sources
  std::map<std::string, int64_t> model_contexts;  // model name -> its context length (when they differ)
  std::map<std::string, std::vector<SettingRow>> compile_settings;  // model name -> its compiled mode's settings
  std::string engine_version, cpu_model, isa, cpu_features;         // engine and CPU identity
  std::vector<std::string> series;   // "MSTR (path)"
  std::vector<std::string> skipped;  // series too short, with the reason
  std::string started_at;
  double elapsed_s = 0;
  int threads = 0;
  double perturbation = 0;           // FCAST_TEST_PERTURB_COMPILED (0 = off)
  bool rate_speed = true;
  bool interrupted = false;
  std::string status = "running";    // running | complete | interrupted | failed: <error>
};

// "512", or "Toto 256, Kronos 120" when the models' contexts differ.
inline std::string context_text(const RunInfo& info) {
  std::string per_model;
  bool differ = false;
  for (const auto& [model, c] : info.model_contexts) {
    if (!per_model.empty()) per_model += ", ";
    per_model += model;
    per_model += ' ';
    per_model += std::to_string(c);
    differ = differ || c != info.context_length;
  }
  return differ ? per_model : std::to_string(info.context_length);
}

// Non-finite numbers become null (JSON has no NaN/Infinity).
inline nlohmann::ordered_json num(double v) {
  if (!std::isfinite(v)) return nullptr;
  return v;
}
inline nlohmann::ordered_json nums(const std::vector<double>& v) {
  nlohmann::ordered_json a = nlohmann::ordered_json::array();
  for (double x : v) a.push_back(num(x));
  return a;
}

// One record: the Python tool's fields first (model_name, compile_mode, iteration, accuracy{...},
// performance{inference_time_ms, peak_memory_mb, recompilations}), then the new ones.
inline nlohmann::ordered_json record_json(const IterationRecord& r) {
  nlohmann::ordered_json j;
  j["model_name"] = r.model_name;
  j["compile_mode"] = r.compile_mode;
  j["iteration"] = r.iteration;
  j["accuracy"] = {{"mae", num(r.accuracy.mae)},
                   {"rmse", num(r.accuracy.rmse)},
                   {"mape", num(r.accuracy.mape)},
                   {"prediction_mean", num(r.accuracy.prediction_mean)},
                   {"prediction_std", num(r.accuracy.prediction_std)},
                   {"target_mean", num(r.accuracy.target_mean)},
                   {"last_value_mae", num(r.accuracy.naive_mae)},
                   {"relative_mae", num(r.accuracy.relative_mae)},
                   {"coverage_q10_q90", num(r.accuracy.coverage)}};
  const PerformanceMetrics& p = r.perf;
  j["performance"] = {{"inference_time_ms", num(p.p50_ms)},  // steady-state p50: no load, no compile
                      {"peak_memory_mb", num(p.peak_rss_mb)},
                      {"recompilations", p.recompiles},
                      {"load_time_ms", num(p.load_ms)},
                      {"first_call_ms", num(p.first_call_ms)},
                      {"latency_p50_ms", num(p.p50_ms)},
                      {"latency_p99_ms", num(p.p99_ms)},
                      {"latency_mean_ms", num(p.mean_ms)},
                      {"latencies_ms", nums(p.steady_ms)},
                      {"peak_rss_mb", num(p.peak_rss_mb)},
                      {"plans_built", p.plans_built},
                      {"recompiles_after_warmup", p.recompiles},
                      {"cache_hits", p.cache_hits},
                      {"cache_misses", p.cache_misses},
                      {"fallbacks_to_eager", p.fallbacks_to_eager},
                      {"runs", p.runs},
                      {"executor", p.executor}};
  j["compiled"] = r.compiled;
  j["symbol"] = r.symbol;
  j["data_file"] = r.data_file;
  j["context_length"] = r.context_length;
  j["prediction_length"] = r.prediction_length;
  j["num_samples"] = r.num_samples;
  nlohmann::ordered_json ws = nlohmann::ordered_json::array();
  for (const WindowResult& w : r.windows)
    ws.push_back({{"origin", w.origin},
                  {"last_close", num(w.last_close)},
                  {"times", w.times},
                  {"actual", nums(w.actual)},
                  {"forecast_mean", nums(w.mean)},
                  {"forecast_std", nums(w.std)},
                  {"q10", nums(w.q10)},
                  {"q90", nums(w.q90)},
                  {"context_tail", nums(w.context_tail)},
                  {"context_times", w.context_times}});
  j["windows"] = ws;
  return j;
}

inline const ModeScore* mode_score(const Scores& sc, const std::string& model, bool compiled) {
  for (const ModeScore& m : sc.modes)
    if (m.model_name == model && m.compiled == compiled) return &m;
  return nullptr;
}

inline nlohmann::ordered_json settings_json(const std::vector<SettingRow>& rows) {
  nlohmann::ordered_json j = nlohmann::ordered_json::object();
  for (const SettingRow& r : rows) j[r.name] = {{"value", r.value}, {"source", r.source}};
  return j;
}

inline nlohmann::ordered_json summary_json(const RunInfo& info, const std::vector<IterationRecord>& records,
                                           const std::vector<ModelSummary>& s, Tier verdict) {
  const Scores sc = score_by_symbol(records);
  nlohmann::ordered_json j;
  j["mode"] = info.mode;
  j["status"] = info.status;
  j["verdict"] = tier_name(verdict);
  j["iterations"] = info.iterations;
  j["completed_iterations"] = info.completed_iterations;
  j["models"] = info.models;
  j["context_length"] = info.context_length;
  nlohmann::ordered_json ctx = nlohmann::ordered_json::object();
  for (const auto& [model, c] : info.model_contexts) ctx[model] = c;
  j["context_length_per_model"] = ctx;
  j["prediction_length"] = info.prediction_length;
  j["num_samples"] = info.num_samples;
  j["forecasts_per_iteration"] = info.windows;
  j["compile"] = {{"mode", info.compile_mode},
                  {"backend", info.compile_backend},
                  {"precision", info.precision},
                  {"compiled_models_dir", info.compiled_models_dir}};
  // checkpoints.<model>.<part>: e.g. checkpoints.kronos.tokenizer (the --kronos-tokenizer folder).
  nlohmann::ordered_json ck = nlohmann::ordered_json::object();
  for (const std::string& m : info.models) {
    auto it = info.checkpoints.find(m);
    if (it == info.checkpoints.end()) continue;
    nlohmann::ordered_json parts = nlohmann::ordered_json::object();
    for (const auto& [part, dir] : it->second) parts[part] = dir;
    ck[m] = parts;
  }
  ck["random_weights"] = info.random_weights;
  ck["trained_tiny_default"] = info.trained_default;
  nlohmann::ordered_json weights = nlohmann::ordered_json::object();
  for (const auto& [model, what] : info.weights) weights[model] = what;
  ck["weights"] = weights;
  j["checkpoints"] = ck;
  j["engine"] = {{"version", info.engine_version},
                 {"cpu_model", info.cpu_model},
                 {"kernel_isa", info.isa},
                 {"cpu_features", info.cpu_features}};
  nlohmann::ordered_json settings;
  settings["run"] = settings_json(info.run_settings);
  nlohmann::ordered_json cs = nlohmann::ordered_json::object();
  for (const auto& [model, rows] : info.compile_settings) cs[model] = settings_json(rows);
  settings["compiled"] = cs;
  j["settings"] = settings;
  j["series"] = info.series;
  j["skipped_series"] = info.skipped;
  j["started_at"] = info.started_at;
  j["elapsed_s"] = num(info.elapsed_s);
  j["threads"] = info.threads;
  j["perturbation"] = info.perturbation;
  j["speed_rated"] = info.rate_speed;
  nlohmann::ordered_json ms = nlohmann::ordered_json::array();
  auto relative_mae = [&](const std::string& model, bool compiled) {
    const ModeScore* x = mode_score(sc, model, compiled);
    return x ? x->relative_mae : NAN;
  };
  for (const ModelSummary& m : s) {
    nlohmann::ordered_json c = nlohmann::ordered_json::array();
    for (const Check& k : m.checks)
      c.push_back({{"name", k.name}, {"value", num(k.value)}, {"shown", k.shown}, {"tier", tier_name(k.tier)},
                   {"reason", k.reason}});
    ms.push_back({{"model_name", m.model_name},
                  {"compiled_mode", m.compiled_mode},
                  {"tier", tier_name(m.tier)},
                  {"eager_iterations", m.eager_iterations},
                  {"compiled_iterations", m.compiled_iterations},
                  {"eager_relative_mae", num(relative_mae(m.model_name, false))},
                  {"compiled_relative_mae", num(relative_mae(m.model_name, true))},
                  {"mae_delta_pct", num(m.mae_delta_signed_pct)},
                  {"forecast_divergence_pct", num(m.divergence_pct)},
                  {"speedup", num(m.speedup)},
                  {"eager_p50_ms", num(m.eager_p50_ms)},
                  {"compiled_p50_ms", num(m.compiled_p50_ms)},
                  {"eager_p99_ms", num(m.eager_p99_ms)},
                  {"compiled_p99_ms", num(m.compiled_p99_ms)},
                  {"eager_first_call_ms", num(m.eager_first_ms)},
                  {"compiled_first_call_ms", num(m.compiled_first_ms)},
                  {"eager_load_ms", num(m.eager_load_ms)},
                  {"compiled_load_ms", num(m.compiled_load_ms)},
                  {"eager_peak_rss_mb", num(m.eager_rss_mb)},
                  {"compiled_peak_rss_mb", num(m.compiled_rss_mb)},
                  {"memory_overhead_pct", num(m.memory_overhead_pct)},
                  {"total_recompiles", m.total_recompiles},
                  {"plans_built", m.plans_built},
                  {"cache_hits", m.cache_hits},
                  {"cache_misses", m.cache_misses},
                  {"fallbacks_to_eager", m.fallbacks_to_eager},
                  {"checks", c}});
  }
  j["summary"] = ms;
  // Per-symbol errors (MAE in that symbol's price units) and the scale-free aggregates.
  nlohmann::ordered_json sym = nlohmann::ordered_json::array();
  for (const SymbolScore& x : sc.symbols)
    sym.push_back({{"model_name", x.model_name},
                   {"compile_mode", x.compile_mode},
                   {"compiled", x.compiled},
                   {"symbol", x.symbol},
                   {"windows", x.windows},
                   {"bars", x.bars},
                   {"mae", num(x.accuracy.mae)},
                   {"last_value_mae", num(x.accuracy.naive_mae)},
                   {"relative_mae", num(x.accuracy.relative_mae)},
                   {"skill_vs_last_value", num(x.skill())},
                   {"coverage_q10_q90", num(x.accuracy.coverage)}});
  nlohmann::ordered_json agg = nlohmann::ordered_json::array();
  for (const ModeScore& x : sc.modes)
    agg.push_back({{"model_name", x.model_name},
                   {"compile_mode", x.compile_mode},
                   {"compiled", x.compiled},
                   {"symbols", x.symbols},
                   {"symbols_beating_last_value", x.beats_last_value},
                   {"relative_mae_geomean", num(x.relative_mae)},
                   {"skill_vs_last_value", num(x.skill)},
                   {"mean_coverage_q10_q90", num(x.coverage)}});
  j["scores"] = {{"per_symbol", sym}, {"per_mode", agg}};
  nlohmann::ordered_json diffs = nlohmann::ordered_json::object();
  for (const ModelSummary& m : s) {
    const CompiledEagerDiff d = compiled_eager_diff(records, m.model_name);
    diffs[m.model_name] = {{"forecasts_compared", d.points.size()},
                           {"max_abs_diff", num(d.max_abs)},
                           {"max_rel_diff", num(d.max_rel)}};
  }
  j["compiled_minus_eager"] = diffs;
  j["reasons"] = failure_reasons(s, Tier::Warn);
  return j;
}

inline const char* kTrainedBanner =
    "TINY MODELS TRAINED HERE: the default checkpoints are tiny Toto and Kronos models trained by the fcast project "
    "on the bundled market data (tests/data/models), not the published models. The accuracy figures describe these "
    "tiny models only; they make no claim about the forecast skill of the published Toto or Kronos.";

inline const char* kRandomBanner =
    "RANDOM WEIGHTS: the checkpoints were written by fcast with random weights (no trained model was given), so "
    "the accuracy figures (MAE, RMSE, MAPE) mean nothing as forecasts. The compiled-vs-eager comparison, the "
    "latencies, memory and recompile counts are still real.";

inline std::string markdown_report(const RunInfo& info, const std::vector<IterationRecord>& records,
                                   const std::vector<ModelSummary>& s, Tier verdict) {
  std::ostringstream o;
  o << "# Compile Integration Stress Test Report\n\n";
  if (info.random_weights) o << "> **" << kRandomBanner << "**\n\n";
  if (info.trained_default) o << "> **" << kTrainedBanner << "**\n\n";
  if (info.perturbation != 0)
    o << "> **TEST SWITCH ON: compiled outputs are scaled by " << fixed(1 + info.perturbation, 3)
      << " (FCAST_TEST_PERTURB_COMPILED); this run checks that the stress test catches a broken compiled path.**\n\n";
  if (info.status != "complete")
    o << "> **Status: " << info.status << "** (" << info.completed_iterations << " of " << info.iterations
      << " iterations complete; the figures below cover the completed ones.)\n\n";
  o << "- Mode: `" << info.mode << "`, " << info.iterations << " iterations, " << info.windows
    << " walk-forward forecasts per iteration and mode (1 first call + " << std::max<int64_t>(info.windows - 1, 0)
    << " steady-state calls)\n";
  o << "- Context length " << context_text(info) << ", prediction length " << info.prediction_length << ", "
    << info.num_samples << " samples\n";
  o << "- Compiled: mode `" << info.compile_mode << "`, backend `" << info.compile_backend << "`, precision `"
    << info.precision << "`, cache `" << info.compiled_models_dir << "`\n";
  o << "- Threads: " << info.threads << "; started " << info.started_at << ", " << fixed(info.elapsed_s, 1) << " s\n";
  o << "- Data (held-out real bars):";
  for (const auto& x : info.series) o << " " << x << ";";
  o << "\n";
  for (const auto& x : info.skipped) o << "- Skipped: " << x << "\n";
  for (const auto& [model, what] : info.weights) o << "- " << model << " weights: " << what << "\n";
  o << "- Engine: " << info.engine_version << "; CPU: " << info.cpu_model << "; kernel ISA level: " << info.isa
    << " (features " << info.cpu_features << ")\n";
  o << "\n## Verdict: " << tier_name(verdict) << "\n\n";
  o << "| Model | Check | Value | Tier |\n|---|---|---|---|\n";
  for (const auto& m : s)
    for (const auto& c : m.checks) o << "| " << m.model_name << " | " << c.name << " | " << c.shown << " | " << tier_name(c.tier) << " |\n";
  o << "\nTiers: MAE delta and forecast divergence PASS < 5 %, WARN 5-10 %, FAIL > 10 %; recompiles after warm-up "
       "PASS < 10, WARN 10-20, FAIL > 20; speedup PASS >= 0.8x, WARN 0.5-0.8x, FAIL < 0.5x"
    << (info.rate_speed ? "" : " (speed not rated in this run: --no-speed-verdict)") << "; memory is reported only.\n\n";
  const auto reasons = failure_reasons(s, Tier::Warn);
  o << "## Recommendations\n\n";
  if (reasons.empty()) {
    bool both = false;
    for (const auto& m : s) both = both || m.tier != Tier::Info;
    o << (both ? "No issue found: every check passed.\n\n" : "No model ran in both modes: nothing to compare.\n\n");
  } else {
    for (const auto& r : reasons) o << "- " << r << "\n";
    o << "\n";
  }
  o << "## Settings and their sources\n\n| Setting | Value | Source |\n|---|---|---|\n";
  for (const SettingRow& r : info.run_settings) o << "| " << r.name << " | `" << r.value << "` | " << r.source << " |\n";
  for (const auto& [model, rows] : info.compile_settings)
    for (const SettingRow& r : rows)
      o << "| " << model << " compiled " << r.name << " | `" << r.value << "` | " << r.source << " |\n";
  o << "\n";
  const Scores sc = score_by_symbol(records);
  for (const auto& m : s) {
    o << "## " << m.model_name << "\n\n";
    o << "### Accuracy per symbol\n\nMAE is in the symbol's price units; the last-value forecast repeats the close "
         "at the origin. Relative MAE = MAE / last-value MAE (below 1 beats it); skill = 1 - relative MAE; coverage = "
         "share of held-out bars inside the q10-q90 interval (nominal 0.80).\n\n";
    o << "| Symbol | Mode | Windows | MAE | Last-value MAE | Relative MAE | Skill | Coverage q10-q90 |\n"
         "|---|---|---|---|---|---|---|---|\n";
    for (const SymbolScore& x : sc.symbols)
      if (x.model_name == m.model_name)
        o << "| " << x.symbol << " | " << x.compile_mode << " | " << x.windows << " | " << short_num(x.accuracy.mae)
          << " | " << short_num(x.accuracy.naive_mae) << " | " << fixed(x.accuracy.relative_mae, 3) << " | "
          << fixed(x.skill(), 3) << " | " << fixed(x.accuracy.coverage, 2) << " |\n";
    for (const ModeScore& x : sc.modes)
      if (x.model_name == m.model_name)
        o << "\n" << x.compile_mode << (x.compiled ? " (compiled)" : "") << ": relative MAE (geometric mean over "
          << x.symbols << " symbols) " << fixed(x.relative_mae, 3) << ", skill vs last value " << fixed(x.skill, 3)
          << ", " << x.beats_last_value << " of " << x.symbols << " symbols beat the last value, mean coverage "
          << fixed(x.coverage, 2) << ".\n";
    const CompiledEagerDiff d = compiled_eager_diff(records, m.model_name);
    if (!d.points.empty())
      o << "\nCompiled - eager over " << d.points.size() << " forecast steps: max |difference| " << short_num(d.max_abs)
        << " (price units), max relative difference " << short_num(d.max_rel) << ".\n";
    o << "\n### Timing and memory\n\n";
    o << "| Mode | Iterations | Load ms | First call ms | p50 ms | p99 ms "
         "| Peak RSS MB | Plans | Recompiles | Cache hits/misses |\n";
    o << "|---|---|---|---|---|---|---|---|---|---|\n";
    for (bool compiled : {false, true}) {
      std::vector<double> mae, rmse, mape, pm, ps, load, first, p50, p99;
      double rss = 0;
      int64_t plans = 0, rec = 0, hits = 0, misses = 0;
      int n = 0;
      std::string label;
      for (const auto& r : records) {
        if (r.model_name != m.model_name || r.compiled != compiled) continue;
        ++n;
        label = r.compile_mode;
        mae.push_back(r.accuracy.mae);
        rmse.push_back(r.accuracy.rmse);
        mape.push_back(r.accuracy.mape);
        pm.push_back(r.accuracy.prediction_mean);
        ps.push_back(r.accuracy.prediction_std);
        load.push_back(r.perf.load_ms);
        first.push_back(r.perf.first_call_ms);
        p50.push_back(r.perf.p50_ms);
        p99.push_back(r.perf.p99_ms);
        rss = std::max(rss, r.perf.peak_rss_mb);
        plans += r.perf.plans_built;
        rec += r.perf.recompiles;
        hits += r.perf.cache_hits;
        misses += r.perf.cache_misses;
      }
      if (n == 0) continue;
      o << "| " << label << (compiled ? " (compiled)" : "") << " | " << n << " | " << fixed(mean_of(load), 1) << " | " << fixed(mean_of(first), 1) << " | "
        << fixed(mean_of(p50), 2) << " | " << fixed(mean_of(p99), 2) << " | " << fixed(rss, 1) << " | " << plans
        << " | " << rec << " | " << hits << "/" << misses << " |\n";
    }
    if (m.eager_iterations > 0 && m.compiled_iterations > 0)
      o << "\nCompiled vs eager: MAE " << fixed(m.mae_delta_signed_pct, 2)
        << " % (per-symbol ratio), forecast divergence " << fixed(m.divergence_pct, 2) << " % of eager MAE, speedup "
        << fixed(m.speedup, 2) << "x (steady-state p50), first call " << fixed(m.compiled_first_ms, 1) << " ms vs "
        << fixed(m.eager_first_ms, 1) << " ms, memory " << fixed(m.memory_overhead_pct, 1) << " %.\n";
    o << "\n| Iteration | Mode | Symbol | MAE | Sample std | Load ms | First ms | p50 ms | p99 ms | Plans | Recompiles |\n";
    o << "|---|---|---|---|---|---|---|---|---|---|---|\n";
    for (const auto& r : records) {
      if (r.model_name != m.model_name) continue;
      o << "| " << r.iteration << " | " << r.compile_mode << " | " << r.symbol << " | " << fixed(r.accuracy.mae, 4)
        << " | " << fixed(r.accuracy.prediction_std, 4) << " | " << fixed(r.perf.load_ms, 1) << " | "
        << fixed(r.perf.first_call_ms, 1) << " | " << fixed(r.perf.p50_ms, 2) << " | " << fixed(r.perf.p99_ms, 2)
        << " | " << r.perf.plans_built << " | " << r.perf.recompiles << " |\n";
    }
    o << "\n";
  }
  o << "Definitions: load = reading the checkpoint and building the model; first call = the first forecast (plan "
       "building and autotuning included when compiled); p50/p99 = steady-state forecasts after warm-up; "
       "`inference_time_ms` in the JSON is the steady-state p50. MAE/RMSE/MAPE compare the mean forecast with the "
       "held-out close; sample std is the spread across the sample paths. See docs/STRESS_TEST.md.\n";
  return o.str();
}

// ---- HTML ------------------------------------------------------------------------------------

// The report's self-check, for people and for the headless-browser test: catches script errors
// and counts the charts whose data marks (class 'd') render with a non-empty box. It writes
// <div id='report-check' data-charts='N' data-charts-ok='M' data-errors='E'> and shows a line
// when a chart is empty. It loads nothing.
inline const char* kReportCheckHead =
    "<script>window.reportErrors=0;window.addEventListener('error',function(){window.reportErrors++;});</script>";
inline const char* kReportCheckBody =
    "<script>(function(){var n=0,ok=0,errs=0;try{var charts=document.querySelectorAll('svg.chart');n=charts.length;"
    "for(var i=0;i<charts.length;i++){var marks=charts[i].querySelectorAll('.d'),good=false;"
    "for(var j=0;j<marks.length&&!good;j++){var b=marks[j].getBBox();good=b.width>0||b.height>0;}"
    "if(good)ok++;}}catch(e){errs++;}"
    "var m=document.createElement('div');m.id='report-check';m.setAttribute('data-charts',String(n));"
    "m.setAttribute('data-charts-ok',String(ok));m.setAttribute('data-errors',String(errs+window.reportErrors));"
    "m.className='check';m.textContent=ok===n&&errs+window.reportErrors===0?'':"
    "'Report check: '+(n-ok)+' of '+n+' charts drew nothing; '+(errs+window.reportErrors)+' script errors.';"
    "document.body.appendChild(m);})();</script>";

inline std::string settings_table_html(const RunInfo& info) {
  std::ostringstream o;
  o << "<table><tr><th>Setting</th><th>Value</th><th>Source</th></tr>\n";
  for (const SettingRow& r : info.run_settings)
    o << "<tr><td>" << html_escape(r.name) << "</td><td><code>" << html_escape(r.value) << "</code></td><td>"
      << html_escape(r.source) << "</td></tr>\n";
  for (const auto& [model, rows] : info.compile_settings)
    for (const SettingRow& r : rows)
      o << "<tr><td>" << html_escape(model) << " compiled " << html_escape(r.name) << "</td><td><code>"
        << html_escape(r.value) << "</code></td><td>" << html_escape(r.source) << "</td></tr>\n";
  o << "</table>\n";
  return o.str();
}

inline std::string html_report(const RunInfo& info, const std::vector<IterationRecord>& records,
                               const std::vector<ModelSummary>& s, Tier verdict) {
  const Scores sc = score_by_symbol(records);
  std::ostringstream o;
  o << "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'><title>fcast compile stress test: "
    << html_escape(info.mode) << "</title>\n"
    << kReportCheckHead << "\n<style>"
    << "body{font-family:sans-serif;max-width:1000px;margin:2em auto;padding:0 1em;color:#222}"
    << "table{border-collapse:collapse;margin:0.5em 0 1.2em}td,th{border:1px solid #ccc;padding:3px 7px;"
       "font-size:13px;text-align:right}th{background:#f1f3f5}td:first-child,th:first-child{text-align:left}"
    << ".PASS{background:#d3f9d8}.WARN{background:#fff3bf}.FAIL{background:#ffc9c9}.INFO{background:#f1f3f5}"
    << ".banner{border:2px solid #e03131;background:#fff5f5;padding:0.6em 1em;font-weight:bold}"
    << ".note{border:2px solid #1971c2;background:#e7f5ff;padding:0.6em 1em;font-weight:bold}"
    << ".grid{display:flex;flex-wrap:wrap;gap:10px}figure{margin:0}figcaption{font-size:12px;font-weight:bold}"
    << ".check{color:#c92a2a;font-weight:bold}code{font-size:12px}"
    << "</style></head><body>\n";
  o << "<h1>Compile stress test &mdash; " << html_escape(info.mode) << "</h1>\n";
  if (info.random_weights) o << "<p class='banner' id='banner-random'>" << html_escape(kRandomBanner) << "</p>\n";
  if (info.trained_default) o << "<p class='note' id='banner-trained'>" << html_escape(kTrainedBanner) << "</p>\n";
  if (info.perturbation != 0)
    o << "<p class='banner'>TEST SWITCH ON: compiled outputs scaled by " << fixed(1 + info.perturbation, 3)
      << " (FCAST_TEST_PERTURB_COMPILED).</p>\n";
  if (info.status != "complete")
    o << "<p class='banner'>Status: " << html_escape(info.status) << " (" << info.completed_iterations << " of "
      << info.iterations << " iterations complete).</p>\n";
  o << "<p>" << info.iterations << " iterations &times; " << info.windows << " walk-forward forecasts per mode; context "
    << html_escape(context_text(info)) << ", prediction length " << info.prediction_length << ", " << info.num_samples
    << " samples; compiled = " << html_escape(info.compile_mode) << " / " << html_escape(info.compile_backend) << " / "
    << html_escape(info.precision) << "; " << info.threads << " threads; " << fixed(info.elapsed_s, 1) << " s.</p>\n";
  o << "<p>Engine: <code>" << html_escape(info.engine_version) << "</code>; CPU: " << html_escape(info.cpu_model)
    << "; kernel ISA level: <b>" << html_escape(info.isa) << "</b> (features <code>" << html_escape(info.cpu_features)
    << "</code>).</p>\n";
  if (!info.weights.empty()) {
    o << "<ul>";
    for (const auto& [model, what] : info.weights)
      o << "<li>" << html_escape(model) << " weights: " << html_escape(what) << "</li>";
    o << "</ul>\n";
  }
  o << "<h2>Verdict: <span class='" << tier_name(verdict) << "'>" << tier_name(verdict) << "</span></h2>\n";
  o << "<table><tr><th>Model</th><th>Check</th><th>Value</th><th>Tier</th></tr>\n";
  for (const auto& m : s)
    for (const auto& c : m.checks)
      o << "<tr><td>" << html_escape(m.model_name) << "</td><td>" << html_escape(c.name) << "</td><td>"
        << html_escape(c.shown) << "</td><td class='" << tier_name(c.tier) << "'>" << tier_name(c.tier) << "</td></tr>\n";
  o << "</table>\n";
  const auto reasons = failure_reasons(s, Tier::Warn);
  if (!reasons.empty()) {
    o << "<ul>";
    for (const auto& r : reasons) o << "<li>" << html_escape(r) << "</li>";
    o << "</ul>\n";
  }
  for (const auto& m : s) {
    o << "<h2>" << html_escape(m.model_name) << "</h2>\n";
    // Accuracy: per symbol, against the last-value forecast on the same bars.
    o << "<h3>Accuracy per symbol, against the last value</h3>\n<p style='font-size:13px'>MAE is in each symbol's price "
         "units and is never averaged across symbols. Relative MAE = MAE / MAE of the last-value forecast (the close "
         "at the origin, repeated) on the same held-out bars: below 1 beats it; skill = 1 &minus; relative MAE. "
         "Coverage = share of held-out bars inside the q10&ndash;q90 interval (nominal 0.80).</p>\n";
    o << "<table><tr><th>Symbol</th><th>Mode</th><th>Windows</th><th>MAE</th><th>Last-value MAE</th>"
         "<th>Relative MAE</th><th>Skill</th><th>Coverage q10&ndash;q90</th></tr>\n";
    std::vector<const SymbolScore*> eager, compiled;
    for (const SymbolScore& x : sc.symbols) {
      if (x.model_name != m.model_name) continue;
      (x.compiled ? compiled : eager).push_back(&x);
      o << "<tr><td>" << html_escape(x.symbol) << "</td><td>" << html_escape(x.compile_mode) << "</td><td>" << x.windows
        << "</td><td>" << short_num(x.accuracy.mae) << "</td><td>" << short_num(x.accuracy.naive_mae) << "</td><td>"
        << fixed(x.accuracy.relative_mae, 3) << "</td><td>" << fixed(x.skill(), 3) << "</td><td class='coverage'>"
        << fixed(x.accuracy.coverage, 2) << "</td></tr>\n";
    }
    for (const ModeScore& x : sc.modes)
      if (x.model_name == m.model_name)
        o << "<tr><td><b>all (" << x.symbols << ")</b></td><td>" << html_escape(x.compile_mode)
          << "</td><td></td><td>&mdash;</td><td>&mdash;</td><td><b>" << fixed(x.relative_mae, 3)
          << "</b> (geo. mean)</td><td><b>" << fixed(x.skill, 3) << "</b></td><td>" << fixed(x.coverage, 2)
          << " (mean)</td></tr>\n";
    o << "</table>\n" << relative_mae_svg(m.model_name, eager, compiled) << "\n";
    // Forecast fans: one chart per iteration (each iteration forecasts one symbol).
    std::map<int, std::vector<const IterationRecord*>> by_iter;
    for (const auto& r : records)
      if (r.model_name == m.model_name) by_iter[r.iteration].push_back(&r);
    o << "<h3>Forecasts: one fan per window from its origin, every iteration</h3>\n<div class='grid'>\n";
    for (const auto& [it, modes] : by_iter)
      o << "<figure><figcaption>iteration " << it << " &middot; " << html_escape(modes[0]->symbol) << "</figcaption>"
        << forecast_fan_svg(modes) << "</figure>\n";
    o << "</div>\n";
    // Compiled - eager.
    const CompiledEagerDiff d = compiled_eager_diff(records, m.model_name);
    o << "<h3>Compiled &minus; eager</h3>\n";
    if (!d.points.empty())
      o << "<p>" << d.points.size() << " forecast steps compared: max |compiled &minus; eager| = <b>"
        << short_num(d.max_abs) << "</b> (in the symbol's price units), max relative difference = <b>"
        << short_num(d.max_rel) << "</b>.</p>\n";
    o << diff_svg(d) << "\n";
    // Timing and memory.
    o << "<h3>Timing and memory</h3>\n";
    const std::string cl = m.compiled_mode.empty() ? "compiled" : m.compiled_mode + " (compiled)";
    if (m.eager_iterations > 0 || m.compiled_iterations > 0)
      o << bars_svg("timing", m.model_name,
                    {{"load", m.eager_load_ms, m.compiled_load_ms, "ms"},
                     {"first call", m.eager_first_ms, m.compiled_first_ms, "ms"},
                     {"steady p50", m.eager_p50_ms, m.compiled_p50_ms, "ms"},
                     {"steady p99", m.eager_p99_ms, m.compiled_p99_ms, "ms"}},
                    "eager", cl)
        << "\n"
        << bars_svg("memory", m.model_name, {{"peak RSS", m.eager_rss_mb, m.compiled_rss_mb, "MB"}}, "eager", cl)
        << "\n<p style='font-size:12px'>Each row is scaled to its own largest value. Peak RSS is process-wide.</p>\n";
    std::vector<std::pair<std::string, std::vector<double>>> lat;
    for (bool c : {false, true}) {
      std::vector<double> all;
      std::string label;
      for (const auto& r : records)
        if (r.model_name == m.model_name && r.compiled == c) {
          all.insert(all.end(), r.perf.steady_ms.begin(), r.perf.steady_ms.end());
          label = r.compile_mode + (c ? " (compiled)" : "");
        }
      if (!label.empty()) lat.push_back({label, all});
    }
    o << "<h3>Latency distribution per mode</h3>\n" << latency_svg(m.model_name, lat) << "\n";
  }
  o << "<h2>Settings and their sources</h2>\n" << settings_table_html(info);
  o << "<p style='font-size:12px;color:#666'>Written by <code>fcast stress</code>; self-contained (inline SVG and one "
       "inline self-check script; no external resources). JSON: compile_stress_results_"
    << html_escape(info.mode) << ".json. See docs/STRESS_TEST.md.</p>\n"
    << kReportCheckBody << "\n</body></html>\n";
  return o.str();
}

inline std::string results_file(const std::string& mode) { return "compile_stress_results_" + mode + ".json"; }
inline std::string summary_file(const std::string& mode) { return "compile_stress_summary_" + mode + ".json"; }
inline std::string markdown_file(const std::string& mode) { return "compile_stress_report_" + mode + ".md"; }
inline std::string html_file(const std::string& mode) { return "compile_stress_report_" + mode + ".html"; }

// Writes the four reports (each atomically) into `dir`.
inline void write_reports(const std::string& dir, const RunInfo& info, const std::vector<IterationRecord>& records,
                          const std::vector<ModelSummary>& s) {
  const Tier verdict = worst_tier(s);
  nlohmann::ordered_json list = nlohmann::ordered_json::array();
  for (const auto& r : records) list.push_back(record_json(r));
  write_file_atomic(dir + "/" + results_file(info.mode), list.dump(2) + "\n");
  write_file_atomic(dir + "/" + summary_file(info.mode), summary_json(info, records, s, verdict).dump(2) + "\n");
  write_file_atomic(dir + "/" + markdown_file(info.mode), markdown_report(info, records, s, verdict));
  write_file_atomic(dir + "/" + html_file(info.mode), html_report(info, records, s, verdict));
}

// The report label of a model: its registered name capitalised ("toto" -> "Toto"), as the
// reports and recommended.env have always shown it.
inline std::string model_label(const ModelEntry& e) {
  std::string l = e.name;
  if (!l.empty()) l[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(l[0])));
  return l;
}

// The variables that switch a model's compilation on and off, found by asking the compile
// settings resolver what each of the model's variables does (so that a model's variable names
// live only in its compile family): a variable that turns compilation off when true is a kill
// switch, one that turns it off when false an enable switch; likewise the first variable that
// sets the mode / backend (the first one wins when several are set).
inline CompileSwitches compile_switches(const ModelEntry& e) {
  auto resolve = [&](const std::string& var, const std::string& value, bool compiled) -> std::optional<CompileSettings> {
    Environment env;
    env.vars[var] = value;
    CompileOverrides ov;
    if (compiled) ov.compile = true;
    try {
      return resolve_compile_settings(e.compile, env, ov);
    } catch (const std::exception&) {
      return std::nullopt;  // a value this variable does not take: not the kind probed for
    }
  };
  std::string disable, enable, mode, backend;
  for (const std::string& v : compile_env_vars(e.compile)) {
    auto on = resolve(v, "1", false), off = resolve(v, "0", false);
    if (disable.empty() && on && !on->enabled) disable = v;
    else if (enable.empty() && off && !off->enabled && on && on->enabled) enable = v;
    auto m = resolve(v, "default", true);
    if (mode.empty() && m && m->mode == CompileMode::Default && m->source["mode"] != "default") mode = v;
    auto b = resolve(v, "aot_eager", true);
    if (backend.empty() && b && b->backend == CompileBackend::AotEager && b->source["backend"] != "default")
      backend = v;
  }
  CompileSwitches s;
  if (!disable.empty()) s.on.push_back(disable + "=0");
  if (!enable.empty()) s.on.push_back(enable + "=1");
  s.mode_var = mode;
  s.backend_var = backend;
  if (!disable.empty()) s.off.push_back(disable + "=1");
  else if (!enable.empty()) s.off.push_back(enable + "=0");
  return s;
}

// The recommended configuration as environment assignments: compile a model only where every
// check passed and compiled was not slower; otherwise run it eager, with the reasons as comments.
inline std::string recommended_env(const RunInfo& info, const std::vector<ModelSummary>& s) {
  std::ostringstream o;
  o << "# Recommended compile configuration, written by `fcast stress --mode " << info.mode << "`.\n"
    << "# Source it before starting fcast:  set -a; . ./recommended.env; set +a\n";
  if (info.random_weights) o << "# NOTE: measured on RANDOM-weight checkpoints; rerun with the trained models.\n";
  if (info.perturbation != 0) o << "# NOTE: FCAST_TEST_PERTURB_COMPILED was set: this run tested a broken compiled path.\n";
  bool any_compiled = false;
  for (const auto& m : s) {
    // The registered model of this summary's label, and its compile family's switches.
    std::optional<CompileSwitches> sw;
    for (const ModelEntry& e : model_registry())
      if (model_label(e) == m.model_name) sw = compile_switches(e);
    o << "\n# " << m.model_name << ": " << tier_name(m.tier) << "\n";
    const bool use = m.tier == Tier::Pass && (!info.rate_speed || m.speedup >= 1.0);
    if (m.tier == Tier::Info) {
      o << "# not compared (a mode did not run); no recommendation\n";
      continue;
    }
    for (const auto& c : m.checks)
      if (!c.reason.empty()) o << "# " << tier_name(c.tier) << ": " << c.reason << "\n";
    if (use) {
      any_compiled = true;
      o << "# compiled passed every check" << (info.rate_speed ? " and was faster than eager" : "") << "\n";
      if (!sw) {
        o << "# (no compile switches known for " << m.model_name << ")\n";
      } else {
        for (const auto& line : sw->on) o << line << "\n";
        if (!sw->mode_var.empty()) o << sw->mode_var << "=" << info.compile_mode << "\n";
        if (!sw->backend_var.empty()) o << sw->backend_var << "=" << info.compile_backend << "\n";
      }
    } else {
      if (m.tier == Tier::Pass) o << "# compiled passed, but was not faster than eager (speedup " << fixed(m.speedup, 2) << "x)\n";
      if (!sw) o << "# (no compile switches known for " << m.model_name << ")\n";
      else
        for (const auto& line : sw->off) o << line << "\n";
    }
  }
  if (any_compiled) {
    o << "\n# Shared by the compiled models\n";
    o << (info.precision == "bf16" ? "FAST_TESTING=1\n" : "REAL_TESTING=1\n");
    o << "COMPILED_MODELS_DIR=" << info.compiled_models_dir << "\n";
  }
  return o.str();
}

}  // namespace fcast::stress
