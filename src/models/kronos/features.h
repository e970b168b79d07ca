// KronosPredictor input preparation: column handling with the
// reference's quirks, per-series normalisation with numpy's pairwise float32 summation
// reproduced bit for bit, and the calendar time features.
//
//   KronosSeries s;  s.timestamps = ...;  s.columns["open"] = ...;  ... (open/high/low/close required)
//   PreparedSeries p = prepare_series(s, future_timestamps, /*clip=*/5.0);
#pragma once
#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace fcast::kronos {

// One input series. Timestamps are wall-clock seconds since 1970-01-01 (the local time the
// stamps are written in: time features use these fields as they are, like pandas' .dt on
// timezone-aware stamps). Column names: open, high, low, close (required), volume, amount.
struct KronosSeries {
  std::vector<int64_t> timestamps;
  std::map<std::string, std::vector<double>> columns;
  int64_t rows() const { return static_cast<int64_t>(timestamps.size()); }
};

constexpr int kFeatures = 6;     // open, high, low, close, volume, amount
constexpr int kTimeFeatures = 5; // minute, hour, weekday (Monday = 0), day, month
extern const char* const kFeatureNames[kFeatures];

struct PreparedSeries {
  int64_t context = 0, pred_len = 0;
  std::vector<float> x_raw;      // [L, 6] after column handling, cast to float32
  std::array<float, 6> mean{}, std{};
  std::vector<float> x_norm;     // [L, 6] (x - mean) / (std + 1e-5), clipped
  std::vector<float> x_stamp;    // [L, 5]
  std::vector<float> y_stamp;    // [P, 5]
  std::vector<int64_t> y_timestamps;
  std::vector<std::string> filled;  // notes on filled columns (for logs)
};

// Column handling (§5.1), normalisation (§5.2) and time features (§5.3). `label` names the
// series in errors. Errors: missing price columns, unknown column names, length mismatches,
// NaN/Inf values, empty context, non-positive clip.
PreparedSeries prepare_series(const KronosSeries& s, const std::vector<int64_t>& y_timestamps, double clip,
                              const std::string& label = "series");

// numpy's pairwise float32 sum of n values `stride` apart (numpy 1.24 pairwise_sum).
float pairwise_sum_f32(const float* x, int64_t n, int64_t stride);

// (minute, hour, weekday Monday = 0, day, month) of wall-clock seconds.
std::array<float, 5> time_features(int64_t wallclock_seconds);

}  // namespace fcast::kronos
