// Market CSV reader: every file in tests/data/market, the calendar helpers, and every error
// path on small temporary files.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include "core/error.h"
#include "io/csv.h"

namespace fcast {
namespace {

namespace fs = std::filesystem;

const std::string kMarket = std::string(FCAST_TEST_DATA) + "/market/";
const std::string kSelector =
    kMarket + "selector_sim_crypto5_mixed7_epoch003_lag1_eval90d_baseactions_int1_realistic_20260211/bars.csv";
const std::string kHourlyStocks =
    kMarket + "hourly_trader_sim_stock_only_mixed14_e004_20260214_eval30d_portfolio/bars.csv";

// A temporary CSV file, removed at the end of the test.
class TempCsv {
 public:
  explicit TempCsv(const std::string& content) {
    static int counter = 0;
    path_ = (fs::temp_directory_path() / ("fcast_csv_test_" + std::to_string(::getpid()) + "_" +
                                          std::to_string(counter++) + ".csv"))
                .string();
    std::ofstream(path_, std::ios::binary) << content;
  }
  ~TempCsv() {
    std::error_code ec;
    fs::remove(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// Runs `f`, expects an fcast::Error whose message contains every piece of `parts`.
void expect_error(const std::function<void()>& f, const std::vector<std::string>& parts) {
  try {
    f();
  } catch (const Error& e) {
    const std::string msg = e.what();
    for (const auto& p : parts) EXPECT_NE(msg.find(p), std::string::npos) << "message: " << msg << "\nmissing: " << p;
    return;
  }
  ADD_FAILURE() << "expected an fcast::Error";
}

MarketTable read_text(const std::string& text, const CsvOptions& o = {}) {
  TempCsv f(text);
  return read_market_csv(f.path(), o);
}

void expect_csv_error(const std::string& text, const std::vector<std::string>& parts, const CsvOptions& o = {}) {
  TempCsv f(text);
  std::vector<std::string> all = parts;
  all.push_back(f.path());  // every message names the file
  expect_error([&] { read_market_csv(f.path(), o); }, all);
}

CsvOptions keep(int64_t rows) {
  CsvOptions o;
  o.keep_last = rows;
  return o;
}

std::string day(const MarketTable& t, int64_t row) { return format_timestamp(t.timestamps.at(row), false); }

// ---- calendar helpers ----

TEST(Timestamp, DateOnly) {
  EXPECT_EQ(parse_timestamp("1970-01-01"), 0);
  EXPECT_EQ(parse_timestamp("2000-03-01"), 951868800);
  EXPECT_EQ(parse_timestamp("1969-12-31"), -86400);
  EXPECT_EQ(parse_timestamp("2024-02-29"), 1709164800);
}

TEST(Timestamp, TimeFractionAndOffset) {
  int32_t off = 123;
  EXPECT_EQ(parse_timestamp("2024-01-01 00:00:00+00:00", &off), 1704067200);
  EXPECT_EQ(off, 0);
  EXPECT_EQ(parse_timestamp("2024-01-01 10:30"), 1704067200 + 10 * 3600 + 30 * 60);
  EXPECT_EQ(parse_timestamp("2024-01-01T10:30:15Z"), 1704067200 + 10 * 3600 + 30 * 60 + 15);
  EXPECT_EQ(parse_timestamp("2021-11-21 14:37:52.000000"), parse_timestamp("2021-11-21 14:37:52"));
  EXPECT_EQ(parse_timestamp("2024-01-01 09:30:00-05:00", &off), 1704067200 + 14 * 3600 + 30 * 60);
  EXPECT_EQ(off, -5 * 3600);
  EXPECT_EQ(parse_timestamp("2024-01-01 05:30:00+05:30", &off), 1704067200);
  EXPECT_EQ(off, 5 * 3600 + 30 * 60);
  EXPECT_EQ(parse_timestamp("  2024-01-01  "), 1704067200);
}

TEST(Timestamp, RejectsBadInput) {
  for (const char* s : {"", "2024", "2024-13-01", "2024-02-30", "2023-02-29", "24-01-01", "2024-01-01 25:00",
                        "2024-01-01 10:60", "2024-01-01 10:00:00 junk", "2024/01/01", "yesterday",
                        "2024-01-01 10:00:00.", "2024-01-01 10:00+5"})
    expect_error([&] { parse_timestamp(s); }, {"cannot parse timestamp"});
}

TEST(Timestamp, CivilAndFormatRoundTrip) {
  const CivilTime c = civil_from_seconds(parse_timestamp("2026-02-10 23:05:09"));
  EXPECT_EQ(c.year, 2026);
  EXPECT_EQ(c.month, 2);
  EXPECT_EQ(c.day, 10);
  EXPECT_EQ(c.hour, 23);
  EXPECT_EQ(c.minute, 5);
  EXPECT_EQ(c.second, 9);
  EXPECT_EQ(c.weekday, 1);  // a Tuesday
  EXPECT_EQ(civil_from_seconds(0).weekday, 3);        // Thursday
  EXPECT_EQ(civil_from_seconds(-86400).weekday, 2);   // Wednesday 1969-12-31
  EXPECT_EQ(civil_from_seconds(-1).hour, 23);
  EXPECT_EQ(civil_from_seconds(-1).day, 31);
  // Every day over four centuries (covers leap years and century rules).
  for (int64_t d = -400 * 366; d < 400 * 366; d += 17) {
    const std::string s = format_timestamp(d * 86400 + 3661, true);
    EXPECT_EQ(parse_timestamp(s), d * 86400 + 3661) << s;
  }
  EXPECT_EQ(format_timestamp(parse_timestamp("1980-12-12"), false), "1980-12-12");
  EXPECT_EQ(format_timestamp(parse_timestamp("2026-02-10 23:00:00"), true), "2026-02-10 23:00:00");
  int32_t off = 0;
  const int64_t ts = parse_timestamp("2024-01-01 09:30:00-05:00", &off);
  EXPECT_EQ(format_timestamp(ts, true, off), "2024-01-01 09:30:00-05:00");
  EXPECT_EQ(format_timestamp(ts, false, off), "2024-01-01");
}

// ---- the real market files ----

TEST(MarketCsv, Mstr) {
  MarketTable t = read_market_csv(kMarket + "MSTR.csv");
  EXPECT_EQ(t.rows(), 1560);
  EXPECT_EQ(t.time_column, "date");
  EXPECT_EQ(t.columns, (std::vector<std::string>{"close", "high", "low", "open", "volume"}));
  EXPECT_EQ(day(t, 0), "2020-01-02");
  EXPECT_EQ(day(t, t.rows() - 1), "2026-03-18");
  EXPECT_DOUBLE_EQ(t.column("close")[0], 14.430999755859375);
  EXPECT_DOUBLE_EQ(t.column("CLOSE")[0], 14.430999755859375);  // case-insensitive
  EXPECT_TRUE(t.has("Volume"));
  EXPECT_FALSE(t.has_time_of_day);
  EXPECT_EQ(t.median_interval(), 86400);
  EXPECT_EQ(t.symbol, "");
  for (const auto& col : t.values)
    for (double v : col) EXPECT_TRUE(std::isfinite(v));
}

TEST(MarketCsv, WikiAaplNewestFirstIsReversed) {
  MarketTable t = read_market_csv(kMarket + "WIKI-AAPL.csv");
  EXPECT_EQ(t.rows(), 9400);
  EXPECT_EQ(t.columns.size(), 12u);
  EXPECT_EQ(t.columns.front(), "open");
  EXPECT_TRUE(t.has("Adj. Close"));
  EXPECT_TRUE(t.has("split ratio"));
  EXPECT_EQ(day(t, 0), "1980-12-12");
  EXPECT_EQ(day(t, t.rows() - 1), "2018-03-27");
  EXPECT_DOUBLE_EQ(t.column("close")[0], 28.75);
  EXPECT_DOUBLE_EQ(t.column("close").back(), 168.34);
  for (int64_t r = 1; r < t.rows(); ++r) ASSERT_LT(t.timestamps[r - 1], t.timestamps[r]);
  EXPECT_EQ(t.median_interval(), 86400);
}

TEST(MarketCsv, TslaYahooLayout) {
  MarketTable t = read_market_csv(kMarket + "TSLA-2021-11-21 14:37:52.060172.csv");
  EXPECT_EQ(t.rows(), 1231);
  EXPECT_EQ(t.columns, (std::vector<std::string>{"high", "low", "open", "close", "volume", "adj close"}));
  EXPECT_EQ(day(t, 0), "2017-01-03");
  EXPECT_EQ(day(t, t.rows() - 1), "2021-11-19");
  EXPECT_DOUBLE_EQ(t.column("Close")[0], 43.39799880981445);
}

TEST(MarketCsv, SuiUsdtSingleSymbolLongFormat) {
  MarketTable t = read_market_csv(kMarket + "SUIUSDT.csv");
  EXPECT_EQ(t.rows(), 781);
  EXPECT_EQ(t.time_column, "timestamp");
  EXPECT_EQ(t.symbol, "SUIUSDT");  // the only symbol is chosen without a filter
  EXPECT_FALSE(t.has("symbol"));   // text columns are not numeric columns
  EXPECT_EQ(t.columns,
            (std::vector<std::string>{"open", "high", "low", "close", "volume", "trade_count", "vwap"}));
  EXPECT_FALSE(t.has_time_of_day);  // 00:00:00+00:00 stamps are daily data
  EXPECT_EQ(day(t, 0), "2024-01-01");
  EXPECT_EQ(day(t, t.rows() - 1), "2026-02-19");
  for (int64_t r = 1; r < t.rows(); ++r) ASSERT_EQ(t.timestamps[r] - t.timestamps[r - 1], 86400);
  EXPECT_EQ(read_market_csv(kMarket + "SUIUSDT.csv", {"suiusdt"}).rows(), 781);
}

TEST(MarketCsv, SelectorCryptoNeedsSymbol) {
  expect_error([] { read_market_csv(kSelector); },
               {"5 symbols", "--symbol", "BTCUSD, ETHUSD, LINKUSD, SOLUSD, UNIUSD"});
  MarketTable btc = read_market_csv(kSelector, {"BTCUSD"});
  EXPECT_EQ(btc.symbol, "BTCUSD");
  EXPECT_EQ(btc.rows(), 1808);
  EXPECT_TRUE(btc.has_time_of_day);
  EXPECT_EQ(btc.median_interval(), 3600);
  EXPECT_FALSE(btc.has("open"));
  EXPECT_TRUE(btc.has("predicted_close_p50_h1"));
  EXPECT_EQ(format_timestamp(btc.timestamps.front(), true), "2025-11-27 16:00:00");
  EXPECT_EQ(format_timestamp(btc.timestamps.back(), true), "2026-02-10 23:00:00");
  EXPECT_DOUBLE_EQ(btc.column("close")[0], 91476.56);
  MarketTable uni = read_market_csv(kSelector, {"uniusd"});
  EXPECT_EQ(uni.symbol, "UNIUSD");
  EXPECT_EQ(uni.rows(), 1808);
  EXPECT_EQ(format_timestamp(uni.timestamps.front(), true), "2025-11-27 01:00:00");
  expect_error([] { read_market_csv(kSelector, {"DOGEUSD"}); }, {"DOGEUSD", "not in the file", "BTCUSD, ETHUSD"});
}

TEST(MarketCsv, HourlyStocksIrregularSteps) {
  expect_error([] { read_market_csv(kHourlyStocks); }, {"13 symbols", "AAPL", "YELP"});
  MarketTable t = read_market_csv(kHourlyStocks, {"AAPL"});
  EXPECT_EQ(t.rows(), 176);
  EXPECT_EQ(t.columns, (std::vector<std::string>{"high", "low", "close"}));
  EXPECT_EQ(t.median_interval(), 3600);
  EXPECT_EQ(format_timestamp(t.timestamps.front(), true), "2026-01-15 14:00:00");
  int64_t gaps = 0;
  for (int64_t r = 1; r < t.rows(); ++r) gaps += t.timestamps[r] - t.timestamps[r - 1] > 3600;
  EXPECT_GT(gaps, 0);  // overnight and weekend gaps
  for (const char* s : {"AMZN", "DBX", "GOOG", "META", "MSFT", "NET", "NVDA", "NYT", "PLTR", "TRIP", "TSLA", "YELP"}) {
    MarketTable u = read_market_csv(kHourlyStocks, {s});
    EXPECT_GE(u.rows(), 126) << s;
    EXPECT_LE(u.rows(), 182) << s;
  }
}

TEST(MarketCsv, KeepLastAndMedianInterval) {
  MarketTable t = read_market_csv(kMarket + "MSTR.csv");
  const double last = t.column("close").back();
  const int64_t last_ts = t.timestamps.back();
  t.keep_last(512);
  EXPECT_EQ(t.rows(), 512);
  EXPECT_EQ(t.column("close").size(), 512u);
  EXPECT_EQ(t.utc_offsets.size(), 512u);
  EXPECT_DOUBLE_EQ(t.column("close").back(), last);
  EXPECT_EQ(t.timestamps.back(), last_ts);
  t.keep_last(100000);
  EXPECT_EQ(t.rows(), 512);
  t.keep_last(1);
  EXPECT_EQ(t.rows(), 1);
  EXPECT_EQ(t.median_interval(), 86400);  // no step: the default
  expect_error([&] { t.keep_last(-1); }, {"non-negative"});
  expect_error([&] { t.column("adj close"); }, {"adj close", "available columns", "close, high, low, open, volume"});
}

// ---- small files: accepted variants ----

TEST(MarketCsv, QuotesCrlfBomAndEmptyCells) {
  MarketTable t = read_text(
      "\xEF\xBB\xBF\"Date\",\"Close\",\"Note\",Volume\r\n"
      "2024-01-01,\"1.5\",\"hello, world\",10\r\n"
      "2024-01-02,,\"say \"\"hi\"\"\",\r\n"
      "\r\n"
      "2024-01-03,2.5,\"two\nlines\",NaN\r\n");
  EXPECT_EQ(t.time_column, "date");
  EXPECT_EQ(t.columns, (std::vector<std::string>{"close", "volume"}));  // "note" is text
  ASSERT_EQ(t.rows(), 3);
  EXPECT_DOUBLE_EQ(t.column("close")[0], 1.5);
  EXPECT_TRUE(std::isnan(t.column("close")[1]));
  EXPECT_DOUBLE_EQ(t.column("close")[2], 2.5);
  EXPECT_TRUE(std::isnan(t.column("volume")[1]));
  EXPECT_TRUE(std::isnan(t.column("volume")[2]));
  EXPECT_FALSE(t.has_time_of_day);
}

TEST(MarketCsv, OffsetsAreRememberedAndConvertedToUtc) {
  MarketTable t = read_text(
      "datetime,close\n"
      "2024-01-02 09:30:00-05:00,1\n"
      "2024-01-02 10:30:00-05:00,2\n"
      "2024-01-02 11:30:00-05:00,3\n");
  EXPECT_EQ(t.time_column, "datetime");
  EXPECT_EQ(t.timestamps[0], parse_timestamp("2024-01-02 14:30:00"));
  EXPECT_EQ(t.utc_offsets[0], -5 * 3600);
  EXPECT_TRUE(t.has_time_of_day);
  EXPECT_EQ(t.median_interval(), 3600);
  EXPECT_EQ(format_timestamp(t.timestamps[2], true, t.utc_offsets[2]), "2024-01-02 11:30:00-05:00");
}

TEST(MarketCsv, OtherTimeColumnNamesAndMinutes) {
  for (const char* name : {"ds", "Time", "TIMESTAMPS", "DateTime"}) {
    MarketTable t = read_text(std::string(name) + ",y\n2024-01-01 00:00,1\n2024-01-01 00:05,2\n");
    EXPECT_EQ(t.rows(), 2) << name;
    EXPECT_EQ(t.median_interval(), 300) << name;
    EXPECT_TRUE(t.has_time_of_day) << name;
  }
}

TEST(MarketCsv, DescendingIsReversed) {
  MarketTable t = read_text("Date,Close\n2024-01-03,3\n2024-01-02,2\n2024-01-01,1\n");
  EXPECT_EQ(t.column("close"), (std::vector<double>{1, 2, 3}));
  EXPECT_EQ(day(t, 0), "2024-01-01");
}

TEST(MarketCsv, SymbolFilterKeepsOrderPerSymbol) {
  const std::string text =
      "timestamp,symbol,close\n"
      "2024-01-01,AAA,1\n2024-01-02,AAA,2\n"
      "2024-01-01,BBB,10\n2024-01-02,BBB,20\n2024-01-03,BBB,30\n";
  MarketTable b = read_text(text, {"BBB"});
  EXPECT_EQ(b.symbol, "BBB");
  EXPECT_EQ(b.column("close"), (std::vector<double>{10, 20, 30}));
  expect_csv_error(text, {"2 symbols", "AAA, BBB", "--symbol"});
}

// ---- error paths ----

TEST(MarketCsvErrors, MissingFile) {
  expect_error([] { read_market_csv(kMarket); }, {"is a directory"});
  expect_error([] { read_market_csv("/nonexistent/dir/prices.csv"); }, {"/nonexistent/dir/prices.csv", "does not exist"});
}

TEST(MarketCsvErrors, EmptyAndHeaderOnly) {
  expect_csv_error("", {"empty"});
  expect_csv_error("\xEF\xBB\xBF\r\n\r\n", {"empty"});
  expect_csv_error("Date,Close\n", {"no data rows", "date, close"});
}

TEST(MarketCsvErrors, NoTimeColumn) { expect_csv_error("when,close\n2024-01-01,1\n", {"no time column", "when, close"}); }

TEST(MarketCsvErrors, BadTimestampNamesLine) {
  expect_csv_error("Date,Close\n2024-01-01,1\n2024-13-02,2\n", {":3:", "2024-13-02", "month out of range"});
  expect_csv_error("Date,Close\n2024-01-01,1\n,2\n", {":3:", "empty timestamp"});
}

TEST(MarketCsvErrors, UnorderedNamesLine) {
  expect_csv_error("Date,Close\n2024-01-01,1\n2024-01-03,2\n2024-01-02,3\n",
                   {":4:", "neither ascending nor descending", "2024-01-02", "line 3"});
}

TEST(MarketCsvErrors, DuplicateNamesBothLines) {
  expect_csv_error("Date,Close\n2024-01-01,1\n2024-01-02,2\n2024-01-03,3\n2024-01-02,4\n",
                   {"duplicate timestamp", "2024-01-02", "lines 3 and 5"});
  // The same instant written with different offsets is a duplicate too.
  expect_csv_error("timestamp,close\n2024-01-01 10:00:00+00:00,1\n2024-01-01 11:00:00+01:00,2\n",
                   {"duplicate timestamp", "lines 2 and 3"});
}

TEST(MarketCsvErrors, TextInNumericColumn) {
  expect_csv_error("Date,Close,Volume\n2024-01-01,1,5\n2024-01-02,1.2.3,6\n2024-01-03,3,7\n",
                   {":3:", "column 'close'", "'1.2.3'"});
  expect_csv_error("Date,Close\n2024-01-01,12abc\n2024-01-02,2\n", {":2:", "column 'close'", "'12abc'"});
}

TEST(MarketCsvErrors, RaggedRow) {
  expect_csv_error("Date,Close,Open\n2024-01-01,1,1\n2024-01-02,2\n", {":3:", "expected 3 fields", "found 2"});
}

TEST(MarketCsvErrors, UnclosedQuote) {
  expect_csv_error("Date,Close\n2024-01-01,\"1\n2024-01-02,2\n", {":2:", "quoted field is not closed"});
}

TEST(MarketCsvErrors, DuplicateHeaderName) {
  expect_csv_error("Date,Close,close\n2024-01-01,1,2\n", {"'close' twice"});
}

TEST(MarketCsvErrors, SymbolWithoutSymbolColumn) {
  expect_csv_error("Date,Close\n2024-01-01,1\n", {"no symbol column"}, {"MSTR"});
}

TEST(MarketCsvErrors, BinaryFile) {
  expect_csv_error(std::string("Date,Close\n\0\1\2", 14), {"NUL bytes"});
}

// ---- timestamps: whole seconds of the years 0001-9999 (hardening findings 7) ----

TEST(Timestamp, SubSecondStampsAreRejectedNotTruncated) {
  // Truncated, these two rows were "duplicates" naming two different stamps.
  expect_csv_error("timestamp,close\n2024-01-01 10:00:00.1,1\n2024-01-01 10:00:00.5,2\n",
                   {":2:", "'2024-01-01 10:00:00.1'", "fraction of a second", "whole seconds"});
  expect_error([] { parse_timestamp("2021-11-21 14:37:52.060172"); }, {"fraction of a second"});
  // A zero fraction (as pandas writes whole seconds) is fine.
  EXPECT_EQ(parse_timestamp("2024-01-01 10:00:00.000"), parse_timestamp("2024-01-01 10:00:00"));
  MarketTable t = read_text("timestamp,close\n2024-01-01 10:00:00.0,1\n2024-01-01 10:00:01.000000000,2\n");
  EXPECT_EQ(t.timestamps[1] - t.timestamps[0], 1);
}

TEST(Timestamp, YearsOutside0001To9999AreRejected) {
  expect_error([] { parse_timestamp("0000-06-01"); }, {"cannot parse timestamp", "0001-9999"});
  expect_error([] { parse_timestamp("10000-01-01"); }, {"cannot parse timestamp", "0001-9999"});
  expect_csv_error("date,close\n9999-12-30,1\n10000-01-01,2\n", {":3:", "'10000-01-01'", "0001-9999"});
  EXPECT_EQ(parse_timestamp("0001-01-01"), kFirstTimestamp);
  EXPECT_EQ(parse_timestamp("9999-12-31 23:59:59"), kLastTimestamp);
  EXPECT_EQ(format_timestamp(kLastTimestamp, true), "9999-12-31 23:59:59");
  EXPECT_EQ(format_timestamp(kFirstTimestamp, false), "0001-01-01");
  // Never a five-digit (or negative) year on output.
  expect_error([] { format_timestamp(kLastTimestamp + 1, true); }, {"outside the years 0001-9999"});
  expect_error([] { format_timestamp(kFirstTimestamp - 1, false); }, {"outside the years 0001-9999"});
  // The wall clock decides: 23:30 at -01:00 on 9999-12-31 is 10000-01-01 in UTC but writes fine.
  int32_t off = 0;
  const int64_t late = parse_timestamp("9999-12-31 23:30:00-01:00", &off);
  EXPECT_GT(late, kLastTimestamp);
  EXPECT_EQ(format_timestamp(late, true, off), "9999-12-31 23:30:00-01:00");
}

TEST(Timestamp, FutureStampsPast9999AreAnError) {
  const int64_t last = parse_timestamp("9999-12-20");
  EXPECT_NO_THROW(check_future_timestamps(last, 86400, 11, 0, "--prediction-length"));
  expect_error([&] { check_future_timestamps(last, 86400, 12, 0, "--prediction-length"); },
               {"--prediction-length 12", "9999-12-31", "only 11 steps fit"});
  // No overflow for absurd counts or steps.
  expect_error([&] { check_future_timestamps(last, 86400, int64_t{1} << 62, 0, "--pred-len"); }, {"--pred-len"});
  expect_error([&] { check_future_timestamps(0, int64_t{1} << 62, 2, 0, "--pred-len"); }, {"only 0 steps fit"});
}

// ---- streaming: only the rows asked for are kept, every row is checked (finding 4) ----

TEST(MarketCsvStreaming, KeepLastEqualsReadingWholeThenKeeping) {
  for (const std::string& file : {kMarket + "MSTR.csv", kMarket + "WIKI-AAPL.csv", kMarket + "SUIUSDT.csv"})
    for (int64_t n : {1, 2, 7, 512, 100000}) {
      MarketTable whole = read_market_csv(file);
      whole.keep_last(n);
      const MarketTable kept = read_market_csv(file, keep(n));
      EXPECT_EQ(kept.rows(), whole.rows()) << file << " " << n;
      EXPECT_EQ(kept.timestamps, whole.timestamps) << file << " " << n;
      EXPECT_EQ(kept.utc_offsets, whole.utc_offsets) << file << " " << n;
      EXPECT_EQ(kept.lines, whole.lines) << file << " " << n;
      EXPECT_EQ(kept.columns, whole.columns) << file << " " << n;
      ASSERT_EQ(kept.values.size(), whole.values.size());
      for (size_t c = 0; c < kept.values.size(); ++c)
        for (int64_t r = 0; r < kept.rows(); ++r)
          EXPECT_TRUE(kept.values[c][r] == whole.values[c][r] ||
                      (std::isnan(kept.values[c][r]) && std::isnan(whole.values[c][r])));
      EXPECT_EQ(kept.has_time_of_day, whole.has_time_of_day);
    }
  MarketTable btc = read_market_csv(kSelector, CsvOptions{"BTCUSD", 3});
  EXPECT_EQ(btc.rows(), 3);
  EXPECT_EQ(format_timestamp(btc.timestamps.back(), true), "2026-02-10 23:00:00");
  expect_error([] { read_market_csv(kSelector, keep(3)); }, {"5 symbols"});
}

TEST(MarketCsvStreaming, LinesAndWholeSeriesFlags) {
  // WIKI-AAPL is newest first: its first data line (2) is the newest row.
  MarketTable t = read_market_csv(kMarket + "WIKI-AAPL.csv", keep(2));
  EXPECT_EQ(t.lines, (std::vector<int64_t>{3, 2}));
  // The time of day is judged on the whole series, not only the rows kept.
  MarketTable d = read_text("date,close\n2024-01-01 10:00,1\n2024-01-02,2\n2024-01-03,3\n", keep(2));
  EXPECT_TRUE(d.has_time_of_day);
  EXPECT_EQ(d.lines, (std::vector<int64_t>{3, 4}));
  EXPECT_NE(d.where(0).find(":3 (2024-01-02 00:00:00)"), std::string::npos) << d.where(0);
}

TEST(MarketCsvStreaming, RowsNotKeptAreStillChecked) {
  const CsvOptions keep1 = keep(1);
  expect_csv_error("Date,Close\n2024-01-01,1\n2024-13-02,2\n2024-01-03,3\n", {":3:", "month out of range"}, keep1);
  expect_csv_error("Date,Close\n2024-01-01,x1\n2024-01-02,2\n2024-01-03,3\n", {":2:", "column 'close'", "'x1'"}, keep1);
  expect_csv_error("Date,Close\n2024-01-01,1\n2024-01-02\n2024-01-03,3\n", {":3:", "expected 2 fields"}, keep1);
  expect_csv_error("Date,Close\n2024-01-01,1\n2024-01-02,2\n2024-01-03,3\n2024-01-02,4\n2024-01-05,5\n",
                   {"duplicate timestamp", "lines 3 and 5"}, keep1);
  expect_csv_error("Date,Close\n2024-01-03,3\n2024-01-02,2\n2024-01-04,4\n",
                   {":4:", "neither ascending nor descending", "started descending"}, keep1);
  // Error precedence as for a whole-file check: the structure first, then the symbol choice.
  expect_csv_error("Date,Close\n2024-13-01,1\n2024-01-02\n", {":3:", "expected 2 fields"}, keep1);
  expect_csv_error("Date,Symbol,Close\n2024-13-01,A,1\n2024-01-01,B,2\n", {"2 symbols", "A, B"}, keep1);
}

TEST(MarketCsvStreaming, RangeCheckNamesLineAndColumn) {
  MarketTable t = read_text("date,close,volume\n2024-01-01,1,5\n2024-01-02,1e300,6\n2024-01-03,3,-1e39\n");
  expect_error([&] { t.check_float32_range("close"); },
               {t.path, ":3 (2024-01-02)", "column 'close'", "1e+300", "out of float32 range"});
  expect_error([&] { t.check_float32_range("VOLUME"); }, {":4 (2024-01-03)", "column 'volume'", "-1e+39"});
  t.keep_last(1);
  EXPECT_NO_THROW(t.check_float32_range("close"));
}

// Runs `f` in a child process whose address space may grow `extra_mb` beyond the parent's
// current size, killed after `seconds`; the child's exit code (0: f returned true) or 128 + signal.
int run_bounded(const std::function<bool()>& f, int64_t extra_mb, unsigned seconds) {
  int64_t vm_kb = 0;
  {
    std::ifstream status("/proc/self/status");
    std::string key;
    while (status >> key)
      if (key == "VmSize:") {
        status >> vm_kb;
        break;
      }
  }
  const pid_t pid = ::fork();
  if (pid == 0) {
    if (vm_kb > 0 && extra_mb > 0) {
      const rlim_t limit = static_cast<rlim_t>(vm_kb * 1024 + extra_mb * 1024 * 1024);
      const rlimit rl{limit, limit};
      ::setrlimit(RLIMIT_AS, &rl);
    }
    ::alarm(seconds);
    int rc = 0;
    try {
      rc = f() ? 0 : 1;
    } catch (const std::bad_alloc&) {
      rc = 3;
    } catch (...) {
      rc = 2;
    }
    ::_exit(rc);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

TEST(MarketCsvStreaming, LargeFileInBoundedMemory) {
  // 400k minute bars (about 25 MB): read whole they took several times the file; streamed, the
  // reader holds one block and the 512 rows kept.
  const int64_t rows = 400000;
  const int64_t base = parse_timestamp("2000-01-01");
  std::string text = "timestamp,open,high,low,close,volume\n";
  text.reserve(static_cast<size_t>(rows) * 48);
  for (int64_t r = 0; r < rows; ++r)
    text += format_timestamp(base + 60 * r, true) + "," + std::to_string(r % 1000) + ".25,2.5,0.5,1.75,1000\n";
  TempCsv f(text);
  text.clear();
  text.shrink_to_fit();
  const int rc = run_bounded(
      [&] {
        const MarketTable t = read_market_csv(f.path(), keep(512));
        return t.rows() == 512 && t.timestamps.back() == base + 60 * (rows - 1) && t.lines.back() == rows + 1 &&
               t.column("open").back() == 999.25 && t.columns.size() == 5;
      },
      /*extra_mb=*/48, /*seconds=*/60);
  EXPECT_EQ(rc, 0) << "1: wrong rows, 2: error, 3: out of memory, 128+: killed by a signal";
}

TEST(MarketCsvStreaming, WideFileInLinearTime) {
  // 100k columns: the header check was quadratic (50 s); a timeout (not a timed assertion)
  // turns a hang into a failure.
  const int64_t cols = 100000;
  std::string head = "date", row;
  for (int64_t c = 0; c < cols; ++c) {
    head += ",c" + std::to_string(c);
    row += ",1";
  }
  TempCsv f(head + "\n2024-01-01" + row + "\n2024-01-02" + row + "\n2024-01-03" + row + "\n");
  const int rc = run_bounded(
      [&] {
        const MarketTable t = read_market_csv(f.path(), keep(2));
        return t.rows() == 2 && static_cast<int64_t>(t.columns.size()) == cols && t.column("c99999")[1] == 1.0;
      },
      /*extra_mb=*/0, /*seconds=*/20);
  EXPECT_EQ(rc, 0) << "1: wrong table, 2: error, 128+" << SIGALRM << ": timed out";
  expect_csv_error("date,a,b,a\n2024-01-01,1,2,3\n", {"'a' twice", "columns 2 and 4"});
}

TEST(MarketCsvStreaming, PipesAreRefusedWithoutWaiting) {
  // A FIFO with no writer would block an ordinary open forever; fcast reads market data only
  // from regular files and says so at once.
  TempCsv f("date,close\n2024-01-01,1\n");
  const std::string fifo = f.path() + ".fifo";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  try {
    (void)read_market_csv(fifo, keep(1));
    ADD_FAILURE() << "a FIFO was read";
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("FIFO"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(fifo), std::string::npos) << e.what();
  }
  ::unlink(fifo.c_str());
}


// Output stamps keep the input's form: each style read from a file and written back for the next
// step gives text of the same shape (date only, 'T' or ' ', minutes or seconds, fraction digits,
// Z, +HH:MM even at +00:00, epoch seconds or milliseconds).
TEST(TimeStyleRoundTrip, EveryStyleWritesBackAsRead) {
  struct Case {
    std::string a, b, next;  // two consecutive stamps and the one after them
  };
  const std::vector<Case> cases = {
      {"2026-02-12", "2026-02-13", "2026-02-14"},
      {"2026-02-13 19:00", "2026-02-13 20:00", "2026-02-13 21:00"},
      {"2026-02-13 19:00:00", "2026-02-13 20:00:00", "2026-02-13 21:00:00"},
      {"2026-02-13T19:00:00Z", "2026-02-13T20:00:00Z", "2026-02-13T21:00:00Z"},
      {"2026-02-13 19:00:00+00:00", "2026-02-13 20:00:00+00:00", "2026-02-13 21:00:00+00:00"},
      {"2026-02-13 09:30:00-05:00", "2026-02-13 10:30:00-05:00", "2026-02-13 11:30:00-05:00"},
      {"2026-02-13 19:00:00.000000", "2026-02-13 20:00:00.000000", "2026-02-13 21:00:00.000000"},
      {"2026-02-13T19:00:00.000+05:30", "2026-02-13T20:00:00.000+05:30", "2026-02-13T21:00:00.000+05:30"},
      {"1771009200", "1771012800", "1771016400"},
      {"1771009200000", "1771012800000", "1771016400000"},
  };
  for (const Case& c : cases) {
    const MarketTable t = read_text("timestamp,close\n" + c.a + ",1\n" + c.b + ",2\n");
    const int64_t step = t.median_interval();
    const TimeStyle s = future_time_style(t.time_style, step);
    EXPECT_EQ(format_timestamp(t.timestamps[1], t.utc_offsets[1], t.time_style), c.b) << c.b;
    EXPECT_EQ(format_timestamp(t.timestamps[1] + step, t.utc_offsets[1], s), c.next) << c.b;
  }
  // Daily dates continued at an intraday step gain a time of day.
  TimeStyle d;
  d.date_only = true;
  EXPECT_EQ(format_timestamp(parse_timestamp("2026-02-13 12:00:00"), 0, future_time_style(d, 43200)),
            "2026-02-13 12:00:00");
}

TEST(TimeStyleRoundTrip, EpochOnlyInANamedTimeColumnAndWholeSecondsOnly) {
  const MarketTable t = read_text("ts,close\n1771009200,1\n1771012800,2\n");
  EXPECT_EQ(t.time_column, "ts");
  EXPECT_EQ(t.timestamps[1], parse_timestamp("2026-02-13 20:00:00"));
  expect_csv_error("ts,close\n1771009200500,1\n1771012800000,2\n", {"epoch milliseconds", "fraction of a second"});
  // Without allow_epoch an integer is no timestamp.
  expect_error([] { parse_timestamp("1771009200"); }, {"cannot parse timestamp"});
}

TEST(TimeStyleRoundTrip, UnnamedFirstColumnOfDatesIsTheTimeColumn) {
  // pandas DataFrame.to_csv() with a DatetimeIndex: the index column has no name.
  const MarketTable t = read_text(",open,close\n2026-02-12,1,2\n2026-02-13,3,4\n");
  EXPECT_EQ(t.time_column, "column1");
  EXPECT_EQ(t.rows(), 2);
  EXPECT_EQ(t.column("close")[1], 4);
  // A RangeIndex (0, 1, 2) is not time: a named time column is used, or none is found.
  const MarketTable r = read_text(",date,close\n0,2026-02-12,1\n1,2026-02-13,2\n");
  EXPECT_EQ(r.time_column, "date");
  expect_csv_error(",close\n0,1\n1,2\n", {"no time column", "unnamed first column", "--time-column"});
}

TEST(TimeStyleRoundTrip, TimeColumnByName) {
  CsvOptions o;
  o.time_column = "When";
  const MarketTable t = read_text("when,date_of_listing,close\n2026-02-12,2001-01-01,1\n2026-02-13,2001-01-01,2\n", o);
  EXPECT_EQ(t.time_column, "when");
  o.time_column = "nope";
  expect_csv_error("when,close\n2026-02-12,1\n", {"no column named 'nope'", "--time-column", "when, close"}, o);
}
}  // namespace
}  // namespace fcast
