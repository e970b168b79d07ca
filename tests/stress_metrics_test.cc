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
  EXPECT_EQ(rate_speedup(1.0 / 40.0), Tier::Fail);  // "compiled 40x slower" (spec system.md §1.3)
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
  EXPECT_EQ(html.find("<script"), std::string::npos);
  EXPECT_EQ(html.find("<link"), std::string::npos);
  EXPECT_EQ(html.find("@import"), std::string::npos);
  EXPECT_EQ(html.find("src="), std::string::npos);
}

}  // namespace
}  // namespace fcast::stress
