// eval/aggregate.h: every spec of the grammar against values worked by hand on the samples
// {1, 2, 3, 4, 10}, the percentage rule, both sample layouts, and clear errors.
#include "eval/aggregate.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "core/error.h"

namespace fcast::eval {
namespace {

// Unsorted on purpose: aggregation must sort per step.
const std::vector<double> kFive = {10, 3, 1, 4, 2};
// Population std of {1,2,3,4,10}: mean 4, squared deviations 9+4+1+0+36 = 50, 50/5 = 10.
const double kStd = std::sqrt(10.0);

double on_five(const std::string& spec) { return aggregate_one_step(parse_aggregation(spec), kFive); }

std::string error_of(const std::string& spec) {
  try {
    parse_aggregation(spec);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(Aggregate, MeanMedianAndPercentiles) {
  EXPECT_DOUBLE_EQ(on_five("mean"), 4.0);
  EXPECT_DOUBLE_EQ(on_five("median"), 3.0);
  EXPECT_NEAR(on_five("p10"), 1.4, 1e-12);  // position 0.4: 1 + 0.4*(2-1)
  EXPECT_NEAR(on_five("p90"), 7.6, 1e-12);  // position 3.6: 4 + 0.6*(10-4)
  EXPECT_DOUBLE_EQ(on_five("p0"), 1.0);
  EXPECT_DOUBLE_EQ(on_five("p100"), 10.0);
  EXPECT_DOUBLE_EQ(on_five("quantile_0.25"), 2.0);  // position 1 exactly
  EXPECT_NEAR(on_five("quantile_0.3"), 2.2, 1e-12);  // position 1.2
  EXPECT_DOUBLE_EQ(on_five("quantile_25"), 2.0);     // 25 > 1: a percentage
  EXPECT_DOUBLE_EQ(on_five("quantile_1"), 10.0);     // 1 is a fraction, not 1%
}

TEST(Aggregate, TrimmedMeans) {
  EXPECT_DOUBLE_EQ(on_five("trimmed_mean_0.2"), 3.0);  // drop floor(5*0.2) = 1 each end: {2,3,4}
  EXPECT_DOUBLE_EQ(on_five("trimmed_mean_20"), 3.0);
  EXPECT_DOUBLE_EQ(on_five("trimmed_mean_0.1"), 4.0);  // floor(0.5) = 0: nothing dropped, plain mean
  EXPECT_DOUBLE_EQ(on_five("trimmed_mean_0"), 4.0);
  EXPECT_DOUBLE_EQ(on_five("trimmed_mean_0.4"), 3.0);  // drop 2 each end: {3}
  EXPECT_DOUBLE_EQ(on_five("lower_trimmed_mean_0.2"), 2.5);  // keep floor(5*0.8) = 4: {1,2,3,4}
  EXPECT_DOUBLE_EQ(on_five("lower_trimmed_mean_0.5"), 1.5);  // keep floor(2.5) = 2: {1,2}
  EXPECT_DOUBLE_EQ(on_five("lower_trimmed_mean_1"), 1.0);    // keep 0 -> at least 1: {1}
  EXPECT_DOUBLE_EQ(on_five("upper_trimmed_mean_0.2"), 4.75);  // from index 1: {2,3,4,10}
  EXPECT_DOUBLE_EQ(on_five("upper_trimmed_mean_1"), 10.0);    // from index 5 -> last one kept
  EXPECT_DOUBLE_EQ(on_five("upper_trimmed_mean_0"), 4.0);
}

TEST(Aggregate, PercentagesCountSamplesDespiteDecimalRounding) {
  // 0.29 * 100 is 28.999999999999996 in double; the user means 29 samples.
  std::vector<double> hundred;
  for (int i = 0; i < 100; ++i) hundred.push_back(i);
  const auto upper = parse_aggregation("upper_trimmed_mean_29");
  EXPECT_DOUBLE_EQ(upper.fraction, 0.29);
  EXPECT_DOUBLE_EQ(aggregate_one_step(upper, hundred), 64.0);  // mean of 29..99
  EXPECT_DOUBLE_EQ(aggregate_one_step(parse_aggregation("lower_trimmed_mean_29"), hundred), 35.0);  // 0..70
  EXPECT_DOUBLE_EQ(aggregate_one_step(parse_aggregation("trimmed_mean_10"), hundred), 49.5);        // 10..89
}

TEST(Aggregate, StdSpecsUsePopulationStdAndAPlainMultiplier) {
  EXPECT_NEAR(on_five("mean_minus_std_1"), 4.0 - kStd, 1e-12);
  EXPECT_NEAR(on_five("mean_plus_std_0.5"), 4.0 + 0.5 * kStd, 1e-12);
  EXPECT_NEAR(on_five("mean_plus_std_2"), 4.0 + 2.0 * kStd, 1e-12);  // k = 2, not 2%
  EXPECT_DOUBLE_EQ(on_five("mean_minus_std_0"), 4.0);
  EXPECT_NEAR(on_five("quantile_plus_std_0.5_1"), 3.0 + kStd, 1e-12);
  EXPECT_NEAR(on_five("quantile_plus_std_90_0.5"), 7.6 + 0.5 * kStd, 1e-12);
  const auto spec = parse_aggregation("quantile_plus_std_15_3");
  EXPECT_DOUBLE_EQ(spec.q, 0.15);
  EXPECT_DOUBLE_EQ(spec.k, 3.0);
}

TEST(Aggregate, MeanQuantileMixClipsTheWeight) {
  EXPECT_DOUBLE_EQ(on_five("mean_quantile_mix_0.5_0.25"), 3.25);  // 0.25*4 + 0.75*3
  EXPECT_DOUBLE_EQ(on_five("mean_quantile_mix_50_25"), 3.25);
  EXPECT_DOUBLE_EQ(on_five("mean_quantile_mix_0.5_-1"), 3.0);   // w -> 0: the quantile
  EXPECT_DOUBLE_EQ(on_five("mean_quantile_mix_0.5_500"), 4.0);  // 500% -> 5 -> 1: the mean
  EXPECT_NEAR(on_five("mean_quantile_mix_0.1_0.5"), 0.5 * 4 + 0.5 * 1.4, 1e-12);
}

TEST(Aggregate, SpecsAreCaseInsensitiveAndKeepTheirText) {
  EXPECT_DOUBLE_EQ(on_five("MEAN"), 4.0);
  EXPECT_DOUBLE_EQ(on_five("  Trimmed_Mean_20 "), 3.0);
  EXPECT_DOUBLE_EQ(on_five("P90"), on_five("p90"));
  EXPECT_EQ(parse_aggregation("Median").text, "Median");
}

TEST(Aggregate, BothLayoutsGiveOneValuePerStep) {
  // Step 0 holds {1,2,3,4,10}; step 1 the same shifted by 100.
  std::vector<std::vector<double>> by_sample;
  std::vector<std::vector<float>> by_step(2);
  for (double v : kFive) {
    by_sample.push_back({v, v + 100});
    by_step[0].push_back(static_cast<float>(v));
    by_step[1].push_back(static_cast<float>(v + 100));
  }
  const auto spec = parse_aggregation("p90");
  const std::vector<double> a = aggregate(spec, by_sample);
  ASSERT_EQ(a.size(), 2u);
  EXPECT_NEAR(a[0], 7.6, 1e-12);
  EXPECT_NEAR(a[1], 107.6, 1e-12);
  EXPECT_EQ(aggregate_by_step(spec, by_step), a);

  const std::vector<double> band = band_p40_p60(by_sample);  // p60 3.4 - p40 2.6
  ASSERT_EQ(band.size(), 2u);
  EXPECT_NEAR(band[0], 0.8, 1e-12);
  EXPECT_NEAR(band[1], 0.8, 1e-12);
  const std::vector<double> band_steps = band_p40_p60_by_step(by_step);
  EXPECT_NEAR(band_steps[0], 0.8, 1e-12);
  EXPECT_NEAR(band_steps[1], 0.8, 1e-12);

  // One sample: every spec is that sample (std 0, nothing to trim).
  for (const char* s : {"mean", "p10", "trimmed_mean_0.4", "lower_trimmed_mean_0.9", "upper_trimmed_mean_0.9",
                        "mean_plus_std_3", "quantile_plus_std_0.2_1", "mean_quantile_mix_0.3_0.5"})
    EXPECT_DOUBLE_EQ(aggregate_one_step(parse_aggregation(s), {7.5}), 7.5) << s;
}

TEST(Aggregate, UnknownOrMalformedSpecsNameTheSpecAndTheGrammar) {
  for (const char* bad : {"foo", "", "meen", "trimmed_mean_0.5", "trimmed_mean_50", "trimmed_mean_abc", "quantile_",
                          "quantile_150", "quantile_-0.1", "quantile_0.1_2", "quantile_nan", "quantile_1e-1",
                          "mean_plus_std_-1", "mean_plus_std_", "quantile_plus_std_0.5", "mean_quantile_mix_0.5",
                          "p101", "p10x", "p-5", "lower_trimmed_mean_101", "mean_"}) {
    const std::string msg = error_of(bad);
    EXPECT_NE(msg.find(std::string("'") + bad + "'"), std::string::npos) << bad << ": " << msg;
    EXPECT_NE(msg.find("trimmed_mean_<f>"), std::string::npos) << bad << ": " << msg;
  }
  EXPECT_NE(error_of("trimmed_mean_0.5").find("below 0.5"), std::string::npos);
  EXPECT_NE(error_of("quantile_150").find("outside [0, 1]"), std::string::npos);
  EXPECT_NE(aggregation_grammar().find("mean_quantile_mix_<q>_<w>"), std::string::npos);
}

TEST(Aggregate, EmptyRaggedAndNonFiniteSamplesAreErrors) {
  const auto mean = parse_aggregation("mean");
  const double nan = std::numeric_limits<double>::quiet_NaN();
  EXPECT_THROW(aggregate(mean, {}), Error);
  EXPECT_THROW(aggregate(mean, {{}, {}}), Error);
  EXPECT_THROW(aggregate(mean, {{1, 2}, {3}}), Error);
  EXPECT_THROW(aggregate_one_step(mean, {}), Error);
  EXPECT_THROW(aggregate_by_step(mean, {}), Error);
  EXPECT_THROW(aggregate_by_step(mean, {{1.f}, {}}), Error);
  EXPECT_THROW(band_p40_p60({}), Error);
  try {
    aggregate(mean, {{1, 2}, {3, nan}});
    FAIL() << "NaN sample accepted";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("sample 1 of step 1"), std::string::npos) << msg;
    EXPECT_NE(msg.find("'mean'"), std::string::npos) << msg;
  }
  EXPECT_THROW(aggregate_by_step(mean, {{1.f, std::numeric_limits<float>::infinity()}}), Error);
  EXPECT_THROW(aggregate_one_step(mean, {1.0, nan}), Error);
}

}  // namespace
}  // namespace fcast::eval
