// Forecast quality over many forecast points (one point = one step of one backtest window),
// against naive baselines on the same points.
//
//   QualityAccumulator acc;
//   for (const Window& w : windows) {                   // walk-forward windows
//     const BaselineForecasts base = baseline_forecasts(w.context, w.horizon, /*season=*/5);
//     for (int64_t h = 0; h < w.horizon; ++h) {
//       QualityPoint p;
//       p.last_known = w.context.back();
//       p.previous = h == 0 ? w.context.back() : w.actual[h - 1];   // optional
//       p.actual = w.actual[h];
//       p.forecast = w.point[h];
//       p.samples = w.samples_at(h);                     // optional: CRPS and coverage
//       p.baselines = base.at(h);                        // optional: baseline errors and skill
//       acc.add(p);
//     }
//   }
//   const QualitySummary s = acc.summary();              // s.price.mae, s.crps, s.drift.price_mae_skill ...
//
// Formulas (y = actual, f = point forecast, L = last_known, P = previous, x_1..x_n = samples):
//   price error       e = f - y;  MAE = mean |e|;  RMSE = sqrt(mean e^2)
//   MAPE (percent)    100 * mean |e| / |y| over the points with y != 0; points with y = 0 are
//                     skipped and ErrorMetrics::mape_count says how many were used
//   returns           actual return y/P - 1, forecast return f/P - 1, then MAE, RMSE and MAPE of
//                     those (MAPE skips zero actual returns); points with P = 0 are left out of
//                     the return metrics (ErrorMetrics::count says how many were used)
//   direction hit     sign(f - L) == sign(y - L) and both non-zero; a tie (either change exactly
//                     zero) counts as a miss, because a flat call predicts no direction
//                     hit rate = hits / points
//   CRPS              (1/n) sum_i |x_i - y|  -  (1/(2 n^2)) sum_i sum_j |x_i - x_j|
//                     (the energy form, all n^2 ordered pairs including i = j; it equals the
//                     integral of (F_n(z) - 1{z >= y})^2 for the empirical CDF F_n). The double
//                     sum is computed from the sorted samples as 2 sum_i (2i - n + 1) x_(i),
//                     i = 0..n-1, so a point costs O(n log n). Reported as the mean over points
//                     with samples. For a single sample it is |x_1 - y|, the absolute error.
//   coverage          fraction of points with q_lo <= y <= q_hi (inclusive), for q10-q90 and
//                     q05-q95; quantiles from samples by the aggregation rule (linear between
//                     order statistics at q*(n-1), see aggregate.h), or given as intervals
//   baselines         persistence  f_h = L (zero return when P = L)
//                     drift        f_h = L + h * (L - c_1) / (T - 1), context c_1..c_T, h = 1..H
//                                  (the mean change of the context, continued; L when T = 1)
//                     seasonal     f_h = c_{T - m + ((h - 1) mod m) + 1} for season m: the value
//                                  one season before; persistence when T < m (flagged)
//   skill             1 - model error / baseline error, for MAE and RMSE of price and return,
//                     on the points that carried baselines (the model's error there, not over
//                     all points); undefined (NaN, SkillScore::defined = false) when the
//                     baseline error is 0
//
// Empty sets: summary() of an accumulator with no points throws fcast::Error (a backtest with
// nothing to score is a mistake the user should see). A metric whose subset is empty (no point
// had samples, every actual was zero for MAPE) is NaN with its count 0.
//
// Errors: non-finite inputs, unordered intervals, season < 1 or horizon < 0 throw fcast::Error.
//
// Thread safety: the free functions are pure and may be called from any thread. A
// QualityAccumulator is a plain value with no locking: use one per thread and merge() them.
#pragma once
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <vector>

namespace fcast::eval {

inline constexpr double kNoValue = std::numeric_limits<double>::quiet_NaN();

// Baseline forecasts of one point (see baseline_forecasts).
struct BaselinePoint {
  double persistence = 0;
  double drift = 0;
  double seasonal_naive = 0;
  bool seasonal_fell_back = false;  // the context was shorter than a season: seasonal_naive = persistence
};

// The three baselines for a whole window, one value per step.
struct BaselineForecasts {
  std::vector<double> persistence;
  std::vector<double> drift;
  std::vector<double> seasonal_naive;
  bool seasonal_fell_back = false;
  BaselinePoint at(int64_t step) const;  // step 0..horizon-1
};

// Baselines continuing `context` (at least one value, oldest first) for `horizon` steps;
// `season` >= 1 steps (5 for business-day data; 1 makes seasonal naive equal persistence).
BaselineForecasts baseline_forecasts(const std::vector<double>& context, int64_t horizon, int64_t season);

// Quantiles of the predictive distribution at one point, for forecasts that come as quantiles
// rather than samples. Must be ordered q05 <= q10 <= q90 <= q95.
struct PredictionIntervals {
  double q05 = 0, q10 = 0, q90 = 0, q95 = 0;
};

struct QualityPoint {
  double last_known = 0;            // the context's last value (the anchor for direction)
  std::optional<double> previous;   // the previous close for returns; unset = last_known
  double actual = 0;
  double forecast = 0;              // the point forecast
  std::vector<double> samples;      // optional; enables CRPS and coverage
  std::optional<PredictionIntervals> intervals;  // optional; coverage when samples are empty
  std::optional<BaselinePoint> baselines;        // optional; enables the baseline sections
};

struct ErrorMetrics {
  int64_t count = 0;  // points in MAE and RMSE
  double mae = kNoValue;
  double rmse = kNoValue;
  double mape_percent = kNoValue;
  int64_t mape_count = 0;  // points in MAPE (non-zero actual)
};

struct SkillScore {
  double value = kNoValue;
  bool defined = false;  // false when the baseline error is 0 (or there were no points)
};

struct BaselineQuality {
  std::string name;          // "persistence", "drift", "seasonal_naive"
  ErrorMetrics price;        // the baseline's own errors on the points with baselines
  ErrorMetrics returns;
  SkillScore price_mae_skill, price_rmse_skill;
  SkillScore return_mae_skill, return_rmse_skill;
  int64_t fallback_count = 0;  // seasonal naive: points whose context was shorter than a season
};

struct QualitySummary {
  int64_t points = 0;
  ErrorMetrics price;
  ErrorMetrics returns;
  int64_t direction_hits = 0;
  double direction_hit_rate = kNoValue;  // hits / points
  int64_t crps_count = 0;                // points with samples
  double crps = kNoValue;                // mean CRPS over them
  int64_t interval_count = 0;            // points with samples or intervals
  int64_t covered_q10_q90 = 0, covered_q05_q95 = 0;
  double coverage_q10_q90 = kNoValue, coverage_q05_q95 = kNoValue;  // covered / interval_count
  int64_t baseline_count = 0;            // points with baselines
  BaselineQuality persistence, drift, seasonal_naive;
};

// CRPS of one point from its samples (non-empty, finite), O(n log n); formula above.
double crps_from_samples(const std::vector<double>& samples, double actual);

class QualityAccumulator {
 public:
  // Adds one forecast point. Throws (and adds nothing) on non-finite values or bad intervals.
  void add(const QualityPoint& point);
  // Adds every point of `other`, as if they had been added here.
  void merge(const QualityAccumulator& other);
  int64_t points() const { return points_; }
  // Throws when no point was added.
  QualitySummary summary() const;

 private:
  // Running sums of one error series (MAE, RMSE and MAPE come from them).
  struct ErrorSums {
    int64_t count = 0;
    double abs_sum = 0, sq_sum = 0;
    int64_t ape_count = 0;
    double ape_sum = 0;
    void add(double forecast, double actual);
    void merge(const ErrorSums& o);
    ErrorMetrics metrics() const;
  };
  struct BaselineSums {
    ErrorSums model_price, model_returns;  // the model on the same points, for skill
    ErrorSums price, returns;
    int64_t fallback_count = 0;
    void merge(const BaselineSums& o);
    BaselineQuality quality(const char* name) const;
  };

  int64_t points_ = 0;
  ErrorSums price_, returns_;
  int64_t direction_hits_ = 0;
  int64_t crps_count_ = 0;
  double crps_sum_ = 0;
  int64_t interval_count_ = 0, covered_80_ = 0, covered_90_ = 0;
  int64_t baseline_count_ = 0;
  BaselineSums persistence_, drift_, seasonal_;
};

}  // namespace fcast::eval
