// Compile guard: is the compiled (or bf16) executor safe to trade on? Compares backtest results
// (eval::backtest_json) of the identical backtest run under different executors, keeps a history
// of those comparisons, and rates each metric's drift over time.
//
//   eval::GuardRun eager{"eager", eager_json}, compiled{"compiled", compiled_json};
//   eval::GuardComparison c = eval::compare_backtests(eager, compiled, "compile");
//   std::vector<eval::GuardComparison> all = {c};
//   eval::Overall v = eval::overall_verdict(all);      // SAFE / USE WITH CAUTION / DO NOT USE / INVALID
//   eval::append_history("guard_compile_history.json", eval::history_entry(c, eager, compiled, now));
//   return eval::guard_exit_status(v);                 // 1 on DO NOT USE, 2 on INVALID, else 0
//
// Verdict per symbol (the reference's gates): the largest |candidate - baseline| over the
// strategies' "return" is > 0.05: FAIL; > 0.01: WARN; else PASS (exactly 0.05 warns, exactly 0.01
// passes). A non-finite delta fails. Overall: any FAIL gives DO NOT USE; else any INVALID gives
// INVALID; else any WARN gives USE WITH CAUTION; else SAFE.
//
// INVALID (a fix of the reference): its history was full of exactly-0 deltas because both runs
// read the same cached forecasts, so they compared one executor with itself. Each run therefore
// names the executor that really produced its forecasts (the caller fills GuardRun::executor
// from what ran, not from what was asked for), and a comparison whose two executors are equal or
// unnamed is INVALID whatever its deltas: it says nothing about the executor.
//
// History file: a JSON array, one entry per comparison:
//   {timestamp, symbol, variant, baseline{executor, maxdiff_return, simple_return, maxdiff_sharpe,
//    simple_sharpe, maxdiff_turnover, close_val_loss}, compile{same keys}, delta{same keys but
//    executor: compile - baseline}, verdict}
// A key a result lacks is null. append_history rewrites the file atomically (a temporary file
// beside it, then rename), so a crash leaves the old or the new file, never half of one; it is
// not fsync'd (standard library only), so a power loss may lose the last entry. A file that is
// not a JSON array is an error naming it: it is never overwritten.
//
// Rolling rule (rate_history), per symbol, variant ("SYMBOL (variant)") and delta metric over the entries with a number for it
// (entries whose executors are recorded and equal are skipped: see INVALID), n = count, mean of
// the deltas, positive ratio = (deltas > 0) / n:
//   n < 5                                  "insufficient"
//   |mean| > 0.01                          "promote" if mean > 0, "regress" if mean < 0
//   else |mean| > 0.005                    "watch"
//   else positive ratio <= 0.3             "regress" (mostly non-improving; exact zeros count as
//                                          non-positive, as the reference, so a run of zeros shows)
//   else                                   "stable"
//
// Thread safety: all functions may be called concurrently, except that concurrent
// append_history calls on the same file may lose an entry (last rename wins); serialise them.
#pragma once
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace fcast::eval {

// Gates on max |delta return| (fractions).
inline constexpr double kGuardWarnDelta = 0.01;
inline constexpr double kGuardFailDelta = 0.05;

enum class Verdict { Pass, Warn, Fail, Invalid };
enum class Overall { Safe, UseWithCaution, DoNotUse, Invalid };

const char* verdict_name(Verdict v);   // "PASS", "WARN", "FAIL", "INVALID"
const char* overall_name(Overall v);   // "SAFE", "USE WITH CAUTION", "DO NOT USE", "INVALID"

// One backtest result and the executor that really produced it ("eager", "compiled", "bf16"...).
struct GuardRun {
  std::string executor;
  nlohmann::json result;   // backtest_json's object
};

struct StrategyDelta {
  std::string name;
  double return_delta = 0;   // candidate - baseline
  double sharpe_delta = 0;
};

struct ValLossDelta {
  std::string key;   // close_val_loss, high_val_loss, low_val_loss
  double delta = 0;
};

struct GuardComparison {
  std::string symbol, variant, baseline_executor, candidate_executor;
  std::vector<StrategyDelta> strategies;   // in the baseline's order (sorted by name)
  std::vector<ValLossDelta> val_loss;      // the keys both results have a number for
  double max_abs_return_delta = 0;
  Verdict verdict = Verdict::Invalid;
  std::string reason;                      // why, in words
};

// Compares `candidate` with `baseline`. Throws fcast::Error if either result lacks symbol or
// strategies, the symbols or runs differ, the strategy sets differ, or a strategy lacks a numeric
// return / sharpe (null counts as not finite and fails the verdict instead): those are not the
// same backtest.
GuardComparison compare_backtests(const GuardRun& baseline, const GuardRun& candidate, const std::string& variant);

// The baseline against each candidate (e.g. compiled and bf16), in order.
std::vector<GuardComparison> compare_variants(const GuardRun& baseline, const std::vector<GuardRun>& candidates,
                                              const std::vector<std::string>& variants);

Overall overall_verdict(const std::vector<GuardComparison>& comparisons);
int guard_exit_status(Overall v);   // DO NOT USE: 1, INVALID: 2, else 0

// A Markdown table of the comparisons and the overall verdict, for the report.
std::string guard_report(const std::vector<GuardComparison>& comparisons);

// The history entry for one comparison (format above). `timestamp` as the caller writes it.
nlohmann::json history_entry(const GuardComparison& c, const GuardRun& baseline, const GuardRun& candidate,
                             const std::string& timestamp);

// A missing file is an empty history. Throws naming `path` if it cannot be read or is not a
// JSON array.
nlohmann::json read_history(const std::string& path);
// Reads (same errors), appends `entry`, and replaces the file atomically. Throws naming the path
// if the write or rename fails; the old file is then left as it was.
void append_history(const std::string& path, const nlohmann::json& entry);

struct MetricRating {
  std::string symbol, metric;
  int n = 0, positive = 0, negative = 0, zero = 0;
  double mean = 0, last = 0;
  std::string rating;   // insufficient | promote | regress | watch | stable
};
// The rule above for (n, mean, positive ratio).
std::string rolling_rating(int n, double mean, double positive_ratio);
// Per symbol and delta metric, sorted by symbol then metric. Throws if the history is not an
// array of objects.
std::vector<MetricRating> rate_history(const nlohmann::json& history);

}  // namespace fcast::eval
