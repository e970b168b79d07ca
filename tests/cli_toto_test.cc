// `fcast init-model toto` and `fcast predict toto`, run as a user would: the built binary
// (FCAST_BINARY) on a tiny random checkpoint and the market CSVs. Every error case must exit
// non-zero with a message naming the problem, never by a signal.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "io/csv.h"
#include "test_util.h"

namespace fcast {
namespace {

namespace fs = std::filesystem;

const std::string kMarket = std::string(FCAST_TEST_DATA) + "/market/";
const std::string kMstr = kMarket + "MSTR.csv";
const std::string kSelector =
    kMarket + "selector_sim_crypto5_mixed7_epoch003_lag1_eval90d_baseactions_int1_realistic_20260211/bars.csv";
const std::string kHourlyStocks =
    kMarket + "hourly_trader_sim_stock_only_mixed14_e004_20260214_eval30d_portfolio/bars.csv";

struct RunResult {
  bool exited = false;    // ended by exit(), not by a signal
  int status = -1;        // exit status when exited
  int signal = 0;         // the signal when not exited
  std::string out, err;
};

using test::slurp;

std::vector<std::string> lines(const std::string& text) { return test::nonempty_lines(text); }

using test::split;

class CliToto : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = (fs::temp_directory_path() / ("fcast_cli_toto_test_" + std::to_string(::getpid()))).string();
    fs::create_directories(dir_);
    model_ = dir_ + "/toto-tiny";
    RunResult r = run({"init-model", "toto", "--preset", "tiny", "--seed", "3", "--out", model_});
    ASSERT_TRUE(r.exited && r.status == 0) << r.err;
  }
  static void TearDownTestSuite() {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  // Runs the fcast binary with `args`; stdout and stderr go to files in the temp dir.
  static RunResult run(const std::vector<std::string>& args) {
    static int counter = 0;
    const std::string base = dir_ + "/run" + std::to_string(counter++);
    const std::string out_path = base + ".out", err_path = base + ".err";
    std::vector<std::string> full = {FCAST_BINARY};
    full.insert(full.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& s : full) argv.push_back(s.data());
    argv.push_back(nullptr);
    RunResult r;
    const pid_t pid = ::fork();
    if (pid == 0) {
      if (!std::freopen(out_path.c_str(), "w", stdout) || !std::freopen(err_path.c_str(), "w", stderr)) _exit(127);
      ::setenv("OMP_NUM_THREADS", "1", 1);  // ctest runs tests in parallel on few cores
      ::execv(argv[0], argv.data());
      _exit(127);
    }
    int status = 0;
    ::waitpid(pid, &status, 0);
    r.exited = WIFEXITED(status);
    r.status = r.exited ? WEXITSTATUS(status) : -1;
    r.signal = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
    r.out = slurp(out_path);
    r.err = slurp(err_path);
    return r;
  }

  // Expects a clean failure: exit status != 0 (no signal, no crash) and every part in stderr.
  static void expect_failure(const std::vector<std::string>& args, const std::vector<std::string>& parts) {
    RunResult r = run(args);
    std::string cmd;
    for (auto& a : args) cmd += a + " ";
    ASSERT_TRUE(r.exited) << cmd << ": killed by signal " << r.signal << "\n" << r.err;
    EXPECT_NE(r.status, 0) << cmd;
    EXPECT_NE(r.status, 127) << cmd << ": the binary did not start";
    for (const auto& p : parts) EXPECT_NE(r.err.find(p), std::string::npos) << cmd << "\nstderr: " << r.err << "\nmissing: " << p;
  }

  static std::string write_file(const std::string& name, const std::string& text) {
    const std::string p = dir_ + "/" + name;
    std::ofstream(p, std::ios::binary) << text;
    return p;
  }

  static std::vector<std::string> predict_args(std::vector<std::string> extra) {
    std::vector<std::string> a = {"predict", "toto", "--model", model_};
    a.insert(a.end(), extra.begin(), extra.end());
    return a;
  }

  static std::vector<std::string> predict_args_with_model(const std::string& model, std::vector<std::string> extra) {
    std::vector<std::string> a = {"predict", "toto", "--model", model};
    a.insert(a.end(), extra.begin(), extra.end());
    return a;
  }

  static std::string dir_, model_;
};

std::string CliToto::dir_;
std::string CliToto::model_;

TEST_F(CliToto, BinaryExists) { ASSERT_TRUE(fs::exists(FCAST_BINARY)) << FCAST_BINARY << " (build the fcast target)"; }

TEST_F(CliToto, InitModelWritesLabelledRandomCheckpoint) {
  const std::string out = dir_ + "/init-check";
  RunResult r = run({"init-model", "toto", "--preset", "tiny", "--seed", "5", "--out", out});
  ASSERT_TRUE(r.exited);
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("RANDOM"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(out), std::string::npos) << r.out;
  EXPECT_TRUE(fs::exists(out + "/config.json"));
  EXPECT_TRUE(fs::exists(out + "/model.safetensors"));
  EXPECT_TRUE(fs::exists(out + "/RANDOM_WEIGHTS.txt"));
  // Same seed, same bytes.
  const std::string again = dir_ + "/init-check-again";
  ASSERT_EQ(run({"init-model", "toto", "--preset", "tiny", "--seed", "5", "--out", again}).status, 0);
  EXPECT_EQ(slurp(out + "/model.safetensors"), slurp(again + "/model.safetensors"));
  expect_failure({"init-model", "toto", "--preset", "huge", "--out", out}, {"huge", "tiny", "toto-open-base-1.0"});
  expect_failure({"init-model", "toto", "--preset", "tiny"}, {"--out"});
}

// init-model never replaces a checkpoint it did not write (a downloaded model) unless told to;
// its own random checkpoints (RANDOM_WEIGHTS.txt beside them) it rewrites freely.
TEST_F(CliToto, InitModelRefusesAFolderHoldingAnotherCheckpoint) {
  const std::string out = dir_ + "/downloaded";
  fs::create_directories(out);
  test::spit(out + "/config.json", "{\"patch_size\": 32}");
  test::spit(out + "/model.safetensors", "real weights");
  expect_failure({"init-model", "toto", "--preset", "tiny", "--out", out},
                 {out, "holds a checkpoint fcast did not write", "config.json and model.safetensors", "--force"});
  EXPECT_EQ(slurp(out + "/model.safetensors"), "real weights");
  EXPECT_EQ(slurp(out + "/config.json"), "{\"patch_size\": 32}");
  EXPECT_FALSE(fs::exists(out + "/RANDOM_WEIGHTS.txt"));
  RunResult r = run({"init-model", "toto", "--preset", "tiny", "--out", out, "--force"});
  ASSERT_TRUE(r.exited);
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_TRUE(fs::exists(out + "/RANDOM_WEIGHTS.txt"));
  EXPECT_NE(slurp(out + "/model.safetensors"), "real weights");
  // Now it is fcast's own: writing it again needs no --force.
  r = run({"init-model", "toto", "--preset", "tiny", "--seed", "2", "--out", out});
  EXPECT_EQ(r.status, 0) << r.err;
}

// A Kronos folder given to predict toto: the error says what it is and which command to run.
TEST_F(CliToto, PredictNamesTheFamilyOfAWrongCheckpoint) {
  const std::string kronos = std::string(FCAST_TEST_DATA) + "/golden/kronos/models/tiny/";
  expect_failure(predict_args_with_model(kronos + "predictor", {"--input", kMstr}),
                 {"this looks like a kronos checkpoint; use `fcast predict kronos`"});
  expect_failure(predict_args_with_model(kronos + "tokenizer", {"--input", kMstr}),
                 {"this looks like a kronos tokenizer checkpoint; use `fcast predict kronos`"});
}

TEST_F(CliToto, PredictMstrCsv) {
  RunResult r = run(predict_args({"--input", kMstr, "--columns", "close", "--context", "512", "--prediction-length",
                                  "16", "--num-samples", "64", "--quantiles", "0.1,0.9"}));
  ASSERT_TRUE(r.exited);
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.err.find("RANDOM"), std::string::npos) << r.err;
  const auto ls = lines(r.out);
  ASSERT_EQ(ls.size(), 1u + 16u) << r.out;
  EXPECT_EQ(ls[0], "symbol,timestamp,variate,step,mean,median,std,q0.1,q0.9");
  MarketTable t = read_market_csv(kMstr);
  int64_t day = t.timestamps.back();
  for (int64_t h = 0; h < 16; ++h) {
    const auto f = split(ls[1 + h], ',');
    ASSERT_EQ(f.size(), 9u) << ls[1 + h];
    EXPECT_EQ(f[0], "MSTR");  // a file without a symbol column: its name
    // Daily stock bars without weekend rows: date only, the next business day per step.
    do day += 86400;
    while (civil_from_seconds(day).weekday >= 5);
    EXPECT_EQ(f[1], format_timestamp(day, false));
    EXPECT_EQ(f[2], "close");
    EXPECT_EQ(f[3], std::to_string(h + 1));
    for (size_t k = 4; k < f.size(); ++k) EXPECT_TRUE(std::isfinite(std::stod(f[k]))) << ls[1 + h];
    EXPECT_LE(std::stod(f[7]), std::stod(f[8]));  // q0.1 <= q0.9
  }
  EXPECT_EQ(split(ls[1], ',')[1], "2026-03-19");
  // --freq D: every calendar day; --future-timestamps: the stamps of a file, as that file writes them.
  r = run(predict_args({"--input", kMstr, "--prediction-length", "3", "--num-samples", "0", "--freq", "D"}));
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(split(lines(r.out)[3], ',')[1], "2026-03-21");
  const std::string fut = write_file("future.csv", "date\n2026-03-20T16:00:00Z\n2026-03-23T16:00:00Z\n");
  r = run(predict_args({"--input", kMstr, "--prediction-length", "2", "--num-samples", "0", "--future-timestamps", fut}));
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(split(lines(r.out)[2], ',')[1], "2026-03-23T16:00:00Z");
  expect_failure(predict_args({"--input", kMstr, "--prediction-length", "3", "--future-timestamps", fut}),
                 {"future.csv", "2 timestamps for 3 forecast steps"});
}

TEST_F(CliToto, SameSeedSameNumbersOtherSeedOtherNumbers) {
  auto args = [&](const std::string& seed) {
    return predict_args({"--input", kMstr, "--prediction-length", "8", "--num-samples", "16", "--seed", seed});
  };
  RunResult a = run(args("7")), b = run(args("7")), c = run(args("8"));
  ASSERT_EQ(a.status, 0) << a.err;
  EXPECT_EQ(a.out, b.out);
  EXPECT_NE(a.out, c.out);
}

TEST_F(CliToto, SeveralVariatesCaseInsensitive) {
  RunResult r = run(predict_args({"--input", kMstr, "--columns", "Close,HIGH,volume", "--prediction-length", "5",
                                  "--num-samples", "8", "--samples-per-batch", "4"}));
  ASSERT_EQ(r.status, 0) << r.err;
  const auto ls = lines(r.out);
  ASSERT_EQ(ls.size(), 1u + 5u * 3u);
  EXPECT_EQ(split(ls[1], ',')[2], "close");
  EXPECT_EQ(split(ls[2], ',')[2], "high");
  EXPECT_EQ(split(ls[3], ',')[2], "volume");
  EXPECT_EQ(split(ls[1], ',')[1], split(ls[3], ',')[1]);  // one timestamp per step
}

TEST_F(CliToto, HourlyLongFormatContinuesAtTheInterval) {
  RunResult r = run(predict_args({"--input", kSelector, "--symbol", "BTCUSD", "--prediction-length", "4",
                                  "--num-samples", "8", "--quantiles", ""}));
  ASSERT_EQ(r.status, 0) << r.err;
  const auto ls = lines(r.out);
  ASSERT_EQ(ls.size(), 5u);
  EXPECT_EQ(ls[0], "symbol,timestamp,variate,step,mean,median,std");
  EXPECT_EQ(split(ls[1], ',')[0], "BTCUSD");
  // The input writes "+00:00": so does the output (stamps keep the input's form).
  EXPECT_EQ(split(ls[1], ',')[1], "2026-02-11 00:00:00+00:00");
  EXPECT_EQ(split(ls[4], ',')[1], "2026-02-11 03:00:00+00:00");
  // Irregular market-hours data: fewer rows than the default context of 512.
  RunResult s = run(predict_args({"--input", kHourlyStocks, "--symbol", "nvda", "--prediction-length", "3",
                                  "--num-samples", "0", "--format", "json"}));
  ASSERT_EQ(s.status, 0) << s.err;
  nlohmann::json j = nlohmann::json::parse(s.out);
  EXPECT_EQ(j["series"][0]["context_rows"], 182);
  EXPECT_EQ(j["series"][0]["interval_seconds"], 3600);
  EXPECT_EQ(j["series"][0]["symbol"], "NVDA");
}

TEST_F(CliToto, JsonOutputFileWithMetadata) {
  const std::string out = dir_ + "/forecast.json";
  RunResult r = run(predict_args({"--input", kMstr, "--columns", "close,open", "--context", "100",
                                  "--prediction-length", "6", "--num-samples", "16", "--seed", "4", "--output", out}));
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_TRUE(r.out.empty()) << r.out;
  nlohmann::json j = nlohmann::json::parse(slurp(out));
  EXPECT_EQ(j["metadata"]["model"], "toto");
  EXPECT_EQ(j["metadata"]["checkpoints"]["model"], model_);
  EXPECT_TRUE(j["metadata"]["random_weights"].get<bool>());
  EXPECT_EQ(j["metadata"]["identity"].get<std::string>().size(), 16u);
  EXPECT_EQ(j["series"][0]["context_rows"], 100);
  EXPECT_EQ(j["series"][0]["context_last"], "2026-03-18");
  EXPECT_EQ(j["metadata"]["num_samples"], 16);
  EXPECT_EQ(j["metadata"]["seed"], 4);
  EXPECT_EQ(j["metadata"]["prediction_length"], 6);
  ASSERT_EQ(j["forecast"].size(), 12u);
  const auto& row = j["forecast"][0];
  EXPECT_EQ(row["symbol"], "MSTR");
  EXPECT_EQ(row["timestamp"], "2026-03-19");
  EXPECT_EQ(row["variate"], "close");
  for (const char* k : {"mean", "median", "std", "q0.1", "q0.5", "q0.9"}) EXPECT_TRUE(row[k].is_number()) << k;
  EXPECT_EQ(j["forecast"][11]["variate"], "open");
  EXPECT_EQ(j["forecast"][11]["step"], 6);
}

TEST_F(CliToto, MeanForecastAndNoKvCache) {
  RunResult r = run(predict_args({"--input", kMstr, "--prediction-length", "20", "--num-samples", "0",
                                  "--quantiles", "0.25"}));
  ASSERT_EQ(r.status, 0) << r.err;
  const auto ls = lines(r.out);
  ASSERT_EQ(ls.size(), 21u);
  for (size_t i = 1; i < ls.size(); ++i) {
    const auto f = split(ls[i], ',');
    EXPECT_EQ(f[4], f[5]);                 // median = mean
    EXPECT_EQ(std::stod(f[6]), 0.0);       // std = 0
    EXPECT_EQ(f[4], f[7]);                 // every quantile = mean
  }
  RunResult n = run(predict_args({"--input", kMstr, "--prediction-length", "20", "--num-samples", "0",
                                  "--no-kv-cache", "--threads", "1"}));
  ASSERT_EQ(n.status, 0) << n.err;
  EXPECT_EQ(lines(n.out).size(), 21u);
}

TEST_F(CliToto, HelpExplainsEveryOption) {
  RunResult r = run({"predict", "toto", "--help"});
  ASSERT_EQ(r.status, 0);
  for (const char* opt : {"--model", "--input", "--columns", "--symbol", "--context", "--prediction-length",
                          "--num-samples", "--samples-per-batch", "--quantiles", "--seed", "--no-kv-cache",
                          "--output", "--format", "--threads"})
    EXPECT_NE(r.out.find(opt), std::string::npos) << opt;
  for (const char* def : {"default: close", "default: 512", "default: 64", "default: 256", "default: 0.1,0.5,0.9",
                          "default: stdout"})
    EXPECT_NE(r.out.find(def), std::string::npos) << def;
}

// ---- errors ----

TEST_F(CliToto, MissingModelSaysHowToGetWeights) {
  expect_failure({"predict", "toto", "--input", kMstr}, {"--model", "Datadog/Toto-Open-Base-1.0", "init-model"});
  expect_failure({"predict", "toto", "--model", dir_ + "/no-such-model", "--input", kMstr},
                 {"no-such-model", "does not exist", "Hugging Face", "init-model"});
  expect_failure({"predict", "toto", "--model", kMstr, "--input", kMstr}, {"not a directory", "init-model"});
  fs::create_directories(dir_ + "/empty-model");
  expect_failure({"predict", "toto", "--model", dir_ + "/empty-model", "--input", kMstr},
                 {"config.json", "Toto-Open-Base-1.0"});
}

TEST_F(CliToto, UnknownColumnListsAvailable) {
  expect_failure(predict_args({"--input", kMstr, "--columns", "close,adj_close"}),
                 {"adj_close", "available columns: close, high, low, open, volume"});
}

TEST_F(CliToto, NanInWindowNamesRowAndColumn) {
  const std::string csv = write_file("gap.csv",
                                     "Date,Close,Open\n2024-01-01,1,1\n2024-01-02,2,2\n2024-01-03,,3\n"
                                     "2024-01-04,4,4\n2024-01-05,5,5\n2024-01-06,6,6\n");
  expect_failure(predict_args({"--input", csv, "--prediction-length", "2", "--num-samples", "0"}),
                 {"column 'close'", "2024-01-03", "--context"});
  // The other column is clean, and a context after the gap is fine.
  RunResult ok = run(predict_args({"--input", csv, "--columns", "open", "--prediction-length", "2", "--num-samples", "0"}));
  EXPECT_EQ(ok.status, 0) << ok.err;
  ok = run(predict_args({"--input", csv, "--context", "3", "--prediction-length", "2", "--num-samples", "0"}));
  EXPECT_EQ(ok.status, 0) << ok.err;
}

TEST_F(CliToto, MissingAndBadInputFiles) {
  expect_failure(predict_args({"--input", dir_ + "/missing.csv"}), {"missing.csv", "does not exist"});
  const std::string bad = write_file("bad.csv", "Date,Close\n2024-01-01,1\n2024-01-02,oops2\n2024-01-03,3\n");
  expect_failure(predict_args({"--input", bad}), {"bad.csv:3:", "column 'close'", "oops2"});
  const std::string unordered = write_file("unordered.csv", "Date,Close\n2024-01-01,1\n2024-01-03,2\n2024-01-02,3\n");
  expect_failure(predict_args({"--input", unordered}), {"unordered.csv:4:", "neither ascending nor descending"});
  const std::string empty = write_file("empty.csv", "");
  expect_failure(predict_args({"--input", empty}), {"empty.csv", "empty"});
  const std::string one = write_file("one.csv", "Date,Close\n2024-01-01,1\n");
  expect_failure(predict_args({"--input", one}), {"one.csv", "1 row", "at least 2"});
  expect_failure(predict_args({"--input", kSelector}), {"5 symbols", "--symbol", "BTCUSD"});
}

TEST_F(CliToto, BadOptions) {
  expect_failure(predict_args({"--input", kMstr, "--prediction-length", "0"}), {"--prediction-length", "positive"});
  expect_failure(predict_args({"--input", kMstr, "--prediction-length", "-3"}), {"--prediction-length"});
  expect_failure(predict_args({"--input", kMstr, "--num-samples", "10", "--samples-per-batch", "4"}),
                 {"samples_per_batch", "divide"});
  expect_failure(predict_args({"--input", kMstr, "--num-samples", "-1"}), {"--num-samples"});
  expect_failure(predict_args({"--input", kMstr, "--context", "1"}), {"--context"});
  expect_failure(predict_args({"--input", kMstr, "--quantiles", "0.1,1.5"}), {"--quantiles", "1.5"});
  expect_failure(predict_args({"--input", kMstr, "--format", "xml"}), {"--format", "xml"});
  expect_failure(predict_args({"--input", kMstr, "--output", dir_ + "/no/such/dir/out.csv", "--num-samples", "0",
                               "--prediction-length", "1"}),
                 {"cannot write", "out.csv"});
  expect_failure(predict_args({"--input", kMstr, "--context", "abc"}), {"--context"});
}

}  // namespace
}  // namespace fcast
