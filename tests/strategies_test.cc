// eval/strategies.h: every strategy on hand-made price paths whose PnL is worked out by hand in
// the comments, crypto against stock, fees on position changes, compounding against summing, the
// metrics (Sharpe, Sortino, drawdown) on known series, the maxdiff day model and its grid search
// (optimum found by hand, deterministic), and the backtest JSON schema.
#include "eval/strategies.h"

#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "core/error.h"

namespace fcast::eval {
namespace {

constexpr double kEps = 1e-12;

const StrategyResult& find(const std::vector<StrategyResult>& v, const std::string& name) {
  for (const StrategyResult& r : v)
    if (r.name == name) return r;
  throw std::runtime_error("no strategy " + name);
}

StrategyOptions free_trading(AssetClass a) {
  StrategyOptions o;
  o.asset = a;
  o.costs.stock_fee = o.costs.crypto_fee = 0;
  o.costs.spread = 1.0;
  return o;
}

// prev close 100. Realised: day 0 102/100 - 1 = +0.02; day 1 96.9/102 - 1 = -0.05;
// day 2 99.807/96.9 - 1 = +0.03.
// Forecasts (close, high, low, band):
//   day 0 (+0.01, +0.02, +0.005, 0.004)  all up, |close| > band
//   day 1 (+0.01, +0.01, -0.02,  0.02)   mixed, |close| < band
//   day 2 (-0.01, -0.005, -0.02, 0.001)  all down, |close| > band
Window three_days() {
  Window w;
  w.prev_close = 100;
  w.bars = {{100, 103, 99, 102}, {102, 102, 96, 96.9}, {96.9, 100, 96, 99.807}};
  w.forecast = {{0.01, 0.02, 0.005, 0.004}, {0.01, 0.01, -0.02, 0.02}, {-0.01, -0.005, -0.02, 0.001}};
  return w;
}

TEST(Strategies, RealisedReturnsAreCloseToClose) {
  const auto r = realised_returns(three_days());
  ASSERT_EQ(r.size(), 3u);
  EXPECT_NEAR(r[0], 0.02, kEps);
  EXPECT_NEAR(r[1], -0.05, kEps);
  EXPECT_NEAR(r[2], 0.03, kEps);
}

TEST(Strategies, SignalStrategiesOnStocksWithoutCosts) {
  const auto r = evaluate_strategies(three_days(), free_trading(AssetClass::Stock));
  ASSERT_EQ(r.size(), strategy_names().size());
  // simple: +1 +1 -1 -> +0.02, -0.05, -0.03; compounded 1.02 * 0.95 * 0.97 - 1 = -0.06007.
  const StrategyResult& simple = find(r, "simple");
  EXPECT_EQ(simple.positions, (std::vector<double>{1, 1, -1}));
  EXPECT_NEAR(simple.daily_returns[2], -0.03, kEps);
  EXPECT_NEAR(simple.metrics.total_return, -0.06007, kEps);
  EXPECT_NEAR(simple.metrics.turnover, 3, kEps);  // 0->1, 1->1, 1->-1
  // all_signals: +1 0 -1 -> 1.02 * 1 * 0.97 - 1 = -0.0106.
  const StrategyResult& all = find(r, "all_signals");
  EXPECT_EQ(all.positions, (std::vector<double>{1, 0, -1}));
  EXPECT_NEAR(all.metrics.total_return, -0.0106, kEps);
  // buy_hold: +1 +1 0 -> 1.02 * 0.95 - 1 = -0.031.
  const StrategyResult& hold = find(r, "buy_hold");
  EXPECT_EQ(hold.positions, (std::vector<double>{1, 1, 0}));
  EXPECT_NEAR(hold.metrics.total_return, -0.031, kEps);
  // unprofit_shutdown: day 1 was long into -5 %: wrong, so day 2 (simple's losing short) is
  // skipped: +0.02, -0.05, 0 -> -0.031, better than simple's -0.06007.
  const StrategyResult& shut = find(r, "unprofit_shutdown");
  EXPECT_EQ(shut.positions, (std::vector<double>{1, 1, 0}));
  EXPECT_NEAR(shut.metrics.total_return, -0.031, kEps);
  // confidence_guard x1: day 1 |0.01| <= 0.02 sits out: +1 0 -1 -> -0.0106.
  EXPECT_EQ(find(r, "confidence_guard").positions, (std::vector<double>{1, 0, -1}));
}

TEST(Strategies, CryptoNeverShorts) {
  const auto r = evaluate_strategies(three_days(), free_trading(AssetClass::Crypto));
  // simple: +1 +1 0 -> -0.031; all_signals: +1 0 0 -> +0.02.
  EXPECT_EQ(find(r, "simple").positions, (std::vector<double>{1, 1, 0}));
  EXPECT_NEAR(find(r, "simple").metrics.total_return, -0.031, kEps);
  EXPECT_EQ(find(r, "all_signals").positions, (std::vector<double>{1, 0, 0}));
  EXPECT_NEAR(find(r, "all_signals").metrics.total_return, 0.02, kEps);
  EXPECT_EQ(find(r, "confidence_guard").positions, (std::vector<double>{1, 0, 0}));
  for (const StrategyResult& s : r)
    for (double p : s.positions) EXPECT_GE(p, 0) << s.name;
}

TEST(Strategies, UnprofitShutdownKeepsTheWrongDayAndThenStaysFlat) {
  // prev 100; day 0 long into 99 (-1 %, wrong); day 1 would have been a right long (+2 %).
  Window w;
  w.prev_close = 100;
  w.bars = {{100, 100, 98, 99}, {99, 101, 99, 100.98}, {100.98, 102, 100, 101}};
  w.forecast = {{0.01, 0.02, 0.0, 0}, {0.01, 0.02, 0.0, 0}, {0.01, 0.02, 0.0, 0}};
  const auto r = evaluate_strategies(w, free_trading(AssetClass::Stock));
  EXPECT_EQ(find(r, "unprofit_shutdown").positions, (std::vector<double>{1, 0, 0}));
  EXPECT_NEAR(find(r, "unprofit_shutdown").metrics.total_return, -0.01, kEps);
  EXPECT_EQ(find(r, "simple").positions, (std::vector<double>{1, 1, 1}));
}

TEST(Strategies, ConfidenceMultiplierWidensTheBand) {
  StrategyOptions o = free_trading(AssetClass::Stock);
  o.confidence_multiplier = 3;  // day 0: 0.01 <= 0.004 * 3 now sits out; day 2: 0.01 > 0.003 trades
  const auto r = evaluate_strategies(three_days(), o);
  EXPECT_EQ(find(r, "confidence_guard").positions, (std::vector<double>{0, 0, -1}));
  EXPECT_NEAR(find(r, "confidence_guard").metrics.total_return, -0.03, kEps);
}

TEST(Strategies, FeesArePaidOnPositionChanges) {
  // Stock defaults: 0.0005 + |1 - 1.00087| / 2 = 0.000935 per unit of change.
  const auto r = evaluate_strategies(three_days(), StrategyOptions{});
  const double unit = 0.0005 + 0.00087 / 2;
  // simple +1 +1 -1: changes 1, 0, 2.
  const auto& d = find(r, "simple").daily_returns;
  EXPECT_NEAR(d[0], 0.02 - unit, kEps);
  EXPECT_NEAR(d[1], -0.05, kEps);             // held: free
  EXPECT_NEAR(d[2], -0.03 - 2 * unit, kEps);  // long to short: two units
  EXPECT_NEAR(find(r, "simple").metrics.total_return, (1.02 - unit) * 0.95 * (0.97 - 2 * unit) - 1, kEps);
  // Crypto: 0.0015 + 0.000435 = 0.001935; simple +1 +1 0 pays the entry and the exit.
  StrategyOptions c;
  c.asset = AssetClass::Crypto;
  const auto rc = evaluate_strategies(three_days(), c);
  const double cunit = 0.0015 + 0.00087 / 2;
  EXPECT_NEAR(find(rc, "simple").daily_returns[0], 0.02 - cunit, kEps);
  EXPECT_NEAR(find(rc, "simple").daily_returns[2], -cunit, kEps);
}

TEST(Strategies, MixedSignalFeeDiscountIsOffByDefault) {
  // all_signals is +1 0 -1 (long, flat and short): the reference's 0.523 applies when asked.
  StrategyOptions o;
  const double plain = find(evaluate_strategies(three_days(), o), "all_signals").daily_returns[0];
  EXPECT_NEAR(plain, 0.02 - (0.0005 + 0.000435), kEps);
  o.costs.mixed_signal_fee_discount = true;
  const auto r = evaluate_strategies(three_days(), o);
  EXPECT_NEAR(find(r, "all_signals").daily_returns[0], 0.02 - (0.0005 * 0.523 + 0.000435), kEps);
  // simple (+1 +1 -1) has no flat day: full fee.
  EXPECT_NEAR(find(r, "simple").daily_returns[0], 0.02 - (0.0005 + 0.000435), kEps);
}

TEST(Strategies, MetricsOnAKnownSeries) {
  // r = 0.01, -0.02, 0.03, 0: mean 0.005; deviations 0.005, -0.025, 0.025, -0.005, population
  // variance (2.5e-5 + 6.25e-4 + 6.25e-4 + 2.5e-5) / 4 = 3.25e-4. Downside: (-0.02)^2 / 4 = 1e-4,
  // deviation 0.01. Equity 1.01, 0.9898, 1.019494, 1.019494: peak 1.01, trough 0.9898, drawdown
  // 0.0202 / 1.01 = 0.02.
  const std::vector<double> r = {0.01, -0.02, 0.03, 0.0};
  const std::vector<double> pos = {1, -1, 1, 0};
  const Metrics m = compute_metrics(r, pos, AssetClass::Stock, false);
  EXPECT_NEAR(m.total_return, 1.01 * 0.98 * 1.03 - 1, kEps);
  EXPECT_NEAR(m.avg_daily_return, 0.005, kEps);
  EXPECT_NEAR(m.annual_return, 0.005 * 252, kEps);
  EXPECT_NEAR(m.sharpe, 0.005 / std::sqrt(3.25e-4) * std::sqrt(252.0), 1e-9);
  EXPECT_NEAR(m.sortino, 0.005 / 0.01 * std::sqrt(252.0), 1e-9);
  EXPECT_NEAR(m.max_drawdown, 0.02, kEps);
  EXPECT_NEAR(m.final_day, 0.0, kEps);
  EXPECT_NEAR(m.turnover, 1 + 2 + 2 + 1, kEps);
  // Summed (the maxdiff family): 0.02 instead of 0.019494.
  EXPECT_NEAR(compute_metrics(r, pos, AssetClass::Stock, true).total_return, 0.02, kEps);
  // Crypto annualises with 365.
  const Metrics c = compute_metrics(r, pos, AssetClass::Crypto, false);
  EXPECT_NEAR(c.sharpe, 0.005 / std::sqrt(3.25e-4) * std::sqrt(365.0), 1e-9);
  EXPECT_NEAR(c.annual_return, 0.005 * 365, kEps);
}

TEST(Strategies, MetricsDegenerateCases) {
  // Constant returns: std 0 -> Sharpe 0; no losing day -> Sortino 0; no drawdown.
  const Metrics m = compute_metrics({0.01, 0.01, 0.01}, {1, 1, 1}, AssetClass::Stock, false);
  EXPECT_EQ(m.sharpe, 0);
  EXPECT_EQ(m.sortino, 0);
  EXPECT_EQ(m.max_drawdown, 0);
  // A first-day loss is a drawdown from the starting equity of 1: 1 -> 0.9 -> 0.945.
  EXPECT_NEAR(compute_metrics({-0.1, 0.05}, {1, 1}, AssetClass::Stock, false).max_drawdown, 0.1, kEps);
  EXPECT_EQ(compute_metrics({}, {}, AssetClass::Stock, false).total_return, 0);
}

TEST(Strategies, MaxdiffDayModel) {
  const DayForecast up{0.005, 0.02, -0.01, 0};  // |high| > |low|: long; buy 99, sell 102 (mult 1)
  // Filled (low 98.5 <= 99) and the target reached (high 103 >= 102): 102 / 99 - 1.
  MaxdiffDay d = maxdiff_day({100, 103, 98.5, 101}, 100, up, AssetClass::Stock, 1, 1);
  EXPECT_EQ(d.position, 1);
  EXPECT_NEAR(d.gross, 102.0 / 99 - 1, kEps);
  // Target missed (high 101): out at the close 100.5: 100.5 / 99 - 1.
  d = maxdiff_day({100, 101, 98, 100.5}, 100, up, AssetClass::Stock, 1, 1);
  EXPECT_NEAR(d.gross, 100.5 / 99 - 1, kEps);
  // Never down to 99: no trade.
  d = maxdiff_day({100, 103, 99.5, 102}, 100, up, AssetClass::Stock, 1, 1);
  EXPECT_EQ(d.position, 0);
  EXPECT_EQ(d.gross, 0);
  // Opens at 98, below the limit: filled at the open; out at the close 98.5: 98.5 / 98 - 1.
  d = maxdiff_day({98, 99, 97, 98.5}, 100, up, AssetClass::Stock, 1, 1);
  EXPECT_NEAR(d.gross, 98.5 / 98 - 1, kEps);
  // Multipliers scale the distances: a = 2 buys at 98, b = 0.5 sells at 101: 101 / 98 - 1.
  d = maxdiff_day({100, 103, 97.5, 100}, 100, up, AssetClass::Stock, 2, 0.5);
  EXPECT_NEAR(d.gross, 101.0 / 98 - 1, kEps);

  const DayForecast down{-0.005, 0.01, -0.03, 0};  // |high| < |low|: short; sell 101, buy 97
  d = maxdiff_day({100, 101.5, 96, 97.5}, 100, down, AssetClass::Stock, 1, 1);
  EXPECT_EQ(d.position, -1);
  EXPECT_NEAR(d.gross, 1 - 97.0 / 101, kEps);
  // Low 98 misses the cover at 97: bought back at the close 99: 1 - 99 / 101.
  d = maxdiff_day({100, 101.5, 98, 99}, 100, down, AssetClass::Stock, 1, 1);
  EXPECT_NEAR(d.gross, 1 - 99.0 / 101, kEps);
  // Crypto never shorts.
  EXPECT_EQ(maxdiff_day({100, 101.5, 96, 97.5}, 100, down, AssetClass::Crypto, 1, 1).position, 0);
  // Predicted low >= predicted high: skipped.
  EXPECT_EQ(maxdiff_day({100, 103, 95, 101}, 100, {0, -0.01, 0.0, 0}, AssetClass::Stock, 1, 1).position, 0);
}

// One long day: buy at 100(1 - 0.01a), sell at 100(1 + 0.02b) if the high 103.15 reaches it, else
// at the close 101. Every a in [0, 2] fills (low 97.9), so a = 2 buys lowest, at 98. Targets up to
// 103.15 fill: b = 1.55 sells at 103.1 (b = 1.6 would need 103.2). Optimum 103.1 / 98 - 1.
// Baseline (a = b = 1): 102 / 99 - 1.
Window one_long_day() {
  Window w;
  w.prev_close = 100;
  w.bars = {{100, 103.15, 97.9, 101}};
  w.forecast = {{0.005, 0.02, -0.01, 0}};
  return w;
}

TEST(Strategies, MaxdiffGridFindsTheHandOptimum) {
  const auto r = evaluate_strategies(one_long_day(), free_trading(AssetClass::Stock));
  const StrategyResult& md = find(r, "maxdiff");
  ASSERT_TRUE(md.maxdiff.has_value());
  EXPECT_NEAR(md.maxdiff->baseline_return, 102.0 / 99 - 1, kEps);
  EXPECT_NEAR(md.maxdiff->optimized_return, 103.1 / 98 - 1, 1e-9);
  EXPECT_NEAR(md.maxdiff->entry_mult, 2.0, 1e-9);
  EXPECT_NEAR(md.maxdiff->exit_mult, 1.55, 1e-9);
  // return = baseline + 0.3 x optimized.
  EXPECT_NEAR(md.maxdiff->adjusted_return, md.maxdiff->baseline_return + 0.3 * md.maxdiff->optimized_return, kEps);
  EXPECT_EQ(md.metrics.total_return, md.maxdiff->adjusted_return);
  EXPECT_NEAR(md.metrics.turnover, 2, kEps);  // in and out the same day
  // With stock costs each filled day pays two units.
  const auto rc = evaluate_strategies(one_long_day(), StrategyOptions{});
  EXPECT_NEAR(find(rc, "maxdiff").maxdiff->baseline_return, 102.0 / 99 - 1 - 2 * (0.0005 + 0.000435), kEps);
}

TEST(Strategies, MaxdiffSumsAndIsDeterministic) {
  // Day 0 as one_long_day; day 1 from 101: long, buy 99.99, sell 103.02 (high 104), both mult 1.
  Window w = one_long_day();
  w.bars.push_back({101, 104, 99.5, 102});
  w.forecast.push_back({0.005, 0.02, -0.01, 0});
  const auto a = evaluate_strategies(w, free_trading(AssetClass::Stock));
  const StrategyResult& md = find(a, "maxdiff");
  const double d0 = 102.0 / 99 - 1, d1 = 103.02 / 99.99 - 1;
  EXPECT_NEAR(md.maxdiff->baseline_return, d0 + d1, kEps);  // summed, not (1 + d0)(1 + d1) - 1
  EXPECT_GT(std::abs((1 + d0) * (1 + d1) - 1 - (d0 + d1)), 1e-4);
  EXPECT_GE(md.maxdiff->optimized_return, md.maxdiff->baseline_return);  // (1, 1) is on the grid
  const auto b = evaluate_strategies(w, free_trading(AssetClass::Stock));
  const StrategyResult& md2 = find(b, "maxdiff");
  EXPECT_EQ(md.maxdiff->optimized_return, md2.maxdiff->optimized_return);
  EXPECT_EQ(md.maxdiff->entry_mult, md2.maxdiff->entry_mult);
  EXPECT_EQ(md.maxdiff->exit_mult, md2.maxdiff->exit_mult);
  EXPECT_EQ(md.daily_returns, md2.daily_returns);
}

TEST(Strategies, BadWindowsAreErrors) {
  Window w = three_days();
  w.forecast.pop_back();
  EXPECT_THROW(evaluate_strategies(w, StrategyOptions{}), Error);
  w = three_days();
  w.bars[1].high = 90;  // below its close
  EXPECT_THROW(evaluate_strategies(w, StrategyOptions{}), Error);
  w = three_days();
  w.forecast[0].close = NAN;
  EXPECT_THROW(evaluate_strategies(w, StrategyOptions{}), Error);
  EXPECT_THROW(evaluate_strategies(Window{}, StrategyOptions{}), Error);
  StrategyOptions o;
  o.grid.step = 0;
  EXPECT_THROW(evaluate_strategies(three_days(), o), Error);
}

TEST(Strategies, BacktestJsonHasTheReferenceSchema) {
  const StrategyOptions o = free_trading(AssetClass::Stock);
  const auto run1 = evaluate_strategies(three_days(), o);
  const auto run2 = evaluate_strategies(one_long_day(), o);
  const auto summary = summarise({run1, run2});
  BacktestMetrics m;
  m.close_val_loss = 0.012;
  m.high_val_loss = NAN;  // not measured: null
  const nlohmann::json j = backtest_json("AAPL", summary, m, "2026-12-06T03:00:00Z");
  EXPECT_EQ(j["symbol"], "AAPL");
  EXPECT_EQ(j["runs"], 2);
  EXPECT_EQ(j["generated_at"], "2026-12-06T03:00:00Z");
  for (const std::string& name : strategy_names()) {
    ASSERT_TRUE(j["strategies"].contains(name)) << name;
    for (const char* k : {"return", "sharpe", "final_day", "avg_daily_return", "annual_return", "turnover",
                          "max_drawdown", "sortino"})
      EXPECT_TRUE(j["strategies"][name].contains(k)) << name << " " << k;
    EXPECT_EQ(j["strategies"][name].contains("adjusted_return"), name == "maxdiff") << name;
  }
  // simple: mean of -0.06007 (three_days) and +0.01 (one long day, 101 / 100 - 1).
  EXPECT_NEAR(j["strategies"]["simple"]["return"].get<double>(), (-0.06007 + 0.01) / 2, kEps);
  EXPECT_EQ(j["strategies"]["maxdiff"]["return"], j["strategies"]["maxdiff"]["adjusted_return"]);
  EXPECT_NEAR(j["metrics"]["close_val_loss"].get<double>(), 0.012, kEps);
  EXPECT_TRUE(j["metrics"]["high_val_loss"].is_null());
  for (const char* k : {"low_val_loss", "walk_forward_oos_sharpe", "walk_forward_turnover",
                        "walk_forward_maxdiff_sharpe"})
    EXPECT_TRUE(j["metrics"].contains(k)) << k;
}

}  // namespace
}  // namespace fcast::eval
