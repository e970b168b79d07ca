// The drift store of `fcast serve` (src/serve/drift.h) without a server: scores of a hand-made
// forecast with known errors, each step scored once, the cap and its eviction, the baseline and
// the reference's alert rule.
#include <gtest/gtest.h>

#include <cmath>

#include "serve/drift.h"

using namespace fcast;
using namespace fcast::serve;

namespace {

// Forecast 10, 11, 12 at t = 100, 200, 300 (origin 0), interval [mean - 1, mean + 1].
StoredForecast hand_forecast(const std::string& id = "MSTR", int64_t origin = 0) {
  StoredForecast f;
  f.id = id;
  f.origin = origin;
  f.timestamps = {origin + 100, origin + 200, origin + 300};
  f.variate_names = {"close"};
  f.mean = {{10, 11, 12}};
  f.lower = {{9, 10, 11}};
  f.upper = {{11, 12, 13}};
  f.lower_level = 0.1;
  f.upper_level = 0.9;
  return f;
}

SeriesActuals actuals(const std::string& id, std::vector<int64_t> t, std::vector<double> v) {
  SeriesActuals a;
  a.id = id;
  a.variate_names = {"close"};
  a.timestamps = std::move(t);
  a.values = {std::move(v)};
  return a;
}

std::vector<std::vector<uint8_t>> fresh_flags(const StoredForecast& f) {
  return std::vector<std::vector<uint8_t>>(f.mean.size(), std::vector<uint8_t>(f.timestamps.size(), 0));
}

}  // namespace

TEST(Drift, HandMadeScores) {
  // Actuals 11, 11, 9: errors f - a = -1, 0, +3.
  const StoredForecast f = hand_forecast();
  auto flags = fresh_flags(f);
  const DriftScore s = score_forecast(f, actuals("MSTR", {100, 200, 300}, {11, 11, 9}), flags);
  ASSERT_EQ(s.status, DriftScore::Status::kScored) << s.note;
  EXPECT_EQ(s.steps, 3);
  EXPECT_EQ(s.values, 3);
  EXPECT_DOUBLE_EQ(s.mae, 4.0 / 3.0);
  EXPECT_DOUBLE_EQ(s.rmse, std::sqrt(10.0 / 3.0));
  EXPECT_DOUBLE_EQ(s.mape, (1.0 / 11.0 + 0.0 + 3.0 / 9.0) / 3.0);
  EXPECT_DOUBLE_EQ(s.wape, 4.0 / 31.0);
  // 11 in [9, 11], 11 in [10, 12], 9 not in [11, 13].
  EXPECT_DOUBLE_EQ(s.coverage, 2.0 / 3.0);
  EXPECT_TRUE(std::isnan(s.delta));  // deltas come from the store, against a baseline
}

TEST(Drift, OnlyMatchingStampsScoreAndZeroActualsSkipMape) {
  const StoredForecast f = hand_forecast();
  auto flags = fresh_flags(f);
  // t = 50 and 400 are no forecast step; t = 200 has actual 0 (MAPE skips it, MAE does not).
  const DriftScore s = score_forecast(f, actuals("MSTR", {50, 200, 300, 400}, {7, 0, 12, 8}), flags);
  ASSERT_EQ(s.status, DriftScore::Status::kScored);
  EXPECT_EQ(s.steps, 2);
  EXPECT_DOUBLE_EQ(s.mae, (11.0 + 0.0) / 2.0);
  EXPECT_DOUBLE_EQ(s.mape, 0.0);  // only t = 300, exact
  EXPECT_DOUBLE_EQ(s.wape, 11.0 / 12.0);
  EXPECT_DOUBLE_EQ(s.coverage, 0.5);
  // All actuals zero: MAPE and WAPE undefined, MAE defined.
  auto flags2 = fresh_flags(f);
  const DriftScore z = score_forecast(f, actuals("MSTR", {100}, {0}), flags2);
  EXPECT_DOUBLE_EQ(z.mae, 10.0);
  EXPECT_TRUE(std::isnan(z.mape));
  EXPECT_TRUE(std::isnan(z.wape));
}

TEST(Drift, NoIntervalNoCoverageAndMissingValuesSkipped) {
  StoredForecast f = hand_forecast();
  f.lower.clear();
  f.upper.clear();
  auto flags = fresh_flags(f);
  SeriesActuals a = actuals("MSTR", {100, 200}, {11, 999});
  a.observed = {{1, 0}};  // the second is missing
  const DriftScore s = score_forecast(f, a, flags);
  EXPECT_EQ(s.values, 1);
  EXPECT_DOUBLE_EQ(s.mae, 1.0);
  EXPECT_TRUE(std::isnan(s.coverage));
  EXPECT_EQ(flags[0][1], 0);  // the missing step can still be scored later
}

TEST(Drift, VariatesMatchByNameOrPosition) {
  StoredForecast f = hand_forecast();
  f.variate_names = {"close", "volume"};
  f.mean.push_back({100, 100, 100});
  f.lower.push_back({0, 0, 0});
  f.upper.push_back({1000, 1000, 1000});
  auto flags = fresh_flags(f);
  SeriesActuals a;
  a.id = "MSTR";
  a.variate_names = {"volume", "other"};
  a.timestamps = {100};
  a.values = {{90}, {5}};
  DriftScore s = score_forecast(f, a, flags);
  EXPECT_EQ(s.values, 1);
  EXPECT_DOUBLE_EQ(s.mae, 10.0);
  EXPECT_EQ(flags[1][0], 1);
  EXPECT_EQ(flags[0][0], 0);
  // Unnamed: by position only when the counts agree.
  a.variate_names.clear();
  a.values = {{10}};
  s = score_forecast(f, a, flags);
  EXPECT_EQ(s.status, DriftScore::Status::kNoMatch);
  EXPECT_NE(s.note.find("name them"), std::string::npos) << s.note;
  a.values = {{12}, {100}};
  s = score_forecast(f, a, flags);
  EXPECT_EQ(s.values, 1);  // volume at 100 was scored already
  EXPECT_EQ(s.already_scored, 1);
  EXPECT_DOUBLE_EQ(s.mae, 2.0);
}

TEST(Drift, EachStepScoredOnce) {
  DriftStore store({});
  store.record("toto", actuals("MSTR", {-100, 0}, {1, 2}), hand_forecast());
  DriftOutcome o = store.score("toto", actuals("MSTR", {100}, {11}));
  ASSERT_TRUE(o.scored);
  EXPECT_EQ(o.score.steps, 1);
  // The same values again, then with one new step: only the new one counts.
  o = store.score("toto", actuals("MSTR", {100}, {11}));
  EXPECT_FALSE(o.scored);
  EXPECT_EQ(o.score.status, DriftScore::Status::kNoMatch);
  EXPECT_EQ(o.score.already_scored, 1);
  o = store.score("toto", actuals("MSTR", {100, 200}, {11, 11}));
  ASSERT_TRUE(o.scored);
  EXPECT_EQ(o.score.steps, 1);
  EXPECT_EQ(o.score.already_scored, 1);
  EXPECT_DOUBLE_EQ(o.score.mae, 0.0);
  const DriftModelReport r = store.report("toto");
  EXPECT_EQ(r.scores, 2);
  EXPECT_EQ(r.scored_values, 2);
  EXPECT_EQ(r.tracked_series, 1);
  // Unknown id: a note, not a score.
  o = store.score("toto", actuals("TSLA", {100}, {11}));
  EXPECT_EQ(o.score.status, DriftScore::Status::kNotFound);
  EXPECT_FALSE(o.score.note.empty());
  o = store.score("kronos", actuals("MSTR", {100}, {11}));
  EXPECT_EQ(o.score.status, DriftScore::Status::kNotFound);
}

TEST(Drift, LaterForecastScoresTheEarlierOneThenReplacesIt) {
  DriftStore store({});
  EXPECT_FALSE(store.record("toto", actuals("MSTR", {-100, 0}, {1, 2}), hand_forecast()).scored);
  // The next request's bars run to t = 200: steps 100 and 200 of the first forecast are realised.
  DriftOutcome o = store.record("toto", actuals("MSTR", {0, 100, 200}, {2, 11, 11}), hand_forecast("MSTR", 200));
  ASSERT_TRUE(o.scored);
  EXPECT_EQ(o.score.origin, 0);
  EXPECT_EQ(o.score.steps, 2);
  EXPECT_DOUBLE_EQ(o.score.mae, 0.5);
  // The stored forecast is now the one of origin 200 (steps 300, 400, 500).
  o = store.score("toto", actuals("MSTR", {300}, {10}));
  ASSERT_TRUE(o.scored);
  EXPECT_EQ(o.score.origin, 200);
  EXPECT_DOUBLE_EQ(o.score.mae, 0.0);
  // An older forecast does not replace a newer one that still has unscored steps.
  store.record("toto", actuals("MSTR", {0}, {2}), hand_forecast("MSTR", 0));
  o = store.score("toto", actuals("MSTR", {400}, {11}));
  ASSERT_TRUE(o.scored);
  EXPECT_EQ(o.score.origin, 200);
}

TEST(Drift, CapEvictsTheLeastRecentlyUpdated) {
  DriftStore store({.max_series = 2, .window = 20, .baseline_wape = {}});
  store.record("toto", actuals("A", {}, {}), hand_forecast("A"));
  store.record("toto", actuals("B", {}, {}), hand_forecast("B"));
  ASSERT_TRUE(store.score("toto", actuals("A", {100}, {10})).scored);  // A is now the most recent
  DriftOutcome o = store.record("kronos", actuals("C", {}, {}), hand_forecast("C"));
  ASSERT_EQ(o.evicted.size(), 1u);
  EXPECT_EQ(o.evicted[0], "toto");
  EXPECT_EQ(store.score("toto", actuals("B", {100}, {10})).score.status, DriftScore::Status::kNotFound);
  EXPECT_TRUE(store.score("toto", actuals("A", {200}, {11})).scored);
  EXPECT_TRUE(store.score("kronos", actuals("C", {200}, {11})).scored);
  const DriftModelReport r = store.report("toto");
  EXPECT_EQ(r.tracked_series, 1);
  EXPECT_EQ(r.evicted, 1);
  EXPECT_EQ(store.report("kronos").tracked_series, 1);
}

TEST(Drift, AlertRule) {
  EXPECT_EQ(drift_alert_state({}), "insufficient");
  EXPECT_EQ(drift_alert_state({0.5, 0.5, 0.5, 0.5}), "insufficient");
  EXPECT_EQ(drift_alert_state({0.02, 0.02, 0.02, 0.02, 0.02}), "promote");
  EXPECT_EQ(drift_alert_state({-0.02, -0.02, -0.02, -0.02, -0.02}), "regress");
  EXPECT_EQ(drift_alert_state({0.007, 0.007, 0.007, 0.007, 0.007}), "watch");
  EXPECT_EQ(drift_alert_state({-0.007, -0.007, -0.007, -0.007, -0.007}), "watch");
  // |mean| <= 0.005 but only 1 of 5 deltas positive: regress.
  EXPECT_EQ(drift_alert_state({0.004, -0.001, -0.001, -0.001, -0.001}), "regress");
  // |mean| <= 0.005, 3 of 5 positive: ok. Zero deltas are not positive.
  EXPECT_EQ(drift_alert_state({0.001, 0.001, -0.001, 0.001, -0.001}), "ok");
  EXPECT_EQ(drift_alert_state({0, 0, 0, 0, 0}), "regress");
}

TEST(Drift, BaselineLearnedFromTheFirstFiveScoresThenAlert) {
  DriftStore store({.max_series = 10000, .window = 3, .baseline_wape = {}});
  int64_t origin = 0;
  // Every forecast is 10, 11, 12; actuals 11 at one step give WAPE 1/11 (first step).
  auto one_score = [&](double actual) {
    store.record("toto", actuals("MSTR", {}, {}), hand_forecast("MSTR", origin));
    DriftOutcome o = store.score("toto", actuals("MSTR", {origin + 100}, {actual}));
    origin += 1000;
    return o;
  };
  for (int k = 0; k < 5; ++k) {
    const DriftOutcome o = one_score(k % 2 ? 12.5 : 8);  // WAPE 2.5/12.5 = 0.2, 2/8 = 0.25
    ASSERT_TRUE(o.scored);
    EXPECT_TRUE(std::isnan(o.score.delta));
    EXPECT_EQ(store.report("toto").state, "insufficient");
  }
  DriftModelReport r = store.report("toto");
  EXPECT_NEAR(r.baseline, (3 * 0.25 + 2 * 0.2) / 5, 1e-15);  // 0.23
  EXPECT_EQ(r.baseline_source, "first 5 scores");
  EXPECT_EQ(r.rolling_scores, 3);
  EXPECT_EQ(r.last.size(), 3u);
  // Worse forecasts: WAPE 0.25 > 0.23, delta -0.087 each: regress after 5 of them.
  for (int k = 0; k < 5; ++k) {
    const DriftOutcome o = one_score(8);
    EXPECT_NEAR(o.score.delta, (0.23 - 0.25) / 0.23, 1e-12);
    EXPECT_EQ(store.report("toto").state, k < 4 ? "insufficient" : "regress");
  }
  // Exact forecasts: WAPE 0, delta +1: promote once they fill the window of 5.
  for (int k = 0; k < 5; ++k) one_score(10);
  r = store.report("toto");
  EXPECT_EQ(r.state, "promote");
  EXPECT_EQ(r.deltas.size(), 5u);
  EXPECT_DOUBLE_EQ(r.mae, 0.0);  // the rolling values cover the last 3 scores
  EXPECT_EQ(r.scores, 15);
}

TEST(Drift, BaselineFromFlag) {
  DriftStore store({.baseline_wape = {{"toto", 0.1}}});
  EXPECT_EQ(store.report("toto").baseline_source, "flag");
  store.record("toto", actuals("MSTR", {}, {}), hand_forecast());
  const DriftOutcome o = store.score("toto", actuals("MSTR", {100}, {11}));  // WAPE 1/11
  EXPECT_NEAR(o.score.delta, (0.1 - 1.0 / 11.0) / 0.1, 1e-12);
  EXPECT_EQ(store.report("toto").deltas.size(), 1u);
  EXPECT_THROW(DriftStore({.baseline_wape = {{"toto", 0}}}), std::exception);
  EXPECT_THROW(DriftStore({.max_series = 0, .window = 20, .baseline_wape = {}}), std::exception);
}

TEST(Drift, InputsFromAForecastAnswer) {
  SeriesInput in;
  in.id = "MSTR";
  in.values = {{1, 2, 3}};
  in.timestamps = {10, 20, 30};
  SeriesForecast f;
  f.variate_names = {"v0"};
  f.timestamps = {40, 50};
  f.mean = {{4, 5}};
  f.quantiles = {{{4.5f, 5.5f}}, {{3, 4}}, {{5, 6}}};  // levels 0.5, 0.1, 0.9
  StoredForecast next;
  SeriesActuals bars;
  ASSERT_TRUE(drift_inputs(in, f, {0.5, 0.1, 0.9}, next, bars));
  EXPECT_EQ(next.origin, 30);
  EXPECT_EQ(next.lower_level, 0.1);
  EXPECT_EQ(next.upper_level, 0.9);
  EXPECT_EQ(next.lower[0][1], 4);
  EXPECT_EQ(next.upper[0][0], 5);
  EXPECT_EQ(bars.timestamps, in.timestamps);
  // One level: no interval. No id or no timestamps: not tracked.
  f.quantiles.resize(1);
  ASSERT_TRUE(drift_inputs(in, f, {0.5}, next, bars));
  EXPECT_TRUE(next.lower.empty());
  in.timestamps.clear();
  EXPECT_FALSE(drift_inputs(in, f, {0.5}, next, bars));
  in.timestamps = {10, 20, 30};
  in.id.clear();
  EXPECT_FALSE(drift_inputs(in, f, {0.5}, next, bars));
}
