// Trading strategies scored on one walk-forward window, their metrics, and the backtest JSON
// that `fcast backtest` writes (the Python backtest's schema, so old and new results diff).
//
//   eval::Window w;                       // the last 7 days: realised bars + per-day forecasts
//   w.prev_close = 100;
//   w.bars = {{100, 103, 99, 102}, ...};  // open, high, low, close
//   w.forecast = {{0.01, 0.02, -0.01, 0.004}, ...};  // predicted close/high/low change, band
//   eval::StrategyOptions o;  o.asset = eval::AssetClass::Crypto;
//   std::vector<eval::StrategyResult> r = eval::evaluate_strategies(w, o);   // one per strategy
//   // ...for every simulation, then:
//   nlohmann::json j = eval::backtest_json("BTCUSD", eval::summarise(all_runs), metrics, "2026-12-06T03:00:00Z");
//
// Units: every return and predicted change is a fraction (0.01 = 1 %). Day t's realised return is
// close_t / close_{t-1} - 1, where close_{-1} = Window::prev_close.
//
// Signal strategies (one position per day in {-1, 0, +1}, held from the previous close to the
// day's close; "crypto" turns every short into flat):
//   simple            +1 if predicted close change > 0, else -1 (0 counts as short, as the reference).
//   all_signals       +1 if close, high and low predictions are all > 0, -1 if all < 0, else 0.
//   buy_hold          +1 if predicted close change > 0, else 0.
//   unprofit_shutdown simple's positions until the first wrong call (a day with a position whose
//                     realised return has the opposite sign); flat for the rest of the window. The
//                     wrong day itself keeps its loss: the position was taken before it was known.
//   confidence_guard  simple's position on days with |predicted close| > band x multiplier, else 0.
// Daily return = position x realised return - fee, fee = |position_t - position_{t-1}| x
// (fee rate + |1 - spread| / 2), position_{-1} = 0 (the first entry pays; the open position left at
// the window's end does not pay its exit, as the reference).
//
// maxdiff (intraday: enter on the predicted low side, exit on the predicted high side):
//   Day skipped (flat) if predicted low >= predicted high. Long if |high| > |low|, else short;
//   crypto never shorts (the day is flat). With P = previous close, a = entry_mult, b = exit_mult:
//   long:  limit buy at  E = P(1 + low*a); filled if the day's low <= E, at min(E, open) (a gap
//          below the limit fills at the open). Then take profit at X = P(1 + high*b) if the day's
//          high >= X, else sell at the close. Gross = exit / entry - 1.
//   short: limit sell at E = P(1 + high*a); filled if the day's high >= E, at max(E, open). Then
//          buy back at X = P(1 + low*b) if the day's low <= X, else at the close.
//          Gross = 1 - exit / entry.
//   The entry is assumed to come before the exit within the day (daily bars cannot tell; this is
//   optimistic and documented rather than guessed). A filled day is a round trip: its position
//   change is 2 (its turnover) and it pays 2 x (fee rate + |1 - spread| / 2). An unfilled day is
//   flat and free.
//   baseline  = summed net return with a = b = 1 (orders exactly at the predicted low/high).
//   optimized = the largest summed net return over the grid a, b in {lo, lo + step, ..., hi}
//               (default 0, 0.05, ..., 2: 41 x 41 points), scanned a-major then b, ties keeping
//               the first: deterministic, no randomness. The reference used a torch grid plus
//               nevergrad; a plain grid gives the same kind of answer reproducibly.
//   return    = adjusted = baseline + 0.3 x optimized, the reference's blend (a shrinkage of an
//               in-sample optimum; 0.3 is its constant, kept so results compare).
//   The other metrics (Sharpe, drawdown, ...) come from the baseline path: the optimised path is
//   fitted on the days it would be scored on.
//
// Metrics (compute_metrics): total return compounded (prod(1 + r) - 1), except the maxdiff family,
// which sums, as the reference; Sharpe = mean / std x sqrt(252 stocks | 365 crypto) with the
// population std (numpy's default), 0 when std <= 1e-9; annual = mean x 252|365 (not compounded);
// avg daily; final day; turnover = sum |position change|; max drawdown = the largest fall from a
// running peak of the compounded equity curve (starting at 1), as a positive fraction; Sortino =
// mean / downside deviation x sqrt(252|365), downside deviation = sqrt(mean over all days of
// min(r, 0)^2), 0 when there is no losing day.
//
// Thread safety: every function is pure; all may be called concurrently.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace fcast::eval {

enum class AssetClass : uint8_t { Stock, Crypto };

struct DayBar {
  double open = 0, high = 0, low = 0, close = 0;
};

// Predicted changes of close, high and low relative to the previous close, and the close
// forecast's p60 - p40 band (confidence_guard only).
struct DayForecast {
  double close = 0, high = 0, low = 0, band = 0;
};

struct Window {
  double prev_close = 0;               // the close before bars[0]
  std::vector<DayBar> bars;            // realised, oldest first
  std::vector<DayForecast> forecast;   // one per bar
};

struct TradingCosts {
  double stock_fee = 0.0005;    // per unit of position change, stocks
  double crypto_fee = 0.0015;   // per unit of position change, crypto
  double spread = 1.00087;      // ask/bid ratio; half of |1 - spread| is paid per unit change
  // The reference multiplied the fee (not the half-spread) by 0.523 when a window's positions
  // held long, short and flat days. Nothing explains the constant, so it is off by default and
  // kept only to reproduce old numbers. Applies to the signal strategies, not maxdiff.
  bool mixed_signal_fee_discount = false;
};

// Requirements: finite, hi >= lo, step > 0, at most 400 steps (the scan is (steps + 1)^2 paths).
struct MaxdiffGrid {
  double lo = 0.0, hi = 2.0, step = 0.05;  // multipliers lo, lo + step, ..., hi (inclusive)
};

struct StrategyOptions {
  AssetClass asset = AssetClass::Stock;
  TradingCosts costs;
  double confidence_multiplier = 1.0;   // confidence_guard: trade when |pred| > band x this
  MaxdiffGrid grid;
};

struct Metrics {
  double total_return = 0, sharpe = 0, annual_return = 0, avg_daily_return = 0, final_day = 0,
         turnover = 0, max_drawdown = 0, sortino = 0;
};

struct MaxdiffDetail {
  double baseline_return = 0, optimized_return = 0, adjusted_return = 0;
  double entry_mult = 1, exit_mult = 1;   // the grid point that gave optimized_return
};

struct StrategyResult {
  std::string name;
  std::vector<double> positions;      // per day; maxdiff: +1/-1 on a filled day, else 0
  std::vector<double> daily_returns;  // net of fees
  Metrics metrics;
  std::optional<MaxdiffDetail> maxdiff;
};

// The names evaluate_strategies returns, in its order.
const std::vector<std::string>& strategy_names();

// Every strategy on one window. Throws fcast::Error if the window is empty, the forecast and bar
// counts differ, a price is not positive and finite, a bar's high/low do not bound its open and
// close, or a forecast is not finite.
std::vector<StrategyResult> evaluate_strategies(const Window& w, const StrategyOptions& o);

// Day t's realised close-to-close return.
std::vector<double> realised_returns(const Window& w);

// Net daily returns of holding `positions` (one per day) under the fee rule above.
std::vector<double> position_returns(const std::vector<double>& positions, const std::vector<double>& realised,
                                     AssetClass asset, const TradingCosts& c);

// One maxdiff day, gross of fees; position 0 means no trade (gross 0).
struct MaxdiffDay {
  double gross = 0;
  int position = 0;   // +1 long, -1 short, 0 skipped or not filled
};
MaxdiffDay maxdiff_day(const DayBar& bar, double prev_close, const DayForecast& f, AssetClass asset,
                       double entry_mult, double exit_mult);

// `summed` selects the maxdiff family's total (sum instead of compounding).
Metrics compute_metrics(const std::vector<double>& daily_returns, const std::vector<double>& positions,
                        AssetClass asset, bool summed);

// Per-strategy means over walk-forward runs (each run a evaluate_strategies result): what the
// reference's JSON reports. `runs` counts the windows averaged.
struct StrategySummary {
  std::string name;
  int runs = 0;
  Metrics mean;
  std::optional<MaxdiffDetail> maxdiff;   // means of baseline/optimized/adjusted (mults: last run's)
};
std::vector<StrategySummary> summarise(const std::vector<std::vector<StrategyResult>>& runs);

// metrics{} of the JSON; a NaN (not measured) is written as null.
struct BacktestMetrics {
  double close_val_loss = 0, high_val_loss = 0, low_val_loss = 0;
  double walk_forward_oos_sharpe = 0, walk_forward_turnover = 0, walk_forward_maxdiff_sharpe = 0;
};

// {symbol, runs, generated_at, strategies:{name:{return, sharpe, final_day, avg_daily_return,
// annual_return, turnover, max_drawdown, sortino[, baseline_return, optimized_return,
// adjusted_return]}}, metrics:{...}}. maxdiff's "return" is adjusted_return. `runs` is the largest
// StrategySummary::runs (0 if none).
nlohmann::json backtest_json(const std::string& symbol, const std::vector<StrategySummary>& strategies,
                             const BacktestMetrics& metrics, const std::string& generated_at);

}  // namespace fcast::eval
