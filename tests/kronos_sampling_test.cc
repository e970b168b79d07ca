// Kronos sampling: filtering rules (temperature, top-k ties, top-p boundary, precedence),
// seeded reproducibility, and the chi-square check against the golden first-step tables,
// including deliberately wrong samplers that the check must reject.
#include <gtest/gtest.h>

#include <cmath>

#include "core/error.h"
#include "io/safetensors.h"
#include "models/kronos/golden_runner.h"
#include "models/kronos/sampling.h"

namespace fcast::kronos {
namespace {

const std::string kGolden = std::string(FCAST_TEST_DATA) + "/golden/kronos";

SamplingParams params(double T, int64_t k, double p) {
  SamplingParams s;
  s.temperature = T;
  s.top_k = k;
  s.top_p = p;
  return s;
}

TEST(KronosSampling, TopKKeepsTiesAtTheThreshold) {
  const std::vector<float> l = {1.0f, 3.0f, 2.0f, 2.0f, 0.5f};
  std::vector<float> pr(5);
  filtered_probs(l.data(), 5, params(1.0, 2, 1.0), pr.data());
  // 2nd largest is 2.0, tied: three tokens survive.
  EXPECT_EQ(pr[0], 0.0f);
  EXPECT_GT(pr[1], 0.0f);
  EXPECT_GT(pr[2], 0.0f);
  EXPECT_GT(pr[3], 0.0f);
  EXPECT_EQ(pr[4], 0.0f);
  EXPECT_FLOAT_EQ(pr[2], pr[3]);
  // top_k larger than the vocabulary keeps everything.
  filtered_probs(l.data(), 5, params(1.0, 99, 1.0), pr.data());
  for (float v : pr) EXPECT_GT(v, 0.0f);
}

TEST(KronosSampling, TopPRemovesRankNWhenThePrefixExceedsP) {
  // Probabilities 0.5, 0.3, 0.2 (logits = log p).
  const std::vector<float> l = {std::log(0.3f), std::log(0.5f), std::log(0.2f)};
  std::vector<float> pr(3);
  filtered_probs(l.data(), 3, params(1.0, 0, 0.6), pr.data());  // c0 = 0.5 <= 0.6 keeps rank 1; c1 = 0.8 > 0.6 drops rank 2
  EXPECT_NEAR(pr[1], 0.625f, 1e-6);
  EXPECT_NEAR(pr[0], 0.375f, 1e-6);
  EXPECT_EQ(pr[2], 0.0f);
  filtered_probs(l.data(), 3, params(1.0, 0, 0.4), pr.data());  // c0 = 0.5 > 0.4: only rank 0
  EXPECT_EQ(pr[1], 1.0f);
  EXPECT_EQ(pr[0], 0.0f);
  // Top-k wins over top-p (reference precedence): top_p = 0.4 is ignored.
  filtered_probs(l.data(), 3, params(1.0, 2, 0.4), pr.data());
  EXPECT_GT(pr[0], 0.0f);
  EXPECT_GT(pr[1], 0.0f);
  EXPECT_EQ(pr[2], 0.0f);
}

TEST(KronosSampling, TemperatureComesFirst) {
  const std::vector<float> l = {0.0f, 1.0f};
  std::vector<float> pr(2);
  filtered_probs(l.data(), 2, params(0.5, 0, 1.0), pr.data());
  EXPECT_NEAR(pr[1], 1.0 / (1.0 + std::exp(-2.0)), 1e-6);
}

TEST(KronosSampling, GreedyIsArgmaxAndDrawsAreSeeded) {
  const std::vector<float> l = {0.1f, 2.0f, 2.0f, -1.0f};
  Rng rng(1);
  EXPECT_EQ(sample_token(l.data(), 4, params(1.0, 1, 1.0), rng), 1);  // first of the tied maxima
  std::vector<int64_t> a, b;
  Rng r1(42), r2(42);
  for (int i = 0; i < 100; ++i) {
    a.push_back(sample_token(l.data(), 4, params(1.0, 0, 1.0), r1));
    b.push_back(sample_token(l.data(), 4, params(1.0, 0, 1.0), r2));
  }
  EXPECT_EQ(a, b);
  // Filtered-out tokens are never drawn.
  std::vector<float> pr = {0.0f, 0.5f, 0.0f, 0.5f};
  Rng r3(3);
  for (int i = 0; i < 1000; ++i) {
    const int64_t t = draw_categorical(pr.data(), 4, r3);
    EXPECT_TRUE(t == 1 || t == 3);
  }
}

TEST(KronosSampling, ParametersAreValidated) {
  EXPECT_THROW(params(0.0, 0, 0.9).validate(), Error);
  EXPECT_THROW(params(NAN, 0, 0.9).validate(), Error);
  EXPECT_THROW(params(1.0, -1, 0.9).validate(), Error);
  EXPECT_THROW(params(1.0, 0, 0.0).validate(), Error);
  EXPECT_THROW(params(1.0, 0, 1.5).validate(), Error);
  SamplingParams s = params(1.0, 0, 0.9);
  s.sample_count = 0;
  EXPECT_THROW(s.validate(), Error);
  EXPECT_NO_THROW(params(1.0, 0, 1.0).validate());
}

TEST(KronosSampling, ChiSquareDistribution) {
  // Known quantiles: P(X >= 3.841) = 0.05 with 1 dof; P(X >= 18.307) = 0.05 with 10 dof.
  EXPECT_NEAR(chi_square_sf(3.841458820694124, 1), 0.05, 1e-6);
  EXPECT_NEAR(chi_square_sf(18.307038053275146, 10), 0.05, 1e-6);
  EXPECT_NEAR(chi_square_sf(124.34211340400407, 100), 0.05, 1e-6);
  auto r = chi_square_test({50, 50}, {0.5, 0.5});
  EXPECT_EQ(r.statistic, 0.0);
  EXPECT_EQ(r.p_value, 1.0);
  r = chi_square_test({50, 49, 1}, {0.5, 0.5, 0.0});
  EXPECT_EQ(r.impossible_draws, 1);
  EXPECT_EQ(r.p_value, 0.0);
}

// First-step s1 tables of the golden sampling cases: the reference's raw logits
// (step_s1_logits[0, 0, 0]) and the filtered table it sampled from (first_s1_probs).
struct FirstStep {
  std::vector<float> logits, probs;
  SamplingParams params;
};

FirstStep first_step(const std::string& name, const SamplingParams& p) {
  SafetensorsFile f = SafetensorsFile::open(kGolden + "/cases/" + name + ".safetensors");
  Tensor probs = f.get("first_s1_probs"), logits = f.get("step_s1_logits");
  const int64_t V = probs.numel();
  FirstStep s;
  s.logits.assign(logits.data<float>(), logits.data<float>() + V);
  s.probs.assign(probs.data<float>(), probs.data<float>() + V);
  s.params = p;
  return s;
}

std::vector<FirstStep> golden_first_steps() {
  return {first_step("sample_tiny_T1_p09_n8_c64_p8", params(1.0, 0, 0.9)),
          first_step("sample_tiny_T07_k5_p09_n8_c64_p8", params(0.7, 5, 0.9)),
          first_step("sample_small10_T1_p0236_n8_c64_p8", params(1.0, 0, 0.236))};
}

FirstStepDistributionCheck check(const FirstStep& s, const TokenSampler& sampler) {
  return check_first_step_distribution(s.logits, {}, {}, s.probs, {}, sampler, 20000, 99, 1e-3);
}

TEST(KronosSampling, OurSamplerMatchesTheReferenceTables) {
  for (const FirstStep& s : golden_first_steps()) {
    std::vector<float> mine(s.logits.size());
    filtered_probs(s.logits.data(), static_cast<int64_t>(s.logits.size()), s.params, mine.data());
    for (size_t i = 0; i < mine.size(); ++i) EXPECT_NEAR(mine[i], s.probs[i], 5e-6) << s.params.describe() << " token " << i;
    const SamplingParams p = s.params;
    auto r = check(s, [p](const float* l, int64_t V, Rng& rng) { return sample_token(l, V, p, rng); });
    EXPECT_TRUE(r.passed) << p.describe() << ": " << r.detail;
  }
}

TEST(KronosSampling, WrongSamplersFailTheChiSquareCheck) {
  const auto steps = golden_first_steps();
  // Ignoring top_p draws tokens the reference filtered out.
  for (int i : {0, 2}) {
    SamplingParams wrong = steps[i].params;
    wrong.top_p = 1.0;
    auto r = check(steps[i], [wrong](const float* l, int64_t V, Rng& rng) { return sample_token(l, V, wrong, rng); });
    EXPECT_FALSE(r.passed) << "ignoring top_p went unnoticed: " << r.detail;
    EXPECT_GT(r.s1.impossible_draws, 0);
  }
  // Ignoring the temperature (T = 1 instead of 0.7) keeps the same 5 tokens but flattens them.
  {
    SamplingParams wrong = steps[1].params;
    wrong.temperature = 1.0;
    auto r = check(steps[1], [wrong](const float* l, int64_t V, Rng& rng) { return sample_token(l, V, wrong, rng); });
    EXPECT_FALSE(r.passed) << "ignoring the temperature went unnoticed: " << r.detail;
    EXPECT_EQ(r.s1.impossible_draws, 0);
    EXPECT_LT(r.s1.p_value, 1e-6);
  }
  // Temperature 0.8 instead of 0.7: a subtle error, still caught with 20000 draws.
  {
    SamplingParams wrong = steps[1].params;
    wrong.temperature = 0.8;
    auto r = check(steps[1], [wrong](const float* l, int64_t V, Rng& rng) { return sample_token(l, V, wrong, rng); });
    EXPECT_FALSE(r.passed) << "T=0.8 for 0.7 went unnoticed: " << r.detail;
  }
  // Greedy instead of sampling.
  {
    auto r = check(steps[0], [](const float* l, int64_t V, Rng&) { return argmax(l, V); });
    EXPECT_FALSE(r.passed) << r.detail;
  }
}

}  // namespace
}  // namespace fcast::kronos
