// `fcast backtest`: walk-forward evaluation of Toto and Kronos on market CSVs: forecast quality
// against baselines, a trading simulation, and the compile guard (the identical backtest under
// eager and compiled executors, rated SAFE / USE WITH CAUTION / DO NOT USE). docs/BACKTEST.md.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <ctime>
#include <filesystem>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <sstream>

#include "core/error.h"
#include "eval/aggregate.h"
#include "eval/guard.h"
#include "eval/quality.h"
#include "eval/strategies.h"
#include "io/csv.h"
#include "io/file.h"
#include "models/registry.h"
#include "runtime/compile_settings.h"
#include "tools/backtest/evaluate.h"
#include "tools/backtest/report.h"
#include "tools/backtest/walk_forward.h"
#include "tools/commands.h"
#include "tools/compile_flags.h"
#include "tools/progress.h"
#include "tools/stress/perturb.h"
#include "tools/stress/workload.h"

namespace fcast::tools {

namespace {

namespace fs = std::filesystem;
using backtest::Bars;

struct BacktestArgs {
  std::string model = "both";
  std::vector<std::string> data;
  std::string symbols, keys = "close,high,low,open", aggregate = "trimmed_mean_10", compare, output_dir = "backtest_results";
  std::string history;
  int64_t simulations = 50, days = 7, batch = 256;
  std::optional<int64_t> context, num_samples;
  uint64_t seed = 0;
  std::map<std::string, std::string> dirs;  // "<model>-<part>" -> folder (--toto-model, --kronos-tokenizer, ...)
  double temperature = 1.0, top_p = 0.9, fee = 0.0005, crypto_fee = 0.0015, spread = 1.00087;
  int64_t top_k = 0;
  bool quiet = false, progress = false, all_bars = false;
  CompileCliValues compile;
};

std::vector<std::string> split_list(const std::string& s) {
  std::vector<std::string> out;
  std::string item;
  std::istringstream in(s);
  while (std::getline(in, item, ','))
    if (!item.empty()) out.push_back(stress::lower_ascii(item));
  return out;
}

bool looks_crypto(const std::string& symbol, const std::vector<int64_t>& stamps) {
  for (const char* q : {"USD", "USDT", "USDC", "BTC", "ETH"})
    if (symbol.size() > std::string(q).size() && symbol.compare(symbol.size() - std::string(q).size(), std::string::npos, q) == 0)
      return true;
  // Weekend bars: a market that trades every day.
  for (int64_t t : stamps)
    if (civil_from_seconds(t).weekday >= 5) return true;
  return false;
}

// Every symbol of the files (long files: one per symbol), OHLC from the file (split-adjusted
// "adj." columns where the file has them), a missing open/high/low column copied from close (said
// on stderr). A missing value in a key column is an error naming the row: the walk-forward
// protocol has no gaps to fill.
std::vector<Bars> load_bars(const std::vector<std::string>& files, const std::vector<std::string>& want, bool quiet) {
  std::vector<Bars> out;
  std::set<std::string> found;
  for (const std::string& f : files) {
    std::vector<std::string> syms = market_csv_symbols(f);
    std::vector<std::pair<std::string, std::string>> parts;  // label, symbol filter
    if (syms.empty()) {
      std::string label = fs::path(f).stem().string();
      if (label == "bars") label = fs::path(f).parent_path().filename().string();
      parts.push_back({label.substr(0, label.find(' ')), ""});
    } else {
      for (const std::string& s : syms) parts.push_back({s, s});
    }
    for (const auto& [label, sym] : parts) {
      if (!want.empty() && std::find(want.begin(), want.end(), stress::lower_ascii(label)) == want.end()) continue;
      FCAST_CHECK(found.insert(stress::lower_ascii(label)).second, "symbol '", label, "' is in more than one data file (",
                  f, " and an earlier one); give each series once");
      CsvOptions o;
      o.symbol = sym;
      const MarketTable t = read_market_csv(f, o);
      Bars b;
      b.symbol = label;
      b.file = f;
      const bool adjusted = t.has("adj. close") && t.has("adj. open") && t.has("adj. high") && t.has("adj. low");
      FCAST_CHECK(t.has("close") || adjusted, f, ": no 'close' column; the backtest needs at least closes");
      std::vector<std::string> copied;
      for (const char* c : {"open", "high", "low", "close", "volume", "amount"}) {
        const std::string adj = std::string("adj. ") + c;
        if (adjusted && t.has(adj)) b.columns[c] = t.column(adj);
        else if (t.has(c)) b.columns[c] = t.column(c);
      }
      for (const char* c : {"open", "high", "low"})
        if (!b.columns.count(c)) {
          b.columns[c] = b.columns.at("close");
          copied.push_back(c);
        }
      for (int64_t r = 0; r < t.rows(); ++r) {
        b.timestamps.push_back(t.timestamps[r] + t.utc_offsets[r]);
        for (const char* c : {"volume", "amount"})
          if (b.columns.count(c)) {
            const double v = b.columns.at(c)[r];
            FCAST_CHECK(std::isfinite(v) && v >= 0, f, ":", t.lines[r], " (", label, "): ", c, " is ",
                        std::isfinite(v) ? "negative" : "missing", " (", v, "); clean the file or drop the column");
          }
        for (const char* c : {"open", "high", "low", "close"}) {
          const double v = b.columns.at(c)[r];
          FCAST_CHECK(std::isfinite(v) && v > 0, f, ":", t.lines[r], " (", label, ", ",
                      format_timestamp(t.timestamps[r], t.utc_offsets[r], t.time_style), "): ", c, " is ",
                      std::isfinite(v) ? "not positive" : "missing", " (", v,
                      "); the walk-forward backtest needs every bar's open, high, low and close: clean the file or "
                      "cut it after the gap");
        }
      }
      b.crypto = looks_crypto(label, b.timestamps);
      if (!copied.empty() && !quiet) {
        std::string c;
        for (const auto& x : copied) c += (c.empty() ? "" : ", ") + x;
        std::cerr << "fcast: backtest: " << label << ": no " << c << " column; copied from close\n";
      }
      out.push_back(std::move(b));
    }
  }
  for (const std::string& w : want)
    FCAST_CHECK(found.count(w), "--symbols: '", w, "' is in none of the data files");
  FCAST_CHECK(!out.empty(), "no series to backtest");
  return out;
}

// One model as the backtest runs it.
struct ModelSetup {
  const ModelEntry* entry = nullptr;
  ModelPaths paths;
  bool trained_default = false;  // the bundled tiny models trained on the bundled data
  bool one_step = true;          // Toto: one-step percentage-change forecasts; Kronos: pred_len bars
  backtest::Protocol protocol;
  int64_t num_samples = 0;
  std::map<std::string, std::string> options;
};

// The executor configurations of --compare ("eager", "compiled", "bf16"), or the one of the
// compile flags.
struct ExecConfig {
  std::string name;
  CompileSettings settings;
};

// One model, one executor: every symbol's days.
struct ModelRun {
  std::string model, config, executor;  // executor: what really ran (the session's executor names)
  std::vector<backtest::SymbolRun> symbols;
  double seconds = 0;
  int64_t forecasts = 0, nonfinite = 0;  // nonfinite: model outputs let through (NonFinitePolicy::kWarn)
};

ModelRun run_model(const ModelSetup& m, const ExecConfig& x, const std::vector<Bars>& bars, const BacktestArgs& a,
                   const eval::AggregationSpec& spec, Progress& progress) {
  ModelRun run;
  run.model = m.entry->name;
  run.config = x.name;
  const auto t0 = std::chrono::steady_clock::now();
  progress.begin(cat("backtest ", m.entry->name, " (", x.name, "): loading"));
  std::shared_ptr<LoadedModel> loaded = m.entry->load(m.paths, x.settings);
  progress.end();
  std::unique_ptr<ForecastSession> session = loaded->new_session();
  // The compile guard's test switch: compiled outputs scaled, which the guard must catch.
  if (x.settings.enabled)
    if (auto f = stress::perturbation_from_env())
      for (Executor* e : session->executors()) stress::perturb_outputs(*e, *f);
  for (Executor* e : session->executors())
    if (run.executor.find(e->name()) == std::string::npos) run.executor += (run.executor.empty() ? "" : "+") + e->name();
  ForecastRequest base;
  base.num_samples = m.num_samples;
  base.seed = a.seed;
  base.options = m.options;
  base.nonfinite = NonFinitePolicy::kWarn;  // a backtest reports every window; counted below
  std::vector<backtest::Job> jobs;
  if (m.one_step) jobs = backtest::one_step_jobs(bars, m.protocol);
  else jobs = backtest::multi_step_jobs(bars, m.protocol, m.entry->market_variates);
  const int64_t horizon = m.one_step ? 1 : m.protocol.days;
  const size_t batch = static_cast<size_t>(m.one_step ? a.batch : std::max<int64_t>(1, a.batch / 8));
  progress.begin(cat("backtest ", m.entry->name, " (", x.name, "): ", jobs.size(), " forecasts of ", bars.size(),
                     " symbol(s)"));
  const std::vector<backtest::JobForecast> fc = backtest::forecast_jobs(*session, jobs, base, horizon, batch,
                                                                        progress.callback(), true, &run.nonfinite);
  progress.end();
  run.symbols = m.one_step ? backtest::days_from_one_step(bars, m.protocol, jobs, fc, spec)
                           : backtest::days_from_multi_step(bars, m.protocol, jobs, fc, spec);
  run.forecasts = static_cast<int64_t>(jobs.size());
  run.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return run;
}

std::string utc_now() {
  const std::time_t t = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  return buf;
}

// The strategies and quality of one model run, per symbol.
struct SymbolResult {
  nlohmann::json strategies;            // eval::backtest_json
  std::map<std::string, eval::QualitySummary> quality;  // per key: model and baselines
  std::vector<eval::StrategyResult> latest;              // simulation 0's strategies (the charts)
};

SymbolResult evaluate_symbol(const Bars& b, const backtest::SymbolRun& run, const backtest::Protocol& p,
                             bool one_step, const BacktestArgs& a) {
  SymbolResult out;
  eval::StrategyOptions so;
  so.asset = b.crypto ? eval::AssetClass::Crypto : eval::AssetClass::Stock;
  so.costs.stock_fee = a.fee;
  so.costs.crypto_fee = a.crypto_fee;
  so.costs.spread = a.spread;
  std::vector<std::vector<eval::StrategyResult>> runs;
  std::map<std::string, double> val_loss_sum;
  int64_t val_loss_n = 0;
  for (const backtest::Simulation& sim : run.simulations) {
    if (sim.keys.count("close")) runs.push_back(eval::evaluate_strategies(backtest::strategy_window(b, sim), so));
    if (sim.index == 0 && !runs.empty()) out.latest = runs.back();
    for (const auto& [key, days] : sim.keys)
      for (const backtest::DayPoint& d : days) val_loss_sum[key] += std::fabs(d.change - (d.actual / d.previous - 1.0));
    ++val_loss_n;
  }
  eval::BacktestMetrics bm;
  auto loss = [&](const char* k) {
    return val_loss_sum.count(k) ? val_loss_sum.at(k) / static_cast<double>(val_loss_n * p.days)
                                 : std::numeric_limits<double>::quiet_NaN();
  };
  bm.close_val_loss = loss("close");
  bm.high_val_loss = loss("high");
  bm.low_val_loss = loss("low");
  const std::vector<eval::StrategySummary> summary = eval::summarise(runs);
  for (const eval::StrategySummary& s : summary) {
    if (s.name == "simple") {
      bm.walk_forward_oos_sharpe = s.mean.sharpe;
      bm.walk_forward_turnover = s.mean.turnover;
    }
    if (s.name == "maxdiff") bm.walk_forward_maxdiff_sharpe = s.mean.sharpe;
  }
  out.strategies = eval::backtest_json(b.symbol, summary, bm, utc_now());
  for (const std::string& key : p.keys) out.quality[key] = backtest::quality_of(b, run, key, p, one_step);
  return out;
}


// The executors of one model: --compare's list, or the one the compile flags select.
std::vector<ExecConfig> exec_configs(const ModelEntry& e, const BacktestArgs& a) {
  const CompileSettings base = resolve_cli_settings(e.compile, a.compile);
  std::vector<ExecConfig> out;
  if (a.compare.empty()) {
    out.push_back({base.enabled ? (base.precision == Precision::BF16 ? "bf16" : "compiled") : "eager", base});
    return out;
  }
  for (const std::string& n : split_list(a.compare)) {
    ExecConfig x{n, base};
    if (n == "eager") {
      x.settings.enabled = false;
    } else if (n == "compiled") {
      x.settings.enabled = true;
      x.settings.precision = Precision::FP32;
    } else if (n == "bf16") {
      x.settings.enabled = true;
      x.settings.precision = Precision::BF16;
    } else {
      fail("--compare: unknown executor '", n, "'; valid: eager, compiled, bf16 (the first is the baseline)");
    }
    for (const ExecConfig& y : out) FCAST_CHECK(y.name != n, "--compare names '", n, "' twice");
    out.push_back(x);
  }
  FCAST_CHECK(out.size() >= 2, "--compare needs at least two executors, e.g. eager,compiled");
  return out;
}

ModelSetup model_setup(const std::string& name, const BacktestArgs& a, const std::vector<std::string>& keys) {
  ModelSetup m;
  m.entry = &find_model(name);
  // The reference protocol: models of one series (Toto 1.0 and 2.0: close) make one-step
  // percentage-change forecasts; models of whole bars (Kronos: OHLC) forecast the window's bars.
  m.one_step = m.entry->market_variates.size() == 1;
  std::string all, missing;
  for (const ModelPart& p : m.entry->parts) {
    auto it = a.dirs.find(cat(name, "-", p.name));
    const std::string flag = cat("--", name, "-", p.name);
    all += (all.empty() ? "" : " and ") + flag;
    if (it != a.dirs.end() && !it->second.empty()) m.paths[p.name] = it->second;
    else missing += (missing.empty() ? "" : " and ") + flag;
  }
  FCAST_CHECK(m.paths.empty() || missing.empty(), "give ", m.entry->parts.size() == 2 ? "both " : "all of ", all,
              " (or none, for the bundled trained checkpoints)");
  if (m.paths.empty()) {
    FCAST_CHECK(stress::has_trained_default(*m.entry), name, ": no bundled trained checkpoint; pass ", missing,
                " (a folder of ", name, " weights)");
    m.paths = stress::trained_default_checkpoint(*m.entry);
    m.trained_default = true;
  }
  m.protocol.simulations = a.simulations;
  m.protocol.days = a.days;
  m.protocol.keys = keys;
  m.protocol.context = a.context.value_or(m.trained_default ? stress::trained_default_context(*m.entry).value_or(512) : 512);
  FCAST_CHECK(m.protocol.context >= 8, "--context must be at least 8, got ", m.protocol.context);
  m.protocol.min_context = std::min<int64_t>(32, m.protocol.context);
  m.protocol.held_out_from = m.trained_default && !a.all_bars ? 0.8 : 0.0;
  if (m.entry->draws_samples) {
    m.num_samples = a.num_samples.value_or(m.one_step ? 128 : 8);
    FCAST_CHECK(m.num_samples >= 1, "--num-samples must be at least 1 (the aggregation reads sample paths), got ",
                m.num_samples);
  } else {
    // Quantiles from one pass: the point forecast is the median, nothing to aggregate.
    FCAST_CHECK(!a.num_samples || *a.num_samples == 0, "--num-samples: ", name,
                " draws no sample paths (it forecasts quantiles; its point forecast is the median)");
    m.num_samples = 0;
  }
  // The request options the model declares (sampling options apply to the models that sample).
  for (const ModelOption& o : m.entry->options) {
    if (o.name == "samples_per_batch" && m.num_samples > 0) m.options[o.name] = std::to_string(m.num_samples);
    if (o.name == "temperature") m.options[o.name] = cat(a.temperature);
    if (o.name == "top_k") m.options[o.name] = cat(a.top_k);
    if (o.name == "top_p") m.options[o.name] = cat(a.top_p);
    if (o.name == "max_context") m.options[o.name] = cat(std::max<int64_t>(m.protocol.context, a.days));
  }
  return m;
}

void run_backtest(const BacktestArgs& a) {
  const eval::AggregationSpec spec = eval::parse_aggregation(a.aggregate);
  const std::vector<std::string> keys = split_list(a.keys);
  FCAST_CHECK(!keys.empty(), "--keys is empty");
  for (const std::string& k : keys)
    FCAST_CHECK(k == "close" || k == "high" || k == "low" || k == "open", "--keys: '", k,
                "' is not a key; valid: close, high, low, open");
  FCAST_CHECK(std::find(keys.begin(), keys.end(), "close") != keys.end(),
              "--keys must include close (the strategies trade on it)");
  FCAST_CHECK(a.batch >= 1, "--batch must be at least 1, got ", a.batch);
  // "both": the models with bundled trained checkpoints (Toto 1.0 and Kronos); else a list.
  std::vector<std::string> names;
  if (a.model == "both") {
    for (const ModelEntry& e : model_registry())
      if (stress::has_trained_default(e)) names.push_back(e.name);
    FCAST_CHECK(!names.empty(), "--model both: no bundled trained checkpoints found (tests/data/models); name a model");
  } else {
    names = split_list(a.model);
    FCAST_CHECK(!names.empty(), "--model is empty");
    for (const std::string& n : names) find_model(n);  // an unknown name lists the registered ones
  }
  std::vector<ModelSetup> setups;
  std::vector<std::vector<ExecConfig>> configs;
  for (const std::string& n : names) {
    setups.push_back(model_setup(n, a, keys));
    configs.push_back(exec_configs(*setups.back().entry, a));
  }
  const std::vector<Bars> bars = load_bars(a.data.empty() ? stress::default_data_files() : a.data, split_list(a.symbols), a.quiet);
  for (const ModelSetup& m : setups)
    for (const Bars& b : bars) backtest::check_enough_bars(b, m.protocol);
  std::error_code ec;
  fs::create_directories(a.output_dir, ec);
  FCAST_CHECK(!ec, "--output-dir '", a.output_dir, "': cannot create it (", ec.message(), ")");
  const std::string history = a.history.empty() ? (fs::path(a.output_dir) / "compile_guard_history.json").string() : a.history;
  if (!a.compare.empty()) eval::read_history(history);  // a damaged history is an error before hours of work

  Progress progress(show_progress(a.quiet, a.progress));
  backtest::Report report;
  report.generated_at = utc_now();
  report.aggregate = spec.text;
  report.bars = &bars;
  for (size_t k = 0; k < setups.size(); ++k) {
    const ModelSetup& m = setups[k];
    if (m.trained_default && !a.quiet)
      std::cerr << "fcast: backtest: " << m.entry->name << ": the bundled TINY model trained on this data (not the "
                << "published model), evaluated " << (m.protocol.held_out_from > 0 ? "on the held-out last 20 % of each series" : "on every bar (--all-bars: training data included)") << "\n";
    for (const ExecConfig& x : configs[k]) {
      backtest::ModelReport mr;
      mr.model = m.entry->name;
      mr.config = x.name;
      mr.trained_default = m.trained_default;
      mr.checkpoints = m.paths;
      mr.protocol = m.protocol;
      mr.num_samples = m.num_samples;
      mr.one_step = m.one_step;
      ModelRun run = run_model(m, x, bars, a, spec, progress);
      mr.executor = run.executor;
      mr.seconds = run.seconds;
      mr.forecasts = run.forecasts;
      mr.nonfinite = run.nonfinite;
      if (run.nonfinite > 0)
        std::cerr << "fcast: WARNING: backtest " << mr.model << " (" << x.name << "): " << run.nonfinite
                  << " forecast value(s) were non-finite and were let through as the reference does (Toto: replaced "
                     "by 0); the figures include them\n";
      for (size_t s = 0; s < bars.size(); ++s) {
        SymbolResult r = evaluate_symbol(bars[s], run.symbols[s], m.protocol, m.one_step, a);
        mr.symbols.push_back({bars[s].symbol, std::move(r.strategies), std::move(r.quality), std::move(r.latest)});
      }
      mr.runs = std::move(run.symbols);
      if (!a.quiet)
        std::cerr << "fcast: backtest: " << mr.model << " (" << x.name << ", executor " << mr.executor << "): "
                  << mr.forecasts << " forecasts in " << mr.seconds << " s\n";
      report.models.push_back(std::move(mr));
    }
  }

  // The compile guard: per model and symbol, the baseline executor against each other one.
  int status = 0;
  if (!a.compare.empty()) {
    std::vector<eval::GuardComparison> all;
    for (size_t k = 0; k < setups.size(); ++k) {
      std::vector<const backtest::ModelReport*> runs;
      for (const backtest::ModelReport& mr : report.models)
        if (mr.model == setups[k].entry->name) runs.push_back(&mr);
      for (size_t s = 0; s < bars.size(); ++s) {
        const eval::GuardRun base{runs[0]->executor, runs[0]->symbols[s].strategies};
        for (size_t c = 1; c < runs.size(); ++c) {
          const eval::GuardRun cand{runs[c]->executor, runs[c]->symbols[s].strategies};
          eval::GuardComparison g = eval::compare_backtests(base, cand, cat(setups[k].entry->name, ":", runs[c]->config));
          eval::append_history(history, eval::history_entry(g, base, cand, report.generated_at));
          all.push_back(std::move(g));
        }
      }
    }
    const eval::Overall v = eval::overall_verdict(all);
    report.guard_markdown = eval::guard_report(all);
    report.guard_verdict = eval::overall_name(v);
    report.guard = all;
    report.history_ratings = eval::rate_history(eval::read_history(history));
    report.history_file = history;
    status = eval::guard_exit_status(v);
  }
  const backtest::ReportFiles files = backtest::write_reports(report, a.output_dir);
  std::cout << backtest::summary_text(report);
  if (!a.quiet) {
    std::cerr << "fcast: backtest: reports in " << files.json << ", " << files.markdown << ", " << files.html << "\n";
  }
  if (!a.compare.empty()) std::cout << "compile guard verdict: " << report.guard_verdict << "\n";
  if (status != 0) throw CLI::RuntimeError(status);
}

}  // namespace

void register_backtest(CLI::App& app) {
  auto a = std::make_shared<BacktestArgs>();
  CLI::App* cmd = app.add_subcommand(
      "backtest",
      "Walk-forward backtest of Toto and/or Kronos on market CSVs: forecast quality against baselines (persistence, "
      "drift, seasonal naive), a trading simulation (simple, all_signals, buy_hold, unprofit_shutdown, "
      "confidence_guard, maxdiff) and, with --compare, the compile guard (the identical backtest under eager and "
      "compiled executors). Without data or model flags: the bundled market data and the tiny models trained on it, "
      "on the held-out part of each series. Reports: JSON, markdown and HTML in --output-dir. docs/BACKTEST.md");
  cmd->add_option("--model", a->model,
                  "A registered model (" + model_names() + "), a comma-separated list, or both: the models with bundled "
                  "trained checkpoints, Toto and Kronos (default: both)");
  cmd->add_option("--data", a->data, "Market CSVs: one file per symbol or long files with a symbol column (default: the bundled data)");
  cmd->add_option("--symbols", a->symbols, "Comma-separated symbols to keep (default: every series of the data)");
  cmd->add_option("--simulations", a->simulations, "Walk-forward simulations; simulation i ends i+1 bars before the data's end (default: 50)");
  cmd->add_option("--days", a->days, "Days of each simulation's evaluation window (default: 7)");
  cmd->add_option("--keys", a->keys, "Keys scored: close,high,low,open; close is required (the strategies trade on it) "
                                     "(default: all four)");
  cmd->add_option("--aggregate", a->aggregate, "How sample paths become a point forecast:\n" + eval::aggregation_grammar() +
                                                   "\n(default: trimmed_mean_10)");
  cmd->add_option_function<int64_t>("--num-samples", [a](const int64_t& n) { a->num_samples = n; },
                                    "Sample paths per forecast (default: Toto 128, Kronos 8)");
  cmd->add_option_function<int64_t>("--context", [a](const int64_t& n) { a->context = n; },
                                    "Context per forecast: changes (Toto) or bars (Kronos) (default: the trained "
                                    "context of the bundled models, else 512)");
  cmd->add_option("--temperature", a->temperature, "Kronos sampling temperature (default: 1)");
  cmd->add_option("--top-k", a->top_k, "Kronos top-k, 0 = off (default: 0)");
  cmd->add_option("--top-p", a->top_p, "Kronos nucleus mass (default: 0.9)");
  // --<model>-<part> for every part of every registered model (--toto-model, --kronos-tokenizer, ...).
  for (const ModelEntry& e : model_registry())
    for (const ModelPart& p : e.parts)
      cmd->add_option(cat("--", e.name, "-", p.name), a->dirs[cat(e.name, "-", p.name)],
                      cat(p.help, " (default: the bundled trained tiny ", e.name, " model, where there is one)"));
  cmd->add_flag("--all-bars", a->all_bars,
                "With the bundled trained models: evaluate on every bar, not only the held-out last 20 % of each "
                "series (their training data would then be scored)");
  cmd->add_option("--compare", a->compare,
                  "Compile guard: executors to compare, the first the baseline: eager,compiled[,bf16]. Prints the "
                  "verdict (SAFE / USE WITH CAUTION / DO NOT USE at 1 % / 5 % return gates); exit status 1 on DO NOT USE");
  cmd->add_option("--history", a->history, "Compile-guard history file appended per run (default: OUTPUT_DIR/compile_guard_history.json)");
  cmd->add_option("--fee", a->fee, "Stock fee per unit of position change (default: 0.0005)");
  cmd->add_option("--crypto-fee", a->crypto_fee, "Crypto fee per unit of position change (default: 0.0015)");
  cmd->add_option("--spread", a->spread, "Ask/bid ratio; half of |1 - spread| is paid per change (default: 1.00087)");
  cmd->add_option("--batch", a->batch, "Forecasts per request (one-step; multi-step: batch / 8) (default: 256)");
  add_seed_option(cmd, a->seed, "Sampling seed (default: 0)");
  cmd->add_option("--output-dir", a->output_dir, "Where the reports go (default: backtest_results)");
  cmd->add_flag("--quiet,-q", a->quiet, "No progress or notes on stderr (the summary still goes to stdout)");
  cmd->add_flag("--progress", a->progress, "Show progress even when stderr is not a terminal");
  add_compile_flags(cmd, a->compile);
  cmd->callback([a] { run_backtest(*a); });
}

}  // namespace fcast::tools
