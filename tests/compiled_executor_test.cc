// The compiled executor end to end on the golden tiny models: aot_eager equals eager bit for
// bit; inductor fp32 is within 1e-5 (|b| + 1) of eager; bf16 within 3e-2 of the tensor's scale
// (max |a - b| / (max |b| + 1)) on the head parameters; zero plans after warm-up over 64 decode steps at several context lengths of one
// bucket; the recompile limit with its eager fallback and counter; recompile reasons; the
// persistent plan cache (a second executor starts with hits, a corrupt entry is a miss).
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>

#include "io/safetensors.h"
#include "models/kronos/model.h"
#include "models/kronos/weights.h"
#include "models/toto/forecaster.h"
#include "runtime/compiled_executor.h"
#include "runtime/executor_factory.h"

namespace {

using namespace fcast;
using toto::TotoModel;
namespace fs = std::filesystem;

std::string golden(const std::string& rel) { return std::string(FCAST_TEST_DATA) + "/golden/" + rel; }

CompileSettings settings(CompileBackend backend, CompileMode mode = CompileMode::Default,
                         Precision p = Precision::FP32) {
  CompileSettings s;
  s.backend = backend;
  s.mode = mode;
  s.precision = p;
  s.persistent_cache = false;
  s.context_buckets = {64, 128, 256, 512};
  return s;
}

std::shared_ptr<CompiledExecutor> compiled(const toto::TotoWeights& w, CompileSettings s) {
  return std::make_shared<CompiledExecutor>(std::move(s), w.identity);
}

struct Inputs {
  Tensor series, mask, ids;
};
Inputs random_inputs(int64_t B, int64_t V, int64_t T, uint64_t seed) {
  std::mt19937_64 g(seed);
  std::normal_distribution<float> d(0.0f, 1.0f);
  Inputs in{Tensor::empty(DType::F32, {B, V, T}), Tensor::empty(DType::U8, {B, V, T}), Tensor::zeros(DType::I32, {B, V, T})};
  float level = 10.0f;
  for (int64_t i = 0; i < in.series.numel(); ++i) {
    level += 0.1f * d(g);
    in.series.data<float>()[i] = level + d(g);
    in.mask.data<uint8_t>()[i] = (i % 17) != 3;
  }
  return in;
}

void expect_equal(const Tensor& a, const Tensor& b, const std::string& what) {
  ASSERT_EQ(a.shape(), b.shape()) << what;
  ASSERT_EQ(0, std::memcmp(a.raw(), b.raw(), a.nbytes())) << what << " differs";
}

double worst(const Tensor& a, const Tensor& b) {  // max |a - b| / (|b| + 1)
  double w = 0;
  for (int64_t i = 0; i < a.numel(); ++i) {
    const double x = a.data<float>()[i], y = b.data<float>()[i];
    if (std::isinf(y) && x == y) continue;
    w = std::max(w, std::fabs(x - y) / (std::fabs(y) + 1));
  }
  return w;
}

double worst_scaled(const Tensor& a, const Tensor& b) {  // max |a - b| / (max |b| + 1)
  double w = 0, m = 0;
  for (int64_t i = 0; i < a.numel(); ++i) {
    w = std::max(w, static_cast<double>(std::fabs(a.data<float>()[i] - b.data<float>()[i])));
    m = std::max(m, static_cast<double>(std::fabs(b.data<float>()[i])));
  }
  return w / (m + 1);
}

toto::ForecastOptions sampling_options(int64_t horizon) {
  toto::ForecastOptions o;
  o.prediction_length = horizon;
  o.num_samples = 8;
  o.samples_per_batch = 4;
  o.seed = 11;
  return o;
}

TEST(CompiledExecutor, AotEagerEqualsEagerBitForBit) {
  for (const char* name : {"tiny_a", "tiny_b"}) {
    toto::TotoWeights w = toto::load_toto(golden(std::string("toto/models/") + name));
    TotoModel eager(w), aot(w, compiled(w, settings(CompileBackend::AotEager)));
    const Inputs in = random_inputs(2, 3, 96, 5);
    // Forward (with intermediates), then forecasts: the compiled one pads the prefill to its
    // bucket with masks, the eager one does not, and the numbers must still be identical.
    toto::ForwardOptions fo;
    fo.intermediates = true;
    auto a = eager.forward(in.series, in.mask, in.ids, fo), b = aot.forward(in.series, in.mask, in.ids, fo);
    expect_equal(a.df, b.df, "df");
    expect_equal(a.mix_loc, b.mix_loc, "loc");
    for (const auto& [k, t] : a.intermediates) expect_equal(t, b.intermediates.at(k), k);
    toto::TotoForecaster fa(eager), fb(aot);
    auto o = sampling_options(40);
    expect_equal(fa.forecast(in.series, &in.mask, nullptr, o).samples(),
                 fb.forecast(in.series, &in.mask, nullptr, o).samples(), cat(name, " samples"));
    o.num_samples = 0;
    expect_equal(fa.forecast(in.series, &in.mask, nullptr, o).mean(), fb.forecast(in.series, &in.mask, nullptr, o).mean(),
                 cat(name, " mean"));
  }
}

TEST(CompiledExecutor, EagerWithContextBucketsEqualsEagerWithout) {
  toto::TotoWeights w = toto::load_toto(golden("toto/models/tiny_a"));
  ExecPolicy policy;
  policy.context_buckets = {256};
  auto padded = std::make_shared<EagerExecutor>(policy);
  TotoModel plain(w), bucketed(w, padded);
  const Inputs in = random_inputs(1, 2, 72, 9);
  toto::TotoForecaster fa(plain), fb(bucketed);
  auto o = sampling_options(48);
  expect_equal(fa.forecast(in.series, &in.mask, nullptr, o).samples(),
               fb.forecast(in.series, &in.mask, nullptr, o).samples(), "padded samples");
}

TEST(CompiledExecutor, InductorWithinToleranceOfEagerOnGoldenInputs) {
  // Every Toto golden forward case's inputs, uncached and as prefill + decode, fp32 and bf16.
  for (const char* model : {"tiny_a", "tiny_b"}) {
    toto::TotoWeights w = toto::load_toto(golden(std::string("toto/models/") + model));
    TotoModel eager(w), fp32(w, compiled(w, settings(CompileBackend::Inductor))),
        ro(w, compiled(w, settings(CompileBackend::Inductor, CompileMode::ReduceOverhead))),
        bf16(w, compiled(w, settings(CompileBackend::Inductor, CompileMode::Default, Precision::BF16)));
    int cases = 0;
    for (const auto& entry : fs::directory_iterator(golden(std::string("toto/cases/") + model))) {
      const std::string path = entry.path().string();
      if (path.find("forward") == std::string::npos || path.find("_f64") != std::string::npos) continue;
      SafetensorsFile f = SafetensorsFile::open(path);
      const Tensor series = f.get("series").to(DType::F32), mask = f.get("padding_mask").to(DType::U8),
                   ids = f.get("id_mask").to(DType::I32);
      auto want = eager.forward(series, mask, ids);
      for (TotoModel* m : {&fp32, &ro}) {
        auto got = m->forward(series, mask, ids);
        EXPECT_LE(worst(got.df, want.df), 1e-5) << path;
        EXPECT_LE(worst(got.mix_loc, want.mix_loc), 1e-5) << path;
        EXPECT_LE(worst(got.mix_scale, want.mix_scale), 1e-5) << path;
        EXPECT_LE(worst(got.weights, want.weights), 1e-5) << path;
      }
      auto low = bf16.forward(series, mask, ids);
      EXPECT_LE(worst_scaled(low.mix_loc, want.mix_loc), 3e-2) << path;
      EXPECT_LE(worst_scaled(low.weights, want.weights), 3e-2) << path;
      ++cases;
    }
    EXPECT_GE(cases, 3) << model;
    // Random inputs through the forecaster (bucketed prefill + cached decode).
    const Inputs in = random_inputs(2, 2, 90, 3);
    toto::ForecastOptions o;
    o.prediction_length = 40;
    toto::TotoForecaster fe(eager), fc(fp32), fr(ro);
    const Tensor want = fe.forecast(in.series, &in.mask, nullptr, o).mean();
    EXPECT_LE(worst(fc.forecast(in.series, &in.mask, nullptr, o).mean(), want), 1e-5);
    EXPECT_LE(worst(fr.forecast(in.series, &in.mask, nullptr, o).mean(), want), 1e-5);
  }
}

// bf16 plans keep their KV caches in bf16 (half the memory and decode traffic); every other
// executor keeps F32. Forecasts through the caches (bucketed prefill + decode) stay within the
// bf16 tolerance of eager, FCAST_KV_CACHE_BF16=0 keeps F32 caches, and a fallback to eager
// (recompile limit) runs on the bf16 caches.
TEST(CompiledExecutor, Bf16PlansUseBf16KvCachesWithinToleranceOfEager) {
  toto::TotoWeights w = toto::load_toto(golden("toto/models/tiny_a"));  // head dim 16
  TotoModel eager(w), fp32(w, compiled(w, settings(CompileBackend::Inductor))),
      low(w, compiled(w, settings(CompileBackend::Inductor, CompileMode::Default, Precision::BF16)));
  EXPECT_EQ(eager.cache_dtype(), DType::F32);
  EXPECT_EQ(fp32.cache_dtype(), DType::F32);
  EXPECT_EQ(low.cache_dtype(), DType::BF16);
  EXPECT_EQ(low.make_cache(2, 1, 8).keys[0].dtype(), DType::BF16);
  const Inputs in = random_inputs(2, 2, 90, 5);
  toto::ForecastOptions o;
  o.prediction_length = 40;  // prefill + 2 decode steps
  toto::TotoForecaster fe(eager), fl(low);
  const Tensor want = fe.forecast(in.series, &in.mask, nullptr, o).mean();
  const Tensor got = fl.forecast(in.series, &in.mask, nullptr, o).mean();
  EXPECT_LE(worst_scaled(got, want), 3e-2);
  EXPECT_GT(worst(got, want), 1e-6);  // really bf16
  {
    for (const char* off : {"0", "false"}) {
      ::setenv("FCAST_KV_CACHE_BF16", off, 1);
      TotoModel opt_out(w, compiled(w, settings(CompileBackend::Inductor, CompileMode::Default, Precision::BF16)));
      EXPECT_EQ(opt_out.cache_dtype(), DType::F32) << off;
    }
    ::setenv("FCAST_KV_CACHE_BF16", "1", 1);
    EXPECT_EQ(low.cache_dtype(), DType::BF16);
    ::unsetenv("FCAST_KV_CACHE_BF16");
  }

  // Fallback: past the recompile limit the graph (bf16 caches included) runs eagerly.
  auto s = settings(CompileBackend::Inductor, CompileMode::Default, Precision::BF16);
  s.recompile_limit = 1;
  auto ex = compiled(w, s);
  TotoModel m(w, ex);
  for (int64_t B : {1, 2, 3}) {
    const Inputs x = random_inputs(B, 1, 64, 10 + B);
    toto::TotoKVCache c = m.make_cache(B, 1, m.cache_capacity(4, 1)), ce = eager.make_cache(B, 1, 5);
    ASSERT_EQ(c.keys[0].dtype(), DType::BF16);
    const Tensor a = m.forward(x.series, x.mask, x.ids, {}, &c).mix_loc;
    const Tensor b = eager.forward(x.series, x.mask, x.ids, {}, &ce).mix_loc;
    EXPECT_LE(worst_scaled(a, b), 3e-2) << "batch " << B;
    if (B == 1) ex->mark_warm();
  }
  EXPECT_EQ(ex->stats().fallbacks_to_eager, 1);

  // Kronos: cached prefill and decode steps, and the dependency layer's s2 step.
  kronos::KronosPredictorWeights kw = kronos::load_kronos_predictor(golden("kronos/models/tiny/predictor"));
  const std::string id = kw.identity;
  kronos::KronosModel ke(kw), kl(kw, make_executor_from_spec("inductor:default:bf16", id));
  // The tiny model's layers have head dim 16 (bf16 caches), its dependency layer 8 (F32).
  EXPECT_EQ(kl.layer_cache_dtype(), DType::BF16);
  EXPECT_EQ(kl.dep_cache_dtype(), DType::F32);
  EXPECT_EQ(ke.layer_cache_dtype(), DType::F32);
  const int64_t N = 2, T = 12, cap = 16;
  kronos::KronosCache ce = ke.make_cache(N, cap, true), cl = kl.make_cache(N, cap, true);
  ASSERT_EQ(cl.k[0].dtype(), DType::BF16);
  ASSERT_EQ(cl.dep_k.dtype(), DType::F32);
  for (int64_t step = 0; step < 4; ++step) {
    const int64_t S = step == 0 ? T : 1;
    Tensor s1 = Tensor::empty(DType::I64, {N, S}), s2 = Tensor::empty(DType::I64, {N, S});
    Tensor st = Tensor::zeros(DType::F32, {N, S, 5});
    for (int64_t i = 0; i < N * S; ++i) {
      s1.data<int64_t>()[i] = (i * 7 + step) % ke.config().vocab_s1();
      s2.data<int64_t>()[i] = (i * 5 + step) % ke.config().vocab_s2();
    }
    const auto a = kl.forward_cached(s1, s2, st, cl, 0), b = ke.forward_cached(s1, s2, st, ce, 0);
    EXPECT_LE(worst_scaled(a.s1_logits, b.s1_logits), 3e-2) << "step " << step;
    Tensor pick = Tensor::empty(DType::I64, {N, 1});
    for (int64_t r = 0; r < N; ++r) pick.data<int64_t>()[r] = r + step;
    EXPECT_LE(worst_scaled(kl.s2_step(pick, a.last_context, cl), ke.s2_step(pick, b.last_context, ce)), 3e-2)
        << "step " << step;
  }
}

TEST(CompiledExecutor, NoPlansAfterWarmUpOverManyDecodeStepsInOneBucket) {
  toto::TotoWeights w = toto::load_toto(golden("toto/models/tiny_a"));  // patch 16
  auto s = settings(CompileBackend::Inductor, CompileMode::ReduceOverhead);
  s.context_buckets = {256};
  auto ex = compiled(w, s);
  TotoModel m(w, ex);
  toto::TotoForecaster fc(m);
  toto::ForecastOptions o;
  o.prediction_length = 64 * 16;  // 64 decode steps
  fc.forecast(random_inputs(1, 1, 200, 1).series, nullptr, nullptr, o);  // warm-up
  const int64_t built = ex->stats().plans_built;
  EXPECT_EQ(built, 2);  // one prefill plan, one decode plan
  ex->mark_warm();
  ex->set_strict(true);  // a recompile or an allocation inside a planned run would throw
  for (int64_t T : {97, 150, 256, 33}) fc.forecast(random_inputs(1, 1, T, T).series, nullptr, nullptr, o);
  EXPECT_EQ(ex->stats().plans_built, built);
  EXPECT_EQ(ex->stats().recompiles, 0);
  EXPECT_GE(ex->stats().runs, 4 * 64);
}

TEST(CompiledExecutor, RecompileLimitFallsBackToEagerAndLogsReasons) {
  toto::TotoWeights w = toto::load_toto(golden("toto/models/tiny_a"));
  auto s = settings(CompileBackend::AotEager);
  s.recompile_limit = 2;
  s.log_recompiles = true;
  auto ex = compiled(w, s);
  TotoModel m(w, ex), eager(w);
  const Inputs in = random_inputs(1, 1, 32, 2);
  m.forward(in.series, in.mask, in.ids);
  ex->mark_warm();
  testing::internal::CaptureStderr();
  for (int64_t B : {2, 3, 4, 5}) {
    const Inputs x = random_inputs(B, 1, 32, B);
    expect_equal(m.forward(x.series, x.mask, x.ids).mix_loc, eager.forward(x.series, x.mask, x.ids).mix_loc,
                 cat("batch ", B));
  }
  const std::string log = testing::internal::GetCapturedStderr();
  EXPECT_EQ(ex->stats().recompiles, 2);
  EXPECT_EQ(ex->stats().fallbacks_to_eager, 2);
  ASSERT_EQ(ex->recompile_reasons().size(), 2u);
  EXPECT_NE(ex->recompile_reasons()[0].find("batch 1 -> 2"), std::string::npos) << ex->recompile_reasons()[0];
  EXPECT_NE(log.find("recompile 1/2"), std::string::npos) << log;
  EXPECT_NE(log.find("batch 1 -> 2"), std::string::npos) << log;
  EXPECT_NE(log.find("hit the recompile limit (2"), std::string::npos) << log;
  EXPECT_EQ(log.find("hit the recompile limit", log.find("hit the recompile limit") + 1), std::string::npos)
      << "the limit warning must be printed once";
}

TEST(CompiledExecutor, PersistentPlansAndAutotuneSurviveTheProcessAndCorruption) {
  const fs::path dir = fs::temp_directory_path() / cat("fcast_compiled_test_", ::getpid());
  fs::remove_all(dir);
  toto::TotoWeights w = toto::load_toto(golden("toto/models/tiny_b"));
  auto s = settings(CompileBackend::Inductor, CompileMode::MaxAutotune);
  s.persistent_cache = true;
  s.models_dir = (dir / "models").string();
  s.kernel_cache_dir = (dir / "kernels").string();
  const Inputs in = random_inputs(1, 2, 64, 4);
  Tensor first;
  {
    auto ex = compiled(w, s);
    first = TotoModel(w, ex).forward(in.series, in.mask, in.ids).mix_loc;
    EXPECT_EQ(ex->stats().cache_hits, 0);
    EXPECT_GT(ex->stats().cache_misses, 0);
  }
  EXPECT_TRUE(fs::exists(dir / "models" / "plan"));
  EXPECT_TRUE(fs::exists(dir / "kernels" / "autotune"));
  {
    auto ex = compiled(w, s);  // a "second process": plans and autotune choices come from disk
    expect_equal(TotoModel(w, ex).forward(in.series, in.mask, in.ids).mix_loc, first, "from cache");
    EXPECT_GT(ex->stats().cache_hits, 0);
    EXPECT_EQ(ex->stats().cache_misses, 0);
  }
  for (const auto& e : fs::recursive_directory_iterator(dir))
    if (e.is_regular_file()) std::ofstream(e.path(), std::ios::binary | std::ios::trunc) << "garbage";
  {
    auto ex = compiled(w, s);  // corrupt entries: misses and a rebuild, same numbers
    testing::internal::CaptureStderr();
    expect_equal(TotoModel(w, ex).forward(in.series, in.mask, in.ids).mix_loc, first, "after corruption");
    testing::internal::GetCapturedStderr();
    EXPECT_EQ(ex->stats().cache_hits, 0);
    EXPECT_GT(ex->stats().cache_misses, 0);
  }
  fs::remove_all(dir);
}

TEST(CompiledExecutor, KronosCompiledMatchesEager) {
  kronos::KronosPredictorWeights w = kronos::load_kronos_predictor(golden("kronos/models/tiny/predictor"));
  const std::string id = w.identity;
  kronos::KronosModel eager(w), aot(w, make_executor_from_spec("aot_eager", id)),
      ind(w, make_executor_from_spec("inductor:reduce-overhead", id));
  const int64_t B = 2, T = 12;
  Tensor s1 = Tensor::empty(DType::I64, {B, T}), s2 = Tensor::empty(DType::I64, {B, T});
  for (int64_t i = 0; i < B * T; ++i) {
    s1.data<int64_t>()[i] = (i * 7) % eager.config().vocab_s1();
    s2.data<int64_t>()[i] = (i * 5) % eager.config().vocab_s2();
  }
  const auto want = eager.decode_s1(s1, s2, nullptr);
  expect_equal(aot.decode_s1(s1, s2, nullptr).s1_logits, want.s1_logits, "kronos aot_eager");
  EXPECT_LE(worst(ind.decode_s1(s1, s2, nullptr).s1_logits, want.s1_logits), 1e-5);
  EXPECT_LE(worst(ind.decode_s2(want.context, s1), eager.decode_s2(want.context, s1)), 1e-5);
  // bf16 plans: bf16 matmuls and (12 queries of head dim 16) bf16 attention products.
  kronos::KronosModel low(w, make_executor_from_spec("inductor:default:bf16", id));
  const auto got = low.decode_s1(s1, s2, nullptr);
  EXPECT_LE(worst_scaled(got.s1_logits, want.s1_logits), 3e-2);
  EXPECT_GT(worst(got.s1_logits, want.s1_logits), 1e-6);  // the bf16 plans did round
}

}  // namespace
