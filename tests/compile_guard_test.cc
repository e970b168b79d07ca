// eval/guard.h: the compile guard's verdicts at the 1 % / 5 % boundaries, the overall verdict
// and exit status, INVALID when both runs used the same (or an unnamed) executor, three-way
// comparisons, mismatched backtests as errors, the history file (append, atomic replace, a
// corrupt file named and left alone) and the rolling rating rule.
#include "eval/guard.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>

#include "core/error.h"

namespace fcast::eval {
namespace {

using nlohmann::json;

// A backtest result with simple and maxdiff returns (Sharpe = 10 x return, for a visible delta).
json result(const std::string& symbol, double simple, double maxdiff, double close_loss = 0.01) {
  json s = {{"simple", {{"return", simple}, {"sharpe", 10 * simple}, {"turnover", 3}}},
            {"maxdiff", {{"return", maxdiff}, {"sharpe", 10 * maxdiff}, {"turnover", 4}}}};
  return {{"symbol", symbol},
          {"runs", 20},
          {"generated_at", "2026-12-06T03:00:00Z"},
          {"strategies", s},
          {"metrics", {{"close_val_loss", close_loss}, {"high_val_loss", 0.02}, {"low_val_loss", 0.03}}}};
}

GuardComparison compare(double simple_delta, double maxdiff_delta) {
  return compare_backtests({"eager", result("GOOG", 0, 0)}, {"compiled", result("GOOG", simple_delta, maxdiff_delta)},
                           "compile");
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

struct TempDir {
  std::filesystem::path path =
      std::filesystem::temp_directory_path() / ("fcast_compile_guard_" + std::to_string(::getpid()));
  TempDir() {
    std::filesystem::remove_all(path);
    std::filesystem::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  std::string sub(const std::string& n) const { return (path / n).string(); }
};

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

TEST(CompileGuard, VerdictsAtTheOneAndFivePercentBoundaries) {
  EXPECT_EQ(compare(0, 0).verdict, Verdict::Pass);
  EXPECT_EQ(compare(0, 0.01).verdict, Verdict::Pass);      // exactly 1 %: not above it
  EXPECT_EQ(compare(0, 0.0100001).verdict, Verdict::Warn);
  EXPECT_EQ(compare(0, 0.05).verdict, Verdict::Warn);      // exactly 5 %: not above it
  EXPECT_EQ(compare(0, 0.0500001).verdict, Verdict::Fail);
  EXPECT_EQ(compare(-0.06, 0).verdict, Verdict::Fail);      // the magnitude counts, either way
  const GuardComparison c = compare(0.02, -0.003);
  EXPECT_EQ(c.verdict, Verdict::Warn);
  EXPECT_NEAR(c.max_abs_return_delta, 0.02, 1e-15);
  ASSERT_EQ(c.strategies.size(), 2u);
  for (const StrategyDelta& d : c.strategies) {
    if (d.name == "simple") {
      EXPECT_NEAR(d.sharpe_delta, 0.2, 1e-12);
    }
    if (d.name == "maxdiff") {
      EXPECT_NEAR(d.return_delta, -0.003, 1e-15);
    }
  }
}

TEST(CompileGuard, ValLossDeltas) {
  const GuardComparison c =
      compare_backtests({"eager", result("GOOG", 0, 0, 0.010)}, {"compiled", result("GOOG", 0, 0, 0.013)}, "compile");
  ASSERT_EQ(c.val_loss.size(), 3u);
  EXPECT_EQ(c.val_loss[0].key, "close_val_loss");
  EXPECT_NEAR(c.val_loss[0].delta, 0.003, 1e-15);
  EXPECT_NEAR(c.val_loss[1].delta, 0.0, 1e-15);
}

TEST(CompileGuard, OverallVerdictAndExitStatus) {
  EXPECT_EQ(overall_verdict({compare(0, 0), compare(0, 0.001)}), Overall::Safe);
  EXPECT_EQ(overall_verdict({compare(0, 0), compare(0.02, 0)}), Overall::UseWithCaution);
  EXPECT_EQ(overall_verdict({compare(0.02, 0), compare(0.2, 0)}), Overall::DoNotUse);
  EXPECT_EQ(overall_verdict({}), Overall::Invalid);
  EXPECT_EQ(guard_exit_status(Overall::Safe), 0);
  EXPECT_EQ(guard_exit_status(Overall::UseWithCaution), 0);
  EXPECT_EQ(guard_exit_status(Overall::DoNotUse), 1);
  EXPECT_EQ(guard_exit_status(Overall::Invalid), 2);
  EXPECT_STREQ(overall_name(Overall::DoNotUse), "DO NOT USE");
  EXPECT_STREQ(overall_name(Overall::UseWithCaution), "USE WITH CAUTION");
}

TEST(CompileGuard, SameExecutorIsInvalidNotSafe) {
  // Identical cached forecasts give exact-zero deltas: that must never read as SAFE.
  const GuardComparison same =
      compare_backtests({"eager", result("GOOG", 0.1, 0.2)}, {"eager", result("GOOG", 0.1, 0.2)}, "compile");
  EXPECT_EQ(same.verdict, Verdict::Invalid);
  EXPECT_NE(same.reason.find("eager"), std::string::npos) << same.reason;
  EXPECT_EQ(overall_verdict({same}), Overall::Invalid);
  EXPECT_EQ(guard_exit_status(overall_verdict({same})), 2);
  // An unnamed executor is no better.
  EXPECT_EQ(compare_backtests({"", result("GOOG", 0, 0)}, {"compiled", result("GOOG", 0, 0)}, "c").verdict,
            Verdict::Invalid);
  // Invalid beside a pass is still not SAFE; beside a FAIL it is DO NOT USE.
  EXPECT_EQ(overall_verdict({compare(0, 0), same}), Overall::Invalid);
  EXPECT_EQ(overall_verdict({compare(0, 0.3), same}), Overall::DoNotUse);
  EXPECT_NE(guard_report({same}).find("INVALID"), std::string::npos);
}

TEST(CompileGuard, ThreeExecutors) {
  const GuardRun eager{"eager", result("META", 0.05, 0.04)};
  const auto v = compare_variants(eager, {{"compiled", result("META", 0.052, 0.04)}, {"bf16", result("META", 0.05, 0.1)}},
                                  {"compile", "bf16"});
  ASSERT_EQ(v.size(), 2u);
  EXPECT_EQ(v[0].verdict, Verdict::Pass);
  EXPECT_EQ(v[0].candidate_executor, "compiled");
  EXPECT_EQ(v[1].verdict, Verdict::Fail);
  EXPECT_EQ(v[1].variant, "bf16");
  EXPECT_EQ(overall_verdict(v), Overall::DoNotUse);
  EXPECT_THROW(compare_variants(eager, {{"compiled", result("META", 0, 0)}}, {}), Error);
}

TEST(CompileGuard, DifferentBacktestsAreErrors) {
  EXPECT_NE(error_of([] { compare_backtests({"eager", result("GOOG", 0, 0)}, {"compiled", result("TSLA", 0, 0)}, "c"); })
                .find("TSLA"),
            std::string::npos);
  json fewer = result("GOOG", 0, 0);
  fewer["strategies"].erase("maxdiff");
  EXPECT_NE(error_of([&] { compare_backtests({"eager", result("GOOG", 0, 0)}, {"compiled", fewer}, "c"); })
                .find("maxdiff"),
            std::string::npos);
  json other_runs = result("GOOG", 0, 0);
  other_runs["runs"] = 35;
  EXPECT_THROW(compare_backtests({"eager", result("GOOG", 0, 0)}, {"compiled", other_runs}, "c"), Error);
  EXPECT_THROW(compare_backtests({"eager", json::array()}, {"compiled", result("GOOG", 0, 0)}, "c"), Error);
}

TEST(CompileGuard, NonFiniteReturnFails) {
  json broken = result("GOOG", 0, 0);
  broken["strategies"]["maxdiff"]["return"] = nullptr;  // how backtest_json writes NaN
  const GuardComparison c = compare_backtests({"eager", result("GOOG", 0, 0)}, {"compiled", broken}, "c");
  EXPECT_EQ(c.verdict, Verdict::Fail);
}

TEST(CompileGuard, HistoryAppendsEntriesAtomically) {
  TempDir dir;
  const std::string path = dir.sub("guard_compile_history.json");
  const GuardRun eager{"eager", result("GOOG", 0.01, 0.03, 0.010)};
  const GuardRun compiled{"compiled", result("GOOG", 0.012, 0.025, 0.011)};
  const GuardComparison c = compare_backtests(eager, compiled, "compile");
  EXPECT_EQ(read_history(path), json::array());  // missing: empty
  append_history(path, history_entry(c, eager, compiled, "2026-12-06T03:00:00Z"));
  append_history(path, history_entry(c, eager, compiled, "2026-12-06T04:00:00Z"));
  const json h = read_history(path);
  ASSERT_EQ(h.size(), 2u);
  EXPECT_EQ(h[1]["timestamp"], "2026-12-06T04:00:00Z");
  EXPECT_EQ(h[0]["symbol"], "GOOG");
  EXPECT_EQ(h[0]["variant"], "compile");
  EXPECT_EQ(h[0]["verdict"], "PASS");
  EXPECT_EQ(h[0]["baseline"]["executor"], "eager");
  EXPECT_EQ(h[0]["compile"]["executor"], "compiled");
  EXPECT_NEAR(h[0]["baseline"]["maxdiff_return"].get<double>(), 0.03, 1e-15);
  EXPECT_NEAR(h[0]["delta"]["maxdiff_return"].get<double>(), -0.005, 1e-15);
  EXPECT_NEAR(h[0]["delta"]["simple_return"].get<double>(), 0.002, 1e-15);
  EXPECT_NEAR(h[0]["delta"]["maxdiff_sharpe"].get<double>(), -0.05, 1e-14);
  EXPECT_NEAR(h[0]["delta"]["close_val_loss"].get<double>(), 0.001, 1e-15);
  EXPECT_NEAR(h[0]["delta"]["maxdiff_turnover"].get<double>(), 0, 1e-15);
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
}

TEST(CompileGuard, CorruptHistoryIsAnErrorAndLeftAlone) {
  TempDir dir;
  const std::string path = dir.sub("history.json");
  const GuardRun eager{"eager", result("GOOG", 0, 0)}, compiled{"compiled", result("GOOG", 0, 0)};
  const json entry = history_entry(compare_backtests(eager, compiled, "c"), eager, compiled, "t");
  for (const std::string& bytes : {std::string("[{\"symbol\": \"GOOG\""), std::string("{\"not\": \"a list\"}"),
                                  std::string("")}) {
    std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
    const std::string msg = error_of([&] { append_history(path, entry); });
    EXPECT_NE(msg.find(path), std::string::npos) << "[" << bytes << "] " << msg;
    EXPECT_EQ(slurp(path), bytes);  // never overwritten
  }
}

TEST(CompileGuard, RollingRule) {
  EXPECT_EQ(rolling_rating(4, 0.5, 1.0), "insufficient");
  EXPECT_EQ(rolling_rating(5, 0.02, 1.0), "promote");
  EXPECT_EQ(rolling_rating(5, -0.02, 0.0), "regress");
  EXPECT_EQ(rolling_rating(5, 0.01, 1.0), "watch");    // exactly 0.01 is not above it
  EXPECT_EQ(rolling_rating(5, -0.007, 0.4), "watch");
  EXPECT_EQ(rolling_rating(5, 0.005, 0.2), "regress");  // exactly 0.005 is not above: ratio rule
  EXPECT_EQ(rolling_rating(5, 0.001, 0.3), "regress");  // ratio exactly 0.3
  EXPECT_EQ(rolling_rating(5, 0.001, 0.4), "stable");
  EXPECT_EQ(rolling_rating(5, 0.0, 0.0), "regress");    // all exact zeros: flagged, as the reference
}

TEST(CompileGuard, RateHistoryPerSymbolAndMetric) {
  json h = json::array();
  auto add = [&](const std::string& sym, double d, const std::string& base_ex = "eager",
                 const std::string& variant = "compile") {
    h.push_back({{"timestamp", "t"},
                 {"symbol", sym},
                 {"variant", variant},
                 {"baseline", {{"executor", base_ex}}},
                 {"compile", {{"executor", "compiled"}}},
                 {"delta", {{"maxdiff_return", d}, {"simple_return", nullptr}}}});
  };
  for (double d : {0.02, 0.03, 0.01, 0.02, 0.02}) add("GOOG", d);  // mean 0.02: promote
  for (double d : {0.01, -0.01, 0.0}) add("TSLA", d);               // n 3: insufficient
  for (int i = 0; i < 4; ++i) add("TSLA", 0.0, "compiled");         // same executor: skipped
  for (int i = 0; i < 5; ++i) add("GOOG", -0.02, "eager", "bf16");   // another variant: rated apart
  const auto r = rate_history(h);
  ASSERT_EQ(r.size(), 3u);  // simple_return is null everywhere: not rated
  EXPECT_EQ(r[1].symbol, "GOOG (compile)");
  EXPECT_EQ(r[1].metric, "maxdiff_return");
  EXPECT_EQ(r[1].n, 5);
  EXPECT_NEAR(r[1].mean, 0.02, 1e-15);
  EXPECT_EQ(r[1].positive, 5);
  EXPECT_EQ(r[1].rating, "promote");
  EXPECT_EQ(r[0].symbol, "GOOG (bf16)");
  EXPECT_EQ(r[0].rating, "regress");
  EXPECT_EQ(r[2].symbol, "TSLA (compile)");
  EXPECT_EQ(r[2].n, 3);
  EXPECT_EQ(r[2].zero, 1);
  EXPECT_EQ(r[2].rating, "insufficient");
  EXPECT_THROW(rate_history(json::object()), Error);
}

}  // namespace
}  // namespace fcast::eval
