#include "tools/calendar_flags.h"

#include "core/error.h"
#include "io/calendar.h"

namespace fcast::tools {

void add_calendar_flags(CLI::App* cmd, std::string& freq, std::string& future_file) {
  cmd->add_option("--freq", freq,
                  "Spacing of the future stamps, a pandas alias: D (days), B (business days), h, min, s, with an "
                  "optional count (15min, 4h); default auto: the series' own calendar (business days for daily bars "
                  "without weekends, the input's trading sessions for intraday bars with gaps, else its median "
                  "interval)");
  cmd->add_option("--future-timestamps", future_file,
                  "CSV whose time column gives the future stamps (its first rows, one per step); overrides --freq");
}

std::vector<int64_t> FutureStamps::wall() const {
  std::vector<int64_t> w(utc.size());
  for (size_t k = 0; k < utc.size(); ++k) w[k] = utc[k] + offset[k];
  return w;
}

FutureStamps future_stamps(const MarketTable& t, int64_t count, const std::string& freq, const std::string& future_file) {
  FutureStamps f;
  if (!future_file.empty()) {
    FCAST_CHECK(freq.empty(), "give --freq or --future-timestamps, not both");
    const MarketTable ft = read_market_csv(future_file);
    FCAST_CHECK(ft.rows() >= count, future_file, ": ", ft.rows(), " timestamps for ", count, " forecast steps");
    for (int64_t k = 0; k < count; ++k) {
      f.utc.push_back(ft.timestamps[k]);
      f.offset.push_back(ft.utc_offsets[k]);
    }
    FCAST_CHECK(count == 0 || f.utc.front() > t.timestamps.back(), future_file, ": the first future stamp does not ",
                "come after the last row of the input");
    f.style = ft.time_style;
    f.rule = cat("from ", future_file);
    return f;
  }
  FCAST_CHECK(t.rows() >= 1, t.path, ": no rows to continue");
  std::vector<int64_t> wall(static_cast<size_t>(t.rows()));
  for (int64_t k = 0; k < t.rows(); ++k) wall[static_cast<size_t>(k)] = t.timestamps[k] + t.utc_offsets[k];
  const int32_t off = t.utc_offsets.back();
  const std::vector<int64_t> next = continue_calendar(wall, count, parse_frequency(freq), &f.rule);
  bool whole_days = true;
  int64_t prev = wall.back();
  for (int64_t w : next) {
    whole_days = whole_days && (w - prev) % 86400 == 0;
    prev = w;
    f.utc.push_back(w - off);
    f.offset.push_back(off);
  }
  f.style = future_time_style(t.time_style, whole_days ? 86400 : 1);
  return f;
}

}  // namespace fcast::tools
