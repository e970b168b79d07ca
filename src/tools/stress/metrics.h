// The stress test's numbers and verdicts: per-iteration records, the accuracy metrics of a
// forecast against held-out bars, latency percentiles, and the compiled-vs-eager summary rated
// in tiers (docs/STRESS_TEST.md).
//
//   IterationRecord r;  r.model_name = "Toto";  r.compile_mode = "eager";  ...
//   std::vector<ModelSummary> s = summarize({r, ...}, TierOptions{});
//   Tier t = worst_tier(s);                 // production-check fails on Tier::Fail
//
// Header-only: the tool's CMake glob (src/tools/*.cc) is not recursive, so the stress code lives in
// headers included by cmd_stress.cc, cmd_profile.cc and the tests.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

namespace fcast::stress {

enum class Tier { Pass, Warn, Fail, Info };

inline const char* tier_name(Tier t) {
  switch (t) {
    case Tier::Pass: return "PASS";
    case Tier::Warn: return "WARN";
    case Tier::Fail: return "FAIL";
    case Tier::Info: return "INFO";
  }
  return "?";
}

// The README tiers of the Python tool, which its code never applied.
// Boundaries: a value exactly on a boundary takes the better tier on the "<" side as written:
//   MAE delta      PASS < 5 %,  WARN 5..10 %,  FAIL > 10 %
//   recompiles     PASS < 10,   WARN 10..20,   FAIL > 20
//   speedup        PASS >= 0.8, WARN 0.5..0.8, FAIL < 0.5
inline Tier rate_mae_delta(double pct) {
  if (!std::isfinite(pct)) return Tier::Fail;
  if (pct < 5.0) return Tier::Pass;
  if (pct <= 10.0) return Tier::Warn;
  return Tier::Fail;
}
inline Tier rate_recompiles(int64_t n) {
  if (n < 10) return Tier::Pass;
  if (n <= 20) return Tier::Warn;
  return Tier::Fail;
}
inline Tier rate_speedup(double x) {
  if (!std::isfinite(x)) return Tier::Fail;
  if (x >= 0.8) return Tier::Pass;
  if (x >= 0.5) return Tier::Warn;
  return Tier::Fail;
}

// One forecast window: `actual` are the held-out bars, the rest is the forecast (per step).
struct WindowResult {
  std::string origin;                 // timestamp of the last context bar
  double last_close = NAN;            // the close at the origin: the last-value (naive) forecast of every step
  std::vector<std::string> times;     // timestamps of the held-out bars
  std::vector<double> actual, mean, q10, q90, std;
  std::vector<double> context_tail;   // the last bars before the origin (for the plot)
  std::vector<std::string> context_times;  // their timestamps
};

struct AccuracyMetrics {
  double mae = 0, rmse = 0, mape = 0, prediction_mean = 0, prediction_std = 0, target_mean = 0;
  // The last-value baseline on the same held-out bars (NaN when a window has no last close).
  double naive_mae = NAN;
  double relative_mae = NAN;  // mae / naive_mae: below 1 beats the last value
  double coverage = NAN;      // share of held-out bars inside [q10, q90] (nominal 0.8)
};

// MAE, RMSE and MAPE (%) of the mean forecast over every step of every window; prediction_std is
// the mean over steps of the std ACROSS SAMPLES (the Python tool took the std of one number).
inline AccuracyMetrics accuracy_of(const std::vector<WindowResult>& windows) {
  AccuracyMetrics m;
  double n = 0, abs_sum = 0, sq_sum = 0, ape_sum = 0, ape_n = 0, pred_sum = 0, std_sum = 0, target_sum = 0;
  double naive_sum = 0, inside = 0, band_n = 0;
  bool naive_ok = true;
  for (const WindowResult& w : windows)
    for (size_t k = 0; k < w.actual.size() && k < w.mean.size(); ++k) {
      const double e = w.mean[k] - w.actual[k];
      naive_ok = naive_ok && std::isfinite(w.last_close);
      naive_sum += std::fabs(w.last_close - w.actual[k]);
      if (k < w.q10.size() && k < w.q90.size()) {
        inside += w.actual[k] >= w.q10[k] && w.actual[k] <= w.q90[k];
        band_n += 1;
      }
      abs_sum += std::fabs(e);
      sq_sum += e * e;
      if (w.actual[k] != 0) {
        ape_sum += std::fabs(e) / std::fabs(w.actual[k]);
        ape_n += 1;
      }
      pred_sum += w.mean[k];
      std_sum += k < w.std.size() ? w.std[k] : 0.0;
      target_sum += w.actual[k];
      n += 1;
    }
  if (n == 0) return m;
  m.mae = abs_sum / n;
  m.rmse = std::sqrt(sq_sum / n);
  m.mape = ape_n > 0 ? 100.0 * ape_sum / ape_n : 0.0;
  m.prediction_mean = pred_sum / n;
  m.prediction_std = std_sum / n;
  m.target_mean = target_sum / n;
  if (naive_ok) {
    m.naive_mae = naive_sum / n;
    m.relative_mae = m.naive_mae > 0 ? m.mae / m.naive_mae : (m.mae == 0 ? 1.0 : INFINITY);
  }
  if (band_n > 0) m.coverage = inside / band_n;
  return m;
}

// Geometric mean of the positive finite values (0 when one is 0; NaN when none is usable): the
// aggregate of scale-free ratios, where an arithmetic mean would let one symbol dominate.
inline double geometric_mean(const std::vector<double>& v) {
  double log_sum = 0;
  int n = 0;
  for (double x : v) {
    if (!std::isfinite(x) || x < 0) continue;
    if (x == 0) return 0;
    log_sum += std::log(x);
    ++n;
  }
  return n == 0 ? NAN : std::exp(log_sum / n);
}

// One model's errors on one symbol in one mode, pooled over every window of every iteration that
// forecast that symbol. MAE is in the symbol's price units, so it is only ever shown per symbol;
// the ratios are what may be compared and aggregated across symbols.
struct SymbolScore {
  std::string model_name, compile_mode, symbol;
  bool compiled = false;
  int64_t windows = 0, bars = 0;
  AccuracyMetrics accuracy;  // mae, naive_mae, relative_mae, coverage over the pooled windows
  double skill() const { return 1.0 - accuracy.relative_mae; }  // > 0: better than the last value
};

// The scale-free aggregate of one model and mode over its symbols.
struct ModeScore {
  std::string model_name, compile_mode;
  bool compiled = false;
  int symbols = 0;               // symbols with a usable ratio
  int beats_last_value = 0;      // symbols whose relative MAE is below 1
  double relative_mae = NAN;     // geometric mean over symbols of MAE / last-value MAE
  double skill = NAN;            // 1 - relative_mae
  double coverage = NAN;         // mean over symbols of the q10-q90 coverage
};

struct Scores {
  std::vector<SymbolScore> symbols;  // in order of first appearance (model, mode, symbol)
  std::vector<ModeScore> modes;
};


// Compiled minus eager, forecast by forecast (same windows, same seeds).
struct DiffPoint {
  int iteration = 0;
  std::string symbol;
  size_t window = 0, step = 0;
  double eager = 0, compiled = 0;
  double abs_diff() const { return std::fabs(compiled - eager); }
  double rel_diff() const {
    return eager != 0 ? std::fabs(compiled - eager) / std::fabs(eager) : (compiled == eager ? 0.0 : INFINITY);
  }
};
struct CompiledEagerDiff {
  std::string model_name;
  std::vector<DiffPoint> points;  // by iteration, window, step
  double max_abs = 0, max_rel = 0;
};


// Percentile with linear interpolation between order statistics (numpy's default).
inline double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const double pos = p / 100.0 * static_cast<double>(v.size() - 1);
  const size_t lo = static_cast<size_t>(std::floor(pos)), hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (v[hi] - v[lo]) * (pos - static_cast<double>(lo));
}

inline double mean_of(const std::vector<double>& v) {
  if (v.empty()) return 0;
  double s = 0;
  for (double x : v) s += x;
  return s / static_cast<double>(v.size());
}

struct PerformanceMetrics {
  double load_ms = 0;            // reading the checkpoint(s) and building the model objects
  double first_call_ms = 0;      // the first forecast: includes plan building / autotuning when compiled
  std::vector<double> steady_ms; // every later forecast (after mark_warm)
  double p50_ms = 0, p99_ms = 0, mean_ms = 0;
  double peak_rss_mb = 0;        // peak resident set of this mode's load + forecasts
  int64_t plans_built = 0, recompiles = 0, cache_hits = 0, cache_misses = 0, fallbacks_to_eager = 0, runs = 0;
  std::string executor;          // Executor::name()
};

struct IterationRecord {
  std::string model_name;    // the registered name, capitalised ("Toto"): the report label
  std::string compile_mode;  // "eager" or the compiled mode, e.g. "max-autotune"
  bool compiled = false;     // the label that the summary keys on (never the mode's spelling)
  int iteration = 0;
  std::string symbol, data_file;
  int64_t context_length = 0, prediction_length = 0, num_samples = 0;
  std::vector<WindowResult> windows;
  AccuracyMetrics accuracy;
  PerformanceMetrics perf;
};

struct TierOptions {
  bool rate_speed = true;  // false: speed reported, not rated (shared CI machines)
};

struct Check {
  std::string name;   // "MAE delta", "forecast divergence", "recompiles after warm-up", "speedup", "memory overhead"
  double value = 0;
  std::string shown;  // the value as printed
  Tier tier = Tier::Info;
  std::string reason; // why it is not PASS (empty when PASS)
};

struct ModelSummary {
  std::string model_name, compiled_mode;
  int eager_iterations = 0, compiled_iterations = 0;
  double eager_mae = 0, compiled_mae = 0, mae_delta_pct = 0, mae_delta_signed_pct = 0;
  double divergence_pct = 0;  // mean |compiled - eager| forecast / eager MAE, in %
  double eager_p50_ms = 0, compiled_p50_ms = 0, speedup = 0;  // pooled steady-state latencies
  double eager_p99_ms = 0, compiled_p99_ms = 0;
  double eager_first_ms = 0, compiled_first_ms = 0, eager_load_ms = 0, compiled_load_ms = 0;
  double eager_rss_mb = 0, compiled_rss_mb = 0, memory_overhead_pct = 0;
  int64_t total_recompiles = 0, plans_built = 0, cache_hits = 0, cache_misses = 0, fallbacks_to_eager = 0;
  std::vector<Check> checks;
  Tier tier = Tier::Info;  // worst check; Info when a mode is missing
};

inline Tier worse(Tier a, Tier b) {
  auto rank = [](Tier t) { return t == Tier::Fail ? 3 : t == Tier::Warn ? 2 : t == Tier::Pass ? 1 : 0; };
  return rank(a) >= rank(b) ? a : b;
}

inline std::string fixed(double v, int digits) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

// Compares the compiled iterations with the eager ones of each model (matched by iteration number
// for the divergence, which needs the same windows in both modes).
inline std::vector<ModelSummary> summarize(const std::vector<IterationRecord>& records, const TierOptions& opt) {
  std::vector<std::string> order;
  for (const auto& r : records)
    if (std::find(order.begin(), order.end(), r.model_name) == order.end()) order.push_back(r.model_name);
  std::vector<ModelSummary> out;
  for (const std::string& model : order) {
    ModelSummary s;
    s.model_name = model;
    std::vector<double> e_mae, c_mae, e_p50, c_p50, e_first, c_first, e_load, c_load;
    double e_rss = 0, c_rss = 0;
    std::map<int, const IterationRecord*> eager_by_iter;
    for (const auto& r : records) {
      if (r.model_name != model) continue;
      if (r.compiled) {
        s.compiled_mode = r.compile_mode;
        ++s.compiled_iterations;
        c_mae.push_back(r.accuracy.mae);
        c_p50.push_back(r.perf.p50_ms);
        c_first.push_back(r.perf.first_call_ms);
        c_load.push_back(r.perf.load_ms);
        c_rss = std::max(c_rss, r.perf.peak_rss_mb);
        s.total_recompiles += r.perf.recompiles;
        s.plans_built += r.perf.plans_built;
        s.cache_hits += r.perf.cache_hits;
        s.cache_misses += r.perf.cache_misses;
        s.fallbacks_to_eager += r.perf.fallbacks_to_eager;
      } else {
        ++s.eager_iterations;
        e_mae.push_back(r.accuracy.mae);
        e_p50.push_back(r.perf.p50_ms);
        e_first.push_back(r.perf.first_call_ms);
        e_load.push_back(r.perf.load_ms);
        e_rss = std::max(e_rss, r.perf.peak_rss_mb);
        eager_by_iter[r.iteration] = &r;
      }
    }
    s.eager_mae = mean_of(e_mae);
    s.compiled_mae = mean_of(c_mae);
    // Speed: the p50 of every steady-state call of the mode, pooled over its iterations, so one
    // slow iteration (a busy machine) does not decide the verdict; p99 keeps the slow tail visible.
    std::vector<double> e_all, c_all;
    for (const auto& r : records) {
      if (r.model_name != model) continue;
      std::vector<double>& all = r.compiled ? c_all : e_all;
      all.insert(all.end(), r.perf.steady_ms.begin(), r.perf.steady_ms.end());
    }
    s.eager_p50_ms = e_all.empty() ? mean_of(e_p50) : percentile(e_all, 50);
    s.compiled_p50_ms = c_all.empty() ? mean_of(c_p50) : percentile(c_all, 50);
    s.eager_p99_ms = percentile(e_all, 99);
    s.compiled_p99_ms = percentile(c_all, 99);
    s.eager_first_ms = mean_of(e_first);
    s.compiled_first_ms = mean_of(c_first);
    s.eager_load_ms = mean_of(e_load);
    s.compiled_load_ms = mean_of(c_load);
    s.eager_rss_mb = e_rss;
    s.compiled_rss_mb = c_rss;
    if (s.eager_iterations == 0 || s.compiled_iterations == 0) {
      s.tier = Tier::Info;
      out.push_back(s);
      continue;
    }
    // MAE delta: the geometric mean over iterations of compiled MAE / eager MAE, minus 1. Each
    // iteration forecasts one symbol in its own price units, so MAEs are compared within an
    // iteration and only their ratios are pooled. An eager MAE of 0 with a compiled MAE above 0
    // is an infinite delta.
    std::vector<double> ratios;
    bool infinite = false;
    for (const auto& r : records) {
      if (r.model_name != model || !r.compiled) continue;
      auto it = eager_by_iter.find(r.iteration);
      if (it == eager_by_iter.end()) continue;
      const double e = it->second->accuracy.mae, c = r.accuracy.mae;
      if (!std::isfinite(e) || !std::isfinite(c)) infinite = true;
      else if (e > 0) ratios.push_back(c / e);
      else if (c > 0) infinite = true;
      else ratios.push_back(1.0);
    }
    const double ratio = geometric_mean(ratios);
    s.mae_delta_signed_pct = infinite ? INFINITY : std::isfinite(ratio) ? 100.0 * (ratio - 1.0) : 0.0;
    s.mae_delta_pct = std::fabs(s.mae_delta_signed_pct);
    // Divergence: the forecasts themselves, window by window. MAEs can agree while forecasts differ
    // (errors of opposite sign cancel); by the triangle inequality divergence >= MAE delta.
    double div_sum = 0, div_n = 0, eager_err = 0;
    for (const auto& r : records) {
      if (r.model_name != model || !r.compiled) continue;
      auto it = eager_by_iter.find(r.iteration);
      if (it == eager_by_iter.end()) continue;
      const auto& ew = it->second->windows;
      for (size_t w = 0; w < r.windows.size() && w < ew.size(); ++w)
        for (size_t k = 0; k < r.windows[w].mean.size() && k < ew[w].mean.size() && k < ew[w].actual.size(); ++k) {
          div_sum += std::fabs(r.windows[w].mean[k] - ew[w].mean[k]);
          eager_err += std::fabs(ew[w].mean[k] - ew[w].actual[k]);
          div_n += 1;
        }
    }
    s.divergence_pct = div_n == 0 ? 0.0 : eager_err > 0 ? 100.0 * div_sum / eager_err : (div_sum == 0 ? 0.0 : INFINITY);
    s.speedup = s.compiled_p50_ms > 0 ? s.eager_p50_ms / s.compiled_p50_ms : 0.0;
    s.memory_overhead_pct = s.eager_rss_mb > 0 ? 100.0 * (s.compiled_rss_mb - s.eager_rss_mb) / s.eager_rss_mb : 0.0;

    Check mae{"MAE delta", s.mae_delta_pct, fixed(s.mae_delta_signed_pct, 2) + " %", rate_mae_delta(s.mae_delta_pct), ""};
    if (mae.tier != Tier::Pass)
      mae.reason = model + ": compiled MAE differs from eager MAE by " + mae.shown +
                   " (geometric mean over iterations of the per-symbol ratio; PASS < 5 %, FAIL > 10 %)";
    Check div{"forecast divergence", s.divergence_pct, fixed(s.divergence_pct, 2) + " % of eager MAE",
              rate_mae_delta(s.divergence_pct), ""};
    if (div.tier != Tier::Pass)
      div.reason = model + ": compiled forecasts differ from eager ones by " + div.shown +
                   " on the same windows (PASS < 5 %, FAIL > 10 %)";
    Check rec{"recompiles after warm-up", static_cast<double>(s.total_recompiles), std::to_string(s.total_recompiles),
              rate_recompiles(s.total_recompiles), ""};
    if (rec.tier != Tier::Pass)
      rec.reason = model + ": " + rec.shown + " recompiles after warm-up over " + std::to_string(s.compiled_iterations) +
                   " compiled iterations (PASS < 10, FAIL > 20)";
    Check spd{"speedup (eager p50 / compiled p50, steady state)", s.speedup, fixed(s.speedup, 2) + "x",
              opt.rate_speed ? rate_speedup(s.speedup) : Tier::Info, ""};
    if (spd.tier == Tier::Warn || spd.tier == Tier::Fail)
      spd.reason = model + ": compiled is slower than eager: steady-state p50 " + fixed(s.compiled_p50_ms, 2) +
                   " ms vs " + fixed(s.eager_p50_ms, 2) + " ms (" + spd.shown + "; PASS >= 0.8x, FAIL < 0.5x)";
    Check mem{"memory overhead (peak RSS)", s.memory_overhead_pct, fixed(s.memory_overhead_pct, 1) + " %", Tier::Info,
              ""};
    s.checks = {mae, div, rec, spd, mem};
    s.tier = Tier::Pass;
    for (const Check& c : s.checks) s.tier = worse(s.tier, c.tier);
    out.push_back(s);
  }
  return out;
}

// Worst tier over the models that ran in both modes (Info when none did).
inline Tier worst_tier(const std::vector<ModelSummary>& s) {
  Tier t = Tier::Info;
  for (const auto& m : s) t = worse(t, m.tier);
  return t;
}

inline std::vector<std::string> failure_reasons(const std::vector<ModelSummary>& s, Tier at_least) {
  std::vector<std::string> out;
  for (const auto& m : s)
    for (const auto& c : m.checks)
      if (!c.reason.empty() && (c.tier == Tier::Fail || (at_least == Tier::Warn && c.tier == Tier::Warn)))
        out.push_back(std::string(tier_name(c.tier)) + " " + c.reason);
  return out;
}

inline Scores score_by_symbol(const std::vector<IterationRecord>& records) {
  Scores out;
  // Group the windows by (model, compiled, symbol), keeping the order of first appearance.
  std::vector<std::vector<WindowResult>> pooled;
  for (const auto& r : records) {
    size_t i = 0;
    while (i < out.symbols.size() && !(out.symbols[i].model_name == r.model_name &&
                                       out.symbols[i].compiled == r.compiled && out.symbols[i].symbol == r.symbol))
      ++i;
    if (i == out.symbols.size()) {
      SymbolScore s;
      s.model_name = r.model_name;
      s.compile_mode = r.compile_mode;
      s.symbol = r.symbol;
      s.compiled = r.compiled;
      out.symbols.push_back(s);
      pooled.emplace_back();
    }
    pooled[i].insert(pooled[i].end(), r.windows.begin(), r.windows.end());
  }
  for (size_t i = 0; i < out.symbols.size(); ++i) {
    SymbolScore& s = out.symbols[i];
    s.windows = static_cast<int64_t>(pooled[i].size());
    for (const auto& w : pooled[i]) s.bars += static_cast<int64_t>(std::min(w.actual.size(), w.mean.size()));
    s.accuracy = accuracy_of(pooled[i]);
  }
  for (const SymbolScore& s : out.symbols) {
    size_t i = 0;
    while (i < out.modes.size() && !(out.modes[i].model_name == s.model_name && out.modes[i].compiled == s.compiled))
      ++i;
    if (i == out.modes.size()) {
      ModeScore m;
      m.model_name = s.model_name;
      m.compile_mode = s.compile_mode;
      m.compiled = s.compiled;
      out.modes.push_back(m);
    }
  }
  for (ModeScore& m : out.modes) {
    std::vector<double> rel, cov;
    for (const SymbolScore& s : out.symbols) {
      if (s.model_name != m.model_name || s.compiled != m.compiled) continue;
      if (std::isfinite(s.accuracy.relative_mae)) {
        rel.push_back(s.accuracy.relative_mae);
        m.beats_last_value += s.accuracy.relative_mae < 1.0;
      }
      if (std::isfinite(s.accuracy.coverage)) cov.push_back(s.accuracy.coverage);
    }
    m.symbols = static_cast<int>(rel.size());
    m.relative_mae = geometric_mean(rel);
    m.skill = 1.0 - m.relative_mae;
    m.coverage = cov.empty() ? NAN : mean_of(cov);
  }
  return out;
}

inline CompiledEagerDiff compiled_eager_diff(const std::vector<IterationRecord>& records, const std::string& model) {
  CompiledEagerDiff d;
  d.model_name = model;
  std::map<int, const IterationRecord*> eager;
  for (const auto& r : records)
    if (r.model_name == model && !r.compiled) eager[r.iteration] = &r;
  for (const auto& r : records) {
    if (r.model_name != model || !r.compiled) continue;
    auto it = eager.find(r.iteration);
    if (it == eager.end()) continue;
    const auto& ew = it->second->windows;
    for (size_t w = 0; w < r.windows.size() && w < ew.size(); ++w)
      for (size_t k = 0; k < r.windows[w].mean.size() && k < ew[w].mean.size(); ++k) {
        DiffPoint p{r.iteration, r.symbol, w, k, ew[w].mean[k], r.windows[w].mean[k]};
        d.max_abs = std::max(d.max_abs, p.abs_diff());
        d.max_rel = std::max(d.max_rel, p.rel_diff());
        d.points.push_back(p);
      }
  }
  return d;
}

}  // namespace fcast::stress
