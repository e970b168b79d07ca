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
#include "tools/stress/metrics.h"

namespace fcast::stress {

// The environment assignments that switch one model's compilation on or off (its compile
// family's variables, found by the caller), for recommended.env.
struct CompileSwitches {
  std::vector<std::string> on;   // "TOTO_DISABLE_COMPILE=0", "TOTO_COMPILE=1", ... (mode and backend appended)
  std::string mode_var, backend_var;  // the variables that set the compiled mode and backend ("" when none)
  std::vector<std::string> off;  // "TOTO_DISABLE_COMPILE=1"
};

struct RunInfo {
  std::string mode = "quick";  // quick | full | production-check
  int iterations = 0, completed_iterations = 0;
  std::vector<std::string> models;  // registered model names, in registry order
  int64_t context_length = 512, prediction_length = 1, num_samples = 128, windows = 0;
  std::string compile_mode, compile_backend, precision, compiled_models_dir;
  std::map<std::string, std::map<std::string, std::string>> checkpoints;  // model name -> part -> folder
  bool random_weights = false;
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

// One record: the seed's fields first (model_name, compile_mode, iteration, accuracy{...},
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
                   {"target_mean", num(r.accuracy.target_mean)}};
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
                  {"actual", nums(w.actual)},
                  {"forecast_mean", nums(w.mean)},
                  {"forecast_std", nums(w.std)},
                  {"q10", nums(w.q10)},
                  {"q90", nums(w.q90)},
                  {"context_tail", nums(w.context_tail)}});
  j["windows"] = ws;
  return j;
}

inline nlohmann::ordered_json summary_json(const RunInfo& info, const std::vector<ModelSummary>& s, Tier verdict) {
  nlohmann::ordered_json j;
  j["mode"] = info.mode;
  j["status"] = info.status;
  j["verdict"] = tier_name(verdict);
  j["iterations"] = info.iterations;
  j["completed_iterations"] = info.completed_iterations;
  j["models"] = info.models;
  j["context_length"] = info.context_length;
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
  j["checkpoints"] = ck;
  j["series"] = info.series;
  j["skipped_series"] = info.skipped;
  j["started_at"] = info.started_at;
  j["elapsed_s"] = num(info.elapsed_s);
  j["threads"] = info.threads;
  j["perturbation"] = info.perturbation;
  j["speed_rated"] = info.rate_speed;
  nlohmann::ordered_json ms = nlohmann::ordered_json::array();
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
                  {"eager_mae", num(m.eager_mae)},
                  {"compiled_mae", num(m.compiled_mae)},
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
  j["reasons"] = failure_reasons(s, Tier::Warn);
  return j;
}

inline const char* kRandomBanner =
    "RANDOM WEIGHTS: the checkpoints were written by fcast with random weights (no trained model was given), so "
    "the accuracy figures (MAE, RMSE, MAPE) mean nothing as forecasts. The compiled-vs-eager comparison, the "
    "latencies, memory and recompile counts are still real.";

inline std::string markdown_report(const RunInfo& info, const std::vector<IterationRecord>& records,
                                   const std::vector<ModelSummary>& s, Tier verdict) {
  std::ostringstream o;
  o << "# Compile Integration Stress Test Report\n\n";
  if (info.random_weights) o << "> **" << kRandomBanner << "**\n\n";
  if (info.perturbation != 0)
    o << "> **TEST SWITCH ON: compiled outputs are scaled by " << fixed(1 + info.perturbation, 3)
      << " (FCAST_TEST_PERTURB_COMPILED); this run checks that the stress test catches a broken compiled path.**\n\n";
  if (info.status != "complete")
    o << "> **Status: " << info.status << "** (" << info.completed_iterations << " of " << info.iterations
      << " iterations complete; the figures below cover the completed ones.)\n\n";
  o << "- Mode: `" << info.mode << "`, " << info.iterations << " iterations, " << info.windows
    << " walk-forward forecasts per iteration and mode (1 first call + " << std::max<int64_t>(info.windows - 1, 0)
    << " steady-state calls)\n";
  o << "- Context length " << info.context_length << ", prediction length " << info.prediction_length << ", "
    << info.num_samples << " samples\n";
  o << "- Compiled: mode `" << info.compile_mode << "`, backend `" << info.compile_backend << "`, precision `"
    << info.precision << "`, cache `" << info.compiled_models_dir << "`\n";
  o << "- Threads: " << info.threads << "; started " << info.started_at << ", " << fixed(info.elapsed_s, 1) << " s\n";
  o << "- Data (held-out real bars):";
  for (const auto& x : info.series) o << " " << x << ";";
  o << "\n";
  for (const auto& x : info.skipped) o << "- Skipped: " << x << "\n";
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
  for (const auto& m : s) {
    o << "## " << m.model_name << "\n\n";
    o << "| Mode | Iterations | MAE | RMSE | MAPE % | Pred. mean | Sample std | Load ms | First call ms | p50 ms | p99 ms "
         "| Peak RSS MB | Plans | Recompiles | Cache hits/misses |\n";
    o << "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n";
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
      o << "| " << label << (compiled ? " (compiled)" : "") << " | " << n << " | " << fixed(mean_of(mae), 4) << " | "
        << fixed(mean_of(rmse), 4) << " | " << fixed(mean_of(mape), 3) << " | " << fixed(mean_of(pm), 4) << " | "
        << fixed(mean_of(ps), 4) << " | " << fixed(mean_of(load), 1) << " | " << fixed(mean_of(first), 1) << " | "
        << fixed(mean_of(p50), 2) << " | " << fixed(mean_of(p99), 2) << " | " << fixed(rss, 1) << " | " << plans
        << " | " << rec << " | " << hits << "/" << misses << " |\n";
    }
    if (m.eager_iterations > 0 && m.compiled_iterations > 0)
      o << "\nCompiled vs eager: MAE " << fixed(m.compiled_mae - m.eager_mae, 6) << " (" << fixed(m.mae_delta_signed_pct, 2)
        << " %), forecast divergence " << fixed(m.divergence_pct, 2) << " % of eager MAE, speedup "
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

// ---- HTML with inline SVG --------------------------------------------------------------------

inline std::string html_escape(const std::string& s) {
  std::string o;
  for (char c : s) {
    switch (c) {
      case '&': o += "&amp;"; break;
      case '<': o += "&lt;"; break;
      case '>': o += "&gt;"; break;
      case '"': o += "&quot;"; break;
      default: o += c;
    }
  }
  return o;
}

struct Scale {
  double lo = 0, hi = 1, a = 0, b = 1;  // data [lo, hi] -> pixels [a, b]
  double operator()(double v) const { return hi > lo ? a + (v - lo) / (hi - lo) * (b - a) : (a + b) / 2; }
};

inline std::string svg_num(double v) { return fixed(v, 1); }

// Latency distribution: one row per mode, every steady-state call a dot, p50 and p99 marked.
inline std::string latency_svg(const std::vector<std::pair<std::string, std::vector<double>>>& rows) {
  const double W = 640, rowh = 46, left = 170, right = 20, top = 20;
  const double H = top + rowh * static_cast<double>(rows.size()) + 40;
  double lo = INFINITY, hi = 0;
  for (const auto& r : rows)
    for (double v : r.second) {
      lo = std::min(lo, v);
      hi = std::max(hi, v);
    }
  if (!std::isfinite(lo)) return "<p>No steady-state latencies recorded.</p>";
  lo = std::max(0.0, lo * 0.9);
  hi = hi * 1.05 + 1e-9;
  Scale x{lo, hi, left, W - right};
  std::ostringstream o;
  o << "<svg xmlns='http://www.w3.org/2000/svg' width='" << W << "' height='" << H << "' role='img'>";
  const double axis_y = top + rowh * static_cast<double>(rows.size());
  o << "<line x1='" << left << "' y1='" << axis_y << "' x2='" << W - right << "' y2='" << axis_y << "' stroke='#444'/>";
  for (int t = 0; t <= 4; ++t) {
    const double v = lo + (hi - lo) * t / 4.0;
    o << "<text x='" << svg_num(x(v)) << "' y='" << axis_y + 16 << "' font-size='11' text-anchor='middle'>"
      << fixed(v, 2) << "</text>";
  }
  o << "<text x='" << (left + W - right) / 2 << "' y='" << axis_y + 32
    << "' font-size='11' text-anchor='middle'>steady-state forecast latency (ms)</text>";
  for (size_t i = 0; i < rows.size(); ++i) {
    const double cy = top + rowh * (static_cast<double>(i) + 0.5);
    const bool compiled = rows[i].first.find("compiled") != std::string::npos;
    const char* color = compiled ? "#d9480f" : "#1c7ed6";
    o << "<text x='" << left - 8 << "' y='" << cy + 4 << "' font-size='12' text-anchor='end'>"
      << html_escape(rows[i].first) << "</text>";
    const auto& v = rows[i].second;
    for (size_t k = 0; k < v.size(); ++k) {
      const double jitter = (static_cast<double>(k % 7) - 3.0) * 3.0;
      o << "<circle cx='" << svg_num(x(v[k])) << "' cy='" << svg_num(cy + jitter) << "' r='3' fill='" << color
        << "' fill-opacity='0.6'/>";
    }
    if (!v.empty()) {
      const double p50 = percentile(v, 50), p99 = percentile(v, 99);
      o << "<line x1='" << svg_num(x(p50)) << "' y1='" << cy - 16 << "' x2='" << svg_num(x(p50)) << "' y2='" << cy + 16
        << "' stroke='#000' stroke-width='2'><title>p50 " << fixed(p50, 3) << " ms</title></line>";
      o << "<line x1='" << svg_num(x(p99)) << "' y1='" << cy - 16 << "' x2='" << svg_num(x(p99)) << "' y2='" << cy + 16
        << "' stroke='#000' stroke-dasharray='3,2'><title>p99 " << fixed(p99, 3) << " ms</title></line>";
    }
  }
  o << "</svg>";
  return o.str();
}

// Forecast vs actual for one iteration: the context tail, the held-out bars, and each mode's mean
// forecast with its 10-90 % quantile band, in walk-forward order.
inline std::string forecast_svg(const std::vector<const IterationRecord*>& modes) {
  if (modes.empty() || modes[0]->windows.empty()) return "<p>No forecasts recorded.</p>";
  const double W = 640, H = 300, left = 70, right = 20, top = 16, bottom = 40;
  const auto& base = modes[0]->windows;
  std::vector<double> tail = base.front().context_tail, actual;
  for (const auto& w : base) actual.insert(actual.end(), w.actual.begin(), w.actual.end());
  const size_t n_tail = tail.size(), n_total = n_tail + actual.size();
  double lo = INFINITY, hi = -INFINITY;
  auto grow = [&](double v) {
    if (std::isfinite(v)) {
      lo = std::min(lo, v);
      hi = std::max(hi, v);
    }
  };
  for (double v : tail) grow(v);
  for (double v : actual) grow(v);
  for (const auto* r : modes)
    for (const auto& w : r->windows)
      for (size_t k = 0; k < w.mean.size(); ++k) {
        grow(w.mean[k]);
        grow(w.q10[k]);
        grow(w.q90[k]);
      }
  if (!std::isfinite(lo)) return "<p>No finite values to plot.</p>";
  const double pad = (hi - lo) * 0.05 + 1e-9;
  Scale x{0, static_cast<double>(std::max<size_t>(n_total, 2) - 1), left, W - right};
  Scale y{lo - pad, hi + pad, H - bottom, top};
  std::ostringstream o;
  o << "<svg xmlns='http://www.w3.org/2000/svg' width='" << W << "' height='" << H << "' role='img'>";
  o << "<rect x='" << left << "' y='" << top << "' width='" << W - left - right << "' height='" << H - top - bottom
    << "' fill='none' stroke='#bbb'/>";
  for (int t = 0; t <= 4; ++t) {
    const double v = lo - pad + (hi - lo + 2 * pad) * t / 4.0;
    o << "<text x='" << left - 6 << "' y='" << svg_num(y(v) + 4) << "' font-size='11' text-anchor='end'>"
      << fixed(v, 2) << "</text>";
  }
  o << "<line x1='" << svg_num(x(static_cast<double>(n_tail) - 0.5)) << "' y1='" << top << "' x2='"
    << svg_num(x(static_cast<double>(n_tail) - 0.5)) << "' y2='" << H - bottom
    << "' stroke='#888' stroke-dasharray='4,3'/>";
  o << "<text x='" << svg_num(x(static_cast<double>(n_tail) - 0.5) + 4) << "' y='" << top + 12
    << "' font-size='11'>held-out bars &#8594;</text>";
  auto polyline = [&](const std::vector<std::pair<double, double>>& pts, const char* color, const char* extra) {
    o << "<polyline fill='none' stroke='" << color << "' " << extra << " points='";
    for (const auto& [px, py] : pts) o << svg_num(x(px)) << "," << svg_num(y(py)) << " ";
    o << "'/>";
  };
  std::vector<std::pair<double, double>> truth;
  for (size_t i = 0; i < tail.size(); ++i) truth.push_back({static_cast<double>(i), tail[i]});
  for (size_t i = 0; i < actual.size(); ++i) truth.push_back({static_cast<double>(n_tail + i), actual[i]});
  const char* colors[] = {"#1c7ed6", "#d9480f", "#2f9e44", "#7048e8"};
  for (size_t m = 0; m < modes.size(); ++m) {
    const char* color = colors[m % 4];
    std::vector<std::pair<double, double>> band_hi, band_lo, mean;
    size_t t = n_tail;
    for (const auto& w : modes[m]->windows)
      for (size_t k = 0; k < w.mean.size(); ++k, ++t) {
        band_hi.push_back({static_cast<double>(t), w.q90[k]});
        band_lo.push_back({static_cast<double>(t), w.q10[k]});
        mean.push_back({static_cast<double>(t), w.mean[k]});
      }
    o << "<polygon fill='" << color << "' fill-opacity='0.15' stroke='none' points='";
    for (const auto& [px, py] : band_hi) o << svg_num(x(px)) << "," << svg_num(y(py)) << " ";
    for (auto it = band_lo.rbegin(); it != band_lo.rend(); ++it) o << svg_num(x(it->first)) << "," << svg_num(y(it->second)) << " ";
    o << "'/>";
    polyline(mean, color, "stroke-width='2'");
    for (const auto& [px, py] : mean)
      o << "<circle cx='" << svg_num(x(px)) << "' cy='" << svg_num(y(py)) << "' r='2.5' fill='" << color << "'/>";
  }
  polyline(truth, "#222", "stroke-width='1.5'");
  // Legend.
  double lx = left + 8, ly = H - 12;
  o << "<line x1='" << lx << "' y1='" << ly - 4 << "' x2='" << lx + 18 << "' y2='" << ly - 4
    << "' stroke='#222' stroke-width='1.5'/><text x='" << lx + 22 << "' y='" << ly << "' font-size='11'>actual</text>";
  lx += 80;
  for (size_t m = 0; m < modes.size(); ++m) {
    const std::string label = modes[m]->compile_mode + (modes[m]->compiled ? " (compiled)" : "");
    o << "<rect x='" << lx << "' y='" << ly - 9 << "' width='18' height='10' fill='" << colors[m % 4]
      << "' fill-opacity='0.3'/><line x1='" << lx << "' y1='" << ly - 4 << "' x2='" << lx + 18 << "' y2='" << ly - 4
      << "' stroke='" << colors[m % 4] << "' stroke-width='2'/><text x='" << lx + 22 << "' y='" << ly
      << "' font-size='11'>" << html_escape(label) << " mean, q10-q90</text>";
    lx += 200;
  }
  o << "</svg>";
  return o.str();
}

inline std::string html_report(const RunInfo& info, const std::vector<IterationRecord>& records,
                               const std::vector<ModelSummary>& s, Tier verdict) {
  std::ostringstream o;
  o << "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'><title>fcast compile stress test: "
    << html_escape(info.mode) << "</title>\n<style>"
    << "body{font-family:sans-serif;max-width:980px;margin:2em auto;padding:0 1em;color:#222}"
    << "table{border-collapse:collapse;margin:0.5em 0 1.2em}td,th{border:1px solid #ccc;padding:3px 7px;"
       "font-size:13px;text-align:right}th{background:#f1f3f5}td:first-child,th:first-child{text-align:left}"
    << ".PASS{background:#d3f9d8}.WARN{background:#fff3bf}.FAIL{background:#ffc9c9}.INFO{background:#f1f3f5}"
    << ".banner{border:2px solid #e03131;background:#fff5f5;padding:0.6em 1em;font-weight:bold}"
    << "</style></head><body>\n";
  o << "<h1>Compile stress test &mdash; " << html_escape(info.mode) << "</h1>\n";
  if (info.random_weights) o << "<p class='banner'>" << html_escape(kRandomBanner) << "</p>\n";
  if (info.perturbation != 0)
    o << "<p class='banner'>TEST SWITCH ON: compiled outputs scaled by " << fixed(1 + info.perturbation, 3)
      << " (FCAST_TEST_PERTURB_COMPILED).</p>\n";
  if (info.status != "complete")
    o << "<p class='banner'>Status: " << html_escape(info.status) << " (" << info.completed_iterations << " of "
      << info.iterations << " iterations complete).</p>\n";
  o << "<p>" << info.iterations << " iterations &times; " << info.windows << " walk-forward forecasts per mode; context "
    << info.context_length << ", prediction length " << info.prediction_length << ", " << info.num_samples
    << " samples; compiled = " << html_escape(info.compile_mode) << " / " << html_escape(info.compile_backend) << " / "
    << html_escape(info.precision) << "; " << info.threads << " threads; " << fixed(info.elapsed_s, 1) << " s.</p>\n";
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
    o << "<table><tr><th>Mode</th><th>MAE</th><th>Load ms</th><th>First call ms</th><th>p50 ms</th><th>Peak RSS MB</th>"
         "<th>Recompiles</th></tr>\n";
    o << "<tr><td>eager</td><td>" << fixed(m.eager_mae, 4) << "</td><td>" << fixed(m.eager_load_ms, 1) << "</td><td>"
      << fixed(m.eager_first_ms, 1) << "</td><td>" << fixed(m.eager_p50_ms, 2) << "</td><td>" << fixed(m.eager_rss_mb, 1)
      << "</td><td>0</td></tr>\n";
    o << "<tr><td>" << html_escape(m.compiled_mode) << " (compiled)</td><td>" << fixed(m.compiled_mae, 4) << "</td><td>"
      << fixed(m.compiled_load_ms, 1) << "</td><td>" << fixed(m.compiled_first_ms, 1) << "</td><td>"
      << fixed(m.compiled_p50_ms, 2) << "</td><td>" << fixed(m.compiled_rss_mb, 1) << "</td><td>" << m.total_recompiles
      << "</td></tr></table>\n";
    std::vector<std::pair<std::string, std::vector<double>>> lat;
    for (bool compiled : {false, true}) {
      std::vector<double> all;
      std::string label;
      for (const auto& r : records)
        if (r.model_name == m.model_name && r.compiled == compiled) {
          all.insert(all.end(), r.perf.steady_ms.begin(), r.perf.steady_ms.end());
          label = r.compile_mode + (compiled ? " (compiled)" : "");
        }
      if (!label.empty()) lat.push_back({label, all});
    }
    o << "<h3>Latency distribution per mode</h3>\n" << latency_svg(lat) << "\n";
    // Forecast vs actual: the first iteration of each model (both modes share its windows).
    std::map<int, std::vector<const IterationRecord*>> by_iter;
    for (const auto& r : records)
      if (r.model_name == m.model_name) by_iter[r.iteration].push_back(&r);
    if (!by_iter.empty()) {
      const auto& first = by_iter.begin()->second;
      o << "<h3>Forecast vs actual (iteration " << by_iter.begin()->first << ", " << html_escape(first[0]->symbol)
        << ")</h3>\n"
        << forecast_svg(first) << "\n";
    }
  }
  o << "<p style='font-size:12px;color:#666'>Written by <code>fcast stress</code>; self-contained (no scripts, no "
       "external resources). JSON: compile_stress_results_"
    << html_escape(info.mode) << ".json. See docs/STRESS_TEST.md.</p>\n</body></html>\n";
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
  write_file_atomic(dir + "/" + summary_file(info.mode), summary_json(info, s, verdict).dump(2) + "\n");
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
