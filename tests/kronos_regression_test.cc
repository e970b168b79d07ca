// Upstream regression test (shiyu-coder/Kronos tests): real Kronos-small + Kronos-Tokenizer-base
// weights reproduce regression_output_{256,512}.csv from regression_input.csv (greedy,
// max_context 512, pred_len 8, rtol 1e-5). The weights are not in the repository: point
// FCAST_KRONOS_SMALL_DIR and FCAST_KRONOS_TOKENIZER_DIR at downloaded copies of
// NeoQuasar/Kronos-small (revision 901c26c1) and NeoQuasar/Kronos-Tokenizer-base (0e011738).
#include <gtest/gtest.h>

#include <cmath>
#include <optional>
#include <string>

#include "core/env.h"
#include "io/csv.h"
#include "models/kronos/predictor.h"

namespace fcast::kronos {
namespace {

const std::string kData = std::string(FCAST_TEST_DATA) + "/golden/kronos/data";

void regression(int64_t context) {
  const std::optional<std::string> model_dir = env_string("FCAST_KRONOS_SMALL_DIR");
  const std::optional<std::string> tok_dir = env_string("FCAST_KRONOS_TOKENIZER_DIR");
  if (!model_dir || !tok_dir)
    GTEST_SKIP() << "real weights not available: set FCAST_KRONOS_SMALL_DIR and FCAST_KRONOS_TOKENIZER_DIR to "
                    "folders holding NeoQuasar/Kronos-small and NeoQuasar/Kronos-Tokenizer-base (config.json + "
                    "model.safetensors) to run the upstream regression test";
  auto model = std::make_shared<KronosModel>(load_kronos_predictor(*model_dir));
  auto tok = std::make_shared<KronosTokenizer>(load_kronos_tokenizer(*tok_dir));
  KronosPredictorOptions o;
  o.max_context = 512;
  KronosPredictor predictor(model, tok, o);
  const MarketTable in = read_market_csv(kData + "/regression_input.csv");
  const MarketTable want = read_market_csv(kData + "/regression_output_" + std::to_string(context) + ".csv");
  const int64_t P = 8;
  ASSERT_EQ(want.rows(), P);
  KronosSeries s;
  for (int64_t r = 0; r < context; ++r) s.timestamps.push_back(in.timestamps[r] + in.utc_offsets[r]);
  for (const char* c : {"open", "high", "low", "close", "volume", "amount"})
    s.columns[c] = std::vector<double>(in.column(c).begin(), in.column(c).begin() + context);
  std::vector<int64_t> y;
  for (int64_t r = context; r < context + P; ++r) y.push_back(in.timestamps[r] + in.utc_offsets[r]);
  SamplingParams sp;
  sp.temperature = 1.0;
  sp.top_k = 1;
  sp.top_p = 1.0;
  sp.sample_count = 1;
  KronosForecast f = predictor.predict(s, y, P, sp);
  for (int64_t t = 0; t < P; ++t) {
    EXPECT_EQ(f.timestamps[t], want.timestamps[t] + want.utc_offsets[t]) << "row " << t;
    for (int c = 0; c < kFeatures; ++c) {
      const double w = want.column(kFeatureNames[c])[t];
      EXPECT_LE(std::fabs(f.at(t, c) - w), 1e-5 * std::fabs(w))
          << "context " << context << " row " << t << " " << kFeatureNames[c] << ": got " << f.at(t, c) << ", upstream " << w;
    }
  }
}

TEST(KronosRegression, Context256) { regression(256); }
TEST(KronosRegression, Context512) { regression(512); }

}  // namespace
}  // namespace fcast::kronos
