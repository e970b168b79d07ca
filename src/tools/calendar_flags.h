// The future stamps of a forecast made from a market CSV, shared by every `fcast predict`:
// `--freq ALIAS` (pandas: D, B, h, min, s with an optional count; default: the series' own
// calendar, io/calendar.h) or `--future-timestamps FILE` (a CSV whose time column gives them).
#pragma once
#include <CLI/CLI.hpp>
#include <cstdint>
#include <string>
#include <vector>

#include "io/csv.h"

namespace fcast::tools {

void add_calendar_flags(CLI::App* cmd, std::string& freq, std::string& future_file);

struct FutureStamps {
  std::vector<int64_t> utc;     // one per step
  std::vector<int32_t> offset;  // UTC offset each is written with
  TimeStyle style;              // how they are written (the input's form)
  std::string rule;             // which calendar gave them, in words
  std::vector<int64_t> wall() const;  // utc + offset
};

// `count` stamps after the last row of `t`. Errors name the flag: a bad alias, a future file
// with too few stamps, stamps past 9999-12-31.
FutureStamps future_stamps(const MarketTable& t, int64_t count, const std::string& freq, const std::string& future_file);

}  // namespace fcast::tools
