// `fcast backtest` reports: one JSON file with everything, a markdown summary and a
// self-contained HTML page with SVG charts (equity curves of the strategies, forecast fans
// against actuals per key, model vs baselines, calibration, compiled vs eager). The HTML checks
// itself (stress/report.h's report-check marker) so a headless browser can verify it.
//
// Not thread-safe (plain functions over values).
#pragma once
#include <cmath>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "core/error.h"
#include "eval/guard.h"
#include "eval/quality.h"
#include "eval/strategies.h"
#include "io/csv.h"
#include "io/file.h"
#include "models/registry.h"
#include "tools/backtest/evaluate.h"
#include "tools/stress/charts.h"
#include "tools/stress/report.h"

namespace fcast::backtest {

struct SymbolReport {
  std::string symbol;
  nlohmann::json strategies;                            // eval::backtest_json
  std::map<std::string, eval::QualitySummary> quality;  // per key
  std::vector<eval::StrategyResult> latest;             // the most recent simulation's strategies
};

struct ModelReport {
  std::string model, config, executor;
  bool trained_default = false, one_step = true;
  ModelPaths checkpoints;
  Protocol protocol;
  int64_t num_samples = 0, forecasts = 0, nonfinite = 0;
  double seconds = 0;
  std::vector<SymbolReport> symbols;
  std::vector<SymbolRun> runs;  // per symbol, the forecast days (for the charts)
};

struct Report {
  std::string generated_at, aggregate;
  const std::vector<Bars>* bars = nullptr;
  std::vector<ModelReport> models;
  // The compile guard (--compare), empty otherwise.
  std::vector<eval::GuardComparison> guard;
  std::string guard_verdict, guard_markdown, history_file;
  std::vector<eval::MetricRating> history_ratings;
};

struct ReportFiles {
  std::string json, markdown, html;
};

inline nlohmann::ordered_json jnum(double v) { return std::isfinite(v) ? nlohmann::ordered_json(v) : nlohmann::ordered_json(nullptr); }

inline nlohmann::ordered_json errors_json(const eval::ErrorMetrics& e) {
  return {{"count", e.count}, {"mae", jnum(e.mae)}, {"rmse", jnum(e.rmse)}, {"mape_percent", jnum(e.mape_percent)},
          {"mape_count", e.mape_count}};
}

inline nlohmann::ordered_json skill_json(const eval::SkillScore& s) { return s.defined ? jnum(s.value) : nlohmann::ordered_json(nullptr); }

inline nlohmann::ordered_json baseline_json(const eval::BaselineQuality& b) {
  return {{"price", errors_json(b.price)},
          {"returns", errors_json(b.returns)},
          {"price_mae_skill", skill_json(b.price_mae_skill)},
          {"price_rmse_skill", skill_json(b.price_rmse_skill)},
          {"return_mae_skill", skill_json(b.return_mae_skill)},
          {"return_rmse_skill", skill_json(b.return_rmse_skill)},
          {"fallback_count", b.fallback_count}};
}

inline nlohmann::ordered_json quality_json(const eval::QualitySummary& q) {
  return {{"points", q.points},
          {"price", errors_json(q.price)},
          {"returns", errors_json(q.returns)},
          {"direction_hit_rate", jnum(q.direction_hit_rate)},
          {"crps", jnum(q.crps)},
          {"coverage_q10_q90", jnum(q.coverage_q10_q90)},
          {"coverage_q05_q95", jnum(q.coverage_q05_q95)},
          {"baselines",
           {{"persistence", baseline_json(q.persistence)},
            {"drift", baseline_json(q.drift)},
            {"seasonal_naive", baseline_json(q.seasonal_naive)}}}};
}

inline nlohmann::ordered_json report_json(const Report& r) {
  nlohmann::ordered_json j;
  j["generated_at"] = r.generated_at;
  j["aggregate"] = r.aggregate;
  for (const ModelReport& m : r.models) {
    nlohmann::ordered_json mj;
    mj["model"] = m.model;
    mj["config"] = m.config;
    mj["executor"] = m.executor;
    mj["checkpoints"] = m.checkpoints;
    mj["trained_default"] = m.trained_default;
    mj["weights_note"] = m.trained_default ? "the bundled tiny model trained on the bundled market data, not the "
                                             "published model: its figures describe this tiny model only"
                                           : "the given checkpoints";
    mj["protocol"] = {{"simulations", m.protocol.simulations},
                      {"days", m.protocol.days},
                      {"keys", m.protocol.keys},
                      {"context", m.protocol.context},
                      {"held_out_from", m.protocol.held_out_from},
                      {"forecast", m.one_step ? "one-step percentage changes, walking forward" : "the window's bars at once"},
                      {"num_samples", m.num_samples}};
    mj["forecasts"] = m.forecasts;
    mj["nonfinite_values"] = m.nonfinite;
    mj["seconds"] = m.seconds;
    for (const SymbolReport& s : m.symbols) {
      nlohmann::ordered_json sj;
      sj["backtest"] = s.strategies;
      for (const auto& [key, q] : s.quality) sj["quality"][key] = quality_json(q);
      mj["symbols"][s.symbol] = std::move(sj);
    }
    j["runs"].push_back(std::move(mj));
  }
  if (!r.guard.empty()) {
    nlohmann::ordered_json g;
    g["verdict"] = r.guard_verdict;
    g["history_file"] = r.history_file;
    for (const eval::GuardComparison& c : r.guard) {
      nlohmann::ordered_json cj = {{"symbol", c.symbol},
                                   {"variant", c.variant},
                                   {"baseline_executor", c.baseline_executor},
                                   {"candidate_executor", c.candidate_executor},
                                   {"max_abs_return_delta", jnum(c.max_abs_return_delta)},
                                   {"verdict", eval::verdict_name(c.verdict)},
                                   {"reason", c.reason}};
      for (const eval::StrategyDelta& d : c.strategies)
        cj["strategies"][d.name] = {{"return_delta", jnum(d.return_delta)}, {"sharpe_delta", jnum(d.sharpe_delta)}};
      for (const eval::ValLossDelta& d : c.val_loss) cj["val_loss"][d.key] = jnum(d.delta);
      g["comparisons"].push_back(std::move(cj));
    }
    for (const eval::MetricRating& m : r.history_ratings)
      g["history"].push_back({{"symbol", m.symbol}, {"metric", m.metric}, {"n", m.n}, {"mean", jnum(m.mean)},
                              {"last", jnum(m.last)}, {"rating", m.rating}});
    j["compile_guard"] = std::move(g);
  }
  return j;
}

inline std::string pct(double v) {
  if (!std::isfinite(v)) return "n/a";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f %%", 100 * v);
  return buf;
}

inline std::string num3(double v) {
  if (!std::isfinite(v)) return "n/a";
  return stress::short_num(v);
}

// The lines printed at the end of a run and opening the markdown report.
inline std::string summary_text(const Report& r) {
  std::ostringstream o;
  for (const ModelReport& m : r.models) {
    o << m.model << " (" << m.config << "): " << m.forecasts << " forecasts, " << m.protocol.simulations
      << " simulations x " << m.protocol.days << " days"
      << (m.trained_default ? "; the bundled TINY model trained on this data, not the published one" : "") << "\n";
    for (const SymbolReport& s : m.symbols) {
      const eval::QualitySummary& q = s.quality.at("close");
      o << "  " << s.symbol << ": close MAE " << num3(q.price.mae) << " (persistence " << num3(q.persistence.price.mae)
        << ", skill " << (q.persistence.price_mae_skill.defined ? num3(q.persistence.price_mae_skill.value) : "n/a")
        << "), direction " << pct(q.direction_hit_rate) << ", q10-q90 coverage " << pct(q.coverage_q10_q90);
      if (s.strategies.contains("strategies") && s.strategies["strategies"].contains("simple"))
        o << ", simple return " << pct(s.strategies["strategies"]["simple"].value("return", 0.0));
      o << "\n";
    }
  }
  return o.str();
}

// ---- charts (inline SVG; data marks carry class 'd' for the self-check) ----

struct Line {
  std::string name, color;
  std::vector<double> values;  // NaN: no point
  bool dashed = false;
};

// Lines over the same x positions (labels under the axis), with an optional band.
inline std::string line_chart(const char* kind, const std::string& title, const std::vector<std::string>& labels,
                              const std::vector<Line>& lines, const std::vector<double>& band_lo = {},
                              const std::vector<double>& band_hi = {}) {
  const double W = 560, H = 240, L = 60, R = 10, T = 24, B = 40;
  double lo = INFINITY, hi = -INFINITY;
  auto take = [&](double v) {
    if (std::isfinite(v)) lo = std::min(lo, v), hi = std::max(hi, v);
  };
  for (const Line& l : lines)
    for (double v : l.values) take(v);
  for (double v : band_lo) take(v);
  for (double v : band_hi) take(v);
  if (!std::isfinite(lo)) lo = 0, hi = 1;
  if (hi == lo) hi = lo + 1;
  const size_t n = std::max<size_t>(labels.size(), 2);
  const stress::Scale x{0, static_cast<double>(n - 1), L, W - R}, y{lo, hi, H - B, T};
  std::ostringstream o;
  o << stress::svg_open(kind, W, H) << "<text x='" << L << "' y='14' font-size='12'>" << stress::html_escape(title)
    << "</text>";
  o << "<line x1='" << L << "' y1='" << H - B << "' x2='" << W - R << "' y2='" << H - B << "' stroke='#999'/>";
  for (double f : {0.0, 0.5, 1.0}) {
    const double v = lo + f * (hi - lo);
    o << "<text x='2' y='" << stress::svg_num(y(v) + 4) << "' font-size='10'>" << stress::short_num(v) << "</text>";
  }
  for (size_t i = 0; i < labels.size(); i += std::max<size_t>(1, labels.size() / 6))
    o << "<text x='" << stress::svg_num(x(static_cast<double>(i)) - 20) << "' y='" << H - B + 14
      << "' font-size='9'>" << stress::html_escape(stress::axis_date(labels[i])) << "</text>";
  if (!band_lo.empty() && band_lo.size() == band_hi.size()) {
    std::string pts;
    for (size_t i = 0; i < band_lo.size(); ++i) pts += stress::svg_num(x(static_cast<double>(i))) + "," + stress::svg_num(y(band_hi[i])) + " ";
    for (size_t i = band_lo.size(); i-- > 0;) pts += stress::svg_num(x(static_cast<double>(i))) + "," + stress::svg_num(y(band_lo[i])) + " ";
    o << "<polygon class='d' points='" << pts << "' fill='#4dabf7' fill-opacity='0.25' stroke='none'/>";
  }
  double ly = T + 4;
  for (const Line& l : lines) {
    std::string pts;
    for (size_t i = 0; i < l.values.size(); ++i)
      if (std::isfinite(l.values[i])) pts += stress::svg_num(x(static_cast<double>(i))) + "," + stress::svg_num(y(l.values[i])) + " ";
    o << "<polyline class='d' points='" << pts << "' fill='none' stroke='" << l.color << "' stroke-width='"
      << (l.dashed ? 1.5 : 2.5) << "'" << (l.dashed ? " stroke-dasharray='5,3'" : "") << "/>";
    for (size_t i = 0; i < l.values.size(); ++i)
      if (std::isfinite(l.values[i]))
        o << "<circle class='d' cx='" << stress::svg_num(x(static_cast<double>(i))) << "' cy='" << stress::svg_num(y(l.values[i]))
          << "' r='" << (l.dashed ? 2 : 3) << "' fill='" << l.color << "'/>";
    o << "<text x='" << W - 150 << "' y='" << ly + 8 << "' font-size='10' fill='" << l.color << "'>"
      << stress::html_escape(l.name) << "</text>";
    ly += 12;
  }
  o << "</svg>";
  return o.str();
}

struct Bar {
  std::string label;
  double value = 0;
  std::string color = "#1864ab";
};

inline std::string bar_chart(const char* kind, const std::string& title, const std::vector<Bar>& bars) {
  const double W = 560, row = 16, L = 190, T = 24;
  const double H = T + row * static_cast<double>(bars.size()) + 10;
  double hi = 0;
  for (const Bar& b : bars)
    if (std::isfinite(b.value)) hi = std::max(hi, std::fabs(b.value));
  if (hi == 0) hi = 1;
  std::ostringstream o;
  o << stress::svg_open(kind, W, H) << "<text x='4' y='14' font-size='12'>" << stress::html_escape(title) << "</text>";
  for (size_t i = 0; i < bars.size(); ++i) {
    const double yy = T + row * static_cast<double>(i);
    const double v = std::isfinite(bars[i].value) ? bars[i].value : 0;
    const double w = std::max(1.0, std::fabs(v) / hi * (W - L - 70));
    o << "<text x='4' y='" << yy + 11 << "' font-size='10'>" << stress::html_escape(bars[i].label) << "</text>"
      << "<rect class='d' x='" << L << "' y='" << yy + 2 << "' width='" << stress::svg_num(w) << "' height='" << row - 4
      << "' fill='" << (v < 0 ? "#c92a2a" : bars[i].color) << "'/>"
      << "<text x='" << stress::svg_num(L + w + 4) << "' y='" << yy + 11 << "' font-size='10'>"
      << (std::isfinite(bars[i].value) ? stress::short_num(bars[i].value) : std::string("n/a")) << "</text>";
  }
  o << "</svg>";
  return o.str();
}

inline std::string stamp_text(int64_t t) { return format_timestamp(t, t % 86400 != 0); }

inline const char* kStrategyColors[] = {"#1864ab", "#e8590c", "#2b8a3e", "#862e9c", "#c92a2a", "#5f3dc4", "#0b7285"};

inline std::string html_report(const Report& r) {
  const std::vector<Bars>& bars = *r.bars;
  std::ostringstream o;
  o << "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'><title>fcast backtest</title>"
    << stress::kReportCheckHead
    << "<style>body{font-family:sans-serif;max-width:1200px;margin:1em auto}svg.chart{margin:4px;border:1px solid "
       "#ddd}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 6px;font-size:12px}"
       ".banner{background:#fff3bf;padding:8px;border:1px solid #f08c00}</style></head><body>\n";
  o << "<h1>fcast backtest</h1><p>Generated " << stress::html_escape(r.generated_at) << "; point forecasts: <code>"
    << stress::html_escape(r.aggregate) << "</code> of the sample paths.</p>\n";
  for (const ModelReport& m : r.models)
    if (m.trained_default) {
      o << "<p class='banner'><b>Tiny models trained on the bundled data, not the published Toto or Kronos.</b> "
           "Their figures describe these tiny models only, "
        << (m.protocol.held_out_from > 0 ? "on the held-out part of each series."
                                         : "on every bar, including the bars they were trained on (--all-bars).")
        << "</p>\n";
      break;
    }
  if (!r.guard.empty())
    o << "<h2>Compile guard: " << stress::html_escape(r.guard_verdict) << "</h2><pre>"
      << stress::html_escape(r.guard_markdown) << "</pre>\n";
  for (size_t mi = 0; mi < r.models.size(); ++mi) {
    const ModelReport& m = r.models[mi];
    o << "<h2>" << stress::html_escape(m.model) << " (" << stress::html_escape(m.config) << ", executor "
      << stress::html_escape(m.executor) << ")</h2>\n";
    // Model vs baselines: close price MAE per symbol, relative to persistence.
    std::vector<Bar> rel;
    std::vector<Bar> calib;
    for (const SymbolReport& s : m.symbols) {
      const eval::QualitySummary& q = s.quality.at("close");
      rel.push_back({s.symbol + " model", q.price.mae / q.persistence.price.mae, "#1864ab"});
      rel.push_back({s.symbol + " drift", q.drift.price.mae / q.persistence.price.mae, "#868e96"});
      rel.push_back({s.symbol + " seasonal naive", q.seasonal_naive.price.mae / q.persistence.price.mae, "#adb5bd"});
      calib.push_back({s.symbol + " q10-q90 (nominal 0.80)", q.coverage_q10_q90, "#2b8a3e"});
      calib.push_back({s.symbol + " q05-q95 (nominal 0.90)", q.coverage_q05_q95, "#5c940d"});
    }
    o << bar_chart("baselines", "Close MAE relative to persistence (below 1 beats the last close)", rel);
    o << bar_chart("calibration", "Observed interval coverage (nominal 0.80 and 0.90)", calib);
    for (size_t si = 0; si < m.symbols.size(); ++si) {
      const SymbolReport& s = m.symbols[si];
      const Bars& b = bars[si];
      const Simulation& latest = m.runs[si].simulations.front();
      std::vector<std::string> labels;
      for (const DayPoint& d : latest.keys.at("close")) labels.push_back(stamp_text(b.timestamps[d.row]));
      // Equity curves of the strategies over the latest simulation's days.
      std::vector<Line> eq;
      for (size_t k = 0; k < s.latest.size(); ++k) {
        Line l{s.latest[k].name, kStrategyColors[k % 7], {}, false};
        double e = 1;
        for (double ret : s.latest[k].daily_returns) l.values.push_back(e *= 1 + ret);
        eq.push_back(std::move(l));
      }
      o << "<h3>" << stress::html_escape(s.symbol) << "</h3>";
      o << line_chart("equity", s.symbol + ": equity of each strategy over the latest window", labels, eq);
      // Forecast fans per key against the actuals of the latest window.
      for (const auto& [key, days] : latest.keys) {
        std::vector<double> actual, point, qlo, qhi;
        for (const DayPoint& d : days) {
          actual.push_back(d.actual);
          point.push_back(d.point);
          std::vector<double> p = d.paths;
          std::sort(p.begin(), p.end());
          qlo.push_back(eval::quantile_of_sorted(p, 0.1));
          qhi.push_back(eval::quantile_of_sorted(p, 0.9));
        }
        std::vector<Line> lines = {{"actual", "#212529", actual, false}, {"forecast (q10-q90 band)", "#1864ab", point, true}};
        // Compiled vs eager: the same window of the other executors of this model.
        // On the baseline's chart (the model's first run), every other executor's forecast.
        size_t first = 0;
        while (r.models[first].model != m.model) ++first;
        for (size_t mj = 0; mj < r.models.size() && mi == first; ++mj) {
          if (mj == mi || r.models[mj].model != m.model) continue;
          if (r.models[mj].runs.size() <= si) continue;
          std::vector<double> other;
          for (const DayPoint& d : r.models[mj].runs[si].simulations.front().keys.at(key)) other.push_back(d.point);
          lines.push_back({r.models[mj].config + " forecast", stress::kCompiledColor, other, true});
        }
        o << line_chart("forecast", s.symbol + " " + key + ": forecast vs actual, latest window", labels, lines, qlo, qhi);
      }
    }
  }
  o << stress::kReportCheckBody << "</body></html>\n";
  return o.str();
}

inline std::string markdown_report(const Report& r) {
  std::ostringstream o;
  o << "# fcast backtest\n\nGenerated " << r.generated_at << "; point forecasts: `" << r.aggregate << "`.\n\n";
  for (const ModelReport& m : r.models) {
    if (m.trained_default)
      o << "> **Tiny models trained on the bundled data, not the published " << m.model
        << ".** The figures below describe this tiny model only, "
        << (m.protocol.held_out_from > 0 ? "on the held-out part of each series." : "on every bar, training bars included (--all-bars).")
        << "\n\n";
    o << "## " << m.model << " (" << m.config << ", executor " << m.executor << ")\n\n"
      << m.protocol.simulations << " simulations x " << m.protocol.days << " days, context " << m.protocol.context
      << ", " << m.num_samples << " sample paths, " << m.forecasts << " forecasts in " << m.seconds << " s.\n\n"
      << "| symbol | key | MAE | persistence MAE | skill vs persistence | skill vs drift | direction | CRPS | q10-q90 | q05-q95 |\n"
      << "|---|---|---|---|---|---|---|---|---|---|\n";
    for (const SymbolReport& s : m.symbols)
      for (const auto& [key, q] : s.quality)
        o << "| " << s.symbol << " | " << key << " | " << num3(q.price.mae) << " | " << num3(q.persistence.price.mae)
          << " | " << (q.persistence.price_mae_skill.defined ? num3(q.persistence.price_mae_skill.value) : "n/a") << " | "
          << (q.drift.price_mae_skill.defined ? num3(q.drift.price_mae_skill.value) : "n/a") << " | "
          << pct(q.direction_hit_rate) << " | " << num3(q.crps) << " | " << pct(q.coverage_q10_q90) << " | "
          << pct(q.coverage_q05_q95) << " |\n";
    o << "\n| symbol | strategy | return | Sharpe | Sortino | max drawdown | turnover |\n|---|---|---|---|---|---|---|\n";
    for (const SymbolReport& s : m.symbols)
      if (s.strategies.contains("strategies"))
        for (const auto& [name, v] : s.strategies["strategies"].items())
          o << "| " << s.symbol << " | " << name << " | " << pct(v.value("return", NAN)) << " | "
            << num3(v.value("sharpe", NAN)) << " | " << num3(v.value("sortino", NAN)) << " | "
            << pct(v.value("max_drawdown", NAN)) << " | " << num3(v.value("turnover", NAN)) << " |\n";
    o << "\n";
  }
  if (!r.guard.empty()) o << "## Compile guard: " << r.guard_verdict << "\n\n" << r.guard_markdown << "\n";
  return o.str();
}

inline ReportFiles write_reports(const Report& r, const std::string& dir) {
  ReportFiles f;
  f.json = (std::filesystem::path(dir) / "backtest_results.json").string();
  f.markdown = (std::filesystem::path(dir) / "backtest_report.md").string();
  f.html = (std::filesystem::path(dir) / "backtest_report.html").string();
  write_file_atomic(f.json, report_json(r).dump(2) + "\n");
  write_file_atomic(f.markdown, markdown_report(r));
  write_file_atomic(f.html, html_report(r));
  return f;
}

}  // namespace fcast::backtest
