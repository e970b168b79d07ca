// All five published Kronos shapes (Kronos-mini/-small/-base, Kronos-Tokenizer-base/-2k):
// random checkpoints written by `fcast init-model kronos` have the published file sizes,
// load, and predict. Kronos-base is ~400 MB; it lives in a temp dir only for its test.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>

#include "io/csv.h"
#include "io/json.h"
#include "io/file.h"
#include "models/kronos/predictor.h"
#include "test_util.h"

namespace fcast::kronos {
namespace {

namespace fs = std::filesystem;
const std::string kGolden = std::string(FCAST_TEST_DATA) + "/golden/kronos";

struct TempDir : test::TempDir {
  explicit TempDir(const std::string& tag) : test::TempDir("kronos_shapes_" + tag, /*create=*/false) {}
};

void run_shape(const std::string& preset, const std::string& hub, const std::string& tok_hub) {
  const auto t0 = std::chrono::steady_clock::now();
  TempDir tmp(preset);
  const std::string p = (tmp.path / "predictor").string(), t = (tmp.path / "tokenizer").string();
  const std::string cmd = std::string("\"") + FCAST_BINARY + "\" init-model kronos --preset " + preset +
                          " --seed 5 --out \"" + p + "\" --tokenizer-out \"" + t + "\" > /dev/null";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  const auto pub = read_json_file(kGolden + "/published_state_dicts.json");
  EXPECT_EQ(fs::file_size(p + "/model.safetensors"), pub[hub]["expected_safetensors_file_bytes"].get<uint64_t>()) << hub;
  EXPECT_EQ(fs::file_size(t + "/model.safetensors"), pub[tok_hub]["expected_safetensors_file_bytes"].get<uint64_t>()) << tok_hub;
  EXPECT_EQ(nlohmann::json::parse(read_file(p + "/config.json")), pub[hub]["config"]);
  EXPECT_EQ(nlohmann::json::parse(read_file(t + "/config.json")), pub[tok_hub]["config"]);

  auto model = std::make_shared<KronosModel>(load_kronos_predictor(p));
  auto tok = std::make_shared<KronosTokenizer>(load_kronos_tokenizer(t));
  EXPECT_EQ(model->weights().inv_freq_from_file, model->config().n_layers + 1);
  KronosPredictorOptions o;
  o.max_context = kronos_default_max_context(preset);
  o.log = [](const std::string&) {};
  KronosPredictor predictor(model, tok, o);
  const MarketTable csv = read_market_csv(std::string(FCAST_TEST_DATA) + "/market/MSTR.csv");
  KronosSeries s;
  const int64_t L = 24, start = csv.rows() - L - 2;
  for (int64_t r = start; r < start + L; ++r) s.timestamps.push_back(csv.timestamps[r]);
  for (const char* c : {"open", "high", "low", "close", "volume"})
    s.columns[c] = std::vector<double>(csv.column(c).begin() + start, csv.column(c).begin() + start + L);
  std::vector<int64_t> y = {csv.timestamps[start + L], csv.timestamps[start + L + 1]};
  SamplingParams sp;
  sp.sample_count = 2;
  sp.seed = 3;
  KronosForecast f = predictor.predict(s, y, 2, sp);
  ASSERT_EQ(f.rows(), 2);
  for (float v : f.values) EXPECT_TRUE(std::isfinite(v));
  std::cout << "[ shapes   ] " << preset << " + " << kronos_matching_tokenizer(preset) << ": written, loaded, predicted in "
            << std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() << " s\n";
}

TEST(KronosPublishedShapes, MiniWithTokenizer2k) {
  run_shape("kronos-mini", "NeoQuasar/Kronos-mini", "NeoQuasar/Kronos-Tokenizer-2k");
}
TEST(KronosPublishedShapes, SmallWithTokenizerBase) {
  run_shape("kronos-small", "NeoQuasar/Kronos-small", "NeoQuasar/Kronos-Tokenizer-base");
}
TEST(KronosPublishedShapes, BaseWithTokenizerBase) {
  run_shape("kronos-base", "NeoQuasar/Kronos-base", "NeoQuasar/Kronos-Tokenizer-base");
}

}  // namespace
}  // namespace fcast::kronos
