#include "models/kronos/features.h"

#include <cmath>

#include "core/error.h"
#include "io/csv.h"

namespace fcast::kronos {

const char* const kFeatureNames[kFeatures] = {"open", "high", "low", "close", "volume", "amount"};

float pairwise_sum_f32(const float* a, int64_t n, int64_t stride) {
  if (n < 8) {
    float res = 0.0f;  // numpy starts from -0.0 only for empty input; 0 + x is exact otherwise
    for (int64_t i = 0; i < n; ++i) res += a[i * stride];
    return res;
  }
  if (n <= 128) {
    float r[8];
    for (int j = 0; j < 8; ++j) r[j] = a[j * stride];
    int64_t i = 8;
    for (; i < n - (n % 8); i += 8)
      for (int j = 0; j < 8; ++j) r[j] += a[(i + j) * stride];
    float res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
    for (; i < n; ++i) res += a[i * stride];
    return res;
  }
  int64_t n2 = n / 2;
  n2 -= n2 % 8;
  return pairwise_sum_f32(a, n2, stride) + pairwise_sum_f32(a + n2 * stride, n - n2, stride);
}

std::array<float, 5> time_features(int64_t s) {
  const CivilTime c = civil_from_seconds(s);
  return {static_cast<float>(c.minute), static_cast<float>(c.hour), static_cast<float>(c.weekday),
          static_cast<float>(c.day), static_cast<float>(c.month)};
}

PreparedSeries prepare_series(const KronosSeries& s, const std::vector<int64_t>& y_ts, double clip,
                              const std::string& label) {
  const int64_t L = s.rows();
  FCAST_CHECK(L >= 1, label, ": the context is empty (Kronos needs at least one row)");
  FCAST_CHECK(std::isfinite(clip) && clip > 0, label, ": clip must be a finite number > 0, got ", clip);
  for (auto& [name, col] : s.columns) {
    bool known = false;
    for (const char* f : kFeatureNames) known |= name == f;
    FCAST_CHECK(known, label, ": unknown column '", name, "'; Kronos reads open, high, low, close, volume and amount ",
                "(names are lower-case; drop or rename other columns)");
    FCAST_CHECK(static_cast<int64_t>(col.size()) == L, label, ": column '", name, "' has ", col.size(), " values but ",
                L, " timestamps");
  }
  for (int c = 0; c < 4; ++c)
    FCAST_CHECK(s.columns.count(kFeatureNames[c]), label, ": required column '", kFeatureNames[c],
                "' is missing; KronosPredictor needs open, high, low and close (volume and amount are optional)");

  PreparedSeries p;
  p.context = L;
  p.pred_len = static_cast<int64_t>(y_ts.size());
  // §5.1: work in float64 (the DataFrame dtype), then cast to float32.
  std::vector<std::vector<double>> cols(kFeatures);
  for (int c = 0; c < 4; ++c) cols[c] = s.columns.at(kFeatureNames[c]);
  if (!s.columns.count("volume")) {
    // Reference quirk: a missing volume zeroes both volume and amount, even a given amount.
    cols[4].assign(L, 0.0);
    cols[5].assign(L, 0.0);
    p.filled.push_back(s.columns.count("amount") ? "volume missing: volume = 0 and the given amount overwritten with 0 (reference quirk)"
                                                  : "volume and amount missing: both set to 0");
  } else {
    cols[4] = s.columns.at("volume");
    if (s.columns.count("amount")) {
      cols[5] = s.columns.at("amount");
    } else {
      cols[5].resize(L);
      for (int64_t r = 0; r < L; ++r)
        cols[5][r] = cols[4][r] * ((((cols[0][r] + cols[1][r]) + cols[2][r]) + cols[3][r]) / 4.0);
      p.filled.push_back("amount missing: amount = volume * mean(open, high, low, close)");
    }
  }
  for (int c = 0; c < kFeatures; ++c)
    for (int64_t r = 0; r < L; ++r)
      FCAST_CHECK(std::isfinite(cols[c][r]), label, ": column '", kFeatureNames[c], "' holds ",
                  std::isnan(cols[c][r]) ? "NaN (a missing value)" : "an infinite value", " at row ", r,
                  "; fill or drop that row before forecasting");
  p.x_raw.resize(L * kFeatures);
  for (int64_t r = 0; r < L; ++r)
    for (int c = 0; c < kFeatures; ++c) {
      const float v = static_cast<float>(cols[c][r]);
      FCAST_CHECK(std::isfinite(v), label, ": column '", kFeatureNames[c], "' value ", cols[c][r], " at row ", r,
                  " overflows float32");
      p.x_raw[r * kFeatures + c] = v;
    }

  // §5.2: numpy float32 mean / population std with pairwise sums; every step rounded to fp32.
  const float n = static_cast<float>(L);
  std::vector<float> sq(L);
  for (int c = 0; c < kFeatures; ++c) {
    const float mean = pairwise_sum_f32(p.x_raw.data() + c, L, kFeatures) / n;
    for (int64_t r = 0; r < L; ++r) {
      const float d = p.x_raw[r * kFeatures + c] - mean;
      sq[r] = d * d;
    }
    const float var = pairwise_sum_f32(sq.data(), L, 1) / n;
    p.mean[c] = mean;
    p.std[c] = std::sqrt(var);
    FCAST_CHECK(std::isfinite(p.mean[c]) && std::isfinite(p.std[c]), label, ": column '", kFeatureNames[c],
                "' is too large for float32 statistics (mean ", p.mean[c], ", std ", p.std[c], ")");
  }
  const float lo = static_cast<float>(-clip), hi = static_cast<float>(clip);
  p.x_norm.resize(L * kFeatures);
  for (int64_t r = 0; r < L; ++r)
    for (int c = 0; c < kFeatures; ++c) {
      const float denom = p.std[c] + 1e-5f;
      float v = (p.x_raw[r * kFeatures + c] - p.mean[c]) / denom;
      v = v < lo ? lo : (v > hi ? hi : v);
      p.x_norm[r * kFeatures + c] = v;
    }

  p.x_stamp.resize(L * kTimeFeatures);
  for (int64_t r = 0; r < L; ++r) {
    auto f = time_features(s.timestamps[r]);
    std::copy(f.begin(), f.end(), p.x_stamp.begin() + r * kTimeFeatures);
  }
  p.y_timestamps = y_ts;
  p.y_stamp.resize(y_ts.size() * kTimeFeatures);
  for (size_t r = 0; r < y_ts.size(); ++r) {
    auto f = time_features(y_ts[r]);
    std::copy(f.begin(), f.end(), p.y_stamp.begin() + r * kTimeFeatures);
  }
  return p;
}

}  // namespace fcast::kronos
