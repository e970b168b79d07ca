// Market CSV reading (the layouts in tests/data/market): header names are case-insensitive,
// the time column is detected (date, timestamp, timestamps, time, datetime, ds), files sorted
// newest-first are reversed, long-format files with a `symbol` column are filtered by symbol.
//
//   MarketTable t = read_market_csv("MSTR.csv", {});
//   const std::vector<double>& close = t.column("close");
//
// Errors (fcast::Error) name the file, line and column: missing file, no header, no time
// column, unparsable timestamp, timestamps neither ascending nor descending, duplicate
// timestamps, several symbols without a symbol filter, a numeric column with text in it.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace fcast {

struct MarketTable {
  std::string path;
  std::string time_column;                   // lower-cased name of the detected time column
  std::vector<std::string> columns;          // lower-cased numeric column names, in file order
  std::vector<std::vector<double>> values;   // values[c][row]; empty cells are NaN
  std::vector<int64_t> timestamps;           // seconds since 1970-01-01 (UTC; naive stamps taken as UTC)
  std::vector<int32_t> utc_offsets;          // the offset written in the file, seconds (0 if none)
  bool has_time_of_day = false;              // any stamp with a non-midnight time
  std::string symbol;                        // the selected symbol for long-format files ("" otherwise)

  int64_t rows() const { return static_cast<int64_t>(timestamps.size()); }
  bool has(const std::string& name) const;               // case-insensitive
  const std::vector<double>& column(const std::string& name) const;  // error listing the columns if absent
  int64_t median_interval() const;                       // median positive step in seconds (86400 if none)
  void keep_last(int64_t n);                             // drop all but the last n rows
};

struct CsvOptions {
  std::string symbol;   // for long-format files with a symbol column; required if several symbols
};

MarketTable read_market_csv(const std::string& path, const CsvOptions& opt = {});

// Calendar helpers (proleptic Gregorian, UTC).
int64_t parse_timestamp(const std::string& s, int32_t* utc_offset_out = nullptr);  // throws on bad input
std::string format_timestamp(int64_t seconds, bool with_time, int32_t utc_offset = 0);
struct CivilTime {
  int year, month, day, hour, minute, second, weekday;  // weekday: Monday = 0
};
CivilTime civil_from_seconds(int64_t seconds);

}  // namespace fcast
