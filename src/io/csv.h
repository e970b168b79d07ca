// Market CSV reading (the layouts in tests/data/market): header names are case-insensitive,
// the time column is detected (date, timestamp, timestamps, time, datetime, ds), files sorted
// newest-first are reversed, long-format files with a `symbol` column are filtered by symbol.
//
//   CsvOptions o;  o.keep_last = 512;                 // the rows a forecast uses
//   MarketTable t = read_market_csv("MSTR.csv", o);
//   const std::vector<double>& close = t.column("close");
//
// The file is streamed: every row is checked (field count, timestamp, order, numeric cells) as
// it is read, but only the last `keep_last` rows of the series are kept, so memory follows the
// rows kept (times the numeric columns), not the file; time is linear in rows and columns.
// Pipes (`--input <(zcat bars.csv.gz)`) work as well as files.
//
// Errors (fcast::Error) name the file, line and column: missing file, no header, no time
// column, unparsable timestamp, a sub-second timestamp, a year outside 0001-9999, timestamps
// neither ascending nor descending, duplicate timestamps, several symbols without a symbol
// filter, a numeric column with text in it.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace fcast {

// How a file writes its timestamps, so that the stamps fcast writes back look the same:
// "2026-02-13", "2026-02-13 20:00", "2026-02-13T20:00:00Z", "2026-02-13 20:00:00.000000+00:00",
// epoch seconds (1771012800) or milliseconds (1771012800000).
struct TimeStyle {
  enum class Zone : uint8_t { Naive, Z, Offset };
  enum class Epoch : uint8_t { None, Seconds, Milliseconds };
  bool date_only = false;   // no time of day at all
  char separator = ' ';     // between date and time: ' ' or 'T'
  bool seconds = true;      // HH:MM:SS (false: HH:MM)
  int fraction_digits = 0;  // digits after the seconds (always zeros: stamps are whole seconds)
  Zone zone = Zone::Naive;  // Z, an explicit +HH:MM (even +00:00), or none
  Epoch epoch = Epoch::None;
};

struct MarketTable {
  std::string path;
  std::string time_column;                   // lower-cased name of the detected time column
  std::vector<std::string> columns;          // lower-cased numeric column names, in file order
  std::vector<std::vector<double>> values;   // values[c][row]; empty cells are NaN
  std::vector<int64_t> timestamps;           // seconds since 1970-01-01 (UTC; naive stamps taken as UTC)
  std::vector<int32_t> utc_offsets;          // the offset written in the file, seconds (0 if none)
  std::vector<int64_t> lines;                // the file line each row starts on (1-based)
  bool has_time_of_day = false;              // any stamp of the series (kept or not) with a non-midnight time
  TimeStyle time_style;                      // how the newest row writes its stamp (output stamps follow it)
  std::string symbol;                        // the selected symbol for long-format files ("" otherwise)

  int64_t rows() const { return static_cast<int64_t>(timestamps.size()); }
  bool has(const std::string& name) const;               // case-insensitive
  const std::vector<double>& column(const std::string& name) const;  // error listing the columns if absent
  int64_t median_interval() const;                       // median positive step in seconds (86400 if none)
  void keep_last(int64_t n);                             // drop all but the last n rows
  std::string where(int64_t row) const;                  // "FILE:LINE (TIMESTAMP)" for error messages
  // Throws, naming the file line, timestamp and column, at the first finite value of `name`
  // beyond float32 (|x| > 3.4e38): the models compute in float32, where it would be Inf.
  void check_float32_range(const std::string& name) const;
};

struct CsvOptions {
  std::string symbol;     // for long-format files with a symbol column; required if several symbols
  int64_t keep_last = 0;  // > 0: keep only the last N rows of the series (all are still checked); 0: all
  // The time column's name (case-insensitive); empty: the first column named date, timestamp,
  // timestamps, time, datetime, ds or ts, else an unnamed first column (a pandas index) whose
  // first cell is a date. Epoch seconds / milliseconds are read in a named time column only.
  std::string time_column = {};
};

MarketTable read_market_csv(const std::string& path, const CsvOptions& opt = {});
// The distinct symbols of a long-format file, in the order they first appear (empty cells name
// none); empty when the file has no symbol column (one series). Rows are not checked here: read_market_csv does that.
std::vector<std::string> market_csv_symbols(const std::string& path);

// Calendar helpers (proleptic Gregorian, UTC). fcast reads and writes whole seconds of the years
// 0001-9999 only: parse_timestamp rejects a non-zero fraction of a second and other years,
// format_timestamp throws rather than write a year outside them.
constexpr int64_t kFirstTimestamp = -62135596800;  // 0001-01-01 00:00:00
constexpr int64_t kLastTimestamp = 253402300799;   // 9999-12-31 23:59:59
// Throws on bad input. `style_out`: how the stamp is written. `allow_epoch`: an integer is epoch
// seconds (up to 11 digits) or milliseconds (12 or more; whole seconds only).
int64_t parse_timestamp(const std::string& s, int32_t* utc_offset_out = nullptr, TimeStyle* style_out = nullptr,
                        bool allow_epoch = false);
std::string format_timestamp(int64_t seconds, bool with_time, int32_t utc_offset = 0);
// `seconds` (UTC) written at `utc_offset` in `style`; a date-only style writes the time anyway
// when the stamp is not at midnight (an intraday step after daily stamps).
std::string format_timestamp(int64_t seconds, int32_t utc_offset, const TimeStyle& style);
// The style of stamps `step` seconds apart that continue a series written in `input`: the
// input's, with the time of day added when the step is not a whole number of days.
TimeStyle future_time_style(const TimeStyle& input, int64_t step);
// Throws unless the stamps last + k * step (k = 1..count, wall clock at utc_offset) stay inside the
// years 0001-9999; the message names `what`, the setting that asked for `count` steps.
void check_future_timestamps(int64_t last, int64_t step, int64_t count, int32_t utc_offset, const std::string& what);
struct CivilTime {
  int year, month, day, hour, minute, second, weekday;  // weekday: Monday = 0
};
CivilTime civil_from_seconds(int64_t seconds);

}  // namespace fcast
