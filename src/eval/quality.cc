#include "eval/quality.h"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <utility>

#include "core/error.h"
#include "eval/aggregate.h"

namespace fcast::eval {
namespace {

void check_finite(double v, const char* what) {
  if (!std::isfinite(v)) fail("forecast quality: ", what, " is ", v, "; every value must be finite");
}

std::vector<double> sorted_finite_samples(const std::vector<double>& samples) {
  std::vector<double> sorted = samples;
  for (size_t i = 0; i < sorted.size(); ++i)
    if (!std::isfinite(sorted[i]))
      fail("forecast quality: sample ", i, " is ", sorted[i], "; every sample must be finite");
  std::sort(sorted.begin(), sorted.end());
  return sorted;
}

// CRPS from samples already sorted ascending.
double crps_of_sorted(const std::vector<double>& x, double actual) {
  const size_t n = x.size();
  double abs_to_actual = 0;
  for (double v : x) abs_to_actual += std::abs(v - actual);
  // sum_{i,j} |x_i - x_j| = 2 sum_i (2i - n + 1) x_(i). The weights sum to zero, so shifting
  // every x by the median leaves the sum unchanged while keeping the terms small: the result is
  // a difference of large weighted sums, and prices far from zero would otherwise lose digits.
  const double centre = x[n / 2];
  double weighted = 0;
  for (size_t i = 0; i < n; ++i)
    weighted += (2.0 * static_cast<double>(i) - static_cast<double>(n) + 1.0) * (x[i] - centre);
  const double dn = static_cast<double>(n);
  return abs_to_actual / dn - weighted / (dn * dn);  // 0.5 * 2 * weighted / n^2
}

int sign_of(double v) { return (v > 0) - (v < 0); }

SkillScore skill(double model_error, double baseline_error, int64_t count) {
  SkillScore s;
  if (count == 0 || baseline_error == 0) return s;  // a perfect baseline leaves nothing to beat
  s.value = 1.0 - model_error / baseline_error;
  s.defined = true;
  return s;
}

double ratio(int64_t part, int64_t whole) {
  return whole == 0 ? kNoValue : static_cast<double>(part) / static_cast<double>(whole);
}

}  // namespace

BaselinePoint BaselineForecasts::at(int64_t step) const {
  FCAST_CHECK(step >= 0 && static_cast<size_t>(step) < persistence.size(), "baseline step ", step,
              " is outside the horizon of ", persistence.size());
  const size_t s = static_cast<size_t>(step);
  return BaselinePoint{persistence[s], drift[s], seasonal_naive[s], seasonal_fell_back};
}

BaselineForecasts baseline_forecasts(const std::vector<double>& context, int64_t horizon, int64_t season) {
  FCAST_CHECK(!context.empty(), "baselines need a context of at least one value");
  FCAST_CHECK(horizon >= 0, "baseline horizon ", horizon, " is negative");
  FCAST_CHECK(season >= 1, "season ", season, " must be at least 1 step (5 for business-day data)");
  for (double v : context) check_finite(v, "a context value");
  const size_t t_len = context.size();
  const double last = context.back();
  const double slope = t_len >= 2 ? (last - context.front()) / static_cast<double>(t_len - 1) : 0.0;
  const size_t m = static_cast<size_t>(season);

  BaselineForecasts b;
  b.seasonal_fell_back = t_len < m;
  const size_t h_len = static_cast<size_t>(horizon);
  b.persistence.assign(h_len, last);
  b.drift.resize(h_len);
  b.seasonal_naive.resize(h_len);
  for (size_t h = 0; h < h_len; ++h) {
    b.drift[h] = last + static_cast<double>(h + 1) * slope;
    b.seasonal_naive[h] = b.seasonal_fell_back ? last : context[t_len - m + h % m];
  }
  return b;
}

double crps_from_samples(const std::vector<double>& samples, double actual) {
  FCAST_CHECK(!samples.empty(), "CRPS needs at least one sample");
  check_finite(actual, "the actual value");
  return crps_of_sorted(sorted_finite_samples(samples), actual);
}

void QualityAccumulator::ErrorSums::add(double forecast, double actual) {
  const double e = std::abs(forecast - actual);
  ++count;
  abs_sum += e;
  sq_sum += e * e;
  if (actual != 0) {
    ++ape_count;
    ape_sum += e / std::abs(actual);
  }
}

void QualityAccumulator::ErrorSums::merge(const ErrorSums& o) {
  count += o.count;
  abs_sum += o.abs_sum;
  sq_sum += o.sq_sum;
  ape_count += o.ape_count;
  ape_sum += o.ape_sum;
}

ErrorMetrics QualityAccumulator::ErrorSums::metrics() const {
  ErrorMetrics m;
  m.count = count;
  m.mape_count = ape_count;
  if (count > 0) {
    m.mae = abs_sum / static_cast<double>(count);
    m.rmse = std::sqrt(sq_sum / static_cast<double>(count));
  }
  if (ape_count > 0) m.mape_percent = 100.0 * ape_sum / static_cast<double>(ape_count);
  return m;
}

void QualityAccumulator::BaselineSums::merge(const BaselineSums& o) {
  model_price.merge(o.model_price);
  model_returns.merge(o.model_returns);
  price.merge(o.price);
  returns.merge(o.returns);
  fallback_count += o.fallback_count;
}

BaselineQuality QualityAccumulator::BaselineSums::quality(const char* name) const {
  BaselineQuality q;
  q.name = name;
  q.price = price.metrics();
  q.returns = returns.metrics();
  const ErrorMetrics mp = model_price.metrics(), mr = model_returns.metrics();
  q.price_mae_skill = skill(mp.mae, q.price.mae, q.price.count);
  q.price_rmse_skill = skill(mp.rmse, q.price.rmse, q.price.count);
  q.return_mae_skill = skill(mr.mae, q.returns.mae, q.returns.count);
  q.return_rmse_skill = skill(mr.rmse, q.returns.rmse, q.returns.count);
  q.fallback_count = fallback_count;
  return q;
}

void QualityAccumulator::add(const QualityPoint& p) {
  // Validate everything first so a rejected point leaves the sums untouched.
  check_finite(p.last_known, "last_known");
  check_finite(p.actual, "the actual value");
  check_finite(p.forecast, "the point forecast");
  const double previous = p.previous.value_or(p.last_known);
  check_finite(previous, "previous");
  const std::vector<double> sorted = sorted_finite_samples(p.samples);
  if (sorted.empty() && p.intervals) {
    const PredictionIntervals& iv = *p.intervals;
    for (double v : {iv.q05, iv.q10, iv.q90, iv.q95}) check_finite(v, "an interval quantile");
    if (!(iv.q05 <= iv.q10 && iv.q10 <= iv.q90 && iv.q90 <= iv.q95))
      fail("forecast quality: intervals must be ordered q05 <= q10 <= q90 <= q95, got ", iv.q05, ", ", iv.q10, ", ",
           iv.q90, ", ", iv.q95);
  }
  if (p.baselines)
    for (double v : {p.baselines->persistence, p.baselines->drift, p.baselines->seasonal_naive})
      check_finite(v, "a baseline forecast");

  ++points_;
  price_.add(p.forecast, p.actual);
  // A zero previous close has no return; those points are left out of the return metrics.
  const bool has_return = previous != 0;
  const auto to_return = [previous](double v) { return v / previous - 1.0; };
  if (has_return) returns_.add(to_return(p.forecast), to_return(p.actual));

  const int predicted = sign_of(p.forecast - p.last_known), realised = sign_of(p.actual - p.last_known);
  if (predicted != 0 && predicted == realised) ++direction_hits_;

  if (!sorted.empty()) {
    ++crps_count_;
    crps_sum_ += crps_of_sorted(sorted, p.actual);
  }
  if (!sorted.empty() || p.intervals) {
    PredictionIntervals iv;
    if (!sorted.empty()) {
      iv = {quantile_of_sorted(sorted, 0.05), quantile_of_sorted(sorted, 0.10), quantile_of_sorted(sorted, 0.90),
            quantile_of_sorted(sorted, 0.95)};
    } else {
      iv = *p.intervals;
    }
    ++interval_count_;
    if (iv.q10 <= p.actual && p.actual <= iv.q90) ++covered_80_;
    if (iv.q05 <= p.actual && p.actual <= iv.q95) ++covered_90_;
  }

  if (p.baselines) {
    ++baseline_count_;
    const BaselinePoint& b = *p.baselines;
    const std::pair<BaselineSums*, double> each[] = {
        {&persistence_, b.persistence}, {&drift_, b.drift}, {&seasonal_, b.seasonal_naive}};
    for (const auto& [sums, forecast] : each) {
      sums->model_price.add(p.forecast, p.actual);
      sums->price.add(forecast, p.actual);
      if (has_return) {
        sums->model_returns.add(to_return(p.forecast), to_return(p.actual));
        sums->returns.add(to_return(forecast), to_return(p.actual));
      }
    }
    if (b.seasonal_fell_back) ++seasonal_.fallback_count;
  }
}

void QualityAccumulator::merge(const QualityAccumulator& o) {
  points_ += o.points_;
  price_.merge(o.price_);
  returns_.merge(o.returns_);
  direction_hits_ += o.direction_hits_;
  crps_count_ += o.crps_count_;
  crps_sum_ += o.crps_sum_;
  interval_count_ += o.interval_count_;
  covered_80_ += o.covered_80_;
  covered_90_ += o.covered_90_;
  baseline_count_ += o.baseline_count_;
  persistence_.merge(o.persistence_);
  drift_.merge(o.drift_);
  seasonal_.merge(o.seasonal_);
}

QualitySummary QualityAccumulator::summary() const {
  FCAST_CHECK(points_ > 0, "forecast quality: no forecast points were added, so there is nothing to score "
                           "(check that the backtest produced at least one window)");
  QualitySummary s;
  s.points = points_;
  s.price = price_.metrics();
  s.returns = returns_.metrics();
  s.direction_hits = direction_hits_;
  s.direction_hit_rate = ratio(direction_hits_, points_);
  s.crps_count = crps_count_;
  if (crps_count_ > 0) s.crps = crps_sum_ / static_cast<double>(crps_count_);
  s.interval_count = interval_count_;
  s.covered_q10_q90 = covered_80_;
  s.covered_q05_q95 = covered_90_;
  s.coverage_q10_q90 = ratio(covered_80_, interval_count_);
  s.coverage_q05_q95 = ratio(covered_90_, interval_count_);
  s.baseline_count = baseline_count_;
  s.persistence = persistence_.quality("persistence");
  s.drift = drift_.quality("drift");
  s.seasonal_naive = seasonal_.quality("seasonal_naive");
  return s;
}

}  // namespace fcast::eval
