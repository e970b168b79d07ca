#include "eval/strategies.h"

#include <algorithm>
#include <cmath>
#include <map>

#include "core/error.h"

namespace fcast::eval {
namespace {

// The reference's unexplained fee factor for windows mixing long, short and flat (off by default).
constexpr double kMixedSignalFeeFactor = 0.523;
// The reference's blend of baseline and in-sample optimum for maxdiff.
constexpr double kOptimizedWeight = 0.3;
constexpr double kTinyStd = 1e-9;

double periods_per_year(AssetClass a) { return a == AssetClass::Crypto ? 365.0 : 252.0; }
double fee_rate(AssetClass a, const TradingCosts& c) { return a == AssetClass::Crypto ? c.crypto_fee : c.stock_fee; }
double unit_cost(AssetClass a, const TradingCosts& c) { return fee_rate(a, c) + std::abs(1.0 - c.spread) / 2.0; }
bool finite(double x) { return std::isfinite(x); }

void check_window(const Window& w) {
  FCAST_CHECK(!w.bars.empty(), "backtest window has no days");
  FCAST_CHECK(w.bars.size() == w.forecast.size(), "backtest window has ", w.bars.size(), " bars but ",
              w.forecast.size(), " forecasts; they must pair day by day");
  FCAST_CHECK(finite(w.prev_close) && w.prev_close > 0, "backtest window: previous close ", w.prev_close,
              " is not a positive finite price");
  for (size_t t = 0; t < w.bars.size(); ++t) {
    const DayBar& b = w.bars[t];
    for (double p : {b.open, b.high, b.low, b.close})
      FCAST_CHECK(finite(p) && p > 0, "backtest window day ", t, ": price ", p, " is not positive and finite");
    FCAST_CHECK(b.low <= std::min(b.open, b.close) && b.high >= std::max(b.open, b.close),
                "backtest window day ", t, ": high ", b.high, " / low ", b.low, " do not bound open ", b.open,
                " and close ", b.close);
    const DayForecast& f = w.forecast[t];
    for (double v : {f.close, f.high, f.low, f.band})
      FCAST_CHECK(finite(v), "backtest window day ", t, ": a forecast value is not finite (", v, ")");
  }
}

double no_short(double pos, AssetClass a) { return (a == AssetClass::Crypto && pos < 0) ? 0.0 : pos; }

double sum(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x;
  return s;
}

// Net summed return of maxdiff with the given multipliers; fills daily/positions when asked.
double maxdiff_path(const Window& w, AssetClass asset, double cost, double a, double b, std::vector<double>* daily,
                    std::vector<double>* positions) {
  double total = 0;
  double prev = w.prev_close;
  for (size_t t = 0; t < w.bars.size(); ++t) {
    const MaxdiffDay d = maxdiff_day(w.bars[t], prev, w.forecast[t], asset, a, b);
    const double net = d.position != 0 ? d.gross - 2.0 * cost : 0.0;
    total += net;
    if (daily) daily->push_back(net);
    if (positions) positions->push_back(d.position);
    prev = w.bars[t].close;
  }
  return total;
}

StrategyResult signal_result(std::string name, std::vector<double> pos, const std::vector<double>& realised,
                             const StrategyOptions& o) {
  StrategyResult r;
  r.name = std::move(name);
  r.daily_returns = position_returns(pos, realised, o.asset, o.costs);
  r.metrics = compute_metrics(r.daily_returns, pos, o.asset, false);
  r.positions = std::move(pos);
  return r;
}

}  // namespace

const std::vector<std::string>& strategy_names() {
  static const std::vector<std::string> names = {"simple", "all_signals", "buy_hold", "unprofit_shutdown",
                                                 "confidence_guard", "maxdiff"};
  return names;
}

std::vector<double> realised_returns(const Window& w) {
  std::vector<double> r;
  double prev = w.prev_close;
  for (const DayBar& b : w.bars) {
    r.push_back(b.close / prev - 1.0);
    prev = b.close;
  }
  return r;
}

std::vector<double> position_returns(const std::vector<double>& positions, const std::vector<double>& realised,
                                     AssetClass asset, const TradingCosts& c) {
  FCAST_CHECK(positions.size() == realised.size(), "position_returns: ", positions.size(), " positions for ",
              realised.size(), " days");
  bool any_long = false, any_short = false, any_flat = false;
  for (double p : positions) {
    any_long |= p > 0;
    any_short |= p < 0;
    any_flat |= p == 0;
  }
  double fee = fee_rate(asset, c);
  if (c.mixed_signal_fee_discount && any_long && any_short && any_flat) fee *= kMixedSignalFeeFactor;
  const double cost = fee + std::abs(1.0 - c.spread) / 2.0;
  std::vector<double> out;
  double prev = 0;  // flat before the window: the first entry pays
  for (size_t t = 0; t < positions.size(); ++t) {
    out.push_back(positions[t] * realised[t] - std::abs(positions[t] - prev) * cost);
    prev = positions[t];
  }
  return out;
}

MaxdiffDay maxdiff_day(const DayBar& bar, double prev_close, const DayForecast& f, AssetClass asset,
                       double entry_mult, double exit_mult) {
  if (f.low >= f.high) return {};
  const bool long_side = std::abs(f.high) > std::abs(f.low);
  if (!long_side && asset == AssetClass::Crypto) return {};
  if (long_side) {
    const double limit = prev_close * (1.0 + f.low * entry_mult);
    if (bar.low > limit) return {};
    const double entry = std::min(limit, bar.open);
    const double target = prev_close * (1.0 + f.high * exit_mult);
    const double exit = bar.high >= target ? target : bar.close;
    return {exit / entry - 1.0, +1};
  }
  const double limit = prev_close * (1.0 + f.high * entry_mult);
  if (bar.high < limit) return {};
  const double entry = std::max(limit, bar.open);
  const double target = prev_close * (1.0 + f.low * exit_mult);
  const double exit = bar.low <= target ? target : bar.close;
  return {1.0 - exit / entry, -1};
}

Metrics compute_metrics(const std::vector<double>& r, const std::vector<double>& positions, AssetClass asset,
                        bool summed) {
  Metrics m;
  if (r.empty()) return m;
  const double n = static_cast<double>(r.size());
  const double ann = periods_per_year(asset);
  double peak = 1.0, equity = 1.0;  // the curve starts at 1, so a first-day loss is a drawdown
  for (double x : r) {
    equity *= 1.0 + x;
    peak = std::max(peak, equity);
    m.max_drawdown = std::max(m.max_drawdown, (peak - equity) / peak);
  }
  m.total_return = summed ? sum(r) : equity - 1.0;
  const double mean = sum(r) / n;
  double var = 0, down = 0;
  for (double x : r) {
    var += (x - mean) * (x - mean);
    down += std::min(x, 0.0) * std::min(x, 0.0);
  }
  const double sd = std::sqrt(var / n);  // population std, as numpy's default
  const double dd = std::sqrt(down / n);
  m.sharpe = sd <= kTinyStd ? 0.0 : mean / sd * std::sqrt(ann);
  m.sortino = dd <= kTinyStd ? 0.0 : mean / dd * std::sqrt(ann);
  m.avg_daily_return = mean;
  m.annual_return = mean * ann;
  m.final_day = r.back();
  // Positions are held from flat, so the first entry counts as turnover, like its fee.
  double prev = 0;
  for (double p : positions) {
    m.turnover += std::abs(p - prev);
    prev = p;
  }
  return m;
}

std::vector<StrategyResult> evaluate_strategies(const Window& w, const StrategyOptions& o) {
  check_window(w);
  FCAST_CHECK(finite(o.confidence_multiplier) && o.confidence_multiplier >= 0,
              "confidence_guard multiplier must be finite and >= 0, got ", o.confidence_multiplier);
  FCAST_CHECK(finite(o.grid.lo) && finite(o.grid.hi) && finite(o.grid.step) && o.grid.step > 0 &&
                  o.grid.hi >= o.grid.lo && (o.grid.hi - o.grid.lo) / o.grid.step <= 400 + 1e-9,
              "maxdiff grid [", o.grid.lo, ", ", o.grid.hi, "] step ", o.grid.step,
              " must be finite, increasing, with a positive step and at most 400 steps");
  const std::vector<double> realised = realised_returns(w);
  const size_t n = w.bars.size();
  const AssetClass a = o.asset;

  std::vector<double> simple(n), all(n), hold(n), shutdown(n), guard(n);
  bool stopped = false;
  for (size_t t = 0; t < n; ++t) {
    const DayForecast& f = w.forecast[t];
    simple[t] = no_short(f.close > 0 ? 1.0 : -1.0, a);
    const bool all_up = f.close > 0 && f.high > 0 && f.low > 0;
    const bool all_down = f.close < 0 && f.high < 0 && f.low < 0;
    all[t] = no_short(all_up ? 1.0 : all_down ? -1.0 : 0.0, a);
    hold[t] = f.close > 0 ? 1.0 : 0.0;
    shutdown[t] = stopped ? 0.0 : simple[t];
    if (shutdown[t] * realised[t] < 0) stopped = true;
    guard[t] = std::abs(f.close) > f.band * o.confidence_multiplier ? simple[t] : 0.0;
  }

  std::vector<StrategyResult> out;
  out.push_back(signal_result("simple", simple, realised, o));
  out.push_back(signal_result("all_signals", all, realised, o));
  out.push_back(signal_result("buy_hold", hold, realised, o));
  out.push_back(signal_result("unprofit_shutdown", shutdown, realised, o));
  out.push_back(signal_result("confidence_guard", guard, realised, o));

  StrategyResult md;
  md.name = "maxdiff";
  const double cost = unit_cost(a, o.costs);
  MaxdiffDetail d;
  d.baseline_return = maxdiff_path(w, a, cost, 1.0, 1.0, &md.daily_returns, &md.positions);
  // Grid points come from integer indices so the scan does not accumulate rounding.
  const int steps = static_cast<int>(std::floor((o.grid.hi - o.grid.lo) / o.grid.step + 1e-9));
  bool first = true;
  for (int i = 0; i <= steps; ++i) {
    const double ea = o.grid.lo + i * o.grid.step;
    for (int j = 0; j <= steps; ++j) {
      const double eb = o.grid.lo + j * o.grid.step;
      const double s = maxdiff_path(w, a, cost, ea, eb, nullptr, nullptr);
      if (first || s > d.optimized_return) {
        d.optimized_return = s;
        d.entry_mult = ea;
        d.exit_mult = eb;
        first = false;
      }
    }
  }
  d.adjusted_return = d.baseline_return + kOptimizedWeight * d.optimized_return;
  md.metrics = compute_metrics(md.daily_returns, md.positions, a, true);
  // A filled day opens and closes: two units of position change.
  md.metrics.turnover = 0;
  for (double p : md.positions) md.metrics.turnover += 2.0 * std::abs(p);
  md.metrics.total_return = d.adjusted_return;
  md.maxdiff = d;
  out.push_back(std::move(md));
  return out;
}

std::vector<StrategySummary> summarise(const std::vector<std::vector<StrategyResult>>& runs) {
  std::vector<StrategySummary> out;
  std::map<std::string, size_t> index;
  for (const auto& run : runs) {
    for (const StrategyResult& r : run) {
      auto [it, inserted] = index.emplace(r.name, out.size());
      if (inserted) {
        out.emplace_back();
        out.back().name = r.name;
        if (r.maxdiff) out.back().maxdiff = MaxdiffDetail{0, 0, 0, 0, 0};
      }
      StrategySummary& s = out[it->second];
      ++s.runs;
      Metrics& m = s.mean;
      m.total_return += r.metrics.total_return;
      m.sharpe += r.metrics.sharpe;
      m.annual_return += r.metrics.annual_return;
      m.avg_daily_return += r.metrics.avg_daily_return;
      m.final_day += r.metrics.final_day;
      m.turnover += r.metrics.turnover;
      m.max_drawdown += r.metrics.max_drawdown;
      m.sortino += r.metrics.sortino;
      if (r.maxdiff && s.maxdiff) {
        s.maxdiff->baseline_return += r.maxdiff->baseline_return;
        s.maxdiff->optimized_return += r.maxdiff->optimized_return;
        s.maxdiff->adjusted_return += r.maxdiff->adjusted_return;
        s.maxdiff->entry_mult = r.maxdiff->entry_mult;
        s.maxdiff->exit_mult = r.maxdiff->exit_mult;
      }
    }
  }
  for (StrategySummary& s : out) {
    const double k = s.runs;
    Metrics& m = s.mean;
    for (double* v : {&m.total_return, &m.sharpe, &m.annual_return, &m.avg_daily_return, &m.final_day, &m.turnover,
                      &m.max_drawdown, &m.sortino})
      *v /= k;
    if (s.maxdiff) {
      s.maxdiff->baseline_return /= k;
      s.maxdiff->optimized_return /= k;
      s.maxdiff->adjusted_return /= k;
    }
  }
  return out;
}

nlohmann::json backtest_json(const std::string& symbol, const std::vector<StrategySummary>& strategies,
                             const BacktestMetrics& metrics, const std::string& generated_at) {
  // nlohmann writes NaN as null already; this keeps that a stated part of the format.
  auto num = [](double v) { return finite(v) ? nlohmann::json(v) : nlohmann::json(nullptr); };
  nlohmann::json j;
  j["symbol"] = symbol;
  int runs = 0;
  nlohmann::json s = nlohmann::json::object();
  for (const StrategySummary& st : strategies) {
    runs = std::max(runs, st.runs);
    const Metrics& m = st.mean;
    nlohmann::json e = {{"return", num(m.total_return)},       {"sharpe", num(m.sharpe)},
                        {"final_day", num(m.final_day)},       {"avg_daily_return", num(m.avg_daily_return)},
                        {"annual_return", num(m.annual_return)}, {"turnover", num(m.turnover)},
                        {"max_drawdown", num(m.max_drawdown)}, {"sortino", num(m.sortino)}};
    if (st.maxdiff) {
      e["baseline_return"] = num(st.maxdiff->baseline_return);
      e["optimized_return"] = num(st.maxdiff->optimized_return);
      e["adjusted_return"] = num(st.maxdiff->adjusted_return);
    }
    s[st.name] = std::move(e);
  }
  j["runs"] = runs;
  j["generated_at"] = generated_at;
  j["strategies"] = std::move(s);
  j["metrics"] = {{"close_val_loss", num(metrics.close_val_loss)},
                  {"high_val_loss", num(metrics.high_val_loss)},
                  {"low_val_loss", num(metrics.low_val_loss)},
                  {"walk_forward_oos_sharpe", num(metrics.walk_forward_oos_sharpe)},
                  {"walk_forward_turnover", num(metrics.walk_forward_turnover)},
                  {"walk_forward_maxdiff_sharpe", num(metrics.walk_forward_maxdiff_sharpe)}};
  return j;
}

}  // namespace fcast::eval
