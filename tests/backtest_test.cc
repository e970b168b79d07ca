// `fcast backtest`: the walk-forward protocol never lets a forecast see the bar it forecasts;
// too few bars and gaps are clear errors naming the numbers; the command writes its three
// reports, is deterministic for a seed, and its compile guard passes the real compiled executor
// and fails a perturbed one; the HTML report renders in headless Chromium.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <regex>

#include "core/rng.h"
#include "test_util.h"
#include "tools/backtest/walk_forward.h"

namespace fs = std::filesystem;
using namespace fcast;

namespace {

backtest::Bars random_bars(int64_t n, uint64_t seed) {
  backtest::Bars b;
  b.symbol = "TEST";
  b.file = "test.csv";
  Rng rng(seed);
  double p = 100;
  for (int64_t t = 0; t < n; ++t) {
    b.timestamps.push_back(1700000000 + 86400 * t);
    const double o = p;
    p *= std::exp(0.01 * rng.normal());
    b.columns["open"].push_back(o);
    b.columns["close"].push_back(p);
    b.columns["high"].push_back(std::max(o, p) * 1.01);
    b.columns["low"].push_back(std::min(o, p) * 0.99);
    b.columns["volume"].push_back(1000);
  }
  return b;
}

// Every bar from `row` on replaced by garbage: a job built from rows before `row` cannot change.
backtest::Bars damaged_from(backtest::Bars b, int64_t row) {
  for (auto& [name, col] : b.columns)
    for (int64_t r = row; r < b.rows(); ++r) col[r] = 1e6 + static_cast<double>(r);
  return b;
}

bool same_input(const SeriesInput& a, const SeriesInput& b) {
  return a.values == b.values && a.timestamps == b.timestamps && a.variate_names == b.variate_names;
}

test::CommandResult run_fcast(const test::TempDir& dir, const std::string& args, const std::string& env = "") {
  return test::run_command("cd " + test::shell_quote(dir.path.string()) + " && env " + env + " " +
                               test::shell_quote(test::fcast_binary()) + " " + args,
                           dir.sub("out.txt"), dir.sub("err.txt"));
}

}  // namespace

TEST(BacktestProtocol, NoForecastSeesTheBarItForecasts) {
  const backtest::Bars b = random_bars(200, 3);
  backtest::Protocol p;
  p.simulations = 10;
  p.context = 64;
  const std::vector<backtest::Job> one = backtest::one_step_jobs({b}, p);
  ASSERT_EQ(one.size(), 10u * 4u * 7u);
  for (const backtest::Job& j : one) {
    ASSERT_FALSE(j.input.timestamps.empty());
    EXPECT_LT(j.input.timestamps.back(), b.timestamps[j.target_row]) << "simulation " << j.simulation << " day " << j.day;
    EXPECT_EQ(j.input.future_timestamps, std::vector<int64_t>{b.timestamps[j.target_row]});
  }
  // Damage every bar from each job's target on: the job's input is unchanged.
  for (size_t k = 0; k < one.size(); k += 13) {
    const std::vector<backtest::Job> again = backtest::one_step_jobs({damaged_from(b, one[k].target_row)}, p);
    EXPECT_TRUE(same_input(again[k].input, one[k].input)) << "job " << k;
  }
  // The check can fail: damaging the bar before the target changes the input.
  const std::vector<backtest::Job> leak = backtest::one_step_jobs({damaged_from(b, one[0].target_row - 1)}, p);
  EXPECT_FALSE(same_input(leak[0].input, one[0].input));

  const std::vector<backtest::Job> multi = backtest::multi_step_jobs({b}, p, {"open", "high", "low", "close", "volume"});
  ASSERT_EQ(multi.size(), 10u);
  for (const backtest::Job& j : multi) {
    EXPECT_LT(j.input.timestamps.back(), b.timestamps[j.target_row]);
    EXPECT_EQ(j.input.future_timestamps.size(), 7u);
    const std::vector<backtest::Job> again = backtest::multi_step_jobs({damaged_from(b, j.target_row)}, p,
                                                                       {"open", "high", "low", "close", "volume"});
    EXPECT_TRUE(same_input(again[static_cast<size_t>(j.simulation)].input, j.input));
  }
  // Simulation i ends i + 1 bars before the data's end.
  EXPECT_EQ(multi[0].target_row + 7, b.rows() - 1);
  EXPECT_EQ(multi[3].target_row + 7, b.rows() - 4);
}

TEST(BacktestProtocol, TooFewBarsNameTheNumbers) {
  const backtest::Bars b = random_bars(100, 1);
  backtest::Protocol p;
  p.simulations = 80;
  const std::string e = test::error_of([&] { backtest::check_enough_bars(b, p); });
  test::expect_contains(e, {"TEST", "100 bars are too few for 80 simulations of 7 days", "simulation(s) fit"});
  p.simulations = 5;
  p.held_out_from = 0.8;  // rows 80..99: 20 bars hold 13 simulations of 7 days
  EXPECT_NO_THROW(backtest::check_enough_bars(b, p));
  p.simulations = 14;
  test::expect_contains(test::error_of([&] { backtest::check_enough_bars(b, p); }),
                        {"inside the held-out part (rows from 80", "13 simulation(s) fit"});
}

TEST(BacktestCli, BadDataIsAClearError) {
  test::TempDir dir("backtest_bad");
  std::string gap = "date,open,high,low,close\n";
  for (int d = 1; d <= 28; ++d) {
    char line[96];
    std::snprintf(line, sizeof line, "2024-02-%02d,10,11,9,%s\n", d, d == 20 ? "" : "10.5");
    gap += line;
  }
  test::spit(dir.sub("gap.csv"), gap);
  test::CommandResult r = run_fcast(dir, "backtest --model toto --data gap.csv --simulations 2 --context 8 -q");
  EXPECT_EQ(r.status, 1) << r.err;
  test::expect_contains(r.err, {"gap.csv:21", "close is missing", "2024-02-20"});
  test::spit(dir.sub("dup.csv"), "date,close\n2024-01-01,1\n2024-01-02,2\n2024-01-02,3\n");
  r = run_fcast(dir, "backtest --model toto --data dup.csv -q");
  EXPECT_EQ(r.status, 1);
  test::expect_contains(r.err, {"dup.csv", "duplicate timestamp"});
  r = run_fcast(dir, "backtest --model toto --data " + test::shell_quote(test::test_data("market/MSTR.csv")) +
                         " --simulations 5000 -q");
  EXPECT_EQ(r.status, 1);
  test::expect_contains(r.err, {"MSTR", "too few for 5000 simulations", "simulation(s) fit"});
  r = run_fcast(dir, "backtest --model toto --aggregate trimmed_mean_70 -q");
  EXPECT_NE(r.status, 0);
  test::expect_contains(r.err, {"trimmed_mean_70"});
}

TEST(BacktestCli, WritesTheReportsAndIsDeterministic) {
  test::TempDir dir("backtest_reports");
  fs::create_symlink(fs::path(test::test_data()).parent_path(), dir.sub("tests"));  // the bundled data and models
  const std::string args = "backtest --model both --symbols MSTR,BTCUSD --simulations 3 --num-samples 8 -q --seed 5";
  test::CommandResult a = run_fcast(dir, args + " --output-dir a");
  ASSERT_EQ(a.status, 0) << a.err;
  test::CommandResult b = run_fcast(dir, args + " --output-dir b");
  ASSERT_EQ(b.status, 0) << b.err;
  for (const char* f : {"backtest_results.json", "backtest_report.md", "backtest_report.html"})
    EXPECT_TRUE(fs::exists(dir.sub(std::string("a/") + f))) << f;
  auto results = [&](const std::string& d) {
    nlohmann::json j = nlohmann::json::parse(test::slurp(dir.sub(d + "/backtest_results.json")));
    for (auto& r : j["runs"]) {
      r.erase("seconds");
      for (auto& [sym, s] : r["symbols"].items()) s["backtest"].erase("generated_at");
    }
    j.erase("generated_at");
    return j;
  };
  const nlohmann::json ra = results("a");
  EXPECT_EQ(ra, results("b"));
  // A symbol's numbers do not depend on the other symbols selected.
  test::CommandResult c = run_fcast(dir, "backtest --model both --symbols BTCUSD --simulations 3 --num-samples 8 -q "
                                         "--seed 5 --output-dir c");
  ASSERT_EQ(c.status, 0) << c.err;
  const nlohmann::json rc = results("c");
  for (size_t k = 0; k < 2; ++k) EXPECT_EQ(rc["runs"][k]["symbols"]["BTCUSD"], ra["runs"][k]["symbols"]["BTCUSD"]) << k;
  ASSERT_EQ(ra["runs"].size(), 2u);
  for (const auto& run : ra["runs"]) {
    EXPECT_TRUE(run["trained_default"].get<bool>());
    for (const char* sym : {"MSTR", "BTCUSD"}) {
      const auto& s = run["symbols"][sym];
      EXPECT_EQ(s["backtest"]["runs"], 3) << run["model"];
      for (const char* strat : {"simple", "all_signals", "buy_hold", "unprofit_shutdown", "confidence_guard", "maxdiff"})
        EXPECT_TRUE(s["backtest"]["strategies"].contains(strat)) << strat;
      const auto& q = s["quality"]["close"];
      EXPECT_EQ(q["points"], 3 * 7);
      for (const char* m : {"crps", "coverage_q10_q90", "direction_hit_rate"}) EXPECT_TRUE(q[m].is_number()) << m;
      EXPECT_TRUE(q["baselines"]["persistence"]["price"]["mae"].is_number());
    }
  }
  const std::string md = test::slurp(dir.sub("a/backtest_report.md"));
  test::expect_contains(md, {"not the published", "skill vs persistence", "maxdiff"});
}

TEST(BacktestCli, CompileGuardPassesTheCompiledExecutorAndFailsAPerturbedOne) {
  test::TempDir dir("backtest_guard");
  fs::create_symlink(fs::path(test::test_data()).parent_path(), dir.sub("tests"));
  const std::string args = "backtest --model toto --symbols MSTR,ETHUSD --simulations 3 --num-samples 16 -q --compare eager,compiled";
  test::CommandResult ok = run_fcast(dir, args + " --output-dir ok");
  ASSERT_EQ(ok.status, 0) << ok.err;
  test::expect_contains(ok.out, {"compile guard verdict: SAFE"});
  const nlohmann::json h = nlohmann::json::parse(test::slurp(dir.sub("ok/compile_guard_history.json")));
  ASSERT_EQ(h.size(), 2u);  // one entry per symbol
  EXPECT_NE(h[0]["baseline"]["executor"], h[0]["compile"]["executor"]);
  // Compiled outputs negated (scaled by 1 - 2): every sign-based strategy trades the other way.
  test::CommandResult bad = run_fcast(dir, args + " --output-dir bad", "FCAST_TEST_PERTURB_COMPILED=-2");
  EXPECT_EQ(bad.status, 1) << bad.err;
  test::expect_contains(bad.out, {"compile guard verdict: DO NOT USE"});
  // The same executor twice says nothing about compilation: refused.
  test::CommandResult same = run_fcast(dir, "backtest --model toto --symbols MSTR --simulations 2 -q --compare eager,eager");
  EXPECT_NE(same.status, 0);
  test::expect_contains(same.err, {"--compare names 'eager' twice"});
}

TEST(BacktestReportBrowser, HeadlessChromiumDrawsEveryChartWithoutScriptErrors) {
  std::string chromium;
  for (const char* c : {"chromium", "chromium-browser", "google-chrome"})
    if (test::run_command(std::string("command -v ") + c, "/dev/null", "/dev/null").status == 0) {
      chromium = c;
      break;
    }
  if (chromium.empty()) GTEST_SKIP() << "chromium is not installed (Debian package 'chromium'): report not opened";
  test::TempDir dir("backtest_browser");
  fs::create_symlink(fs::path(test::test_data()).parent_path(), dir.sub("tests"));
  const test::CommandResult r = run_fcast(
      dir, "backtest --model both --symbols MSTR,SOLUSD --simulations 2 --num-samples 8 -q --compare eager,compiled --output-dir out");
  ASSERT_EQ(r.status, 0) << r.err;
  const std::string html = dir.sub("out/backtest_report.html");
  const size_t charts = [&] {
    const std::string text = test::slurp(html);
    size_t n = 0;
    for (size_t at = text.find("class='chart'"); at != std::string::npos; at = text.find("class='chart'", at + 1)) ++n;
    return n;
  }();
  ASSERT_GE(charts, 10u);
  const test::CommandResult c = test::run_command(
      "timeout 120 " + chromium + " --headless=new --no-sandbox --disable-gpu --no-first-run --user-data-dir=" +
          test::shell_quote(dir.sub("profile")) + " --dump-dom " + test::shell_quote("file://" + html),
      dir.sub("dom.html"), dir.sub("chromium.err"));
  const std::string dom = test::slurp(dir.sub("dom.html"));
  std::smatch m;
  ASSERT_TRUE(std::regex_search(dom, m, std::regex("id=\"report-check\"[^>]*data-charts=\"(\\d+)\" data-charts-ok=\"(\\d+)\" data-errors=\"(\\d+)\"")))
      << "no report-check marker:\n" << dom.substr(0, 1500) << test::slurp(dir.sub("chromium.err"));
  EXPECT_EQ(std::stoul(m[1].str()), charts);
  EXPECT_EQ(std::stoul(m[2].str()), charts);
  EXPECT_EQ(m[3].str(), "0");
}

TEST(BacktestCli, OptionsShapeTheRunAndBadValuesAreErrors) {
  test::TempDir dir("backtest_options");
  fs::create_symlink(fs::path(test::test_data()).parent_path(), dir.sub("tests"));
  // Given checkpoints (here the golden tiny Toto): every bar is eligible; --days, --keys and
  // --batch shape the run; a 1-job batch gives the numbers of a 256-job one.
  const std::string base = "backtest --model toto --toto-model " + test::shell_quote(test::test_data("golden/toto/models/tiny_a")) +
                           " --symbols MSTR --simulations 2 --days 3 --keys close,low --num-samples 4 --context 64 -q";
  test::CommandResult a = run_fcast(dir, base + " --batch 1 --output-dir a");
  ASSERT_EQ(a.status, 0) << a.err;
  test::CommandResult b = run_fcast(dir, base + " --output-dir b");
  ASSERT_EQ(b.status, 0) << b.err;
  auto load = [&](const std::string& d) {
    nlohmann::json j = nlohmann::json::parse(test::slurp(dir.sub(d + "/backtest_results.json")));
    for (auto& [sym, sj] : j["runs"][0]["symbols"].items()) sj["backtest"].erase("generated_at");  // the clock
    return j["runs"][0];
  };
  const nlohmann::json ra = load("a"), rb = load("b");
  EXPECT_FALSE(ra["trained_default"].get<bool>());
  EXPECT_EQ(ra["protocol"]["held_out_from"], 0.0);
  EXPECT_EQ(ra["protocol"]["days"], 3);
  EXPECT_EQ(ra["symbols"]["MSTR"]["quality"].size(), 2u);  // close and low only
  EXPECT_EQ(ra["symbols"]["MSTR"]["quality"]["low"]["points"], 2 * 3);
  EXPECT_EQ(ra["symbols"], rb["symbols"]);
  // --all-bars: the bundled trained model scored on every bar, and the banner says so.
  test::CommandResult all = run_fcast(dir, "backtest --model toto --symbols MSTR --simulations 2 --num-samples 4 -q "
                                           "--all-bars --output-dir all");
  ASSERT_EQ(all.status, 0) << all.err;
  EXPECT_TRUE(load("all")["trained_default"].get<bool>());
  EXPECT_EQ(load("all")["protocol"]["held_out_from"], 0.0);
  test::expect_contains(test::slurp(dir.sub("all/backtest_report.md")), {"training bars included (--all-bars)"});
  // Bad values name the option.
  for (const auto& [args, words] : std::vector<std::pair<std::string, std::vector<const char*>>>{
           {"backtest --model toto --keys close,volume -q", {"--keys", "volume"}},
           {"backtest --model toto --keys high,low -q", {"--keys must include close"}},
           {"backtest --model toto --batch 0 -q", {"--batch"}},
           {"backtest --model toto --simulations 0 -q", {"--simulations"}},
           {"backtest --model kronos --kronos-model x -q", {"--kronos-model and --kronos-tokenizer"}},
           {"backtest --model toto --compare eager,turbo -q", {"--compare", "turbo"}},
       }) {
    const test::CommandResult r = run_fcast(dir, args);
    EXPECT_NE(r.status, 0) << args;
    for (const char* w : words) EXPECT_NE(r.err.find(w), std::string::npos) << args << ": " << r.err;
  }
}
