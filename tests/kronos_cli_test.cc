// `fcast predict kronos` and `fcast init-model kronos` end to end through the binary, on every
// market CSV in tests/data/market (including files without open and without volume).
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <sstream>

#include "io/csv.h"
#include "io/file.h"

namespace {

namespace fs = std::filesystem;
const std::string kData = FCAST_TEST_DATA;
const std::string kModel = kData + "/golden/kronos/models/tiny/predictor";
const std::string kTok = kData + "/golden/kronos/models/tiny/tokenizer";

struct Result {
  int rc = -1;
  std::string out;  // stdout and stderr together
};

Result sh(const std::string& args) {
  const std::string cmd = std::string("\"") + FCAST_BINARY + "\" " + args + " 2>&1";
  Result r;
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return r;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) r.out.append(buf, n);
  const int status = pclose(p);
  r.rc = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

std::string q(const std::string& s) { return "\"" + s + "\""; }

std::string predict_args(const std::string& csv) {
  return "predict kronos --model " + q(kModel) + " --tokenizer " + q(kTok) + " --input " + q(csv);
}

// Forecast steps in the output: its `close` rows (one row per step and variate).
int csv_rows(const std::string& text) {
  int rows = 0;
  std::istringstream in(text);
  std::string line;
  bool header = false;
  while (std::getline(in, line)) {
    if (line.rfind("symbol,timestamp,variate,step,mean,median,std", 0) == 0) header = true;
    else if (header && line.find(",close,") != std::string::npos) ++rows;
  }
  return rows;
}

TEST(KronosCli, PredictsEveryMarketCsv) {
  struct File {
    std::string path, symbol;
  };
  const std::vector<File> files = {
      {kData + "/market/WIKI-AAPL.csv", ""},                                      // newest first, capitalised
      {kData + "/market/TSLA-2021-11-21 14:37:52.060172.csv", ""},                // Yahoo layout
      {kData + "/market/MSTR.csv", ""},                                            // close first, no amount
      {kData + "/market/SUIUSDT.csv", ""},                                         // +00:00 offsets, extra columns
      {kData + "/market/selector_sim_crypto5_mixed7_epoch003_lag1_eval90d_baseactions_int1_realistic_20260211/bars.csv",
       "ETHUSD"},                                                                  // no open
      {kData + "/market/hourly_trader_sim_stock_only_mixed14_e004_20260214_eval30d_portfolio/bars.csv",
       "YELP"},                                                                    // no open, no volume
  };
  for (const File& f : files) {
    std::string args = predict_args(f.path) + " --pred-len 3 --lookback 96 --max-context 64 --sample-count 2 --seed 1";
    if (!f.symbol.empty()) args += " --symbol " + f.symbol;
    Result r = sh(args);
    EXPECT_EQ(r.rc, 0) << f.path << "\n" << r.out;
    EXPECT_EQ(csv_rows(r.out), 3) << f.path << "\n" << r.out;
    EXPECT_EQ(r.out.find("nan"), std::string::npos) << r.out;
    for (const char* v : {",open,", ",high,", ",low,", ",volume,", ",amount,"})
      EXPECT_NE(r.out.find(v), std::string::npos) << v << " (filled where the file lacks it)\n" << r.out;
  }
}

TEST(KronosCli, FutureTimestampsContinueAtTheMedianInterval) {
  // Hourly market-hours bars (the last on Friday 2026-02-13 20:00 UTC): the stamps continue in
  // the input's trading sessions (hours 13:00-21:00 UTC, Monday to Friday), not overnight.
  const std::string hourly = kData + "/market/hourly_trader_sim_stock_only_mixed14_e004_20260214_eval30d_portfolio/bars.csv";
  Result r = sh(predict_args(hourly) + " --symbol AAPL --pred-len 3 --top-k 1");
  ASSERT_EQ(r.rc, 0) << r.out;
  EXPECT_NE(r.out.find("trading sessions learned from the input"), std::string::npos) << r.out;
  for (const char* stamp : {"\nAAPL,2026-02-13 21:00:00+00:00,", "\nAAPL,2026-02-16 13:00:00+00:00,", "\nAAPL,2026-02-16 14:00:00+00:00,"})
    EXPECT_NE(r.out.find(stamp), std::string::npos) << stamp << "\n" << r.out;
  // --freq h: every hour, overnight and weekend included.
  r = sh(predict_args(hourly) + " --symbol AAPL --pred-len 2 --top-k 1 --freq h");
  ASSERT_EQ(r.rc, 0) << r.out;
  EXPECT_NE(r.out.find("\nAAPL,2026-02-13 22:00:00+00:00,"), std::string::npos) << r.out;
  r = sh(predict_args(hourly) + " --symbol AAPL --pred-len 2 --freq fortnightly");
  EXPECT_NE(r.rc, 0);
  EXPECT_NE(r.out.find("--freq 'fortnightly'"), std::string::npos) << r.out;
  // Given future timestamps are used as they are.
  const fs::path tmp = fs::temp_directory_path() / ("fcast_kronos_cli_" + std::to_string(::getpid()));
  fs::create_directories(tmp);
  fcast::write_file_atomic((tmp / "future.csv").string(), "timestamp\n2030-01-02 10:00:00\n2030-01-02 11:30:00\n");
  r = sh(predict_args(kData + "/market/MSTR.csv") + " --pred-len 2 --top-k 1 --future-timestamps " +
         q((tmp / "future.csv").string()) + " --output " + q((tmp / "out.json").string()));
  ASSERT_EQ(r.rc, 0) << r.out;
  const std::string json = fcast::read_file((tmp / "out.json").string());
  EXPECT_NE(json.find("2030-01-02 11:30:00"), std::string::npos) << json;
  EXPECT_NE(json.find("\"close\""), std::string::npos) << json;
  // Greedy output is the same with and without the KV cache.
  Result a = sh(predict_args(kData + "/market/MSTR.csv") + " --pred-len 4 --top-k 1 --max-context 40 --lookback 36");
  Result b = sh(predict_args(kData + "/market/MSTR.csv") + " --pred-len 4 --top-k 1 --max-context 40 --lookback 36 --no-kv-cache");
  ASSERT_EQ(a.rc, 0);
  ASSERT_EQ(b.rc, 0);
  auto body = [](const std::string& s) { return s.substr(s.find("symbol,timestamp,variate"), s.find("\nfcast: kronos forecast") - s.find("symbol,timestamp,variate")); };
  EXPECT_EQ(body(a.out), body(b.out));
  fs::remove_all(tmp);
}

TEST(KronosCli, HelpAndErrorsAreActionable) {
  Result h = sh("predict kronos --help");
  EXPECT_EQ(h.rc, 0);
  for (const char* opt : {"--model", "--tokenizer", "--input", "--pred-len", "--lookback", "--max-context", "--temperature",
                          "--top-k", "--top-p", "--sample-count", "--seed", "--symbol", "--future-timestamps", "--output",
                          "--format", "--no-kv-cache", "512", "0.9"})
    EXPECT_NE(h.out.find(opt), std::string::npos) << "help lacks " << opt << "\n" << h.out;
  Result i = sh("init-model kronos --help");
  EXPECT_NE(i.out.find("kronos-tokenizer-2k"), std::string::npos) << i.out;
  EXPECT_NE(i.out.find("--tokenizer-out"), std::string::npos) << i.out;

  const std::string mstr = q(kData + "/market/MSTR.csv");
  Result r = sh("predict kronos --input " + mstr + " --pred-len 2");
  EXPECT_NE(r.rc, 0);
  EXPECT_NE(r.out.find("NeoQuasar/Kronos-small"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("init-model kronos"), std::string::npos) << r.out;
  r = sh("predict kronos --model /nonexistent --tokenizer " + q(kTok) + " --input " + mstr + " --pred-len 2");
  EXPECT_NE(r.rc, 0);
  EXPECT_NE(r.out.find("NeoQuasar/Kronos-Tokenizer-base"), std::string::npos) << r.out;
  r = sh("predict kronos --model " + q(kTok) + " --tokenizer " + q(kModel) + " --input " + mstr + " --pred-len 2");
  EXPECT_NE(r.rc, 0);
  EXPECT_NE(r.out.find("swap the model and tokenizer"), std::string::npos) << r.out;
  // A checkpoint of another model family: the error says which and what to run instead.
  r = sh("predict kronos --model " + q(kData + "/golden/toto/models/tiny_a") + " --tokenizer " + q(kTok) + " --input " +
         mstr + " --pred-len 2");
  EXPECT_NE(r.rc, 0);
  EXPECT_NE(r.out.find("this looks like a toto checkpoint; use `fcast predict toto`"), std::string::npos) << r.out;
  r = sh(predict_args(kData + "/market/MSTR.csv") + " --pred-len 600");
  EXPECT_NE(r.rc, 0);
  EXPECT_NE(r.out.find("exceeds max_context 512"), std::string::npos) << r.out;
  r = sh(predict_args(kData + "/market/MSTR.csv") + " --pred-len 2 --temperature 0");
  EXPECT_NE(r.rc, 0);
  EXPECT_NE(r.out.find("temperature must be"), std::string::npos) << r.out;
  r = sh(predict_args(kData + "/market/MSTR.csv") + " --pred-len 2 --format xml");
  EXPECT_NE(r.rc, 0);
  EXPECT_NE(r.out.find("--format must be csv or json"), std::string::npos) << r.out;
  r = sh(predict_args(kData + "/market/selector_sim_crypto5_mixed7_epoch003_lag1_eval90d_baseactions_int1_realistic_20260211/bars.csv") +
         " --pred-len 2");
  EXPECT_NE(r.rc, 0);
  EXPECT_NE(r.out.find("--symbol"), std::string::npos) << r.out;
  r = sh(predict_args(kData + "/market/MSTR.csv") + " --pred-len 2 --lookback 1");
  EXPECT_NE(r.rc, 0);
  EXPECT_NE(r.out.find("at least 2 rows"), std::string::npos) << r.out;
  r = sh("init-model kronos --preset kronos-large --out /tmp/never");
  EXPECT_NE(r.rc, 0);
  EXPECT_NE(r.out.find("valid presets"), std::string::npos) << r.out;
}

TEST(KronosCli, InitModelWritesTokenizerPresetsToo) {
  const fs::path tmp = fs::temp_directory_path() / ("fcast_kronos_init_" + std::to_string(::getpid()));
  fs::remove_all(tmp);
  Result r = sh("init-model kronos --preset kronos-tokenizer-tiny --seed 2 --out " + q((tmp / "tok").string()));
  ASSERT_EQ(r.rc, 0) << r.out;
  r = sh("init-model kronos --preset kronos-tiny --seed 1 --out " + q((tmp / "pred").string()));
  ASSERT_EQ(r.rc, 0) << r.out;
  EXPECT_NE(r.out.find("--tokenizer-out"), std::string::npos) << r.out;  // says how to get the tokenizer
  r = sh("predict kronos --model " + q((tmp / "pred").string()) + " --tokenizer " + q((tmp / "tok").string()) +
         " --input " + q(kData + "/market/SUIUSDT.csv") + " --pred-len 2");
  EXPECT_EQ(r.rc, 0) << r.out;
  EXPECT_NE(r.out.find("RANDOM weights"), std::string::npos) << r.out;
  fs::remove_all(tmp);
}

}  // namespace
