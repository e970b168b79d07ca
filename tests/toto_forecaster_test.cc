// Toto forecaster and sampler tests on the golden tiny checkpoints (tests/data/golden/toto).
#include <gtest/gtest.h>
#include <omp.h>

#include <cmath>
#include <filesystem>
#include <functional>

#include "io/safetensors.h"
#include "models/toto/distribution.h"
#include "models/toto/forecaster.h"
#include "runtime/executor_factory.h"

using namespace fcast;
using namespace fcast::toto;

namespace {

std::string golden(const std::string& rel) { return std::string(FCAST_TEST_DATA) + "/golden/toto/" + rel; }

TotoModel tiny_a() { return TotoModel(load_toto(golden("models/tiny_a"))); }

Tensor case_series(int64_t T) {
  SafetensorsFile f = SafetensorsFile::open(golden("cases/tiny_a/case3_generate_mean.safetensors"));
  Tensor raw = f.get("raw_series");  // [2, 3, 91]
  Tensor out = Tensor::empty(DType::F32, {2, 3, T});
  for (int64_t r = 0; r < 6; ++r)
    for (int64_t t = 0; t < T; ++t) out.data<float>()[r * T + t] = raw.data<float>()[r * 91 + (91 - T) + t];
  return out;
}

bool bit_equal(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() && std::memcmp(a.raw(), b.raw(), a.nbytes()) == 0;
}

// Fraction of draws below the exact quantiles must be within 5 binomial standard errors.
int count_quantile_violations(const std::function<float(const MixtureCell&, Rng&)>& sampler) {
  SafetensorsFile f = SafetensorsFile::open(golden("cases/tiny_a/case4_sampling.safetensors"));
  Tensor df = f.get("first_patch_mix_df"), loc = f.get("first_patch_mix_loc"), sc = f.get("first_patch_mix_scale"),
         w = f.get("first_patch_mix_weights"), al = f.get("first_patch_scaler_loc"), as = f.get("first_patch_scaler_scale");
  Tensor q[3] = {f.get("first_patch_exact_q10"), f.get("first_patch_exact_q50"), f.get("first_patch_exact_q90")};
  const double lv[3] = {0.1, 0.5, 0.9};
  const int64_t K = df.dim(-1), cells = al.numel(), draws = 4096;
  Rng rng(99);
  int violations = 0;
  for (int64_t c = 0; c < cells; ++c) {
    MixtureCell cell{df.data<float>() + c * K, loc.data<float>() + c * K, sc.data<float>() + c * K,
                     w.data<float>() + c * K, K, al.data<float>()[c], as.data<float>()[c]};
    int64_t below[3] = {0, 0, 0};
    for (int64_t d = 0; d < draws; ++d) {
      const float x = sampler(cell, rng);
      for (int j = 0; j < 3; ++j) below[j] += x < q[j].data<double>()[c];
    }
    for (int j = 0; j < 3; ++j) {
      const double se = std::sqrt(lv[j] * (1 - lv[j]) / draws);
      violations += std::fabs(static_cast<double>(below[j]) / draws - lv[j]) > 5 * se;
    }
  }
  return violations;
}

}  // namespace

TEST(TotoSampler, MatchesExactFirstPatchQuantiles) {
  EXPECT_EQ(count_quantile_violations([](const MixtureCell& c, Rng& r) { return mixture_sample(c, r); }), 0);
}

TEST(TotoSampler, WrongSamplersAreCaught) {
  // A Gaussian with the right mean and std, and a sampler that always takes the heaviest
  // component, both look plausible and both must fail the quantile check.
  auto gaussian = [](const MixtureCell& c, Rng& r) {
    return static_cast<float>(mixture_mean(c) + mixture_std(c) * r.normal());
  };
  auto top_component = [](const MixtureCell& c, Rng& r) {
    int64_t k = 0;
    for (int64_t j = 1; j < c.K; ++j)
      if (c.weights[j] > c.weights[k]) k = j;
    MixtureCell one = c;
    float w1 = 1.0f;
    one.df += k; one.loc += k; one.scale += k; one.weights = &w1; one.K = 1;
    return mixture_sample(one, r);
  };
  EXPECT_GT(count_quantile_violations(gaussian), 10);
  EXPECT_GT(count_quantile_violations(top_component), 10);
}

TEST(TotoSampler, ReplaceExtremeValues) {
  EXPECT_EQ(replace_extreme(NAN), 0.0f);
  EXPECT_EQ(replace_extreme(INFINITY), 0.0f);
  EXPECT_EQ(replace_extreme(-INFINITY), 0.0f);
  EXPECT_EQ(replace_extreme(2e38f), 0.0f);
  EXPECT_EQ(replace_extreme(1e38f), 1e38f);
  EXPECT_EQ(replace_extreme(-3.5f), -3.5f);
}

TEST(TotoForecaster, SamplesAreSeededAndThreadIndependent) {
  TotoModel m = tiny_a();
  TotoForecaster fc(m);
  ForecastOptions o;
  o.prediction_length = 20;
  o.num_samples = 8;
  o.samples_per_batch = 4;
  o.seed = 5;
  Tensor s = case_series(40);
  const int saved = omp_get_max_threads();
  omp_set_num_threads(1);
  Forecast a = fc.forecast(s, nullptr, nullptr, o);
  omp_set_num_threads(2);
  Forecast b = fc.forecast(s, nullptr, nullptr, o);
  omp_set_num_threads(saved);
  EXPECT_TRUE(bit_equal(a.samples(), b.samples()));
  o.seed = 6;
  Forecast c = fc.forecast(s, nullptr, nullptr, o);
  EXPECT_FALSE(bit_equal(a.samples(), c.samples()));
  EXPECT_EQ(a.samples().shape(), (Shape{2, 3, 20, 8}));
}

TEST(TotoForecaster, SharedPrefillEqualsPlainPath) {
  TotoModel m = tiny_a();
  TotoForecaster fc(m);
  ForecastOptions o;
  o.prediction_length = 40;
  o.num_samples = 6;
  o.samples_per_batch = 3;
  o.seed = 11;
  Tensor s = case_series(57);
  for (bool kv : {true, false}) {
    o.use_kv_cache = kv;
    o.share_prefill = true;
    Forecast shared = fc.forecast(s, nullptr, nullptr, o);
    o.share_prefill = false;
    Forecast plain = fc.forecast(s, nullptr, nullptr, o);
    EXPECT_TRUE(bit_equal(shared.samples(), plain.samples())) << "use_kv_cache=" << kv;
  }
}

// The forecaster keeps its KV caches between calls; a call must never see another call's rows.
// Alternating geometries (context, samples, steps) on one forecaster give bit-identical results
// to a fresh forecaster, eager and compiled (bucketed caches, padded prefills).
TEST(TotoForecaster, ReusedCachesNeverLeakBetweenCalls) {
  for (const char* spec : {"eager", "inductor"}) {
    TotoModel m = tiny_a();
    if (std::string(spec) != "eager") m.set_executor(make_executor_from_spec(spec, m.weights().identity));
    struct Call {
      int64_t T, H, N, spb;
    };
    const Call calls[] = {{57, 40, 6, 3}, {40, 20, 4, 4}, {88, 33, 0, 1}, {57, 40, 6, 3}, {40, 20, 4, 4}};
    TotoForecaster reused(m);
    for (const Call& c : calls) {
      ForecastOptions o;
      o.prediction_length = c.H;
      o.num_samples = c.N;
      o.samples_per_batch = c.spb;
      o.seed = 3;
      const Tensor s = case_series(c.T);
      TotoForecaster fresh(m);
      const Forecast a = reused.forecast(s, nullptr, nullptr, o), b = fresh.forecast(s, nullptr, nullptr, o);
      EXPECT_TRUE(bit_equal(a.mean(), b.mean())) << spec << " T=" << c.T;
      if (c.N) {
        EXPECT_TRUE(bit_equal(a.samples(), b.samples())) << spec << " T=" << c.T;
      }
    }
  }
}

TEST(TotoForecaster, ForecastStatistics) {
  Tensor samples = Tensor::from_vector<float>({4, 1, 3, 2, 10, 20, 30, 40}, {1, 1, 2, 4});
  Tensor mean = Tensor::from_vector<float>({2.5f, 25.0f}, {1, 1, 2});
  Forecast f(mean, samples);
  EXPECT_FLOAT_EQ(f.median().data<float>()[0], 2.5f);
  EXPECT_FLOAT_EQ(f.quantile(0.0).data<float>()[1], 10.0f);
  EXPECT_FLOAT_EQ(f.quantile(1.0).data<float>()[1], 40.0f);
  EXPECT_FLOAT_EQ(f.quantile(0.25).data<float>()[0], 1.75f);  // torch.quantile linear interpolation
  EXPECT_NEAR(f.std().data<float>()[0], std::sqrt(5.0 / 3.0), 1e-6);
  EXPECT_THROW(f.quantile(1.5), Error);
}

TEST(TotoForecaster, MeanWithAndWithoutCacheAgreeClosely) {
  TotoModel m = tiny_a();
  TotoForecaster fc(m);
  ForecastOptions o;
  o.prediction_length = 48;
  Tensor s = case_series(64);
  o.use_kv_cache = true;
  Tensor a = fc.forecast(s, nullptr, nullptr, o).mean();
  o.use_kv_cache = false;
  Tensor b = fc.forecast(s, nullptr, nullptr, o).mean();
  // They differ only through the reference's per-call xPos centre: the golden
  // generate_mean cases show ~4e-4 relative; a broken cache would be off by O(1).
  for (int64_t i = 0; i < a.numel(); ++i)
    EXPECT_NEAR(a.data<float>()[i], b.data<float>()[i], 1e-2 * (std::fabs(b.data<float>()[i]) + 1));
}

TEST(TotoForecaster, BadInputsGiveClearErrors) {
  TotoModel m = tiny_a();
  TotoForecaster fc(m);
  ForecastOptions o;
  o.prediction_length = 16;
  Tensor s = case_series(32);
  s.data<float>()[7] = NAN;
  try {
    fc.forecast(s, nullptr, nullptr, o);
    FAIL() << "NaN accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("non-finite"), std::string::npos);
  }
  Tensor empty = Tensor::empty(DType::F32, {1, 1, 0});
  EXPECT_THROW(fc.forecast(empty, nullptr, nullptr, o), Error);
  Tensor ok = case_series(32);
  o.prediction_length = 0;
  EXPECT_THROW(fc.forecast(ok, nullptr, nullptr, o), Error);
  o.prediction_length = 16;
  o.num_samples = 10;
  o.samples_per_batch = 4;
  EXPECT_THROW(fc.forecast(ok, nullptr, nullptr, o), Error);  // 10 is not a multiple of 4
  Tensor two_d = Tensor::empty(DType::F32, {3, 32});
  EXPECT_THROW(fc.forecast(two_d, nullptr, nullptr, o), Error);
  Tensor bad_mask = Tensor::zeros(DType::U8, {2, 3, 31});
  EXPECT_THROW(fc.forecast(ok, &bad_mask, nullptr, o), Error);
}

TEST(TotoModel, CacheMisuseIsAnError) {
  TotoModel m = tiny_a();
  Tensor s = case_series(64);
  Tensor mask = Tensor::zeros(DType::U8, s.shape());
  std::fill(mask.data<uint8_t>(), mask.data<uint8_t>() + mask.numel(), 1);
  Tensor ids = Tensor::zeros(DType::I32, s.shape());
  TotoKVCache cache = m.make_cache(2, 3, 4);
  m.forward(s.reshape({2, 3, 64}), mask, ids, {}, &cache);  // prefill of 4 patches fills the cache
  EXPECT_EQ(cache.length, 4);
  EXPECT_THROW(m.forward(s, mask, ids, {}, &cache), Error);  // not exactly one new patch
}

// A graph is built once per geometry and kept: the decode steps of a forecast run one graph
// object again and again (the compiled executor then finds its plan by Graph::uid, without
// hashing), and a second forecast of the same shape builds nothing.
TEST(TotoForecaster, DecodeStepsReuseOneGraph) {
  for (const char* spec : {"eager", "inductor"}) {
    TotoModel m = tiny_a();
    if (std::string(spec) != "eager") m.set_executor(make_executor_from_spec(spec, m.weights().identity));
    TotoForecaster fc(m);
    ForecastOptions o;
    o.prediction_length = 8 * m.config().patch_size;  // 8 decode steps
    o.num_samples = 4;
    o.samples_per_batch = 4;
    const Tensor s = case_series(40);
    fc.forecast(s, nullptr, nullptr, o);
    const int64_t built = m.graphs_built();
    EXPECT_LE(built, 3) << spec << ": context prefill, sample decode, and at most one more geometry";
    fc.forecast(s, nullptr, nullptr, o);
    EXPECT_EQ(m.graphs_built(), built) << spec;
  }
}
