// Kronos under context buckets: the predictor's prefill, its full-window recomputation and the
// tokenizer calls are left-padded to the executor's bucket (masked, RoPE counted from the valid
// start), so every context length inside one bucket shares one set of plans, and the numbers
// are those of the unpadded run (eager with buckets == eager without, bit for bit).
#include <gtest/gtest.h>

#include <cstring>

#include "io/csv.h"
#include "models/kronos/predictor.h"
#include "runtime/compiled_executor.h"

namespace fcast::kronos {
namespace {

const std::string kGolden = std::string(FCAST_TEST_DATA) + "/golden/kronos";

const MarketTable& table() {
  static const MarketTable t = read_market_csv(kGolden + "/data/regression_input.csv");
  return t;
}

const KronosPredictorWeights& predictor_weights() {
  static const KronosPredictorWeights w = load_kronos_predictor(kGolden + "/models/tiny/predictor");
  return w;
}

const KronosTokenizerWeights& tokenizer_weights() {
  static const KronosTokenizerWeights w = load_kronos_tokenizer(kGolden + "/models/tiny/tokenizer");
  return w;
}

PreparedSeries prepared(int64_t start, int64_t L, int64_t P) {
  KronosSeries s;
  for (int64_t r = start; r < start + L; ++r) s.timestamps.push_back(table().timestamps[r]);
  for (const char* c : {"open", "high", "low", "close", "volume", "amount"})
    s.columns[c] = std::vector<double>(table().column(c).begin() + start, table().column(c).begin() + start + L);
  std::vector<int64_t> y(table().timestamps.begin() + start + L, table().timestamps.begin() + start + L + P);
  return prepare_series(s, y, 5.0);
}

const std::vector<int64_t> kBuckets = {32, 64, 128};

// One predictor (model + tokenizer) on one executor.
struct Runner {
  std::shared_ptr<Executor> exec;
  KronosPredictor predictor;
  Runner(std::shared_ptr<Executor> e, int64_t max_context)
      : exec(e),
        predictor(std::make_shared<KronosModel>(predictor_weights(), e),
                  std::make_shared<KronosTokenizer>(tokenizer_weights(), e), options(max_context)) {}
  static KronosPredictorOptions options(int64_t M) {
    KronosPredictorOptions o;
    o.max_context = M;
    o.log = [](const std::string&) {};
    return o;
  }
  GenerationTrace run(int64_t L, int64_t P, const SamplingParams& sp, int64_t B = 1) {
    std::vector<PreparedSeries> ps;
    for (int64_t b = 0; b < B; ++b) ps.push_back(prepared(b * 700, L, P));
    GenerationTrace tr;
    predictor.generate(ps, P, sp, &tr);
    return tr;
  }
};

std::shared_ptr<Executor> eager(bool buckets) {
  ExecPolicy p;
  if (buckets) p.context_buckets = kBuckets;
  return std::make_shared<EagerExecutor>(p);
}

std::shared_ptr<CompiledExecutor> compiled(CompileBackend backend) {
  CompileSettings s;
  s.backend = backend;
  s.persistent_cache = false;
  s.context_buckets = kBuckets;
  return std::make_shared<CompiledExecutor>(s, predictor_weights().identity);
}

SamplingParams greedy() {
  SamplingParams sp;
  sp.top_k = 1;
  sp.top_p = 1.0;
  return sp;
}

SamplingParams sampled() {
  SamplingParams sp;
  sp.temperature = 1.0;
  sp.top_p = 0.9;
  sp.sample_count = 2;
  sp.seed = 7;
  return sp;
}

void expect_identical(const GenerationTrace& a, const GenerationTrace& b, const std::string& what) {
  EXPECT_EQ(a.ctx_s1, b.ctx_s1) << what;
  EXPECT_EQ(a.ctx_s2, b.ctx_s2) << what;
  EXPECT_EQ(a.step_mode, b.step_mode) << what;
  EXPECT_EQ(a.step_s1, b.step_s1) << what;
  EXPECT_EQ(a.step_s2, b.step_s2) << what;
  EXPECT_EQ(a.step_s1_logits, b.step_s1_logits) << what;
  EXPECT_EQ(a.step_s2_logits, b.step_s2_logits) << what;
  EXPECT_EQ(a.final_s1, b.final_s1) << what;
  EXPECT_EQ(a.final_decoded, b.final_decoded) << what;
  EXPECT_EQ(a.preds_norm, b.preds_norm) << what;
}

// (L, P, max_context) cases: growing window only, and a window that slides after a few steps.
struct Case {
  int64_t L, P, M;
};

TEST(KronosBucket, EagerPaddingOnEqualsOffBitForBit) {
  Runner off(eager(false), 48), on(eager(true), 48);
  for (Case c : {Case{40, 12, 48}, Case{47, 12, 48}, Case{21, 4, 48}}) {
    const std::string what = cat("L=", c.L, " P=", c.P);
    expect_identical(on.run(c.L, c.P, greedy()), off.run(c.L, c.P, greedy()), what + " greedy");
    expect_identical(on.run(c.L, c.P, sampled(), 2), off.run(c.L, c.P, sampled(), 2), what + " sampled");
  }
  // The tokenizer alone: padded encode/decode give the unpadded ids and rows.
  KronosTokenizer tok_off(tokenizer_weights(), eager(false)), tok_on(tokenizer_weights(), eager(true));
  Tensor x = Tensor::empty(DType::F32, {2, 37, kFeatures});
  for (int64_t i = 0; i < x.numel(); ++i) x.data<float>()[i] = static_cast<float>((i * 37) % 101) / 50.0f - 1.0f;
  const KronosTokens a = tok_on.encode(x, false, tok_on.padded_length(37)), b = tok_off.encode(x);
  ASSERT_EQ(tok_on.padded_length(37), 64);
  EXPECT_EQ(0, std::memcmp(a.s1.raw(), b.s1.raw(), a.s1.nbytes()));
  EXPECT_EQ(0, std::memcmp(a.s2.raw(), b.s2.raw(), a.s2.nbytes()));
  const Tensor da = tok_on.decode(b.s1, b.s2, 64), db = tok_off.decode(b.s1, b.s2);
  ASSERT_EQ(da.shape(), db.shape());
  EXPECT_EQ(0, std::memcmp(da.raw(), db.raw(), da.nbytes()));
}

// Several context lengths inside one bucket: after warm-up on the first, no plan is built, and
// the ids equal eager's (aot_eager: every number equal).
void check_no_recompiles(CompileBackend backend, bool exact) {
  for (Case base : {Case{36, 8, 128}, Case{40, 12, 48}}) {
    auto ex = compiled(backend);
    Runner comp(ex, base.M), ref(eager(false), base.M);
    const std::vector<int64_t> lengths = base.M == 128 ? std::vector<int64_t>{36, 44, 50, 56}
                                                       : std::vector<int64_t>{40, 44, 47};
    comp.run(lengths[0], base.P, greedy());
    ex->mark_warm();
    const int64_t plans = ex->stats().plans_built;
    for (int64_t L : lengths) {
      const std::string what = cat(to_string(backend), " L=", L, " P=", base.P, " M=", base.M);
      const GenerationTrace got = comp.run(L, base.P, greedy()), want = ref.run(L, base.P, greedy());
      EXPECT_EQ(ex->stats().recompiles, 0) << what;
      EXPECT_EQ(ex->stats().plans_built, plans) << what;
      EXPECT_EQ(got.ctx_s1, want.ctx_s1) << what;
      EXPECT_EQ(got.ctx_s2, want.ctx_s2) << what;
      EXPECT_EQ(got.step_s1, want.step_s1) << what;
      EXPECT_EQ(got.step_s2, want.step_s2) << what;
      EXPECT_EQ(got.final_s1, want.final_s1) << what;
      if (exact) expect_identical(got, want, what);
    }
    for (const auto& r : ex->recompile_reasons()) ADD_FAILURE() << "recompile: " << r;
  }
}

TEST(KronosBucket, AotEagerNoPlansAfterWarmUpInOneBucketAndEqualsEager) {
  check_no_recompiles(CompileBackend::AotEager, true);
}

TEST(KronosBucket, InductorNoPlansAfterWarmUpInOneBucketAndSameIds) {
  check_no_recompiles(CompileBackend::Inductor, false);
}

}  // namespace
}  // namespace fcast::kronos
