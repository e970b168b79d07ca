// eval/quality.h: forecast-quality metrics against small cases worked by hand (in the
// comments), CRPS against a brute-force O(n^2) reference on random samples, interval coverage
// counts, the three baselines, skill scores, and the empty and degenerate cases.
#include "eval/quality.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>

#include "core/error.h"

namespace fcast::eval {
namespace {

QualityPoint point(double last_known, double actual, double forecast) {
  QualityPoint p;
  p.last_known = last_known;
  p.actual = actual;
  p.forecast = forecast;
  return p;
}

// The energy form straight from its definition, all n^2 ordered pairs.
double crps_brute_force(const std::vector<double>& x, double y) {
  const double n = static_cast<double>(x.size());
  double to_actual = 0, pairs = 0;
  for (double a : x) {
    to_actual += std::abs(a - y);
    for (double b : x) pairs += std::abs(a - b);
  }
  return to_actual / n - 0.5 * pairs / (n * n);
}

TEST(ForecastQuality, PriceReturnAndDirectionMetricsByHand) {
  // last_known L = 10 (previous = L for returns):
  //   A: y 12, f 11  |e| 1  ape 1/12  returns y  0.2 f  0.1 |e| 0.1  direction up/up: hit
  //   B: y  8, f 11  |e| 3  ape 3/8   returns y -0.2 f  0.1 |e| 0.3  up/down: miss
  //   C: y 10, f 12  |e| 2  ape 2/10  returns y  0   f  0.2 |e| 0.2  actual flat: tie, miss
  //   D: y  0, f  1  |e| 1  (y = 0: no MAPE)  returns y -1 f -0.9 |e| 0.1  down/down: hit
  QualityAccumulator acc;
  acc.add(point(10, 12, 11));
  acc.add(point(10, 8, 11));
  acc.add(point(10, 10, 12));
  acc.add(point(10, 0, 1));
  const QualitySummary s = acc.summary();
  EXPECT_EQ(s.points, 4);
  EXPECT_EQ(s.price.count, 4);
  EXPECT_DOUBLE_EQ(s.price.mae, 7.0 / 4);                // (1+3+2+1)/4
  EXPECT_DOUBLE_EQ(s.price.rmse, std::sqrt(15.0 / 4));  // (1+9+4+1)/4
  EXPECT_EQ(s.price.mape_count, 3);                      // D skipped
  EXPECT_NEAR(s.price.mape_percent, 100.0 * (1.0 / 12 + 3.0 / 8 + 2.0 / 10) / 3, 1e-12);
  EXPECT_EQ(s.returns.count, 4);
  EXPECT_NEAR(s.returns.mae, 0.7 / 4, 1e-12);
  EXPECT_NEAR(s.returns.rmse, std::sqrt((0.01 + 0.09 + 0.04 + 0.01) / 4), 1e-12);
  EXPECT_EQ(s.returns.mape_count, 3);  // C's zero actual return skipped
  EXPECT_NEAR(s.returns.mape_percent, 100.0 * (0.1 / 0.2 + 0.3 / 0.2 + 0.1 / 1) / 3, 1e-9);  // 70%
  EXPECT_EQ(s.direction_hits, 2);
  EXPECT_DOUBLE_EQ(s.direction_hit_rate, 0.5);
  // No samples, no intervals, no baselines: those parts are empty, not zero.
  EXPECT_EQ(s.crps_count, 0);
  EXPECT_TRUE(std::isnan(s.crps));
  EXPECT_EQ(s.interval_count, 0);
  EXPECT_TRUE(std::isnan(s.coverage_q10_q90));
  EXPECT_EQ(s.baseline_count, 0);
  EXPECT_FALSE(s.persistence.price_mae_skill.defined);
}

TEST(ForecastQuality, ReturnsUseThePreviousCloseAndSkipAZeroOne) {
  QualityAccumulator acc;
  QualityPoint p = point(10, 12, 11);
  p.previous = 8;  // actual return 12/8 - 1 = 0.5, forecast 11/8 - 1 = 0.375
  acc.add(p);
  p.previous = 0;  // no return exists
  acc.add(p);
  const QualitySummary s = acc.summary();
  EXPECT_EQ(s.price.count, 2);
  EXPECT_EQ(s.returns.count, 1);
  EXPECT_DOUBLE_EQ(s.returns.mae, 0.125);
  // A flat forecast is not a direction call: a miss even though the actual moved.
  QualityAccumulator flat;
  flat.add(point(10, 12, 10));
  EXPECT_EQ(flat.summary().direction_hits, 0);
}

TEST(ForecastQuality, MapeWithOnlyZeroActualsIsEmpty) {
  QualityAccumulator acc;
  acc.add(point(1, 0, 0.5));
  acc.add(point(1, 0, -0.5));
  const QualitySummary s = acc.summary();
  EXPECT_DOUBLE_EQ(s.price.mae, 0.5);
  EXPECT_EQ(s.price.mape_count, 0);
  EXPECT_TRUE(std::isnan(s.price.mape_percent));
}

TEST(ForecastQuality, CrpsByHand) {
  // {1,3}, y 2: mean|x-y| = 1; ordered pairs |1-3| twice = 4; 1 - 4/(2*4) = 0.5.
  EXPECT_DOUBLE_EQ(crps_from_samples({1, 3}, 2), 0.5);
  // One sample: the absolute error.
  EXPECT_DOUBLE_EQ(crps_from_samples({5}, 2), 3.0);
  // {1,2,3,4,10}, y 3: mean|x-y| = (2+1+0+1+7)/5 = 2.2; unordered pair sums 15+11+8+6 = 40,
  // ordered 80; 2.2 - 80/(2*25) = 0.6.
  EXPECT_NEAR(crps_from_samples({10, 4, 3, 2, 1}, 3), 0.6, 1e-12);
  EXPECT_THROW(crps_from_samples({}, 1), Error);
  EXPECT_THROW(crps_from_samples({1, std::nan("")}, 1), Error);
}

TEST(ForecastQuality, CrpsMatchesBruteForceOnRandomSamples) {
  std::mt19937_64 rng(20261206);
  for (int n : {1, 2, 3, 7, 64, 255, 1000}) {
    for (double centre : {0.0, 100.0, 25000.0}) {
      std::normal_distribution<double> draw(centre, 1.0 + centre * 0.02);
      std::vector<double> x(static_cast<size_t>(n));
      for (double& v : x) v = draw(rng);
      for (double y : {draw(rng), centre, centre + 10 * (1.0 + centre * 0.02)}) {
        const double want = crps_brute_force(x, y);
        const double got = crps_from_samples(x, y);
        EXPECT_NEAR(got, want, 1e-12 * std::abs(want)) << "n=" << n << " centre=" << centre << " y=" << y;
      }
    }
  }
}

TEST(ForecastQuality, CoverageCountsFromSamplesAndIntervals) {
  // Samples 0..100: q05 = 5, q10 = 10, q90 = 90, q95 = 95 exactly (positions q*100).
  std::vector<double> samples;
  for (int i = 100; i >= 0; --i) samples.push_back(i);
  QualityAccumulator acc;
  for (double y : {10.0, 7.0, 95.0, 96.0, 50.0}) {  // both, 90% only, 90% only (bound), neither, both
    QualityPoint p = point(50, y, 50);
    p.samples = samples;
    acc.add(p);
  }
  QualityPoint q = point(3, 3.5, 3);  // quantiles only: 3.5 is in q05-q95 [1, 4], not q10-q90 [2, 3]
  q.intervals = PredictionIntervals{1, 2, 3, 4};
  acc.add(q);
  QualityPoint both = point(50, 50, 50);  // samples win over intervals
  both.samples = samples;
  both.intervals = PredictionIntervals{0, 0, 0, 0};
  acc.add(both);
  const QualitySummary s = acc.summary();
  EXPECT_EQ(s.interval_count, 7);
  EXPECT_EQ(s.covered_q10_q90, 3);  // 10, 50, 50
  EXPECT_EQ(s.covered_q05_q95, 6);  // all but 96
  EXPECT_DOUBLE_EQ(s.coverage_q10_q90, 3.0 / 7);
  EXPECT_DOUBLE_EQ(s.coverage_q05_q95, 6.0 / 7);
  EXPECT_EQ(s.crps_count, 6);  // the intervals-only point has no CRPS

  QualityAccumulator bad;
  QualityPoint unordered = point(1, 1, 1);
  unordered.intervals = PredictionIntervals{1, 3, 2, 4};
  EXPECT_THROW(bad.add(unordered), Error);
  EXPECT_EQ(bad.points(), 0);
}

TEST(ForecastQuality, BaselinesContinueTheContext) {
  // Context 1 2 4 7 11 16 (T = 6), season 3, horizon 4.
  const BaselineForecasts b = baseline_forecasts({1, 2, 4, 7, 11, 16}, 4, 3);
  EXPECT_EQ(b.persistence, (std::vector<double>{16, 16, 16, 16}));
  EXPECT_EQ(b.drift, (std::vector<double>{19, 22, 25, 28}));           // slope (16-1)/5 = 3
  EXPECT_EQ(b.seasonal_naive, (std::vector<double>{7, 11, 16, 7}));    // one season back, repeating
  EXPECT_FALSE(b.seasonal_fell_back);
  const BaselinePoint p = b.at(1);
  EXPECT_EQ(p.persistence, 16);
  EXPECT_EQ(p.drift, 22);
  EXPECT_EQ(p.seasonal_naive, 11);
  EXPECT_THROW(b.at(4), Error);

  const BaselineForecasts short_context = baseline_forecasts({5, 6}, 2, 5);  // shorter than a season
  EXPECT_TRUE(short_context.seasonal_fell_back);
  EXPECT_EQ(short_context.seasonal_naive, (std::vector<double>{6, 6}));
  EXPECT_TRUE(short_context.at(0).seasonal_fell_back);
  EXPECT_EQ(baseline_forecasts({5}, 2, 1).drift, (std::vector<double>{5, 5}));  // one value: no slope
  EXPECT_EQ(baseline_forecasts({1, 2, 3}, 2, 1).seasonal_naive, (std::vector<double>{3, 3}));
  EXPECT_TRUE(baseline_forecasts({1, 2}, 0, 1).persistence.empty());

  EXPECT_THROW(baseline_forecasts({}, 1, 1), Error);
  EXPECT_THROW(baseline_forecasts({1}, -1, 1), Error);
  EXPECT_THROW(baseline_forecasts({1}, 1, 0), Error);
  EXPECT_THROW(baseline_forecasts({1, std::nan("")}, 1, 1), Error);
}

TEST(ForecastQuality, SkillAgainstBaselinesOnTheSamePoints) {
  // One window, L = 10, actuals 11 then 12 (previous closes 10 and 11):
  //   model        11, 11.5  errors 0, 0.5   MAE 0.25  RMSE sqrt(0.125)
  //   persistence  10, 10    errors 1, 2     MAE 1.5   RMSE sqrt(2.5)
  //   drift        11, 12    errors 0, 0     -> skill undefined
  //   seasonal     12, 10    errors 1, 2     (fell back)
  // plus a point without baselines (y 20, f 10, error 10) that skill must ignore.
  QualityAccumulator acc;
  const double actual[] = {11, 12}, model[] = {11, 11.5}, seasonal[] = {12, 10}, previous[] = {10, 11};
  for (int h = 0; h < 2; ++h) {
    QualityPoint p = point(10, actual[h], model[h]);
    p.previous = previous[h];
    p.baselines = BaselinePoint{10, actual[h], seasonal[h], true};
    acc.add(p);
  }
  acc.add(point(10, 20, 10));
  const QualitySummary s = acc.summary();
  EXPECT_EQ(s.points, 3);
  EXPECT_EQ(s.baseline_count, 2);
  EXPECT_DOUBLE_EQ(s.price.mae, 10.5 / 3);

  EXPECT_EQ(s.persistence.name, "persistence");
  EXPECT_EQ(s.persistence.price.count, 2);
  EXPECT_DOUBLE_EQ(s.persistence.price.mae, 1.5);
  ASSERT_TRUE(s.persistence.price_mae_skill.defined);
  EXPECT_NEAR(s.persistence.price_mae_skill.value, 1 - 0.25 / 1.5, 1e-12);  // 5/6
  EXPECT_NEAR(s.persistence.price_rmse_skill.value, 1 - std::sqrt(0.125 / 2.5), 1e-12);
  // Returns: model errors 0 and |11.5/11 - 12/11| = 0.5/11; persistence |0 - 0.1| = 0.1 and
  // |10/11 - 12/11| = 2/11.
  ASSERT_TRUE(s.persistence.return_mae_skill.defined);
  EXPECT_NEAR(s.persistence.return_mae_skill.value, 1 - (0.25 / 11) / ((0.1 + 2.0 / 11) / 2), 1e-12);

  EXPECT_EQ(s.drift.price.mae, 0.0);
  EXPECT_FALSE(s.drift.price_mae_skill.defined);
  EXPECT_TRUE(std::isnan(s.drift.price_mae_skill.value));
  EXPECT_FALSE(s.drift.return_rmse_skill.defined);

  EXPECT_EQ(s.seasonal_naive.name, "seasonal_naive");
  EXPECT_EQ(s.seasonal_naive.fallback_count, 2);
  EXPECT_NEAR(s.seasonal_naive.price_mae_skill.value, 1 - 0.25 / 1.5, 1e-12);
  EXPECT_EQ(s.persistence.fallback_count, 0);
}

TEST(ForecastQuality, EmptyAccumulatorIsAnErrorAndBadPointsAddNothing) {
  QualityAccumulator acc;
  EXPECT_EQ(acc.points(), 0);
  try {
    acc.summary();
    FAIL() << "an empty accumulator gave a summary";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("no forecast points"), std::string::npos) << e.what();
  }
  const double nan = std::numeric_limits<double>::quiet_NaN();
  EXPECT_THROW(acc.add(point(nan, 1, 1)), Error);
  EXPECT_THROW(acc.add(point(1, nan, 1)), Error);
  EXPECT_THROW(acc.add(point(1, 1, std::numeric_limits<double>::infinity())), Error);
  QualityPoint p = point(1, 1, 1);
  p.samples = {1, nan};
  EXPECT_THROW(acc.add(p), Error);
  p.samples.clear();
  p.previous = nan;
  EXPECT_THROW(acc.add(p), Error);
  p.previous.reset();
  p.baselines = BaselinePoint{1, nan, 1, false};
  EXPECT_THROW(acc.add(p), Error);
  EXPECT_EQ(acc.points(), 0);
}

TEST(ForecastQuality, MergeEqualsAddingEverythingToOne) {
  std::mt19937_64 rng(7);
  std::normal_distribution<double> draw(100, 3);
  QualityAccumulator all, left, right;
  for (int i = 0; i < 40; ++i) {
    QualityPoint p = point(100, draw(rng), draw(rng));
    for (int k = 0; k < 9; ++k) p.samples.push_back(draw(rng));
    p.baselines = BaselinePoint{100, draw(rng), draw(rng), i % 3 == 0};
    all.add(p);
    (i % 2 ? left : right).add(p);
  }
  left.merge(right);
  const QualitySummary a = all.summary(), b = left.summary();
  EXPECT_EQ(a.points, b.points);
  EXPECT_NEAR(a.price.rmse, b.price.rmse, 1e-12);
  EXPECT_NEAR(a.crps, b.crps, 1e-12);
  EXPECT_EQ(a.covered_q10_q90, b.covered_q10_q90);
  EXPECT_EQ(a.direction_hits, b.direction_hits);
  EXPECT_EQ(a.seasonal_naive.fallback_count, b.seasonal_naive.fallback_count);
  EXPECT_NEAR(a.drift.price_rmse_skill.value, b.drift.price_rmse_skill.value, 1e-12);
}

}  // namespace
}  // namespace fcast::eval
