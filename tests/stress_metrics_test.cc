// The stress test's verdict logic without running a model: tier boundaries, accuracy metrics
// (true sample std), the compiled-vs-eager summary (including the "compiled slower" check the
// Python tool never fired), the JSON schema of a record and the recommended env file.
#include <gtest/gtest.h>

#include <cmath>
#include <nlohmann/json.hpp>

#include "tools/stress/metrics.h"
#include "tools/stress/report.h"

namespace fcast::stress {
namespace {

TEST(StressTiers, MaeDeltaBoundaries) {
  EXPECT_EQ(rate_mae_delta(0.0), Tier::Pass);
  EXPECT_EQ(rate_mae_delta(4.999), Tier::Pass);
  EXPECT_EQ(rate_mae_delta(5.0), Tier::Warn);
  EXPECT_EQ(rate_mae_delta(10.0), Tier::Warn);
  EXPECT_EQ(rate_mae_delta(10.001), Tier::Fail);
  EXPECT_EQ(rate_mae_delta(1027.0), Tier::Fail);  // the Python tool reported "No major issues" here
  EXPECT_EQ(rate_mae_delta(NAN), Tier::Fail);
  EXPECT_EQ(rate_mae_delta(INFINITY), Tier::Fail);
}

TEST(StressTiers, RecompileBoundaries) {
  EXPECT_EQ(rate_recompiles(0), Tier::Pass);
  EXPECT_EQ(rate_recompiles(9), Tier::Pass);
  EXPECT_EQ(rate_recompiles(10), Tier::Warn);
  EXPECT_EQ(rate_recompiles(20), Tier::Warn);
  EXPECT_EQ(rate_recompiles(21), Tier::Fail);
}

TEST(StressTiers, SpeedupBoundaries) {
  EXPECT_EQ(rate_speedup(3.0), Tier::Pass);
  EXPECT_EQ(rate_speedup(0.8), Tier::Pass);
  EXPECT_EQ(rate_speedup(0.79), Tier::Warn);
  EXPECT_EQ(rate_speedup(0.5), Tier::Warn);
  EXPECT_EQ(rate_speedup(0.49), Tier::Fail);
  EXPECT_EQ(rate_speedup(1.0 / 40.0), Tier::Fail);  // "compiled 40x slower"
  EXPECT_EQ(rate_speedup(NAN), Tier::Fail);
}

TEST(StressMetrics, AccuracyAgainstHeldOutBars) {
  WindowResult a, b;
  a.actual = {100};
  a.mean = {102};
  a.std = {3};
  b.actual = {200};
  b.mean = {196};
  b.std = {5};
  const AccuracyMetrics m = accuracy_of({a, b});
  EXPECT_DOUBLE_EQ(m.mae, 3.0);
  EXPECT_DOUBLE_EQ(m.rmse, std::sqrt((4.0 + 16.0) / 2.0));
  EXPECT_DOUBLE_EQ(m.mape, 100.0 * (0.02 + 0.02) / 2.0);
  EXPECT_DOUBLE_EQ(m.prediction_mean, 149.0);
  EXPECT_DOUBLE_EQ(m.prediction_std, 4.0);  // the samples' spread, not the std of one number
  EXPECT_DOUBLE_EQ(m.target_mean, 150.0);
}

TEST(StressMetrics, PercentileInterpolates) {
  EXPECT_DOUBLE_EQ(percentile({1, 2, 3, 4, 5}, 50), 3.0);
  EXPECT_DOUBLE_EQ(percentile({1, 2, 3, 4}, 50), 2.5);
  EXPECT_DOUBLE_EQ(percentile({1, 2, 3, 4, 5}, 99), 4.96);
  EXPECT_DOUBLE_EQ(percentile({}, 50), 0.0);
}

IterationRecord rec(const std::string& model, bool compiled, int it, double forecast, double actual, double p50,
                    int64_t recompiles = 0) {
  IterationRecord r;
  r.model_name = model;
  r.compiled = compiled;
  r.compile_mode = compiled ? "max-autotune" : "eager";  // the Python tool keyed on "compiled" and never matched
  r.iteration = it;
  WindowResult w;
  w.actual = {actual};
  w.mean = {forecast};
  w.std = {1};
  w.q10 = {forecast - 1};
  w.q90 = {forecast + 1};
  r.windows = {w};
  r.accuracy = accuracy_of(r.windows);
  r.perf.p50_ms = p50;
  r.perf.steady_ms = {p50};
  r.perf.recompiles = recompiles;
  return r;
}

const Check& check(const ModelSummary& s, const std::string& prefix) {
  for (const auto& c : s.checks)
    if (c.name.rfind(prefix, 0) == 0) return c;
  ADD_FAILURE() << "no check " << prefix;
  static Check none;
  return none;
}

TEST(StressSummary, CompiledSlowerFiresUnderAnyModeName) {
  const auto s = summarize({rec("Toto", false, 1, 101, 100, 10), rec("Toto", true, 1, 101, 100, 400)}, {});
  ASSERT_EQ(s.size(), 1u);
  EXPECT_DOUBLE_EQ(s[0].speedup, 10.0 / 400.0);
  EXPECT_EQ(check(s[0], "speedup").tier, Tier::Fail);
  EXPECT_NE(check(s[0], "speedup").reason.find("slower"), std::string::npos);
  EXPECT_EQ(s[0].tier, Tier::Fail);
  EXPECT_EQ(worst_tier(s), Tier::Fail);
  EXPECT_FALSE(failure_reasons(s, Tier::Fail).empty());
}

TEST(StressSummary, SpeedNotRatedWhenAsked) {
  const auto s = summarize({rec("Toto", false, 1, 101, 100, 10), rec("Toto", true, 1, 101, 100, 400)}, {false});
  EXPECT_EQ(check(s[0], "speedup").tier, Tier::Info);
  EXPECT_EQ(s[0].tier, Tier::Pass);
}

TEST(StressSummary, MaeDeltaAndDivergence) {
  // Eager error 10, compiled error 12: +20 % MAE. Same windows, forecasts 2 apart: divergence 20 %.
  const auto s = summarize({rec("Kronos", false, 1, 110, 100, 10), rec("Kronos", true, 1, 112, 100, 5)}, {});
  EXPECT_NEAR(s[0].mae_delta_signed_pct, 20.0, 1e-9);
  EXPECT_NEAR(s[0].divergence_pct, 20.0, 1e-9);
  EXPECT_EQ(check(s[0], "MAE delta").tier, Tier::Fail);
  EXPECT_EQ(check(s[0], "forecast divergence").tier, Tier::Fail);
  EXPECT_NEAR(s[0].speedup, 2.0, 1e-12);
  // Errors of opposite sign: equal MAE (delta 0) but the forecasts differ by 20 % of the eager MAE.
  const auto t = summarize({rec("Toto", false, 1, 110, 100, 10), rec("Toto", true, 1, 90, 100, 10)}, {});
  EXPECT_NEAR(t[0].mae_delta_pct, 0.0, 1e-12);
  EXPECT_EQ(check(t[0], "forecast divergence").tier, Tier::Fail);
}

TEST(StressSummary, RecompilesSumOverCompiledIterations) {
  std::vector<IterationRecord> r;
  for (int i = 1; i <= 3; ++i) {
    r.push_back(rec("Toto", false, i, 101, 100, 10));
    r.push_back(rec("Toto", true, i, 101, 100, 10, 7));
  }
  const auto s = summarize(r, {});
  EXPECT_EQ(s[0].total_recompiles, 21);
  EXPECT_EQ(check(s[0], "recompiles").tier, Tier::Fail);
}

TEST(StressSummary, MissingModeIsNotAVerdict) {
  const auto s = summarize({rec("Toto", false, 1, 101, 100, 10)}, {});
  EXPECT_EQ(s[0].tier, Tier::Info);
  EXPECT_EQ(worst_tier(s), Tier::Info);
}

TEST(StressReport, RecordHasTheSeedSchemaAndTheNewFields) {
  IterationRecord r = rec("Toto", true, 2, 101, 100, 10, 1);
  r.perf.load_ms = 3;
  r.perf.first_call_ms = 50;
  const nlohmann::ordered_json j = record_json(r);
  EXPECT_TRUE(j["model_name"].is_string());
  EXPECT_TRUE(j["compile_mode"].is_string());
  EXPECT_TRUE(j["iteration"].is_number_integer());
  for (const char* k : {"mae", "rmse", "mape", "prediction_mean", "prediction_std", "target_mean"})
    EXPECT_TRUE(j["accuracy"][k].is_number()) << k;
  EXPECT_TRUE(j["performance"]["inference_time_ms"].is_number());
  EXPECT_TRUE(j["performance"]["peak_memory_mb"].is_number());
  EXPECT_TRUE(j["performance"]["recompilations"].is_number_integer());
  for (const char* k : {"load_time_ms", "first_call_ms", "latency_p50_ms", "latency_p99_ms", "peak_rss_mb"})
    EXPECT_TRUE(j["performance"][k].is_number()) << k;
  for (const char* k : {"plans_built", "recompiles_after_warmup", "cache_hits", "cache_misses"})
    EXPECT_TRUE(j["performance"][k].is_number_integer()) << k;
  EXPECT_TRUE(j["performance"]["latencies_ms"].is_array());
  EXPECT_TRUE(j["windows"].is_array());
  EXPECT_TRUE(j["compiled"].is_boolean());
}

TEST(StressReport, NonFiniteNumbersBecomeNull) {
  IterationRecord r = rec("Toto", false, 1, NAN, 100, 10);
  const nlohmann::ordered_json j = record_json(r);
  EXPECT_TRUE(j["accuracy"]["mae"].is_null());
  const nlohmann::json back = nlohmann::json::parse(j.dump());
  EXPECT_TRUE(back["accuracy"]["mae"].is_null());
}

TEST(StressReport, RecommendedEnvFollowsTheVerdict) {
  RunInfo info;
  info.compile_mode = "max-autotune";
  info.compile_backend = "inductor";
  info.precision = "fp32";
  info.compiled_models_dir = "/tmp/cache";
  const auto slow = summarize({rec("Toto", false, 1, 101, 100, 10), rec("Toto", true, 1, 101, 100, 400)}, {});
  const std::string env_slow = recommended_env(info, slow);
  EXPECT_NE(env_slow.find("TOTO_DISABLE_COMPILE=1"), std::string::npos) << env_slow;
  const auto fast = summarize({rec("Toto", false, 1, 101, 100, 10), rec("Toto", true, 1, 101, 100, 4),
                               rec("Kronos", false, 1, 101, 100, 10), rec("Kronos", true, 1, 150, 100, 4)},
                              {});
  const std::string env_fast = recommended_env(info, fast);
  EXPECT_NE(env_fast.find("TOTO_COMPILE=1"), std::string::npos) << env_fast;
  EXPECT_NE(env_fast.find("TOTO_COMPILE_MODE=max-autotune"), std::string::npos) << env_fast;
  EXPECT_NE(env_fast.find("KRONOS_COMPILE=0"), std::string::npos) << env_fast;
  EXPECT_NE(env_fast.find("COMPILED_MODELS_DIR=/tmp/cache"), std::string::npos) << env_fast;
}

TEST(StressReport, HtmlIsSelfContained) {
  RunInfo info;
  std::vector<IterationRecord> r = {rec("Toto", false, 1, 101, 100, 10), rec("Toto", true, 1, 101, 100, 5)};
  const std::string html = html_report(info, r, summarize(r, {}), Tier::Pass);
  EXPECT_NE(html.find("<svg"), std::string::npos);
  EXPECT_EQ(html.find("<link"), std::string::npos);
  EXPECT_EQ(html.find("@import"), std::string::npos);
  EXPECT_EQ(html.find("src="), std::string::npos);   // no script, image or frame is loaded
  EXPECT_EQ(html.find("https:"), std::string::npos);
  EXPECT_EQ(html.find("fetch("), std::string::npos);
}

// A window of a hand-made series: the close at the origin, the held-out closes, the mean forecast
// and its q10 / q90.
WindowResult window(double last, std::vector<double> actual, std::vector<double> mean, std::vector<double> q10,
                    std::vector<double> q90) {
  WindowResult w;
  w.last_close = last;
  w.actual = std::move(actual);
  w.mean = std::move(mean);
  w.q10 = std::move(q10);
  w.q90 = std::move(q90);
  w.std.assign(w.mean.size(), 1.0);
  return w;
}

IterationRecord scored(const std::string& symbol, bool compiled, int it, std::vector<WindowResult> w) {
  IterationRecord r;
  r.model_name = "Toto";
  r.compiled = compiled;
  r.compile_mode = compiled ? "max-autotune" : "eager";
  r.iteration = it;
  r.symbol = symbol;
  r.windows = std::move(w);
  r.accuracy = accuracy_of(r.windows);
  return r;
}

// Symbol A, worked by hand: window 1 (origin close 100) forecasts 101, 103 for 102, 104 (errors
// 1, 1; the last value's errors 2, 4); window 2 (origin close 104) forecasts 104.5 for 103 (error
// 1.5; last value 1). MAE 3.5/3, last-value MAE 7/3, relative MAE 0.5, skill 0.5. Inside q10-q90:
// 102 in [101.5, 103] yes, 104 in [100, 105] yes, 103 in [104, 105] no: coverage 2/3.
std::vector<WindowResult> symbol_a() {
  return {window(100, {102, 104}, {101, 103}, {101.5, 100}, {103, 105}), window(104, {103}, {104.5}, {104}, {105})};
}

TEST(StressScores, RelativeMaeSkillAndCoverageMatchTheHandComputedValues) {
  const AccuracyMetrics m = accuracy_of(symbol_a());
  EXPECT_NEAR(m.mae, 3.5 / 3.0, 1e-12);
  EXPECT_NEAR(m.naive_mae, 7.0 / 3.0, 1e-12);
  EXPECT_NEAR(m.relative_mae, 0.5, 1e-12);
  EXPECT_NEAR(m.coverage, 2.0 / 3.0, 1e-12);
  const Scores s = score_by_symbol({scored("A", false, 1, symbol_a())});
  ASSERT_EQ(s.symbols.size(), 1u);
  EXPECT_NEAR(s.symbols[0].skill(), 0.5, 1e-12);
  EXPECT_EQ(s.symbols[0].windows, 2);
  EXPECT_EQ(s.symbols[0].bars, 3);
}

TEST(StressScores, SymbolsAreScoredSeparatelyAndAggregatedScaleFree) {
  // Symbol B trades near 10 000: its MAE (200) is in other units and is never averaged with A's.
  // Errors 200 and 200 (MAE 200), the last value's 100 and 100: relative MAE 2. Geometric mean of
  // 0.5 and 2 is 1 (skill 0).
  const std::vector<WindowResult> b = {window(10000, {10100}, {10300}, {10000}, {10200}),
                                       window(10100, {10200}, {10000}, {9900}, {10100})};
  // Iterations 1 and 3 forecast A, 2 forecasts B: A's windows are pooled over its iterations.
  const Scores s = score_by_symbol({scored("A", false, 1, {symbol_a()[0]}), scored("B", false, 2, b),
                                    scored("A", false, 3, {symbol_a()[1]})});
  ASSERT_EQ(s.symbols.size(), 2u);
  EXPECT_EQ(s.symbols[0].symbol, "A");
  EXPECT_NEAR(s.symbols[0].accuracy.relative_mae, 0.5, 1e-12);
  EXPECT_NEAR(s.symbols[1].accuracy.mae, 200.0, 1e-9);
  EXPECT_NEAR(s.symbols[1].accuracy.relative_mae, 2.0, 1e-12);
  EXPECT_NEAR(s.symbols[1].accuracy.coverage, 0.5, 1e-12);  // 10100 in [10000, 10200]; 10200 above 10100
  ASSERT_EQ(s.modes.size(), 1u);
  EXPECT_EQ(s.modes[0].symbols, 2);
  EXPECT_EQ(s.modes[0].beats_last_value, 1);
  EXPECT_NEAR(s.modes[0].relative_mae, 1.0, 1e-12);
  EXPECT_NEAR(s.modes[0].skill, 0.0, 1e-12);
  EXPECT_NEAR(s.modes[0].coverage, (2.0 / 3.0 + 0.5) / 2.0, 1e-12);
  for (const SymbolScore& x : s.symbols) {
    EXPECT_GE(x.accuracy.coverage, 0.0);
    EXPECT_LE(x.accuracy.coverage, 1.0);
  }
}

TEST(StressScores, GeometricMeanEdges) {
  EXPECT_NEAR(geometric_mean({0.5, 2.0}), 1.0, 1e-12);
  EXPECT_NEAR(geometric_mean({4.0, NAN, INFINITY}), 4.0, 1e-12);  // unusable ratios are left out
  EXPECT_EQ(geometric_mean({0.0, 3.0}), 0.0);
  EXPECT_TRUE(std::isnan(geometric_mean({})));
}

TEST(StressScores, NoLastCloseMeansNoBaseline) {
  WindowResult w = window(NAN, {1}, {2}, {0}, {3});
  const AccuracyMetrics m = accuracy_of({w});
  EXPECT_TRUE(std::isnan(m.relative_mae));
  EXPECT_NEAR(m.coverage, 1.0, 1e-12);
}

TEST(StressSummary, MaeDeltaComparesWithinEachSymbol) {
  // Iteration 1 (A): compiled MAE 10 % above eager; iteration 2 (B, 100x the prices): 10 % below.
  // The ratios 1.1 and 1/1.1 pool to a delta of 0, where a mean of MAEs would be ruled by B.
  std::vector<IterationRecord> r = {rec("Toto", false, 1, 110, 100, 10), rec("Toto", true, 1, 111, 100, 10),
                                    rec("Toto", false, 2, 11000, 10000, 10), rec("Toto", true, 2, 10000 + 1000 / 1.1, 10000, 10)};
  const auto s = summarize(r, {});
  EXPECT_NEAR(s[0].mae_delta_signed_pct, 0.0, 1e-9);
}

TEST(StressDiff, MaxAbsoluteAndRelativeDifference) {
  std::vector<IterationRecord> r = {rec("Toto", false, 1, 100, 100, 10), rec("Toto", true, 1, 100.5, 100, 10),
                                    rec("Toto", false, 2, 2, 1, 10), rec("Toto", true, 2, 2.1, 1, 10)};
  const CompiledEagerDiff d = compiled_eager_diff(r, "Toto");
  ASSERT_EQ(d.points.size(), 2u);
  EXPECT_NEAR(d.max_abs, 0.5, 1e-12);
  EXPECT_NEAR(d.max_rel, 0.05, 1e-12);  // 0.1 / 2 on iteration 2
}

}  // namespace
}  // namespace fcast::stress
