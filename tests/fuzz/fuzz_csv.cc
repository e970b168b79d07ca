// libFuzzer target: the market CSV reader (read_market_csv: tokenizer, header, time column,
// timestamps, order, symbols, numeric columns), without and with a symbol filter.
// Properties checked on accepted files: one value per row in every column, timestamps strictly
// ascending (the reader sorts or refuses), every timestamp written back by format_timestamp
// parses to the same instant, and the table helpers (column, median_interval, keep_last) work.
#include <algorithm>
#include <cstdint>
#include <string>

#include "fuzz_util.h"
#include "io/csv.h"

using namespace fcast;

namespace {

void check(const MarketTable& t) {
  const size_t rows = t.timestamps.size();
  if (t.utc_offsets.size() != rows) fuzz::finding("utc_offsets and timestamps differ in length");
  if (t.values.size() != t.columns.size()) fuzz::finding("values and columns differ in length");
  for (const auto& v : t.values)
    if (v.size() != rows) fuzz::finding("a column does not hold one value per row");
  for (size_t r = 1; r < rows; ++r)
    if (t.timestamps[r] <= t.timestamps[r - 1]) fuzz::finding("accepted timestamps are not strictly ascending");
  for (size_t r = 0; r < rows; ++r) {
    const std::string text = format_timestamp(t.timestamps[r], true, t.utc_offsets[r]);
    int64_t back = 0;
    try {
      back = parse_timestamp(text);
    } catch (const Error& e) {
      fuzz::finding("format_timestamp wrote '" + text + "', which does not parse: " + e.what());
    }
    if (back != t.timestamps[r]) fuzz::finding("format_timestamp wrote '" + text + "' for another instant");
  }
  for (const auto& c : t.columns) (void)t.column(c);
  (void)t.median_interval();
  MarketTable last = t;
  last.keep_last(3);
  if (last.rows() != static_cast<int64_t>(std::min<size_t>(rows, 3))) fuzz::finding("keep_last(3) kept another count");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = fuzz::scratch_file("bars.csv", data, size);
  fuzz::expect_clean_error([&] { check(read_market_csv(path, {})); });
  fuzz::expect_clean_error([&] { check(read_market_csv(path, CsvOptions{"A"})); });
  return 0;
}
