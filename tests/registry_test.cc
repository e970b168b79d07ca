// The model registry and the model-neutral forecasting API (models/registry.h,
// include/fcast/forecast.h): lookups and config detection, request validation, and sessions
// that give exactly the numbers of the models' own APIs.
#include <gtest/gtest.h>

#include <cmath>

#include "models/kronos/predictor.h"
#include "models/registry.h"
#include "models/toto/forecaster.h"

using namespace fcast;

namespace {

std::string data(const std::string& rel) { return std::string(FCAST_TEST_DATA) + "/" + rel; }

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

CompileSettings eager() {
  CompileSettings s;
  s.enabled = false;
  return s;
}

ForecastRequest one_series(int64_t T, int64_t V) {
  ForecastRequest r;
  SeriesInput s;
  s.id = "X";
  for (int64_t v = 0; v < V; ++v) {
    std::vector<double> x;
    for (int64_t t = 0; t < T; ++t) x.push_back(100 + v + std::sin(0.3 * static_cast<double>(t + 5 * v)));
    s.values.push_back(x);
  }
  r.series.push_back(s);
  r.horizon = 6;
  return r;
}

}  // namespace

TEST(Registry, ListsEveryModelAndRejectsUnknownNames) {
  ASSERT_GE(model_registry().size(), 2u);
  EXPECT_EQ(find_model("toto").name, "toto");
  EXPECT_EQ(find_model("kronos").name, "kronos");
  const std::string e = error_of([] { find_model("chronos"); });
  EXPECT_NE(e.find("unknown model 'chronos'"), std::string::npos) << e;
  EXPECT_NE(e.find("toto, kronos"), std::string::npos) << e;
  for (const ModelEntry& m : model_registry()) {
    EXPECT_FALSE(m.parts.empty()) << m.name;
    EXPECT_TRUE(m.detect && m.load && m.write_random) << m.name;
    EXPECT_FALSE(m.presets.empty()) << m.name;
  }
}

TEST(Registry, DetectsTheModelOfACheckpointFolder) {
  std::string part;
  EXPECT_EQ(detect_model(data("golden/toto/models/tiny_a"), &part).name, "toto");
  EXPECT_EQ(part, "model");
  EXPECT_EQ(detect_model(data("golden/kronos/models/tiny/predictor"), &part).name, "kronos");
  EXPECT_EQ(part, "model");
  EXPECT_EQ(detect_model(data("golden/kronos/models/tiny/tokenizer"), &part).name, "kronos");
  EXPECT_EQ(part, "tokenizer");
  const std::string e = error_of([] { detect_model(data("market")); });
  EXPECT_NE(e.find("not a checkpoint of any registered model"), std::string::npos) << e;
}

TEST(Registry, RequestValidationNamesTheProblem) {
  auto m = find_model("toto").load({{"model", data("golden/toto/models/tiny_a")}}, eager());
  auto s = m->new_session();
  auto expect_error = [&](ForecastRequest r, const std::string& words) {
    const std::string e = error_of([&] { s->forecast(r); });
    EXPECT_NE(e.find(words), std::string::npos) << "expected '" << words << "' in: " << e;
  };
  ForecastRequest r = one_series(32, 1);
  r.horizon = 0;
  expect_error(r, "horizon must be positive");
  r = one_series(32, 1);
  r.series[0].values[0][3] = std::nan("");
  expect_error(r, "series 'X': variate 0 has a non-finite");
  r = one_series(32, 2);
  r.series[0].values[1].pop_back();
  expect_error(r, "variate 1 has 31 values");
  r = one_series(32, 1);
  r.options["temperature"] = "0.5";
  expect_error(r, "unknown option 'temperature'");
  r = one_series(32, 1);
  r.quantiles = {1.5};
  expect_error(r, "outside [0, 1]");
  r = one_series(32, 1);
  r.num_samples = 12;
  r.options["samples_per_batch"] = "5";
  expect_error(r, "must divide num_samples");
  r = one_series(32, 1);
  r.series[0].timestamps = {1, 2};
  expect_error(r, "has 2 timestamps for 32 values");
  // The session still serves after errors.
  EXPECT_EQ(s->forecast(one_series(32, 1)).series.size(), 1u);
}

TEST(Registry, TotoSessionEqualsTheForecaster) {
  auto m = find_model("toto").load({{"model", data("golden/toto/models/tiny_a")}}, eager());
  ForecastRequest r = one_series(48, 2);
  r.num_samples = 16;
  r.options["samples_per_batch"] = "8";
  r.seed = 3;
  r.series.push_back(one_series(40, 2).series[0]);  // another length: its own call
  r.series[1].id = "Y";
  const ForecastResult got = m->new_session()->forecast(r);
  ASSERT_EQ(got.series.size(), 2u);

  toto::TotoModel model(toto::load_toto(data("golden/toto/models/tiny_a")));
  toto::TotoForecaster fc(model);
  toto::ForecastOptions o;
  o.prediction_length = 6;
  o.num_samples = 16;
  o.samples_per_batch = 8;
  o.seed = 3;
  for (size_t k = 0; k < 2; ++k) {
    const SeriesInput& s = r.series[k];
    const int64_t T = static_cast<int64_t>(s.values[0].size());
    Tensor x = Tensor::empty(DType::F32, {1, 2, T});
    for (int64_t v = 0; v < 2; ++v)
      for (int64_t t = 0; t < T; ++t) x.data<float>()[v * T + t] = static_cast<float>(s.values[v][t]);
    const toto::Forecast f = fc.forecast(x, nullptr, nullptr, o);
    const Tensor q9 = f.quantile(0.9), sd = f.std();
    const SeriesForecast& g = got.series[k];
    EXPECT_EQ(g.id, s.id);
    EXPECT_EQ(g.variate_names, (std::vector<std::string>{"v0", "v1"}));
    for (int64_t v = 0; v < 2; ++v)
      for (int64_t h = 0; h < 6; ++h) {
        EXPECT_EQ(g.mean[v][h], f.mean().data<float>()[v * 6 + h]);
        EXPECT_EQ(g.quantiles[2][v][h], q9.data<float>()[v * 6 + h]);
        EXPECT_NEAR(g.std[v][h], sd.data<float>()[v * 6 + h], 1e-5 * (1 + std::fabs(sd.data<float>()[v * 6 + h])));
        for (int64_t n = 0; n < 16; ++n) EXPECT_EQ(g.samples[v][h][n], f.samples().data<float>()[(v * 6 + h) * 16 + n]);
      }
  }
  EXPECT_EQ(got.metadata.at("model"), "toto");
}

TEST(Registry, KronosSessionEqualsThePredictor) {
  const std::string pdir = data("golden/kronos/models/tiny/predictor"), tdir = data("golden/kronos/models/tiny/tokenizer");
  auto m = find_model("kronos").load({{"model", pdir}, {"tokenizer", tdir}}, eager());
  ForecastRequest r;
  SeriesInput s;
  s.variate_names = {"Open", "high", "low", "close"};
  for (int c = 0; c < 4; ++c) {
    std::vector<double> x;
    for (int t = 0; t < 40; ++t) x.push_back(10 + c * 0.1 + std::sin(0.2 * t));
    s.values.push_back(x);
  }
  for (int t = 0; t < 40; ++t) s.timestamps.push_back(1700000000 + 86400 * t);
  r.series.push_back(s);
  r.horizon = 3;
  r.num_samples = 4;
  r.seed = 11;
  r.options = {{"top_p", "0.8"}, {"temperature", "0.9"}};
  const ForecastResult got = m->new_session()->forecast(r);

  auto model = std::make_shared<kronos::KronosModel>(kronos::load_kronos_predictor(pdir));
  auto tok = std::make_shared<kronos::KronosTokenizer>(kronos::load_kronos_tokenizer(tdir));
  kronos::KronosPredictorOptions po;
  po.log = [](const std::string&) {};
  kronos::KronosPredictor pred(model, tok, po);
  kronos::KronosSeries ks;
  ks.timestamps = s.timestamps;
  const char* names[] = {"open", "high", "low", "close"};
  for (int c = 0; c < 4; ++c) ks.columns[names[c]] = s.values[c];
  kronos::SamplingParams sp;
  sp.sample_count = 4;
  sp.seed = 11;
  sp.top_p = 0.8;
  sp.temperature = 0.9;
  std::vector<int64_t> future;
  for (int h = 1; h <= 3; ++h) future.push_back(s.timestamps.back() + 86400 * h);
  const kronos::KronosForecast want = pred.predict(ks, future, 3, sp);
  const SeriesForecast& g = got.series[0];
  EXPECT_EQ(g.timestamps, future);
  ASSERT_EQ(g.variate_names.size(), 6u);
  EXPECT_EQ(g.variate_names[3], "close");
  for (int c = 0; c < 6; ++c)
    for (int h = 0; h < 3; ++h) {
      EXPECT_EQ(g.mean[c][h], want.at(h, c)) << "feature " << c << " step " << h;
      ASSERT_EQ(g.samples[c][h].size(), 4u);
      // The reference averages the paths' normalised values, then de-normalises: the same as the
      // mean of the de-normalised paths up to float rounding.
      double sum = 0;
      for (float x : g.samples[c][h]) sum += x;
      EXPECT_NEAR(sum / 4, want.at(h, c), 1e-4 * (1 + std::fabs(want.at(h, c))));
    }
  const std::string e = error_of([&] {
    ForecastRequest bad = r;
    bad.series[0].timestamps.clear();
    m->new_session()->forecast(bad);
  });
  EXPECT_NE(e.find("has no timestamps"), std::string::npos) << e;
}

TEST(Registry, WriteRandomThenLoadEveryModel) {
  const std::string root = ::testing::TempDir() + "/fcast_registry_random";
  for (const ModelEntry& e : model_registry()) {
    ModelPaths out;
    for (const ModelPart& p : e.parts) out[p.name] = root + "/" + e.name + "-" + p.name;
    // The smallest preset of each model: its last predictor-style preset is not guaranteed
    // small, so pick by name.
    std::string preset;
    for (const ModelPreset& p : e.presets)
      if (p.name.find("tiny") != std::string::npos && p.name.find("tokenizer") == std::string::npos) preset = p.name;
    ASSERT_FALSE(preset.empty()) << e.name << " has no tiny preset";
    const ModelPaths written = e.write_random(preset, 5, out);
    EXPECT_EQ(written.size(), e.parts.size()) << e.name;
    auto m = e.load(written, eager());
    EXPECT_TRUE(m->random_weights()) << e.name;
    EXPECT_EQ(&m->entry(), &e);
  }
}
