// Online drift scoring of `fcast serve`: the server remembers the latest forecast of each
// (model, series id) and, when realised values for its future timestamps arrive (a later forecast
// request for the same id whose bars go past the stored origin, or POST /v1/actuals), scores it:
// MAE, RMSE, MAPE, WAPE and interval coverage. Per model it keeps rolling values over the last
// `window` scores and an alert state with the Python system's compile-history alert rule (its
// render_compile_history.py) over the deltas of the last 5 scores against a baseline.
//
//   DriftStore store({.max_series = 10000, .window = 20});
//   DriftOutcome o = store.record("toto", input_bars, forecast);   // (a): score the stored one, keep this one
//   DriftOutcome s = store.score("toto", actuals);                 // (b): POST /v1/actuals
//   DriftModelReport r = store.report("toto");                     // GET /v1/drift, the gauges
//
// Definitions (docs/SERVING.md, "Drift"): a forecast's point is its mean; its interval is
// [lowest, highest] requested quantile (e.g. q0.1..q0.9; none with fewer than two levels). Over
// the (variate, step) pairs newly matched by timestamp (exact seconds): MAE = mean |f - a|,
// RMSE = sqrt(mean (f - a)^2), MAPE = mean |f - a| / |a| over pairs with a != 0 (a ratio, not
// percent), WAPE = sum |f - a| / sum |a| (the MAE divided by the mean absolute actual: scale-free),
// coverage = share of actuals inside the interval. Each pair is scored once. A score's alert
// delta is the relative improvement of its WAPE over the model's baseline WAPE,
// (baseline - wape) / baseline, so that series of different scales can share one model's alert.
//
// Thread-safety: every method may be called from any thread (one mutex for the whole store).
#pragma once
#include <cmath>
#include <cstdint>
#include <deque>
#include <limits>
#include <list>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "fcast/forecast.h"

namespace fcast::serve {

struct DriftOptions {
  int64_t max_series = 10000;  // (model, id) pairs tracked; the least recently updated is evicted
  int64_t window = 20;         // scores in the rolling values (gauges); >= 1
  // Baseline WAPE per model (--drift-baseline-wape MODEL=VALUE, > 0). A model without one learns
  // it: the mean WAPE of its first 5 scores, frozen from then on.
  std::map<std::string, double> baseline_wape;
};

// One forecast as the store keeps it.
struct StoredForecast {
  std::string id;
  int64_t origin = 0;                          // the last input timestamp (seconds)
  std::vector<int64_t> timestamps;             // the future steps, increasing
  std::vector<std::string> variate_names;
  // float, as the forecast was made: a tracked series costs horizon x variates x 12 bytes.
  std::vector<std::vector<float>> mean;        // [variate][step]
  std::vector<std::vector<float>> lower, upper;  // [variate][step]; empty: no interval
  double lower_level = 0, upper_level = 0;     // the quantile levels of lower and upper
};

// Realised values of one series.
struct SeriesActuals {
  std::string id;
  std::vector<std::string> variate_names;      // empty: matched to the forecast's variates by position
  std::vector<int64_t> timestamps;
  std::vector<std::vector<double>> values;     // [variate][time]
  std::vector<std::vector<uint8_t>> observed;  // optional [variate][time]; 0 = missing, not scored
};

inline constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

struct DriftScore {
  enum class Status { kScored, kNoMatch, kNotFound };
  Status status = Status::kNotFound;
  std::string id;
  int64_t origin = 0;               // of the scored forecast
  int64_t steps = 0;                // time steps with at least one newly scored value
  int64_t values = 0;               // (variate, step) pairs newly scored
  int64_t already_scored = 0;       // pairs matched again and skipped
  double mae = kNaN, rmse = kNaN, mape = kNaN, wape = kNaN, coverage = kNaN;  // NaN: undefined
  double delta = kNaN;              // alert delta; NaN while the model has no baseline (or wape is NaN)
  std::string note;                 // why nothing was scored
};

// Scores `f` against `a` on the pairs whose timestamps match and whose flag in `scored`
// ([variate][step], sized like f.mean) is 0, setting those flags. The metrics only; no delta.
DriftScore score_forecast(const StoredForecast& f, const SeriesActuals& a, std::vector<std::vector<uint8_t>>& scored);

// What a forecast answer gives the store: `next` (its mean and outermost quantiles over its future
// stamps) and `bars` (the request's own values, the actuals of an earlier forecast). False when
// the series cannot be tracked: no id, no input timestamps or no future timestamps.
bool drift_inputs(const SeriesInput& in, const SeriesForecast& f, const std::vector<double>& quantile_levels,
                  StoredForecast& next, SeriesActuals& bars);

// The reference's alert rule over the deltas of the last 5 scores (oldest first):
// n >= 5 and |mean| > 0.01: "promote" (mean > 0) or "regress" (mean < 0); else n >= 5 and
// |mean| > 0.005: "watch"; else n >= 5 and the share of deltas > 0 is <= 0.3: "regress";
// n < 5: "insufficient"; else "ok".
std::string drift_alert_state(const std::vector<double>& deltas);
inline constexpr int kAlertScores = 5;
inline const std::vector<std::string>& drift_alert_states() {
  static const std::vector<std::string> s = {"ok", "watch", "regress", "promote", "insufficient"};
  return s;
}

struct DriftOutcome {
  bool scored = false;              // `score` is a scoring event
  DriftScore score;
  std::vector<std::string> evicted;  // models of the series evicted by this call
};

struct DriftModelReport {
  double baseline = kNaN;            // WAPE; NaN while being learned
  std::string baseline_source;       // "flag", "first 5 scores", "learning (k of 5 scores)"
  int64_t scores = 0, scored_values = 0, tracked_series = 0, evicted = 0;
  int64_t rolling_scores = 0;        // scores in the rolling values (<= window)
  double mae = kNaN, rmse = kNaN, mape = kNaN, wape = kNaN, coverage = kNaN;  // means over them (NaN: none)
  std::vector<double> deltas;        // of the last 5 scores with a delta, oldest first
  std::string state = "insufficient";
  std::vector<DriftScore> last;      // the rolling scores, oldest first
};

class DriftStore {
 public:
  explicit DriftStore(DriftOptions o);

  // A forecast answered for `next.id` (non-empty, with timestamps): the stored forecast of that id
  // is scored against `input` (the request's own bars; those after its origin can match), then
  // `next` replaces it when `next` is at least as new (origin) or the stored one is fully scored.
  DriftOutcome record(const std::string& model, const SeriesActuals& input, StoredForecast next);
  // Realised values sent on their own: kNotFound when no forecast of that id is stored.
  DriftOutcome score(const std::string& model, const SeriesActuals& actuals);

  // Models reported even before their first forecast (the served ones).
  void add_model(const std::string& model);
  std::vector<std::string> models() const;
  DriftModelReport report(const std::string& model) const;
  const DriftOptions& options() const { return o_; }

 private:
  struct Entry {
    std::string model;
    StoredForecast forecast;
    std::vector<std::vector<uint8_t>> scored;  // [variate][step]
    std::list<std::pair<std::string, std::string>>::iterator lru;
  };
  struct ModelStats {
    int64_t scores = 0, scored_values = 0, tracked = 0, evicted = 0;
    double baseline = kNaN;
    std::string baseline_source;
    std::vector<double> learning;       // WAPEs of the first scores, while the baseline is learned
    std::deque<DriftScore> rolling;     // the last `window` scores
    std::deque<double> deltas;          // the last 5 deltas
  };
  using Key = std::pair<std::string, std::string>;  // (model, id)

  DriftOutcome score_locked(const std::string& model, Entry& e, const SeriesActuals& a);
  ModelStats& stats(const std::string& model);
  void touch(Entry& e);

  DriftOptions o_;
  mutable std::mutex mu_;
  std::map<Key, Entry> entries_;
  std::list<Key> lru_;  // most recently updated first
  std::map<std::string, ModelStats> models_;
};

}  // namespace fcast::serve
