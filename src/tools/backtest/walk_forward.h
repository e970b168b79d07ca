// The walk-forward protocol of `fcast backtest`: which bars each forecast may see, and the
// forecasts themselves through the batched forecasting API.
//
// A series of n bars gives `simulations` walk-forward simulations; simulation i ends i + 1 bars
// before the data's end (its last visible bar is row n - i - 2), and its evaluation window is
// its last `days` bars, rows [end - days, end) with end = n - i - 1. For every day of that
// window the forecast is made from bars strictly before it:
// - one-step models (Toto, the reference protocol): per key, the series of percentage changes
//   c_t = v_t / v_{t-1} - 1 up to row t - 1 (its last `context` changes) forecasts c_t; the
//   predicted price is v_{t-1} * (1 + c_t). Seven such forecasts walk over the window.
// - multi-step models (Kronos): the OHLCV bars before the window, [end - days - context,
//   end - days), forecast the window's `days` bars at once.
// No forecast for bar t ever sees bar t: the jobs below are built from rows < t only, and
// tests/backtest_test.cc checks it by changing every later bar and rebuilding.
//
// Every job is an independent series: they are forecast through the session in batches (one
// request per `batch` jobs; the session groups series of one length into one compiled run), and
// jobs that forecast the same bar from the same bars (overlapping simulations) once.
//
// Not thread-safe (a session is used by one thread at a time).
#pragma once
#include <fcast/forecast.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "core/error.h"
#include "eval/aggregate.h"
#include "io/csv.h"
#include "models/registry.h"

namespace fcast::backtest {

// One symbol's bars, oldest first; every key column finite (a gap is an error when loading).
struct Bars {
  std::string symbol, file;
  bool crypto = false;  // trades every day: Sharpe annualised with 365, long/flat only
  std::vector<int64_t> timestamps;  // wall clock seconds
  std::map<std::string, std::vector<double>> columns;  // open, high, low, close (+ volume, amount when present)
  int64_t rows() const { return static_cast<int64_t>(timestamps.size()); }
  const std::vector<double>& col(const std::string& k) const { return columns.at(k); }
};

struct Protocol {
  int64_t simulations = 50;
  int64_t days = 7;                                   // the evaluation window of each simulation
  std::vector<std::string> keys = {"close", "high", "low", "open"};
  int64_t context = 256;                              // changes (one-step) or bars (multi-step) per forecast
  int64_t min_context = 32;                           // fewer visible rows than this: an error naming the numbers
  // Evaluation windows start at or after row round(held_out_from * n): 0.8 keeps them in the last
  // 20 % of each series (the part the bundled trained models never saw); 0 = anywhere.
  double held_out_from = 0.0;
  int64_t first_target_row(int64_t n) const { return static_cast<int64_t>(std::llround(held_out_from * static_cast<double>(n))); }
};

// Row index of the end (exclusive) of simulation `i`'s evaluation window.
inline int64_t simulation_end(const Bars& b, int64_t i) { return b.rows() - i - 1; }

// Throws, naming the numbers, when `b` cannot hold the protocol's simulations: every window must
// start at or after first_target_row and keep at least min_context rows before it.
inline void check_enough_bars(const Bars& b, const Protocol& p) {
  FCAST_CHECK(p.simulations >= 1, "--simulations must be at least 1, got ", p.simulations);
  FCAST_CHECK(p.days >= 1, "the evaluation window must be at least 1 day, got ", p.days);
  const int64_t oldest_start = simulation_end(b, p.simulations - 1) - p.days;  // the last simulation's first day
  const int64_t held = p.first_target_row(b.rows());
  const int64_t need_start = std::max(held, p.min_context + 1);
  if (oldest_start < need_start) {
    const int64_t fit = std::max<int64_t>(0, b.rows() - 1 - p.days - need_start + 1);
    fail(b.symbol, " (", b.file, "): ", b.rows(), " bars are too few for ", p.simulations, " simulations of ", p.days,
         " days", held > 0 ? cat(" inside the held-out part (rows from ", held, ", the last ", b.rows() - held, " bars)") : "",
         " with at least ", p.min_context, " bars of context: ", fit, " simulation(s) fit; lower --simulations or give "
         "more data");
  }
}

// One forecast of the protocol: which symbol, simulation, key (one-step jobs) and day, and the
// series the model sees.
struct Job {
  size_t symbol = 0;
  int64_t simulation = 0;
  std::string key;          // one-step jobs: the key forecast; multi-step jobs: "" (every key)
  int64_t day = 0;          // one-step jobs: the day of the window (0 .. days-1); multi-step: 0
  int64_t target_row = 0;   // the first bar forecast
  SeriesInput input;
};

// One-step jobs (percentage changes of one key): simulations x keys x days per symbol.
inline std::vector<Job> one_step_jobs(const std::vector<Bars>& symbols, const Protocol& p) {
  std::vector<Job> jobs;
  for (size_t s = 0; s < symbols.size(); ++s) {
    const Bars& b = symbols[s];
    check_enough_bars(b, p);
    for (int64_t i = 0; i < p.simulations; ++i) {
      const int64_t end = simulation_end(b, i);
      for (const std::string& key : p.keys) {
        const std::vector<double>& v = b.col(key);
        for (int64_t d = 0; d < p.days; ++d) {
          const int64_t t = end - p.days + d;
          // Changes c_j for j in [first, t - 1]: rows j - 1 and j, all before t.
          const int64_t first = std::max<int64_t>(1, t - p.context);
          Job j;
          j.symbol = s;
          j.simulation = i;
          j.key = key;
          j.day = d;
          j.target_row = t;
          j.input.id = b.symbol;
          j.input.variate_names = {key + "_change"};
          j.input.values.emplace_back();
          for (int64_t r = first; r < t; ++r) {
            j.input.values[0].push_back(v[r] / v[r - 1] - 1.0);
            j.input.timestamps.push_back(b.timestamps[r]);
          }
          j.input.future_timestamps = {b.timestamps[t]};
          jobs.push_back(std::move(j));
        }
      }
    }
  }
  return jobs;
}

// Multi-step jobs (OHLCV bars before the window): one per symbol and simulation.
inline std::vector<Job> multi_step_jobs(const std::vector<Bars>& symbols, const Protocol& p,
                                        const std::vector<std::string>& variates) {
  std::vector<Job> jobs;
  for (size_t s = 0; s < symbols.size(); ++s) {
    const Bars& b = symbols[s];
    check_enough_bars(b, p);
    for (int64_t i = 0; i < p.simulations; ++i) {
      const int64_t end = simulation_end(b, i), start = end - p.days;
      const int64_t first = std::max<int64_t>(0, start - p.context);
      Job j;
      j.symbol = s;
      j.simulation = i;
      j.target_row = start;
      j.input.id = b.symbol;
      for (const std::string& c : variates) {
        if (!b.columns.count(c)) continue;
        j.input.variate_names.push_back(c);
        j.input.values.emplace_back(b.col(c).begin() + first, b.col(c).begin() + start);
      }
      j.input.timestamps.assign(b.timestamps.begin() + first, b.timestamps.begin() + start);
      j.input.future_timestamps.assign(b.timestamps.begin() + start, b.timestamps.begin() + end);
      jobs.push_back(std::move(j));
    }
  }
  return jobs;
}

// The forecasts of a list of jobs: per job, per variate, per step, every sample path (or the
// point forecast as one path when the request draws none).
struct JobForecast {
  std::vector<std::string> variates;
  std::vector<std::vector<std::vector<double>>> paths;  // [variate][step][path]
};

// Simulations overlap: simulation i's day d and simulation i + 1's day d + 1 forecast the same
// bar from the same bars. Such jobs are one forecast (`dedupe`), made once and shared, as a cache
// of forecasts keyed by what the model sees would; its seed comes from the symbol, key and bar,
// so a job gets the same draws in any batch, order, or simulation count.
inline std::string job_identity(const Job& j) { return cat(j.input.id, "/", j.key, "/", j.target_row); }

// Forecasts `jobs` through `session` in requests of at most `batch` distinct forecasts;
// `progress` (done, total) after each request.
inline std::vector<JobForecast> forecast_jobs(ForecastSession& session, const std::vector<Job>& jobs,
                                              const ForecastRequest& base, int64_t horizon, size_t batch,
                                              const std::function<void(int64_t, int64_t)>& progress = {},
                                              bool dedupe = true, int64_t* nonfinite = nullptr) {
  // The distinct forecasts and, per job, which one it is.
  std::vector<size_t> unique, of(jobs.size());
  std::map<std::string, size_t> seen;
  for (size_t k = 0; k < jobs.size(); ++k) {
    if (dedupe) {
      const auto [it, fresh] = seen.emplace(job_identity(jobs[k]), unique.size());
      if (!fresh) {
        of[k] = it->second;
        continue;
      }
    }
    of[k] = unique.size();
    unique.push_back(k);
  }
  std::vector<JobForecast> made(unique.size());
  batch = std::max<size_t>(1, batch);
  for (size_t first = 0; first < unique.size(); first += batch) {
    const size_t last = std::min(unique.size(), first + batch);
    ForecastRequest r = base;
    r.horizon = horizon;
    r.quantiles = {};
    r.series.clear();
    r.series_seeds.clear();
    for (size_t u = first; u < last; ++u) {
      const Job& j = jobs[unique[u]];
      r.series.push_back(j.input);
      r.series_seeds.push_back(base.seed * 1000003u + std::hash<std::string>{}(job_identity(j)));
    }
    const ForecastResult res = session.forecast(r);
    if (nonfinite && res.metadata.count("nonfinite_values")) *nonfinite += std::stoll(res.metadata.at("nonfinite_values"));
    for (size_t u = first; u < last; ++u) {
      const SeriesForecast& f = res.series[u - first];
      JobForecast& jf = made[u];
      jf.variates = f.variate_names;
      jf.paths.assign(f.variate_names.size(), std::vector<std::vector<double>>(static_cast<size_t>(horizon)));
      for (size_t v = 0; v < f.variate_names.size(); ++v)
        for (int64_t h = 0; h < horizon; ++h) {
          if (f.samples.empty()) jf.paths[v][h] = {static_cast<double>(f.mean[v][h])};
          else jf.paths[v][h].assign(f.samples[v][h].begin(), f.samples[v][h].end());
        }
    }
    if (progress) progress(static_cast<int64_t>(last), static_cast<int64_t>(unique.size()));
  }
  std::vector<JobForecast> out(jobs.size());
  for (size_t k = 0; k < jobs.size(); ++k) out[k] = made[of[k]];
  return out;
}

}  // namespace fcast::backtest
