// KronosPredictor generation: the KV-cached path against the plain full-recompute path, the
// phase switch when the window starts to slide, sample sharing, seeding, and bad input.
#include <gtest/gtest.h>

#include <cmath>

#include "core/error.h"
#include "io/csv.h"
#include "models/kronos/predictor.h"

namespace fcast::kronos {
namespace {

const std::string kGolden = std::string(FCAST_TEST_DATA) + "/golden/kronos";

void expect_error(const std::function<void()>& f, const std::string& needle) {
  try {
    f();
    ADD_FAILURE() << "no error; expected one mentioning '" << needle << "'";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

struct Pair {
  std::shared_ptr<KronosModel> model;
  std::shared_ptr<KronosTokenizer> tok;
};

const Pair& tiny() {
  static Pair p{std::make_shared<KronosModel>(load_kronos_predictor(kGolden + "/models/tiny/predictor")),
                std::make_shared<KronosTokenizer>(load_kronos_tokenizer(kGolden + "/models/tiny/tokenizer"))};
  return p;
}

const MarketTable& table() {
  static const MarketTable t = read_market_csv(kGolden + "/data/regression_input.csv");
  return t;
}

KronosSeries series(int64_t start, int64_t len) {
  KronosSeries s;
  for (int64_t r = start; r < start + len; ++r) s.timestamps.push_back(table().timestamps[r]);
  for (const char* c : {"open", "high", "low", "close", "volume", "amount"})
    s.columns[c] = std::vector<double>(table().column(c).begin() + start, table().column(c).begin() + start + len);
  return s;
}

std::vector<int64_t> future(int64_t start, int64_t n) {
  return std::vector<int64_t>(table().timestamps.begin() + start, table().timestamps.begin() + start + n);
}

KronosPredictor make(int64_t max_context, bool cache) {
  KronosPredictorOptions o;
  o.max_context = max_context;
  o.use_kv_cache = cache;
  o.log = [](const std::string&) {};
  return KronosPredictor(tiny().model, tiny().tok, o);
}

GenerationTrace run(int64_t L, int64_t P, int64_t M, bool cache, const SamplingParams& sp, int64_t B = 1,
                    std::vector<KronosForecast>* out = nullptr) {
  KronosPredictor pr = make(M, cache);
  std::vector<PreparedSeries> ps;
  for (int64_t b = 0; b < B; ++b) ps.push_back(prepare_series(series(b * 700, L), future(b * 700 + L, P), 5.0));
  GenerationTrace tr;
  auto f = pr.generate(ps, P, sp, &tr);
  if (out) *out = f;
  return tr;
}

void expect_same_path(const GenerationTrace& a, const GenerationTrace& b, double logit_tol) {
  EXPECT_EQ(a.step_s1, b.step_s1);
  EXPECT_EQ(a.step_s2, b.step_s2);
  ASSERT_EQ(a.step_s1_logits.size(), b.step_s1_logits.size());
  double worst = 0;
  for (size_t i = 0; i < a.step_s1_logits.size(); ++i)
    worst = std::max(worst, static_cast<double>(std::fabs(a.step_s1_logits[i] - b.step_s1_logits[i])));
  for (size_t i = 0; i < a.step_s2_logits.size(); ++i)
    worst = std::max(worst, static_cast<double>(std::fabs(a.step_s2_logits[i] - b.step_s2_logits[i])));
  EXPECT_LE(worst, logit_tol);
  EXPECT_EQ(a.final_s1, b.final_s1);
  EXPECT_EQ(a.preds_norm, b.preds_norm);
}

SamplingParams sampling(int64_t S, uint64_t seed) {
  SamplingParams sp;
  sp.temperature = 1.0;
  sp.top_p = 0.9;
  sp.sample_count = S;
  sp.seed = seed;
  return sp;
}

SamplingParams greedy() {
  SamplingParams sp;
  sp.top_k = 1;
  sp.top_p = 1.0;
  return sp;
}

// L = 64, max_context = 80: cached steps 0..16, full-window recomputes from step 17.
TEST(KronosPredictor, SwitchesToFullRecomputeWhenTheWindowSlides) {
  const int64_t built = tiny().model->graphs_built();
  GenerationTrace tr = run(64, 24, 80, true, greedy());
  // One graph per shape, reused by every step: prefill, cached step, s2 step, sliding window.
  EXPECT_LE(tiny().model->graphs_built() - built, 4);
  ASSERT_EQ(tr.step_mode.size(), 24u);
  EXPECT_EQ(tr.step_mode[0], 'P');
  for (int i = 1; i <= 16; ++i) EXPECT_EQ(tr.step_mode[i], 'C') << "step " << i;
  for (int i = 17; i < 24; ++i) EXPECT_EQ(tr.step_mode[i], 'W') << "step " << i;
  EXPECT_EQ(tr.window_start[17], 1);
  EXPECT_EQ(tr.window_len[17], 80);
  // L >= max_context: no cacheable step at all; L == max_context: step 0 only.
  GenerationTrace full = run(200, 4, 128, true, greedy());
  for (char m : full.step_mode) EXPECT_EQ(m, 'W');
  GenerationTrace eq = run(128, 3, 128, true, greedy());
  EXPECT_EQ(std::string(eq.step_mode.begin(), eq.step_mode.end()), "PWW");
}

TEST(KronosPredictor, CachedPathEqualsFullRecompute) {
  // Greedy across the phase switch, and seeded sampling with 4 paths per series over 2 series.
  expect_same_path(run(64, 24, 80, true, greedy()), run(64, 24, 80, false, greedy()), 1e-5);
  GenerationTrace a = run(48, 12, 128, true, sampling(4, 7), 2);
  GenerationTrace b = run(48, 12, 128, false, sampling(4, 7), 2);
  for (char m : b.step_mode) EXPECT_EQ(m, 'W');
  EXPECT_EQ(a.step_mode[5], 'C');
  expect_same_path(a, b, 1e-5);
  // The four sample paths really differ (shared prefill, separate draws).
  bool differ = false;
  for (int64_t i = 0; i < a.pred_len; ++i) differ |= a.step_s1[i] != a.step_s1[a.pred_len + i];
  EXPECT_TRUE(differ);
}

TEST(KronosPredictor, SeedsReproduceAndGreedySharesOnePath) {
  std::vector<KronosForecast> f1, f2, f3;
  run(64, 8, 128, true, sampling(3, 11), 1, &f1);
  run(64, 8, 128, true, sampling(3, 11), 1, &f2);
  run(64, 8, 128, true, sampling(3, 12), 1, &f3);
  EXPECT_EQ(f1[0].values, f2[0].values);
  EXPECT_NE(f1[0].values, f3[0].values);
  SamplingParams g = greedy();
  g.sample_count = 5;
  GenerationTrace tr = run(64, 8, 128, true, g);
  EXPECT_EQ(tr.rows_per_series, 1);  // greedy: one path per series, replicated for the average
}

TEST(KronosPredictor, PredictMatchesGoldenOutputCsv) {
  KronosPredictor pr = make(128, true);
  KronosForecast f = pr.predict(series(0, 64), future(64, 8), 8, greedy());
  const MarketTable want = read_market_csv(kGolden + "/cases/greedy_tiny_c64_p8_mc128_output.csv");
  ASSERT_EQ(want.rows(), 8);
  PreparedSeries p = prepare_series(series(0, 64), {}, 5.0);
  for (int64_t t = 0; t < 8; ++t) {
    EXPECT_EQ(f.timestamps[t], want.timestamps[t]);
    for (int c = 0; c < kFeatures; ++c) {
      const double w = want.column(kFeatureNames[c])[t];
      EXPECT_LE(std::fabs(f.at(t, c) - w), 1e-5 * (p.std[c] + 1e-5) + 1e-6 * std::fabs(w)) << kFeatureNames[c];
    }
  }
}

TEST(KronosPredictor, BadInputIsAClearError) {
  KronosPredictor pr = make(16, true);
  expect_error([&] { pr.predict(series(0, 32), future(32, 17), 17, greedy()); }, "pred_len 17 exceeds max_context 16");
  expect_error([&] { pr.predict(series(0, 32), future(32, 3), 4, greedy()); }, "3 future timestamps given for pred_len 4");
  expect_error([&] { pr.predict(series(0, 32), {}, 0, greedy()); }, "pred_len must be >= 1");
  KronosSeries s = series(0, 32);
  s.columns["open"][4] = NAN;
  expect_error([&] { pr.predict(s, future(32, 2), 2, greedy()); }, "column 'open' holds NaN");
  KronosSeries empty;
  expect_error([&] { pr.predict(empty, future(32, 2), 2, greedy()); }, "context is empty");
  expect_error([&] { pr.predict_batch({series(0, 32), series(100, 30)}, {future(32, 2), future(130, 2)}, 2, greedy()); },
               "same context length");
  SamplingParams hot = greedy();
  hot.temperature = 0;
  expect_error([&] { pr.predict(series(0, 32), future(32, 2), 2, hot); }, "temperature must be");
  // Out-of-range time features and ids through the model API.
  KronosModel& m = *tiny().model;
  Tensor s1 = Tensor::zeros(DType::I64, {1, 4}), s2 = Tensor::zeros(DType::I64, {1, 4});
  Tensor stamp = Tensor::zeros(DType::F32, {1, 4, 5});
  for (int t = 0; t < 4; ++t) stamp.data<float>()[t * 5 + 3] = 1;  // day 1
  stamp.data<float>()[2 * 5 + 1] = 24;                             // hour 24
  expect_error([&] { m.decode_s1(s1, s2, &stamp); }, "time feature 'hour' = 24");
  stamp.data<float>()[2 * 5 + 1] = 23;
  stamp.data<float>()[1 * 5 + 0] = NAN;
  expect_error([&] { m.decode_s1(s1, s2, &stamp); }, "time feature 'minute' is not finite");
  s1.data<int64_t>()[3] = 16;
  expect_error([&] { m.decode_s1(s1, s2, nullptr); }, "s1 id 16 at batch row 0, position 3 is outside the vocabulary");
  Tensor ctx = Tensor::zeros(DType::F32, {1, 4, 32}), q = Tensor::zeros(DType::I64, {1, 2});
  expect_error([&] { m.decode_s2(ctx, q); }, "the reference supports no other query length");
  // Tokenizer input with a non-finite value.
  Tensor x = Tensor::zeros(DType::F32, {1, 4, 6});
  x.data<float>()[7] = INFINITY;
  expect_error([&] { tiny().tok->encode(x); }, "non-finite value at row 1, feature 1");
}

TEST(KronosPredictor, MismatchedPairIsRejected) {
  auto small_tok = std::make_shared<KronosTokenizer>(load_kronos_tokenizer(kGolden + "/models/small10/tokenizer"));
  expect_error([&] { KronosPredictor(tiny().model, small_tok); }, "pair each predictor with its own tokenizer");
}

}  // namespace
}  // namespace fcast::kronos
