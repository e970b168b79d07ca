// `fcast predict MODEL` as one command for every model, through the binary: many symbols per
// call (one batched request, each series' numbers equal to its forecast alone), one output
// schema (CSV and JSON), every sample path (--samples-out), --stats on stderr / --stats-file,
// --fill, progress and --quiet, a Hugging Face repo id found in a local hub cache, and the
// option aliases (--pred-len, --sample-count, --lookback, -m, -n, -t, -o).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "io/csv.h"
#include "test_util.h"

namespace fs = std::filesystem;
using namespace fcast;

namespace {

const std::string kToto = test::test_data("golden/toto/models/tiny_a");
const std::string kKronos = test::test_data("golden/kronos/models/tiny/predictor");
const std::string kKronosTok = test::test_data("golden/kronos/models/tiny/tokenizer");
const std::string kDaily5 = test::test_data("market/stocks5_daily.csv");
const std::string kHourly = test::test_data("market/hourly_trader_sim_stock_only_mixed14_e004_20260214_eval30d_portfolio/bars.csv");

std::string q(const std::string& s) { return test::shell_quote(s); }

test::CommandResult run_fcast(const test::TempDir& dir, const std::string& args, const std::string& env = "") {
  return test::run_command("env " + env + " " + q(test::fcast_binary()) + " " + args, dir.sub("out.txt"),
                           dir.sub("err.txt"));
}

std::string toto(const std::string& rest) { return "predict toto --no-compile -m " + q(kToto) + " " + rest; }
std::string kronos(const std::string& rest) {
  return "predict kronos --no-compile -m " + q(kKronos) + " --tokenizer " + q(kKronosTok) + " " + rest;
}

using test::split;

// CSV rows as maps by header name.
std::vector<std::map<std::string, std::string>> rows_of(const std::string& csv) {
  const auto lines = test::nonempty_lines(csv);
  std::vector<std::map<std::string, std::string>> out;
  if (lines.empty()) return out;
  const auto head = split(lines[0], ',');
  for (size_t k = 1; k < lines.size(); ++k) {
    const auto f = split(lines[k], ',');
    std::map<std::string, std::string> row;
    for (size_t c = 0; c < head.size() && c < f.size(); ++c) row[head[c]] = f[c];
    out.push_back(row);
  }
  return out;
}

int weekday_of(const std::string& date) {
  return civil_from_seconds(parse_timestamp(date)).weekday;  // Monday = 0
}

}  // namespace

TEST(PredictCli, FiveSymbolDailyFileInOneCallForEveryModel) {
  test::TempDir dir("predict_5sym");
  for (const std::string& cmd :
       {toto("-i " + q(kDaily5) + " --symbol all -n 8 --num-samples 16 --seed 3"),
        kronos("-i " + q(kDaily5) + " --symbol all -n 8 --sample-count 2 --seed 3")}) {
    const test::CommandResult r = run_fcast(dir, cmd);
    ASSERT_EQ(r.status, 0) << cmd << "\n" << r.err;
    const auto rows = rows_of(r.out);
    const auto head = split(test::nonempty_lines(r.out)[0], ',');
    EXPECT_EQ((std::vector<std::string>(head.begin(), head.begin() + 7)),
              (std::vector<std::string>{"symbol", "timestamp", "variate", "step", "mean", "median", "std"}));
    std::set<std::string> symbols;
    for (const auto& row : rows) {
      symbols.insert(row.at("symbol"));
      // Daily bars with no weekend rows continue on business days, written as dates.
      EXPECT_EQ(row.at("timestamp").size(), 10u) << row.at("timestamp");
      EXPECT_LT(weekday_of(row.at("timestamp")), 5) << row.at("symbol") << " " << row.at("timestamp");
      EXPECT_TRUE(std::isfinite(std::stod(row.at("mean"))));
    }
    EXPECT_EQ(symbols, (std::set<std::string>{"AAPL", "AMZN", "GOOG", "MSFT", "NVDA"})) << cmd;
    // The last bar is Friday 2026-02-13: the first forecast day is Monday 2026-02-16.
    EXPECT_EQ(rows.at(0).at("timestamp"), "2026-02-16");
    EXPECT_NE(r.err.find("5 series"), std::string::npos) << r.err;
  }
}

TEST(PredictCli, BatchedSymbolsEqualEachSymbolAlone) {
  test::TempDir dir("predict_batch_alone");
  for (int model = 0; model < 2; ++model) {
    auto cmd = [&](const std::string& sel) {
      const std::string rest = "-i " + q(kHourly) + " " + sel + " -n 5 --num-samples 4 --seed 9 --context 64";
      return model == 0 ? toto(rest + " --samples-per-batch 2") : kronos(rest);
    };
    const test::CommandResult all = run_fcast(dir, cmd("--symbols NVDA,AAPL,MSFT"));
    ASSERT_EQ(all.status, 0) << all.err;
    const auto rows = rows_of(all.out);
    // Request order: the order --symbols names them.
    EXPECT_EQ(rows.front().at("symbol"), "NVDA");
    EXPECT_EQ(rows.back().at("symbol"), "MSFT");
    for (const char* sym : {"NVDA", "AAPL", "MSFT"}) {
      const test::CommandResult one = run_fcast(dir, cmd(std::string("--symbol ") + sym));
      ASSERT_EQ(one.status, 0) << one.err;
      std::vector<std::string> a, b;
      for (const auto& row : rows)
        if (row.at("symbol") == sym) a.push_back(row.at("timestamp") + " " + row.at("variate") + " " + row.at("mean") + " " + row.at("std"));
      for (const auto& row : rows_of(one.out)) b.push_back(row.at("timestamp") + " " + row.at("variate") + " " + row.at("mean") + " " + row.at("std"));
      EXPECT_EQ(a, b) << "model " << model << " symbol " << sym;
      // Offsets kept: the input writes +00:00.
      EXPECT_NE(b.at(0).find("+00:00"), std::string::npos) << b.at(0);
    }
  }
}

TEST(PredictCli, SeveralInputFilesAndSymbolErrors) {
  test::TempDir dir("predict_inputs");
  const std::string mstr = test::test_data("market/MSTR.csv"), sui = test::test_data("market/SUIUSDT.csv");
  test::CommandResult r = run_fcast(dir, toto("-i " + q(mstr) + " -i " + q(sui) + " -n 3 --num-samples 0"));
  ASSERT_EQ(r.status, 0) << r.err;
  std::set<std::string> symbols;
  for (const auto& row : rows_of(r.out)) symbols.insert(row.at("symbol"));
  EXPECT_EQ(symbols, (std::set<std::string>{"MSTR", "SUIUSDT"}));

  r = run_fcast(dir, toto("-i " + q(kDaily5) + " -n 3"));
  EXPECT_EQ(r.status, 1);
  test::expect_contains(r.err, {"holds 5 symbols", "--symbol all", "--symbols A,B,C", "AAPL"});
  r = run_fcast(dir, toto("-i " + q(kDaily5) + " --symbols AAPL,XYZ -n 3"));
  EXPECT_EQ(r.status, 1);
  test::expect_contains(r.err, {"symbol 'XYZ' is not in", "AAPL"});
  r = run_fcast(dir, toto("-i " + q(mstr) + " -i " + q(mstr) + " -n 3"));
  EXPECT_EQ(r.status, 1);
  test::expect_contains(r.err, {"both named 'MSTR'"});
}

TEST(PredictCli, JsonHasTheSameRowsAndOneMetadataBlock) {
  test::TempDir dir("predict_json");
  for (int model = 0; model < 2; ++model) {
    const std::string rest = "-i " + q(kDaily5) + " --symbols AAPL,GOOG -n 4 --num-samples 3 --seed 1";
    const std::string base = model == 0 ? toto(rest) : kronos(rest);
    const test::CommandResult c = run_fcast(dir, base);
    ASSERT_EQ(c.status, 0) << c.err;
    const test::CommandResult j = run_fcast(dir, base + " --format json");
    ASSERT_EQ(j.status, 0) << j.err;
    const nlohmann::json doc = nlohmann::json::parse(j.out);
    const auto csv = rows_of(c.out);
    ASSERT_EQ(doc["forecast"].size(), csv.size());
    for (size_t k = 0; k < csv.size(); ++k) {
      EXPECT_EQ(doc["forecast"][k]["symbol"], csv[k].at("symbol"));
      EXPECT_EQ(doc["forecast"][k]["timestamp"], csv[k].at("timestamp"));
      EXPECT_FLOAT_EQ(doc["forecast"][k]["mean"].get<float>(), std::stof(csv[k].at("mean")));
      EXPECT_FLOAT_EQ(doc["forecast"][k]["q0.9"].get<float>(), std::stof(csv[k].at("q0.9")));
    }
    const auto& md = doc["metadata"];
    EXPECT_EQ(md["model"], model == 0 ? "toto" : "kronos");
    for (const char* key : {"identity", "random_weights", "checkpoints", "executor", "num_samples", "seed"})
      EXPECT_TRUE(md.contains(key)) << key;
    EXPECT_EQ(doc["series"].size(), 2u);
  }
}

TEST(PredictCli, KronosPathsGiveStdQuantilesAndSamplesOut) {
  test::TempDir dir("predict_kronos_paths");
  const std::string samples = dir.sub("paths.csv");
  const test::CommandResult r =
      run_fcast(dir, kronos("-i " + q(kDaily5) + " --symbol MSFT -n 3 --sample-count 5 --seed 2 --samples-out " + q(samples)));
  ASSERT_EQ(r.status, 0) << r.err;
  const auto rows = rows_of(r.out);
  const auto paths = rows_of(test::slurp(samples));
  ASSERT_EQ(paths.size(), rows.size() * 5);
  // Each row's std is the spread of its 5 paths.
  bool some_spread = false;
  for (size_t k = 0; k < rows.size(); ++k) {
    std::vector<double> v;
    for (const auto& p : paths)
      if (p.at("variate") == rows[k].at("variate") && p.at("step") == rows[k].at("step")) v.push_back(std::stod(p.at("value")));
    ASSERT_EQ(v.size(), 5u);
    double m = 0, s = 0;
    for (double x : v) m += x / 5;
    for (double x : v) s += (x - m) * (x - m) / 4;  // the sample std (n - 1), as torch.std
    const double sd = std::stod(rows[k].at("std"));
    EXPECT_NEAR(sd, std::sqrt(s), 1e-3 * (1 + std::fabs(m))) << rows[k].at("variate") << " step " << rows[k].at("step");
    some_spread = some_spread || sd > 0;
  }
  EXPECT_TRUE(some_spread);
  const test::CommandResult bad = run_fcast(dir, kronos("-i " + q(kDaily5) + " --symbol MSFT -n 3 --samples-out " + q(samples)));
  EXPECT_EQ(bad.status, 1);
  test::expect_contains(bad.err, {"--samples-out needs sample paths"});
}

TEST(PredictCli, StatsGoToStderrOrAFileNeverIntoTheForecast) {
  test::TempDir dir("predict_stats");
  const std::string file = dir.sub("stats.json");
  const test::CommandResult r = run_fcast(dir, toto("-i " + q(kDaily5) + " --symbol AAPL -n 2 --stats --stats-file " + q(file)));
  ASSERT_EQ(r.status, 0) << r.err;
  for (const auto& line : test::nonempty_lines(r.out)) EXPECT_EQ(line.find('{'), std::string::npos) << line;
  const nlohmann::json s = nlohmann::json::parse(test::last_line(r.err));
  EXPECT_EQ(s["family"], "toto");
  EXPECT_EQ(nlohmann::json::parse(test::slurp(file)), s);
}

TEST(PredictCli, FillMasksOrCarriesForwardMissingValues) {
  test::TempDir dir("predict_fill");
  // AAPL with one close removed in the middle of its context.
  const auto lines = test::nonempty_lines(test::slurp(kDaily5));
  std::string csv = lines[0] + "\n";
  int n = 0;
  for (size_t k = 1; k < lines.size(); ++k) {
    if (lines[k].find(",AAPL,") == std::string::npos) continue;
    std::string line = lines[k];
    if (++n == 10) line = line.substr(0, line.rfind(',') + 1);  // empty close
    csv += line + "\n";
  }
  test::spit(dir.sub("gap.csv"), csv);
  const std::string in = "-i " + q(dir.sub("gap.csv")) + " -n 3 --num-samples 0";
  test::CommandResult r = run_fcast(dir, toto(in));
  EXPECT_EQ(r.status, 1);
  test::expect_contains(r.err, {"missing or non-finite value", "--fill ffill", "--fill mask"});
  const test::CommandResult ff = run_fcast(dir, toto(in + " --fill ffill"));
  ASSERT_EQ(ff.status, 0) << ff.err;
  test::expect_contains(ff.err, {"1 missing value(s)", "filled forward"});
  const test::CommandResult mk = run_fcast(dir, toto(in + " --fill mask"));
  ASSERT_EQ(mk.status, 0) << mk.err;
  // The model saw different inputs: the forecasts differ.
  EXPECT_NE(rows_of(ff.out).at(0).at("mean"), rows_of(mk.out).at(0).at("mean"));
  r = run_fcast(dir, kronos(in + " --fill mask"));
  EXPECT_EQ(r.status, 1);
  test::expect_contains(r.err, {"kronos takes no missing-value mask", "--fill ffill"});
  EXPECT_EQ(run_fcast(dir, kronos(in + " --fill ffill")).status, 0);
}

TEST(PredictCli, ProgressWhenAskedAndQuietWhenAsked) {
  test::TempDir dir("predict_progress");
  const std::string in = "-i " + q(kDaily5) + " --symbol AAPL -n 4 --num-samples 0";
  const test::CommandResult p = run_fcast(dir, kronos(in + " --progress"));
  ASSERT_EQ(p.status, 0) << p.err;
  test::expect_contains(p.err, {"loading kronos", "forecasting 1 series", "steps", "done in"});
  const test::CommandResult quiet = run_fcast(dir, kronos(in + " --quiet"));
  ASSERT_EQ(quiet.status, 0) << quiet.err;
  EXPECT_EQ(quiet.err, "");
  // Not a terminal and not forced: no progress line.
  const test::CommandResult plain = run_fcast(dir, kronos(in));
  EXPECT_EQ(plain.err.find("loading kronos"), std::string::npos) << plain.err;
}

TEST(PredictCli, RepoIdResolvedInTheLocalHuggingFaceCache) {
  test::TempDir dir("predict_hf");
  const fs::path repo = fs::path(dir.sub("hub")) / "models--Datadog--Toto-Open-Base-1.0";
  fs::create_directories(repo / "snapshots" / "abc123");
  fs::create_directories(repo / "refs");
  test::spit((repo / "refs" / "main").string(), "abc123");
  for (const char* f : {"config.json", "model.safetensors"})
    fs::copy_file(fs::path(kToto) / f, repo / "snapshots" / "abc123" / f);
  const std::string in = "-i " + q(kDaily5) + " --symbol AAPL -n 2 --num-samples 0 --no-compile --format json";
  test::CommandResult r = run_fcast(dir, "predict toto -m Datadog/Toto-Open-Base-1.0 " + in, "HF_HUB_CACHE=" + q(dir.sub("hub")));
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(nlohmann::json::parse(r.out)["metadata"]["checkpoints"]["model"], (repo / "snapshots" / "abc123").string());
  r = run_fcast(dir, "predict toto -m Datadog/Nope " + in, "HF_HUB_CACHE=" + q(dir.sub("hub")));
  EXPECT_EQ(r.status, 1);
  test::expect_contains(r.err, {"models--Datadog--Nope/snapshots", "huggingface-cli download Datadog/Nope",
                                "fcast never downloads"});
  // HF_HOME/hub when HF_HUB_CACHE is unset.
  r = run_fcast(dir, "predict toto -m Datadog/Toto-Open-Base-1.0 " + in, "-u HF_HUB_CACHE HF_HOME=" + q(dir.path.string()));
  EXPECT_EQ(r.status, 0) << r.err;
}

TEST(PredictCli, ReferenceNamesAndShortFlagsAreAliases) {
  test::TempDir dir("predict_alias");
  const std::string in = "-i " + q(kDaily5) + " --symbol NVDA";
  const test::CommandResult a =
      run_fcast(dir, kronos(in + " --prediction-length 3 --num-samples 2 --context 15 --threads 1 --output " + q(dir.sub("a.csv"))));
  const test::CommandResult b =
      run_fcast(dir, kronos(in + " --pred-len 3 --sample-count 2 --lookback 15 -t 1 -o " + q(dir.sub("b.csv"))));
  ASSERT_EQ(a.status, 0) << a.err;
  ASSERT_EQ(b.status, 0) << b.err;
  EXPECT_EQ(test::slurp(dir.sub("a.csv")), test::slurp(dir.sub("b.csv")));
  // Kronos forecasts all six bar fields (open and volume/amount filled as the production wrapper does).
  EXPECT_EQ(test::nonempty_lines(test::slurp(dir.sub("a.csv"))).size(), 1u + 3 * 6);
}

TEST(PredictCli, TheCompileCacheSaysWhereItGrewOnceAndQuietSilencesIt) {
  test::TempDir dir("predict_cache_notice");
  const std::string in = "-i " + q(kDaily5) + " --symbol AAPL -n 2 --num-samples 0";
  // The default cache is the user's, shared by working folders: XDG_CACHE_HOME/fcast/compiled_models.
  const std::string env = "XDG_CACHE_HOME=" + q(dir.sub("xdg")) + " FCAST_CACHE_NOTICE_MB=0";
  const std::string cmd = "predict toto -m " + q(kToto) + " " + in;
  test::CommandResult r = run_fcast(dir, cmd, env);
  ASSERT_EQ(r.status, 0) << r.err;
  const std::string cache = (fs::path(dir.sub("xdg")) / "fcast" / "compiled_models").string();
  test::expect_contains(r.err, {"the compile cache ", cache.c_str(), "grew by", "--compiled-models-dir"});
  EXPECT_EQ(r.err.find("grew by"), r.err.rfind("grew by")) << "said more than once:\n" << r.err;
  EXPECT_TRUE(fs::is_directory(cache));
  // Quiet: no notice (a fresh cache folder, so that the run stores again).
  r = run_fcast(dir, cmd + " --quiet --compiled-models-dir " + q(dir.sub("other")), "FCAST_CACHE_NOTICE_MB=0");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.err, "");
  EXPECT_TRUE(fs::is_directory(dir.sub("other")));
}

TEST(PredictCli, AggregateWritesThePointOfTheSamplePaths) {
  test::TempDir dir("predict_aggregate");
  const std::string paths = dir.sub("paths.csv");
  const test::CommandResult r = run_fcast(dir, toto("-i " + q(kDaily5) + " --symbol AAPL -n 3 --num-samples 10 " +
                                                    "--aggregate trimmed_mean_10 --samples-out " + q(paths)));
  ASSERT_EQ(r.status, 0) << r.err;
  const auto rows = rows_of(r.out);
  const auto all = rows_of(test::slurp(paths));
  ASSERT_EQ(rows.size(), 3u);
  for (const auto& row : rows) {
    std::vector<double> v;
    for (const auto& p : all)
      if (p.at("step") == row.at("step")) v.push_back(std::stod(p.at("value")));
    ASSERT_EQ(v.size(), 10u);
    std::sort(v.begin(), v.end());
    double m = 0;  // trimmed_mean_10 of 10 paths: drop 1 at each end, mean of the other 8
    for (size_t k = 1; k < 9; ++k) m += v[k] / 8;
    EXPECT_NEAR(std::stod(row.at("point")), m, 1e-5 * std::fabs(m)) << "step " << row.at("step");
    EXPECT_GE(std::stod(row.at("band_p40_p60")), 0.0);
  }
  const test::CommandResult bad = run_fcast(dir, toto("-i " + q(kDaily5) + " --symbol AAPL -n 3 --aggregate trimmed_mean_70"));
  EXPECT_EQ(bad.status, 1);
  test::expect_contains(bad.err, {"trimmed_mean_70"});
}
