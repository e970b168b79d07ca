// The non-finite guard (hardening findings 5): a forecast whose model outputs hold NaN or Inf
// fails with an error naming the model part, the output and the count, unless the request (or
// `fcast predict --nonfinite warn`) asks for the reference's behaviour, which is then counted.
// Cases: a Toto context near the float32 limit, a Toto unembed weight of 3e38, a Kronos
// tokenizer weight of 3e38; and a CSV value beyond float32 named by line and column.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "io/csv.h"
#include "io/safetensors.h"
#include "models/registry.h"
#include "test_util.h"

namespace fcast {
namespace {

namespace fs = std::filesystem;
using test::expect_contains;

const std::string kTotoTiny = test::test_data("golden/toto/models/tiny_a");
const std::string kKronosTiny = test::test_data("golden/kronos/models/tiny");

CompileSettings eager() {
  CompileSettings s;
  s.enabled = false;
  return s;
}

// Copies the checkpoint folder `src` to `dst` with every value of the F32 tensor `name` set to
// `value` (finite: the loaders accept it).
void copy_with_tensor(const std::string& src, const std::string& dst, const std::string& name, float value) {
  fs::create_directories(dst);
  fs::copy(src, dst, fs::copy_options::overwrite_existing | fs::copy_options::recursive);
  std::vector<std::pair<std::string, Tensor>> tensors;
  {
    const SafetensorsFile f = SafetensorsFile::open(dst + "/model.safetensors");
    for (const TensorInfo& info : f.tensors()) {
      Tensor t = f.get(info.name).clone();
      if (info.name == name) {
        ASSERT_EQ(t.dtype(), DType::F32) << name;
        std::fill(t.data<float>(), t.data<float>() + t.numel(), value);
      }
      tensors.emplace_back(info.name, t);
    }
  }
  write_safetensors(dst + "/model.safetensors", tensors);
}

// One series of T values around `level` (a random walk); Kronos reads OHLCV columns and stamps.
ForecastRequest request(int64_t T, double level, bool ohlcv) {
  ForecastRequest r;
  SeriesInput s;
  s.id = "S";
  std::vector<double> x;
  for (int64_t t = 0; t < T; ++t) x.push_back(level * (1.0 + 0.01 * std::sin(0.7 * static_cast<double>(t))));
  if (ohlcv) {
    s.variate_names = {"open", "high", "low", "close", "volume"};
    for (int v = 0; v < 5; ++v) s.values.push_back(x);
    for (int64_t t = 0; t < T; ++t) s.timestamps.push_back(1700000000 + 3600 * t);
  } else {
    s.values.push_back(x);
  }
  r.series.push_back(s);
  r.horizon = 8;
  return r;
}

class NonFinite : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new test::TempDir("nonfinite_test");
    copy_with_tensor(kTotoTiny, dir_->sub("toto-unembed"), "model.unembed.weight", 3e38f);
    copy_with_tensor(kKronosTiny + "/tokenizer", dir_->sub("kronos-tokenizer-head"), "head.weight", 3e38f);
    copy_with_tensor(kKronosTiny + "/predictor", dir_->sub("kronos-predictor-s1"), "head.proj_s1.weight", 3e38f);
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }
  static test::TempDir* dir_;
};
test::TempDir* NonFinite::dir_ = nullptr;

TEST_F(NonFinite, TotoContextNearFloat32LimitFailsByDefault) {
  auto m = find_model("toto").load({{"model", kTotoTiny}}, eager());
  for (int64_t samples : {0, 4}) {
    ForecastRequest r = request(64, 3.3e38, false);
    r.num_samples = samples;
    auto s = m->new_session();
    expect_contains(test::error_of([&] { s->forecast(r); }),
                    {"toto: non-finite forecast", "decode step 1 of 1", "NaN, Inf", "float32 limit", "kWarn",
                     "--nonfinite warn"});
    // Under kWarn: the reference's zeros, counted.
    r.nonfinite = NonFinitePolicy::kWarn;
    const ForecastResult res = s->forecast(r);
    const int64_t values = r.horizon * std::max<int64_t>(samples, 1);
    EXPECT_EQ(res.metadata.at("nonfinite_values"), std::to_string(values)) << samples;
    EXPECT_NE(res.metadata.at("nonfinite_detail").find("decode step 1"), std::string::npos);
    for (float x : res.series[0].mean[0]) EXPECT_EQ(x, 0.0f);
  }
  // An ordinary series: nothing to report.
  const ForecastResult ok = m->new_session()->forecast(request(64, 100.0, false));
  EXPECT_EQ(ok.metadata.at("nonfinite_values"), "0");
  EXPECT_EQ(ok.metadata.at("nonfinite_detail"), "");
}

TEST_F(NonFinite, TotoUnembedWeightNamesTheOutputs) {
  auto m = find_model("toto").load({{"model", dir_->sub("toto-unembed")}}, eager());
  ForecastRequest r = request(64, 100.0, false);
  const std::string e = test::error_of([&] { m->new_session()->forecast(r); });
  expect_contains(e, {"toto: non-finite forecast", "8 of the 8 values", "model outputs with non-finite values: head"});
  r.nonfinite = NonFinitePolicy::kWarn;
  const ForecastResult res = m->new_session()->forecast(r);
  EXPECT_EQ(res.metadata.at("nonfinite_values"), "8");
  for (float x : res.series[0].mean[0]) EXPECT_EQ(x, 0.0f);
}

TEST_F(NonFinite, KronosTokenizerWeightFailsNamingTheDecoder) {
  auto m = find_model("kronos").load(
      {{"model", kKronosTiny + "/predictor"}, {"tokenizer", dir_->sub("kronos-tokenizer-head")}}, eager());
  ForecastRequest r = request(48, 100.0, true);
  r.options["top_k"] = "1";
  for (int64_t samples : {0, 3}) {
    r.num_samples = samples;
    r.options["top_k"] = samples > 0 ? "0" : "1";
    r.nonfinite = NonFinitePolicy::kError;
    expect_contains(test::error_of([&] { m->new_session()->forecast(r); }),
                    {"kronos: non-finite forecast", "tokenizer's", "kronos-tokenizer-head", "decoder output",
                     "non-finite values (NaN or Inf)", "--nonfinite warn"});
    // Under kWarn: NaN as the reference gives, counted; the summaries of NaN paths are NaN.
    r.nonfinite = NonFinitePolicy::kWarn;
    const ForecastResult res = m->new_session()->forecast(r);
    EXPECT_EQ(res.metadata.at("nonfinite_values"), std::to_string(8 * 6)) << samples;
    EXPECT_NE(res.metadata.at("nonfinite_detail").find("decoder output"), std::string::npos);
    EXPECT_TRUE(std::isnan(res.series[0].mean[3][0]));
    EXPECT_TRUE(std::isnan(res.series[0].median[3][0]));
    EXPECT_TRUE(std::isnan(res.series[0].quantiles[0][3][0]));
  }
  // The undamaged pair is quiet.
  auto good = find_model("kronos").load({{"model", kKronosTiny + "/predictor"}, {"tokenizer", kKronosTiny + "/tokenizer"}},
                                        eager());
  r.num_samples = 0;
  r.options["top_k"] = "1";
  r.nonfinite = NonFinitePolicy::kError;
  EXPECT_EQ(good->new_session()->forecast(r).metadata.at("nonfinite_values"), "0");
}

TEST_F(NonFinite, KronosPredictorLogitsAreNamed) {
  auto m = find_model("kronos").load(
      {{"model", dir_->sub("kronos-predictor-s1")}, {"tokenizer", kKronosTiny + "/tokenizer"}}, eager());
  ForecastRequest r = request(48, 100.0, true);
  r.options["top_k"] = "1";
  expect_contains(test::error_of([&] { m->new_session()->forecast(r); }),
                  {"kronos: non-finite forecast", "predictor's", "kronos-predictor-s1", "s1 logits",
                   "generation step 1 of 8"});
  // Greedy decoding can go on under kWarn (argmax); the detail says where.
  r.nonfinite = NonFinitePolicy::kWarn;
  EXPECT_NE(m->new_session()->forecast(r).metadata.at("nonfinite_detail").find("s1 logits"), std::string::npos);
  // Sampling cannot draw from them under either policy.
  r.options["top_k"] = "0";
  r.num_samples = 2;
  expect_contains(test::error_of([&] { m->new_session()->forecast(r); }),
                  {"s1 logits", "tokens cannot be sampled from them"});
}

TEST_F(NonFinite, RequestValuesBeyondFloat32AreNamed) {
  auto m = find_model("toto").load({{"model", kTotoTiny}}, eager());
  ForecastRequest r = request(32, 100.0, false);
  r.series[0].variate_names = {"close"};
  r.series[0].values[0][5] = 1e300;
  expect_contains(test::error_of([&] { m->new_session()->forecast(r); }),
                  {"series 'S'", "variate 'close'", "1e+300", "step 5 of 32", "out of float32 range"});
}

// ---- the CLI ----

class NonFiniteCli : public NonFinite {
 protected:
  // Runs fcast with `args` (shell words, already quoted where needed) under a timeout.
  static test::CommandResult fcast(const std::string& args) {
    static int n = 0;
    const std::string base = dir_->sub("run" + std::to_string(n++));
    return test::run_command("OMP_NUM_THREADS=1 timeout 300 " + test::shell_quote(test::fcast_binary()) + " " + args,
                             base + ".out", base + ".err");
  }
  static std::string csv(const std::string& name, double level, const std::string& first_date = "2024-01-01") {
    std::string text = "date,open,high,low,close,volume\n";
    const int64_t first = parse_day(first_date);
    for (int t = 0; t < 40; ++t) {
      const std::string v = std::to_string(level * (1.0 + 0.01 * std::sin(0.7 * t)));
      text += day(first + t) + "," + v + "," + v + "," + v + "," + v + ",1000\n";
    }
    const std::string path = dir_->sub(name);
    test::spit(path, text);
    return path;
  }
  static int64_t parse_day(const std::string& d) { return parse_timestamp(d) / 86400; }
  static std::string day(int64_t days) { return format_timestamp(days * 86400, false); }
};

TEST_F(NonFiniteCli, TotoFailsOrWarnsAndCounts) {
  const std::string in = test::shell_quote(csv("huge.csv", 3.3e38));
  const std::string common = "predict toto --no-compile --model " + test::shell_quote(kTotoTiny) + " --input " + in +
                             " --prediction-length 8 --num-samples 0";
  test::CommandResult r = fcast(common);
  ASSERT_TRUE(r.exited);
  EXPECT_EQ(r.status, 1) << r.err;
  expect_contains(test::last_line(r.err), {"toto: non-finite forecast", "--nonfinite warn"});
  EXPECT_EQ(r.out, "");
  r = fcast(common + " --nonfinite warn --format json");
  ASSERT_EQ(r.status, 0) << r.err;
  expect_contains(r.err, {"WARNING: toto: 8 forecast value(s) were non-finite", "replaced by 0"});
  const nlohmann::json j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["metadata"]["nonfinite_values"], 8);
  EXPECT_EQ(j["metadata"]["nonfinite"], "warn");
  EXPECT_EQ(j["forecast"][0]["mean"], 0.0);
  r = fcast(common + " --nonfinite maybe");
  EXPECT_NE(r.status, 0);
  expect_contains(r.err, {"--nonfinite", "maybe"});
}

TEST_F(NonFiniteCli, TotoNamesAValueBeyondFloat32ByLineAndColumn) {
  std::string text = "date,close\n";
  for (int t = 0; t < 20; ++t) text += NonFiniteCli::day(19723 + t) + "," + (t == 12 ? "1e300" : "100") + "\n";
  const std::string path = dir_->sub("e300.csv");
  test::spit(path, text);
  const test::CommandResult r =
      fcast("predict toto --no-compile --model " + test::shell_quote(kTotoTiny) + " --input " + test::shell_quote(path));
  ASSERT_TRUE(r.exited);
  EXPECT_EQ(r.status, 1);
  expect_contains(test::last_line(r.err), {"e300.csv:14 (2024-01-13)", "column 'close'", "1e+300", "out of float32 range"});
  EXPECT_EQ(r.err.find("flat index"), std::string::npos) << r.err;
}

TEST_F(NonFiniteCli, KronosFailsOrWarnsAndCounts) {
  const std::string in = test::shell_quote(csv("bars.csv", 100.0));
  const std::string common = "predict kronos --no-compile --model " + test::shell_quote(kKronosTiny + "/predictor") +
                             " --tokenizer " + test::shell_quote(dir_->sub("kronos-tokenizer-head")) + " --input " + in +
                             " --pred-len 4 --max-context 64 --top-k 1";
  test::CommandResult r = fcast(common);
  ASSERT_TRUE(r.exited);
  EXPECT_EQ(r.status, 1) << r.err;
  expect_contains(test::last_line(r.err), {"kronos: non-finite forecast", "decoder output", "--nonfinite warn"});
  r = fcast(common + " --nonfinite warn --format json");
  ASSERT_EQ(r.status, 0) << r.err;
  expect_contains(r.err, {"WARNING: kronos: 24 forecast value(s) were non-finite"});
  const nlohmann::json j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["metadata"]["nonfinite_values"], 24);
  bool close_is_nan = false;  // NaN (null in JSON), as the reference returns it
  for (const auto& row : j["forecast"]) close_is_nan = close_is_nan || (row["variate"] == "close" && row["mean"].is_null());
  EXPECT_TRUE(close_is_nan) << j["forecast"].dump();
}

TEST_F(NonFiniteCli, FutureStampsPast9999AreRefused) {
  const std::string in = test::shell_quote(csv("late.csv", 100.0, "9999-11-01"));  // 40 days: to 9999-12-10
  test::CommandResult r = fcast("predict toto --no-compile --model " + test::shell_quote(kTotoTiny) + " --input " + in +
                                " --prediction-length 64 --num-samples 0");
  ASSERT_TRUE(r.exited);
  EXPECT_EQ(r.status, 1);
  expect_contains(test::last_line(r.err), {"--prediction-length 64", "9999-12-31", "only 21 steps fit"});
  r = fcast("predict toto --no-compile --model " + test::shell_quote(kTotoTiny) + " --input " + in +
            " --prediction-length 21 --num-samples 0");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(test::last_line(r.out).substr(0, 16), "late,9999-12-31,");
  r = fcast("predict kronos --no-compile --model " + test::shell_quote(kKronosTiny + "/predictor") + " --tokenizer " +
            test::shell_quote(kKronosTiny + "/tokenizer") + " --input " + in + " --pred-len 30 --max-context 64");
  EXPECT_EQ(r.status, 1);
  expect_contains(test::last_line(r.err), {"--prediction-length 30", "only 21 steps fit"});
}

}  // namespace
}  // namespace fcast
