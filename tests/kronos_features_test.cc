// KronosPredictor input preparation: column quirks, numpy pairwise normalisation, time
// features, and clear errors for bad series.
#include <gtest/gtest.h>

#include <cmath>

#include "core/error.h"
#include "io/csv.h"
#include "io/safetensors.h"
#include "models/kronos/features.h"

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

KronosSeries from_csv(int64_t start, int64_t len, const std::vector<std::string>& cols) {
  static const MarketTable t = read_market_csv(kGolden + "/data/regression_input.csv");
  KronosSeries s;
  for (int64_t r = start; r < start + len; ++r) s.timestamps.push_back(t.timestamps[r] + t.utc_offsets[r]);
  for (auto& c : cols) s.columns[c] = std::vector<double>(t.column(c).begin() + start, t.column(c).begin() + start + len);
  return s;
}

// The golden x_mean / x_std / x_norm are reproduced bit for bit (numpy pairwise sums).
TEST(KronosFeatures, NormalisationIsBitExactWithNumpy) {
  struct Case {
    const char* file;
    int64_t L;
    std::vector<std::string> cols;
  };
  const std::vector<Case> cases = {
      {"greedy_tiny_c512_p8_mc512", 512, {"open", "high", "low", "close", "volume", "amount"}},  // pairwise recursion
      {"greedy_tiny_c200_p8_mc128", 200, {"open", "high", "low", "close", "volume", "amount"}},
      {"noamt_tiny_c64_p8_mc128", 64, {"open", "high", "low", "close", "volume"}},
      {"novol_tiny_c64_p8_mc128", 64, {"open", "high", "low", "close"}},
      {"amtonly_tiny_c64_p8_mc128", 64, {"open", "high", "low", "close", "amount"}},
  };
  for (auto& c : cases) {
    SafetensorsFile f = SafetensorsFile::open(kGolden + "/cases/" + c.file + ".safetensors");
    PreparedSeries p = prepare_series(from_csv(0, c.L, c.cols), {}, 5.0);
    Tensor raw = f.get("x_raw"), mean = f.get("x_mean"), stdv = f.get("x_std"), norm = f.get("x_norm");
    for (int64_t i = 0; i < raw.numel(); ++i) ASSERT_EQ(p.x_raw[i], raw.data<float>()[i]) << c.file << " x_raw " << i;
    for (int k = 0; k < 6; ++k) {
      EXPECT_EQ(p.mean[k], mean.data<float>()[k]) << c.file << " mean " << kFeatureNames[k];
      EXPECT_EQ(p.std[k], stdv.data<float>()[k]) << c.file << " std " << kFeatureNames[k];
    }
    for (int64_t i = 0; i < norm.numel(); ++i) ASSERT_EQ(p.x_norm[i], norm.data<float>()[i]) << c.file << " x_norm " << i;
  }
}

TEST(KronosFeatures, ColumnQuirks) {
  // Missing volume zeroes a present amount (reference quirk).
  PreparedSeries a = prepare_series(from_csv(0, 16, {"open", "high", "low", "close", "amount"}), {}, 5.0);
  for (int64_t r = 0; r < 16; ++r) EXPECT_EQ(a.x_raw[r * 6 + 5], 0.0f);
  EXPECT_EQ(a.std[4], 0.0f);
  // Missing amount = volume * mean(o, h, l, c) in float64.
  KronosSeries s = from_csv(0, 16, {"open", "high", "low", "close", "volume"});
  PreparedSeries b = prepare_series(s, {}, 5.0);
  for (int64_t r = 0; r < 16; ++r) {
    const double m = (((s.columns["open"][r] + s.columns["high"][r]) + s.columns["low"][r]) + s.columns["close"][r]) / 4.0;
    EXPECT_EQ(b.x_raw[r * 6 + 5], static_cast<float>(s.columns["volume"][r] * m));
  }
}

TEST(KronosFeatures, PairwiseSumMatchesNumpyBlocking) {
  // Values where the summation order is visible in fp32.
  std::vector<float> x(300);
  for (size_t i = 0; i < x.size(); ++i) x[i] = (i % 3 == 0) ? 1e8f : 1.0f + static_cast<float>(i) * 1e-3f;
  // n < 8: sequential.
  float seq = 0;
  for (int i = 0; i < 7; ++i) seq += x[i];
  EXPECT_EQ(pairwise_sum_f32(x.data(), 7, 1), seq);
  // 8 <= n <= 128: eight partials combined pairwise, remainder sequential.
  float r[8];
  for (int j = 0; j < 8; ++j) r[j] = x[j];
  for (int i = 8; i < 96; i += 8)
    for (int j = 0; j < 8; ++j) r[j] += x[i + j];
  float want = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
  for (int i = 96; i < 100; ++i) want += x[i];
  EXPECT_EQ(pairwise_sum_f32(x.data(), 100, 1), want);
  // n > 128: split at n/2 rounded down to a multiple of 8.
  EXPECT_EQ(pairwise_sum_f32(x.data(), 300, 1), pairwise_sum_f32(x.data(), 144, 1) + pairwise_sum_f32(x.data() + 144, 156, 1));
}

TEST(KronosFeatures, TimeFeatures) {
  // 2024-06-17 was a Monday (weekday 0); 2024-06-23 a Sunday (6).
  auto f = time_features(parse_timestamp("2024-06-17 09:35:00"));
  EXPECT_EQ(f, (std::array<float, 5>{35, 9, 0, 17, 6}));
  f = time_features(parse_timestamp("2024-06-23 23:59:00"));
  EXPECT_EQ(f, (std::array<float, 5>{59, 23, 6, 23, 6}));
  f = time_features(parse_timestamp("2024-12-31 00:00:00"));
  EXPECT_EQ(f[3], 31);
  EXPECT_EQ(f[4], 12);
}

TEST(KronosFeatures, BadSeriesAreClearErrors) {
  const std::vector<std::string> all = {"open", "high", "low", "close", "volume", "amount"};
  KronosSeries s = from_csv(0, 10, all);
  auto nan = s;
  nan.columns["close"][3] = NAN;
  expect_error([&] { prepare_series(nan, {}, 5.0); }, "column 'close' holds NaN (a missing value) at row 3");
  auto inf = s;
  inf.columns["volume"][7] = INFINITY;
  expect_error([&] { prepare_series(inf, {}, 5.0); }, "column 'volume' holds an infinite value at row 7");
  auto unknown = s;
  unknown.columns["volumne"] = unknown.columns["volume"];
  expect_error([&] { prepare_series(unknown, {}, 5.0); }, "unknown column 'volumne'");
  auto noopen = s;
  noopen.columns.erase("open");
  expect_error([&] { prepare_series(noopen, {}, 5.0); }, "required column 'open' is missing");
  auto ragged = s;
  ragged.columns["high"].pop_back();
  expect_error([&] { prepare_series(ragged, {}, 5.0); }, "column 'high' has 9 values but 10 timestamps");
  KronosSeries empty;
  for (auto& c : all) empty.columns[c] = {};
  expect_error([&] { prepare_series(empty, {}, 5.0); }, "context is empty");
  expect_error([&] { prepare_series(s, {}, 0.0); }, "clip must be");
  auto huge = s;
  huge.columns["amount"][0] = 1e300;
  expect_error([&] { prepare_series(huge, {}, 5.0); }, "overflows float32");
}

}  // namespace
}  // namespace fcast::kronos
