// `fcast predict MODEL`: one subcommand per registered model. A model with a predict command
// of its own (ModelTools::register_predict) keeps it; every other model gets the generic one
// below, built on the model-neutral forecasting API (include/fcast/forecast.h): columns of a
// market CSV in, mean, median, std and quantiles per future step out, as CSV.
#include <omp.h>

#include <charconv>
#include <cmath>
#include <iostream>
#include <memory>
#include <sstream>

#include "core/error.h"
#include "io/csv.h"
#include "io/file.h"
#include "models/registry.h"
#include "tools/calendar_flags.h"
#include "tools/commands.h"
#include "tools/compile_flags.h"

namespace fcast::tools {

namespace {

struct GenericPredictArgs {
  ModelPaths paths;
  std::string input, symbol, time_column, freq, future_timestamps, columns, quantiles = "0.1,0.5,0.9", output;
  int64_t context = 512, horizon = 64, num_samples = 0;
  uint64_t seed = 0;
  int threads = 0;
  std::vector<std::string> options;  // NAME=VALUE
  std::string nonfinite = "error";
  CompileCliValues compile;
  LimitCliValues limits;
};

std::vector<std::string> split_commas(const std::string& s) {
  std::vector<std::string> out;
  std::string item;
  std::istringstream in(s);
  while (std::getline(in, item, ','))
    if (!item.empty()) out.push_back(item);
  return out;
}

std::string num(float v) {
  if (!std::isfinite(v)) return std::isnan(v) ? "nan" : (v > 0 ? "inf" : "-inf");
  char buf[32];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, r.ptr);
}

void run_generic_predict(const ModelEntry& e, const GenericPredictArgs& a) {
  FCAST_CHECK(a.context >= 2, "--context must be at least 2 rows, got ", a.context);
  if (a.threads > 0) omp_set_num_threads(a.threads);
  const CompileSettings settings = resolve_cli_settings(e.compile, a.compile);
  ForecastRequest r;
  r.horizon = a.horizon;
  r.num_samples = a.num_samples;
  r.seed = a.seed;
  r.limits = resolve_limits(Environment::from_process(), a.limits);
  // Before the CSV is read: a capped request must fail at once (check_request checks it again).
  check_forecast_limits(r.limits, "--prediction-length", r.horizon, "--num-samples", r.num_samples);
  r.nonfinite = nonfinite_policy(a.nonfinite);
  r.quantiles.clear();
  for (const std::string& q : split_commas(a.quantiles)) {
    double v = 0;
    const auto res = std::from_chars(q.data(), q.data() + q.size(), v);
    FCAST_CHECK(res.ec == std::errc() && res.ptr == q.data() + q.size(), "--quantiles: '", q, "' is not a number");
    r.quantiles.push_back(v);
  }
  for (const std::string& o : a.options) {
    const size_t eq = o.find('=');
    FCAST_CHECK(eq != std::string::npos && eq > 0, "--option '", o, "': expected NAME=VALUE");
    r.options[o.substr(0, eq)] = o.substr(eq + 1);
  }
  FCAST_CHECK(!a.input.empty(), "missing --input FILE.csv");
  // Before any work: a forecast must not be computed only to find it cannot be written.
  if (!a.output.empty() && a.output != "-") check_output_file(a.output);
  MarketTable t = read_market_csv(a.input, CsvOptions{a.symbol, a.context, a.time_column});
  SeriesInput s;
  s.id = t.symbol;
  std::vector<std::string> cols = split_commas(a.columns);
  if (cols.empty())
    for (const std::string& c : e.market_variates)
      if (t.has(c)) cols.push_back(c);
  FCAST_CHECK(!cols.empty(), a.input, ": none of ", e.name, "'s columns is in the file; name them with --columns");
  for (const std::string& c : cols) {
    s.variate_names.push_back(c);
    s.values.push_back(t.column(c));  // unknown: the error lists the file's columns
    t.check_float32_range(c);
  }
  for (int64_t k = 0; k < t.rows(); ++k) s.timestamps.push_back(t.timestamps[k] + t.utc_offsets[k]);
  const FutureStamps fut = future_stamps(t, r.horizon, a.freq, a.future_timestamps);
  s.future_timestamps = fut.wall();
  r.series.push_back(std::move(s));

  std::shared_ptr<LoadedModel> m = e.load(a.paths, settings);
  if (m->random_weights())
    std::cerr << "fcast: NOTE: RANDOM weights (written by fcast init-model): the forecast numbers mean nothing.\n";
  const ForecastResult res = m->new_session()->forecast(r);
  std::cerr << nonfinite_warning(e.name, std::stoll(res.metadata.at("nonfinite_values")), res.metadata.at("nonfinite_detail"));
  const SeriesForecast& f = res.series.at(0);

  std::ostringstream out;
  out << "timestamp,variate,step,mean,median,std";
  for (double q : r.quantiles) out << ",q" << q;
  out << "\n";
  for (int64_t h = 0; h < r.horizon; ++h)
    for (size_t v = 0; v < f.variate_names.size(); ++v) {
      out << (f.timestamps.empty() ? std::to_string(h + 1) : format_timestamp(fut.utc[h], fut.offset[h], fut.style)) << ","
          << f.variate_names[v] << "," << h + 1 << "," << num(f.mean[v][h]) << "," << num(f.median[v][h]) << ","
          << num(f.std[v][h]);
      for (size_t q = 0; q < r.quantiles.size(); ++q) out << "," << num(f.quantiles[q][v][h]);
      out << "\n";
    }
  if (a.output.empty() || a.output == "-") {
    std::cout << out.str() << std::flush;
  } else {
    write_file_atomic(a.output, out.str());
  }
}

}  // namespace

void add_nonfinite_flag(CLI::App* cmd, std::string& value) {
  cmd->add_option("--nonfinite", value,
                  "NaN/Inf in the model's outputs: error = fail naming the model output and the count; warn = keep "
                  "the reference's behaviour (Toto: replaced by 0; Kronos: NaN in the output), warn on stderr and "
                  "count them (default: error)")
      ->check(CLI::IsMember({"error", "warn"}));
}

NonFinitePolicy nonfinite_policy(const std::string& value) {
  if (value == "warn") return NonFinitePolicy::kWarn;
  FCAST_CHECK(value == "error" || value.empty(), "--nonfinite must be error or warn, got '", value, "'");
  return NonFinitePolicy::kError;
}

std::string nonfinite_warning(const std::string& model, int64_t values, const std::string& detail) {
  if (values == 0 && detail.empty()) return "";
  return cat("fcast: WARNING: ", model, ": ", values, " forecast value(s) were non-finite (--nonfinite warn",
             model == "toto" ? ": replaced by 0, as the reference does" : ": left as the reference leaves them",
             ")", detail.empty() ? "" : "; " + detail, "\n");
}

void register_generic_predict(CLI::App& predict, const ModelEntry& e) {
  auto a = std::make_shared<GenericPredictArgs>();
  CLI::App* cmd = predict.add_subcommand(e.name, "Forecast columns of a market CSV with " + e.name + " (" + e.summary +
                                                     "): mean, median, std and quantiles per future step, as CSV");
  for (const ModelPart& p : e.parts) cmd->add_option("--" + p.name, a->paths[p.name], p.help + " (required)");
  cmd->add_option("--input", a->input, "Market CSV (a time column plus numeric columns)")->required();
  add_calendar_flags(cmd, a->freq, a->future_timestamps);
  cmd->add_option("--time-column", a->time_column,
                  "Name of the time column (default: the first named date, timestamp, timestamps, time, datetime, ds or ts; else an unnamed first column of dates, as pandas to_csv writes its index); epoch seconds or milliseconds are read in a named time column");
  cmd->add_option("--symbol", a->symbol, "Symbol of a long-format file with several (default: none)");
  std::string cols;
  for (const std::string& c : e.market_variates) cols += (cols.empty() ? "" : ",") + c;
  cmd->add_option("--columns", a->columns, "Comma-separated columns forecast jointly (default: those of " + cols +
                                               " the file has)");
  cmd->add_option("--context", a->context, "Use the last N rows as context (default: 512)");
  cmd->add_option("--prediction-length", a->horizon, "Future steps (default: 64)");
  cmd->add_option("--num-samples", a->num_samples, "Sample paths; 0 = point forecast (default: 0)");
  cmd->add_option("--quantiles", a->quantiles, "Comma-separated quantile levels (default: 0.1,0.5,0.9)");
  add_seed_option(cmd, a->seed, "Sampling seed, 0 to 2^64 - 1 (default: 0)");
  std::string opts;
  for (const ModelOption& o : e.options) opts += (opts.empty() ? "" : "; ") + o.name + " (" + o.default_value + "): " + o.help;
  cmd->add_option("--option", a->options, "Model option NAME=VALUE, repeatable: " + (opts.empty() ? "none" : opts));
  cmd->add_option("--output", a->output, "Output file; '-' or empty for stdout (default: stdout)");
  cmd->add_option("--threads", a->threads, "OpenMP threads; 0 = default (default: 0)");
  add_nonfinite_flag(cmd, a->nonfinite);
  add_compile_flags(cmd, a->compile);
  add_limit_flags(cmd, a->limits);
  cmd->callback([&e, a] { run_generic_predict(e, *a); });
}

void register_predict(CLI::App& app) {
  CLI::App* predict = app.add_subcommand("predict", "Forecast a CSV series with a model (" + model_names() + ")");
  predict->require_subcommand(1);
  for (const ModelEntry& e : model_registry()) {
    const ModelTools& mt = model_tools(e.name);
    if (mt.register_predict) mt.register_predict(*predict);
    else register_generic_predict(*predict, e);
  }
}

}  // namespace fcast::tools
