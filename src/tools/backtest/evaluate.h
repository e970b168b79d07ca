// `fcast backtest`: one model's walk-forward forecasts turned into what the user decides with:
// per symbol and key the predicted and actual prices of every simulated day (with the sample
// paths), the trading strategies of each simulation (eval/strategies.h), and the forecast
// quality against baselines on the same days (eval/quality.h).
//
// Not thread-safe (plain functions over values; one run at a time).
#pragma once
#include <algorithm>
#include <cmath>
#include <optional>
#include <map>
#include <string>
#include <vector>

#include "eval/aggregate.h"
#include "eval/quality.h"
#include "eval/strategies.h"
#include "tools/backtest/walk_forward.h"

namespace fcast::backtest {

// One forecast day of one key: what was known, what was forecast, what happened.
struct DayPoint {
  int64_t row = 0;              // the bar forecast
  double last = 0;              // the key's value on the bar before (known at the origin for one-step
                                //   forecasts; the predicted value of the day before for multi-step ones,
                                //   except day 0)
  double actual = 0;            // the key's value on the bar
  double previous = 0;          // the key's value on the bar before (actual)
  double point = 0;             // the aggregated forecast of the value
  double change = 0;            // point / previous known value - 1 (what the strategies trade on)
  double band = 0;              // p60 - p40 of the forecast change
  std::vector<double> paths;    // the forecast value of every sample path
};

// One simulation: per key, its days.
struct Simulation {
  int64_t index = 0, end = 0;
  std::map<std::string, std::vector<DayPoint>> keys;
};

struct SymbolRun {
  std::vector<Simulation> simulations;  // simulation 0 first
};

// p60 - p40 of one step's sample changes (0 for a single path).
inline double band_of(std::vector<double> changes) {
  if (changes.size() < 2) return 0.0;
  std::sort(changes.begin(), changes.end());
  return eval::quantile_of_sorted(changes, 0.6) - eval::quantile_of_sorted(changes, 0.4);
}

// The one-step forecasts of `jobs` (percentage changes) as days: value = last * (1 + change).
inline std::vector<SymbolRun> days_from_one_step(const std::vector<Bars>& symbols, const Protocol& p,
                                                 const std::vector<Job>& jobs, const std::vector<JobForecast>& fc,
                                                 const eval::AggregationSpec& spec) {
  std::vector<SymbolRun> out(symbols.size());
  for (size_t s = 0; s < symbols.size(); ++s) {
    out[s].simulations.resize(static_cast<size_t>(p.simulations));
    for (int64_t i = 0; i < p.simulations; ++i) {
      out[s].simulations[i].index = i;
      out[s].simulations[i].end = simulation_end(symbols[s], i);
      for (const std::string& k : p.keys) out[s].simulations[i].keys[k].resize(static_cast<size_t>(p.days));
    }
  }
  for (size_t j = 0; j < jobs.size(); ++j) {
    const Job& job = jobs[j];
    const Bars& b = symbols[job.symbol];
    const std::vector<double>& v = b.col(job.key);
    const std::vector<double>& changes = fc[j].paths.at(0).at(0);
    DayPoint& d = out[job.symbol].simulations[job.simulation].keys[job.key][job.day];
    d.row = job.target_row;
    d.last = v[job.target_row - 1];
    d.actual = v[job.target_row];
    d.change = eval::aggregate_one_step(spec, changes);
    d.point = d.last * (1.0 + d.change);
    d.previous = d.last;
    d.band = band_of(changes);
    for (double c : changes) d.paths.push_back(d.last * (1.0 + c));
  }
  return out;
}

// Multi-step forecasts of prices (every key at once) as days: the change of day d is relative to
// the day before's forecast (day 0: the last bar before the window).
inline std::vector<SymbolRun> days_from_multi_step(const std::vector<Bars>& symbols, const Protocol& p,
                                                   const std::vector<Job>& jobs, const std::vector<JobForecast>& fc,
                                                   const eval::AggregationSpec& spec) {
  std::vector<SymbolRun> out(symbols.size());
  for (size_t s = 0; s < symbols.size(); ++s) out[s].simulations.resize(static_cast<size_t>(p.simulations));
  for (size_t j = 0; j < jobs.size(); ++j) {
    const Job& job = jobs[j];
    const Bars& b = symbols[job.symbol];
    Simulation& sim = out[job.symbol].simulations[job.simulation];
    sim.index = job.simulation;
    sim.end = simulation_end(b, job.simulation);
    for (const std::string& k : p.keys) {
      size_t v = 0;
      while (v < fc[j].variates.size() && fc[j].variates[v] != k) ++v;
      FCAST_CHECK(v < fc[j].variates.size(), "the model forecast no '", k, "' (it forecast ",
                  fc[j].variates.size(), " variates)");
      std::vector<DayPoint>& days = sim.keys[k];
      days.resize(static_cast<size_t>(p.days));
      const double origin = b.col(k)[job.target_row - 1];  // the last bar the forecast saw
      double prev = origin;
      std::vector<double> prev_paths;  // each path's value the day before
      for (int64_t d = 0; d < p.days; ++d) {
        DayPoint& dp = days[d];
        dp.row = job.target_row + d;
        dp.actual = b.col(k)[dp.row];
        dp.last = prev;
        dp.paths = fc[j].paths[v][d];
        dp.point = eval::aggregate_one_step(spec, dp.paths);
        // Changes relative to the day before's forecast; a forecast at or below 0 (a price model
        // cannot mean it) would flip or blow up the change: the origin's bar is used instead.
        auto base = [&](double forecast) { return forecast > 0 && std::isfinite(forecast) ? forecast : origin; };
        dp.change = dp.point / base(prev) - 1.0;
        std::vector<double> changes;
        for (size_t n = 0; n < dp.paths.size(); ++n)
          changes.push_back(dp.paths[n] / base(prev_paths.empty() ? prev : prev_paths[n]) - 1.0);
        dp.previous = b.col(k)[dp.row - 1];
        dp.band = band_of(changes);
        prev = dp.point;
        prev_paths = dp.paths;
      }
    }
  }
  return out;
}

// The strategies' window of one simulation: realised bars, forecast changes of close, high, low.
inline eval::Window strategy_window(const Bars& b, const Simulation& sim) {
  eval::Window w;
  const std::vector<DayPoint>& close = sim.keys.at("close");
  w.prev_close = b.col("close")[close.front().row - 1];
  for (size_t d = 0; d < close.size(); ++d) {
    const int64_t r = close[d].row;
    w.bars.push_back({b.col("open")[r], b.col("high")[r], b.col("low")[r], b.col("close")[r]});
    eval::DayForecast f;
    f.close = close[d].change;
    f.band = close[d].band;
    // high and low relative to the previous close, as the strategies read them.
    auto rel = [&](const char* k) {
      auto it = sim.keys.find(k);
      if (it == sim.keys.end()) return f.close;
      return it->second[d].point / (d == 0 ? w.prev_close : b.col("close")[r - 1]) - 1.0;
    };
    f.high = rel("high");
    f.low = rel("low");
    w.forecast.push_back(f);
  }
  return w;
}


// The seasonal naive baseline's season in bars: a week of days (5 for stocks, 7 for crypto) for
// daily bars; for intraday bars, a day (the median number of bars per calendar day).
inline int64_t season_of(const Bars& b) {
  if (b.rows() < 3) return 1;
  std::vector<int64_t> steps;
  for (int64_t r = 1; r < b.rows(); ++r) steps.push_back(b.timestamps[r] - b.timestamps[r - 1]);
  std::nth_element(steps.begin(), steps.begin() + static_cast<std::ptrdiff_t>(steps.size() / 2), steps.end());
  if (steps[steps.size() / 2] >= 86400) return b.crypto ? 7 : 5;
  std::map<int64_t, int64_t> per_day;
  for (int64_t t : b.timestamps) ++per_day[t / 86400];
  std::vector<int64_t> counts;
  for (const auto& [day, n] : per_day) counts.push_back(n);
  std::nth_element(counts.begin(), counts.begin() + static_cast<std::ptrdiff_t>(counts.size() / 2), counts.end());
  return std::max<int64_t>(1, counts[counts.size() / 2]);
}

// Forecast quality of one key over every simulated day, with the baselines continuing the same
// actual bars the forecast saw (one-step: the bars before each day; multi-step: before the window).
inline eval::QualitySummary quality_of(const Bars& b, const SymbolRun& run, const std::string& key, const Protocol& p,
                                       bool one_step) {
  eval::QualityAccumulator acc;
  const std::vector<double>& v = b.col(key);
  const int64_t season = season_of(b);
  for (const Simulation& sim : run.simulations) {
    auto it = sim.keys.find(key);
    if (it == sim.keys.end()) continue;
    const std::vector<DayPoint>& days = it->second;
    const int64_t origin = days.front().row;  // multi-step: the first bar forecast
    std::optional<eval::BaselineForecasts> window_base;
    for (size_t d = 0; d < days.size(); ++d) {
      const DayPoint& dp = days[d];
      const int64_t anchor = one_step ? dp.row : origin;  // the first bar the forecast did not see
      const int64_t first = std::max<int64_t>(0, anchor - p.context);
      eval::QualityPoint q;
      q.last_known = v[anchor - 1];
      q.previous = v[dp.row - 1];
      q.actual = dp.actual;
      q.forecast = dp.point;
      // One path (a quantile model's median, or --num-samples 1) has no spread: CRPS and interval
      // coverage are then reported as unavailable rather than as 0.
      if (dp.paths.size() > 1) q.samples = dp.paths;
      if (one_step) {
        const std::vector<double> ctx(v.begin() + first, v.begin() + anchor);
        q.baselines = eval::baseline_forecasts(ctx, 1, season).at(0);
      } else {
        if (!window_base) {
          const std::vector<double> ctx(v.begin() + first, v.begin() + anchor);
          window_base = eval::baseline_forecasts(ctx, static_cast<int64_t>(days.size()), season);
        }
        q.baselines = window_base->at(static_cast<int64_t>(d));
      }
      acc.add(q);
    }
  }
  return acc.summary();
}

}  // namespace fcast::backtest
