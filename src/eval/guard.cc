#include "eval/guard.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "core/error.h"

namespace fcast::eval {
namespace {

using nlohmann::json;

constexpr int kMinRatedEntries = 5;
constexpr double kRatedMeanDelta = 0.01;
constexpr double kWatchMeanDelta = 0.005;
constexpr double kRegressPositiveRatio = 0.3;

// The numbers a history entry keeps, each (strategy, field) or (metrics, key).
struct HistoryKey {
  const char* name;
  const char* section;   // "strategies" or "metrics"
  const char* object;    // strategy name, or nullptr for metrics
  const char* field;
};
constexpr HistoryKey kHistoryKeys[] = {
    {"maxdiff_return", "strategies", "maxdiff", "return"},
    {"simple_return", "strategies", "simple", "return"},
    {"maxdiff_sharpe", "strategies", "maxdiff", "sharpe"},
    {"simple_sharpe", "strategies", "simple", "sharpe"},
    {"maxdiff_turnover", "strategies", "maxdiff", "turnover"},
    {"close_val_loss", "metrics", nullptr, "close_val_loss"},
};

// NaN for a missing or non-numeric value: the caller decides whether that is an error.
double number_at(const json& j, const char* key) {
  if (!j.is_object()) return NAN;
  auto it = j.find(key);
  return (it != j.end() && it->is_number()) ? it->get<double>() : NAN;
}

double lookup(const json& result, const HistoryKey& k) {
  auto sec = result.find(k.section);
  if (sec == result.end() || !sec->is_object()) return NAN;
  if (!k.object) return number_at(*sec, k.field);
  auto obj = sec->find(k.object);
  return obj == sec->end() ? NAN : number_at(*obj, k.field);
}

json num(double v) { return std::isfinite(v) ? json(v) : json(nullptr); }

void check_result(const GuardRun& r, const char* role) {
  FCAST_CHECK(r.result.is_object(), "compile guard: the ", role, " result (", r.executor, ") is not a JSON object");
  FCAST_CHECK(r.result.contains("symbol") && r.result["symbol"].is_string(), "compile guard: the ", role,
              " result (", r.executor, ") has no symbol");
  FCAST_CHECK(r.result.contains("strategies") && r.result["strategies"].is_object(), "compile guard: the ", role,
              " result (", r.executor, ") has no strategies object");
}

std::string fixed(double v, int digits) {
  std::ostringstream s;
  s.setf(std::ios::fixed);
  s.precision(digits);
  s << v;
  return s.str();
}

}  // namespace

const char* verdict_name(Verdict v) {
  switch (v) {
    case Verdict::Pass: return "PASS";
    case Verdict::Warn: return "WARN";
    case Verdict::Fail: return "FAIL";
    case Verdict::Invalid: return "INVALID";
  }
  return "INVALID";
}

const char* overall_name(Overall v) {
  switch (v) {
    case Overall::Safe: return "SAFE";
    case Overall::UseWithCaution: return "USE WITH CAUTION";
    case Overall::DoNotUse: return "DO NOT USE";
    case Overall::Invalid: return "INVALID";
  }
  return "INVALID";
}

GuardComparison compare_backtests(const GuardRun& baseline, const GuardRun& candidate, const std::string& variant) {
  check_result(baseline, "baseline");
  check_result(candidate, "candidate");
  const json& b = baseline.result;
  const json& c = candidate.result;
  GuardComparison out;
  out.symbol = b["symbol"].get<std::string>();
  out.variant = variant;
  out.baseline_executor = baseline.executor;
  out.candidate_executor = candidate.executor;
  FCAST_CHECK(c["symbol"].get<std::string>() == out.symbol, "compile guard: comparing symbol ", out.symbol,
              " with ", c["symbol"].get<std::string>(), "; both runs must be the same backtest");
  const double runs_b = number_at(b, "runs"), runs_c = number_at(c, "runs");
  FCAST_CHECK(std::isnan(runs_b) == std::isnan(runs_c) && (std::isnan(runs_b) || runs_b == runs_c),
              "compile guard (", out.symbol, "): the runs differ (", b.value("runs", json()).dump(), " vs ",
              c.value("runs", json()).dump(), "); both runs must be the same backtest");
  const json& sb = b["strategies"];
  const json& sc = c["strategies"];
  for (auto it = sc.begin(); it != sc.end(); ++it)
    FCAST_CHECK(sb.contains(it.key()), "compile guard (", out.symbol, "): strategy ", it.key(),
                " is only in the candidate (", candidate.executor, ")");
  bool nonfinite = false;
  for (auto it = sb.begin(); it != sb.end(); ++it) {
    FCAST_CHECK(sc.contains(it.key()), "compile guard (", out.symbol, "): strategy ", it.key(),
                " is only in the baseline (", baseline.executor, ")");
    for (const char* field : {"return", "sharpe"})
      FCAST_CHECK(it->is_object() && it->contains(field) && sc[it.key()].contains(field),
                  "compile guard (", out.symbol, "): strategy ", it.key(), " has no ", field);
    StrategyDelta d;
    d.name = it.key();
    d.return_delta = number_at(sc[it.key()], "return") - number_at(*it, "return");
    d.sharpe_delta = number_at(sc[it.key()], "sharpe") - number_at(*it, "sharpe");
    if (std::isfinite(d.return_delta))
      out.max_abs_return_delta = std::max(out.max_abs_return_delta, std::abs(d.return_delta));
    else
      nonfinite = true;
    out.strategies.push_back(d);
  }
  for (const char* key : {"close_val_loss", "high_val_loss", "low_val_loss"}) {
    const double vb = number_at(b.value("metrics", json::object()), key);
    const double vc = number_at(c.value("metrics", json::object()), key);
    if (std::isfinite(vb) && std::isfinite(vc)) out.val_loss.push_back({key, vc - vb});
  }

  const std::string gap = fixed(out.max_abs_return_delta, 4);
  if (baseline.executor.empty() || candidate.executor.empty()) {
    out.verdict = Verdict::Invalid;
    out.reason = "a run does not name its executor, so the comparison may be one executor against itself";
  } else if (baseline.executor == candidate.executor) {
    out.verdict = Verdict::Invalid;
    out.reason = cat("both runs used executor '", baseline.executor,
                     "': the deltas say nothing about compilation (cached or repeated forecasts)");
  } else if (nonfinite) {
    out.verdict = Verdict::Fail;
    out.reason = "a strategy's return is missing or not finite in one run";
  } else if (out.max_abs_return_delta > kGuardFailDelta) {
    out.verdict = Verdict::Fail;
    out.reason = cat("max |delta return| ", gap, " > ", kGuardFailDelta);
  } else if (out.max_abs_return_delta > kGuardWarnDelta) {
    out.verdict = Verdict::Warn;
    out.reason = cat("max |delta return| ", gap, " > ", kGuardWarnDelta);
  } else {
    out.verdict = Verdict::Pass;
    out.reason = cat("max |delta return| ", gap, " <= ", kGuardWarnDelta);
  }
  return out;
}

std::vector<GuardComparison> compare_variants(const GuardRun& baseline, const std::vector<GuardRun>& candidates,
                                              const std::vector<std::string>& variants) {
  FCAST_CHECK(candidates.size() == variants.size(), "compile guard: ", candidates.size(), " candidates but ",
              variants.size(), " variant names");
  std::vector<GuardComparison> out;
  for (size_t i = 0; i < candidates.size(); ++i) out.push_back(compare_backtests(baseline, candidates[i], variants[i]));
  return out;
}

Overall overall_verdict(const std::vector<GuardComparison>& comparisons) {
  auto any = [&](Verdict v) {
    return std::any_of(comparisons.begin(), comparisons.end(), [&](const GuardComparison& c) { return c.verdict == v; });
  };
  // Nothing compared proves nothing: that is not SAFE either.
  if (comparisons.empty()) return Overall::Invalid;
  if (any(Verdict::Fail)) return Overall::DoNotUse;
  if (any(Verdict::Invalid)) return Overall::Invalid;
  if (any(Verdict::Warn)) return Overall::UseWithCaution;
  return Overall::Safe;
}

int guard_exit_status(Overall v) {
  switch (v) {
    case Overall::DoNotUse: return 1;
    case Overall::Invalid: return 2;
    default: return 0;
  }
}

std::string guard_report(const std::vector<GuardComparison>& comparisons) {
  std::ostringstream s;
  s << "| symbol | variant | executors | strategy | delta return | delta sharpe |\n"
       "|---|---|---|---|---|---|\n";
  for (const GuardComparison& c : comparisons)
    for (const StrategyDelta& d : c.strategies)
      s << "| " << c.symbol << " | " << c.variant << " | " << c.baseline_executor << " vs " << c.candidate_executor
        << " | " << d.name << " | " << fixed(d.return_delta, 4) << " | " << fixed(d.sharpe_delta, 3) << " |\n";
  s << "\n";
  for (const GuardComparison& c : comparisons)
    s << "- " << c.symbol << " (" << c.variant << "): **" << verdict_name(c.verdict) << "** — " << c.reason << "\n";
  s << "\nOverall: **" << overall_name(overall_verdict(comparisons)) << "**\n";
  return s.str();
}

json history_entry(const GuardComparison& c, const GuardRun& baseline, const GuardRun& candidate,
                   const std::string& timestamp) {
  json b = {{"executor", baseline.executor}}, k = {{"executor", candidate.executor}}, d = json::object();
  for (const HistoryKey& key : kHistoryKeys) {
    const double vb = lookup(baseline.result, key), vc = lookup(candidate.result, key);
    b[key.name] = num(vb);
    k[key.name] = num(vc);
    d[key.name] = num(vc - vb);
  }
  return {{"timestamp", timestamp}, {"symbol", c.symbol},   {"variant", c.variant}, {"baseline", b},
          {"compile", k},           {"delta", d},           {"verdict", verdict_name(c.verdict)}};
}

json read_history(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) {
    FCAST_CHECK(!ec, "compile-guard history ", path, ": cannot check whether it exists: ", ec.message());
    return json::array();
  }
  std::ifstream in(path, std::ios::binary);
  FCAST_CHECK(in, "compile-guard history ", path, ": cannot open it for reading");
  std::ostringstream text;
  text << in.rdbuf();
  FCAST_CHECK(!in.bad(), "compile-guard history ", path, ": read error");
  json j = json::parse(text.str(), nullptr, /*allow_exceptions=*/false);
  FCAST_CHECK(!j.is_discarded(), "compile-guard history ", path,
              " is not valid JSON; it is left as it is: repair it or move it away");
  FCAST_CHECK(j.is_array(), "compile-guard history ", path,
              " is JSON but not a list of entries; it is left as it is: repair it or move it away");
  return j;
}

void append_history(const std::string& path, const json& entry) {
  FCAST_CHECK(entry.is_object(), "compile-guard history entry must be a JSON object");
  json h = read_history(path);
  h.push_back(entry);
  // The temporary sits beside the target so the rename stays on one file system (atomic).
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    FCAST_CHECK(out, "compile-guard history: cannot write ", tmp, " (next to ", path, ")");
    out << h.dump(2) << "\n";
    out.flush();
    if (!out) {
      out.close();
      std::filesystem::remove(tmp);
      fail("compile-guard history: writing ", tmp, " failed (disk full?); ", path, " is unchanged");
    }
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) {
    std::filesystem::remove(tmp, ec);
    fail("compile-guard history: cannot replace ", path, " with ", tmp, "; ", path, " is unchanged");
  }
}

std::string rolling_rating(int n, double mean, double positive_ratio) {
  if (n < kMinRatedEntries) return "insufficient";
  if (std::abs(mean) > kRatedMeanDelta) return mean > 0 ? "promote" : "regress";
  if (std::abs(mean) > kWatchMeanDelta) return "watch";
  if (positive_ratio <= kRegressPositiveRatio) return "regress";
  return "stable";
}

std::vector<MetricRating> rate_history(const json& history) {
  FCAST_CHECK(history.is_array(), "compile-guard history must be a JSON list of entries");
  std::map<std::pair<std::string, std::string>, std::vector<double>> series;
  for (size_t i = 0; i < history.size(); ++i) {
    const json& e = history[i];
    FCAST_CHECK(e.is_object(), "compile-guard history entry ", i, " is not an object");
    FCAST_CHECK(e.contains("symbol") && e["symbol"].is_string() && !e["symbol"].get<std::string>().empty(),
                "compile-guard history entry ", i, " has no symbol");
    // One series per symbol and variant: a bf16 run's deltas (or another model's) are not the
    // compiled fp32 run's.
    std::string symbol = e["symbol"].get<std::string>();
    if (e.contains("variant") && e["variant"].is_string() && !e["variant"].get<std::string>().empty())
      symbol += " (" + e["variant"].get<std::string>() + ")";
    // Entries from one executor against itself carry no information (see INVALID).
    const json& b = e.value("baseline", json::object());
    const json& k = e.value("compile", json::object());
    if (b.is_object() && k.is_object() && b.contains("executor") && k.contains("executor") &&
        b["executor"] == k["executor"])
      continue;
    const json& d = e.value("delta", json::object());
    if (!d.is_object()) continue;
    for (auto it = d.begin(); it != d.end(); ++it)
      if (it->is_number()) series[{symbol, it.key()}].push_back(it->get<double>());
  }
  std::vector<MetricRating> out;
  for (const auto& [key, v] : series) {
    MetricRating r;
    r.symbol = key.first;
    r.metric = key.second;
    r.n = static_cast<int>(v.size());
    double s = 0;
    for (double x : v) {
      s += x;
      r.positive += x > 0;
      r.negative += x < 0;
      r.zero += x == 0;
    }
    r.mean = s / r.n;
    r.last = v.back();
    r.rating = rolling_rating(r.n, r.mean, static_cast<double>(r.positive) / r.n);
    out.push_back(r);
  }
  return out;
}

}  // namespace fcast::eval
