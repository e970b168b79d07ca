// `fcast predict MODEL`: one command for every registered model, over the model-neutral
// forecasting API (include/fcast/forecast.h). Market CSVs in (one or several files, one or many
// symbols each), one output schema out: a row per symbol, future step and variate with mean,
// median, std and quantiles, as CSV or JSON; every sample path with --samples-out. All series
// of a call are forecast in one model load, through one batched request.
//
// Option names are the same for every model; the upstream names (--pred-len, --sample-count,
// --lookback) and llama.cpp's short flags (-m, -n, -t, -o) are aliases. A model's own request
// options (ModelEntry::options) become flags of their own (--samples-per-batch, --top-k, ...).
#include <omp.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <sstream>

#include "core/error.h"
#include "core/text.h"
#include "io/csv.h"
#include "io/file.h"
#include "eval/aggregate.h"
#include "io/hf_cache.h"
#include "models/registry.h"
#include "runtime/plan_cache.h"
#include "tools/calendar_flags.h"
#include "tools/commands.h"
#include "tools/compile_flags.h"
#include "tools/progress.h"

namespace fcast::tools {

namespace {

namespace fs = std::filesystem;

struct PredictArgs {
  ModelPaths paths;                 // part name -> folder or Hugging Face repo id
  std::vector<std::string> inputs;  // --input, repeatable
  std::string symbol, symbols, time_column, freq, future_timestamps, columns;
  std::string quantiles = "0.1,0.5,0.9";
  std::string output, format, samples_out, stats_file;
  std::string fill = "error", nonfinite = "error";
  std::string aggregate;  // a sample-aggregation spec: adds the columns point, band_p40_p60
  std::optional<int64_t> context;      // unset: max_context where the model has it, else 512
  int64_t horizon = 64;
  std::optional<int64_t> num_samples;  // unset: the model's default
  uint64_t seed = 0;
  int threads = 0;
  bool stats = false, quiet = false, progress = false;
  std::map<std::string, std::string> model_options;  // from the per-option flags
  std::vector<std::string> options;                  // --option NAME=VALUE
  CompileCliValues compile;
  LimitCliValues limits;
};

std::vector<std::string> split_list(const std::string& s) {
  std::vector<std::string> out;
  std::string item;
  std::istringstream in(s);
  while (std::getline(in, item, ',')) {
    item = trim(item);
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

std::string dashed(std::string name) {
  std::replace(name.begin(), name.end(), '_', '-');
  return name;
}

// Shortest text that reads back as the same float.
std::string num(float v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  char buf[32];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, r.ptr);
}

// A CSV field: quoted (RFC 4180) when it holds a comma, a quote or a line break.
std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\r\n") == std::string::npos) return s;
  std::string q = "\"";
  for (char c : s) q += c == '"' ? std::string("\"\"") : std::string(1, c);
  return q + "\"";
}

nlohmann::ordered_json jnum(float v) {
  return std::isfinite(v) ? nlohmann::ordered_json(std::strtod(num(v).c_str(), nullptr)) : nlohmann::ordered_json(nullptr);
}

std::string quantile_label(double q) {
  char buf[32];
  const auto r = std::to_chars(buf, buf + sizeof buf, q);
  return "q" + std::string(buf, r.ptr);
}

std::vector<double> parse_quantiles(const std::string& s) {
  std::vector<double> qs;
  for (const auto& item : split_list(s)) {
    double q = 0;
    const auto r = std::from_chars(item.data(), item.data() + item.size(), q);
    FCAST_CHECK(r.ec == std::errc() && r.ptr == item.data() + item.size(), "--quantiles: '", item,
                "' is not a number (expected a comma-separated list such as 0.1,0.5,0.9)");
    FCAST_CHECK(q >= 0.0 && q <= 1.0, "--quantiles: ", item, " is outside [0, 1]");
    qs.push_back(q);
  }
  return qs;
}

// A checkpoint part's folder: a path, or a Hugging Face repo id found in the local cache.
std::string checkpoint_dir(const ModelEntry& e, const ModelPart& part, const std::string& given) {
  const std::string flag = "--" + part.name;
  if (given.empty()) throw UsageError(cat("missing ", flag, " DIR (", part.help, "). ", e.weights_hint));
  const std::string dir = resolve_model_dir(given, flag);
  std::error_code ec;
  FCAST_CHECK(fs::exists(dir, ec), flag, " '", dir, "' does not exist. ", e.weights_hint);
  FCAST_CHECK(fs::is_directory(dir, ec), flag, " '", dir, "' is not a directory. ", e.weights_hint);
  for (const char* f : {"config.json", "model.safetensors"})
    FCAST_CHECK(fs::exists(fs::path(dir) / f, ec), flag, " '", dir, "' has no ", f, ". ", e.weights_hint);
  return dir;
}

// One series to forecast: a file, and a symbol of it when it has a symbol column.
struct Pick {
  std::string file, symbol;  // symbol "" for a file of one series without a symbol column
  std::string id;            // the output's `symbol`: the symbol, else the file's name without extension
};

std::vector<Pick> pick_series(const PredictArgs& a) {
  FCAST_CHECK(a.symbol.empty() || a.symbols.empty(), "give --symbol or --symbols, not both");
  const bool all = lower(trim(a.symbol)) == "all";
  std::vector<std::string> wanted = a.symbols.empty() ? std::vector<std::string>{} : split_list(a.symbols);
  if (!a.symbol.empty() && !all) wanted = {trim(a.symbol)};
  FCAST_CHECK(a.symbols.empty() || !wanted.empty(), "--symbols is empty; name symbols as A,B,C (or --symbol all)");
  std::vector<Pick> picks;
  std::map<std::string, std::string> found;  // wanted symbol (lower-cased) -> file
  for (const std::string& file : a.inputs) {
    const std::vector<std::string> syms = market_csv_symbols(file);
    if (syms.empty()) {
      FCAST_CHECK(wanted.empty(), file, ": the file has no symbol column (it holds a single series), but ",
                  a.symbols.empty() ? "--symbol" : "--symbols", " was given");
      picks.push_back({file, "", fs::path(file).stem().string()});
      continue;
    }
    if (wanted.empty()) {
      if (!all && syms.size() > 1) {
        std::string list;
        for (size_t k = 0; k < syms.size() && k < 50; ++k) list += (list.empty() ? "" : ", ") + syms[k];
        if (syms.size() > 50) list += cat(", ... (", syms.size(), " in all)");
        fail(file, ": the file holds ", syms.size(), " symbols; choose one (--symbol S), several (--symbols A,B,C) or ",
             "all of them (--symbol all): ", list);
      }
      for (const std::string& s : syms) picks.push_back({file, s, s});
      continue;
    }
    for (const std::string& w : wanted)
      for (const std::string& s : syms)
        if (lower(s) == lower(w) && !found.count(lower(w))) {
          found[lower(w)] = file;
          picks.push_back({file, s, s});
        }
  }
  for (const std::string& w : wanted)
    if (!found.count(lower(w))) {
      std::string files;
      for (const std::string& f : a.inputs) files += (files.empty() ? "" : ", ") + f;
      std::string have;
      for (const std::string& f : a.inputs)
        for (const std::string& s : market_csv_symbols(f)) have += (have.empty() ? "" : ", ") + s;
      fail("symbol '", w, "' is not in ", files, have.empty() ? std::string() : "; symbols: " + have);
    }
  std::set<std::string> ids;
  for (const Pick& p : picks)
    FCAST_CHECK(ids.insert(p.id).second, "two series are both named '", p.id, "' (", p.file,
                "); give each --input a distinct file name or a symbol column");
  return picks;
}

// The series of one pick, ready for the request, plus what the output needs.
struct Loaded {
  MarketTable table;
  FutureStamps future;
  int64_t filled = 0;  // values filled (--fill ffill) or masked (--fill mask)
};

Loaded load_series(const ModelEntry& e, const PredictArgs& a, const Pick& pick, int64_t context,
                   const std::vector<std::string>& columns_given, SeriesInput& s) {
  Loaded L;
  CsvOptions co;
  co.symbol = pick.symbol;
  co.time_column = a.time_column;
  co.keep_last = context;  // 0: every row; only the rows kept are held, every row is checked
  L.table = read_market_csv(pick.file, co);
  MarketTable& t = L.table;
  const std::string who = pick.symbol.empty() ? pick.file : cat(pick.file, " (symbol ", pick.symbol, ")");
  FCAST_CHECK(t.rows() >= 2, who, ": the series has ", t.rows(),
              " row(s); at least 2 are needed (the time step is inferred from them)");
  std::vector<std::string> cols = columns_given;
  if (cols.empty())
    for (const std::string& c : e.market_variates)
      if (t.has(c)) cols.push_back(c);
  if (cols.empty()) {
    std::string want, have;
    for (const std::string& c : e.market_variates) want += (want.empty() ? "" : ", ") + c;
    for (const std::string& c : t.columns) have += (have.empty() ? "" : ", ") + c;
    fail(who, ": none of ", e.name, "'s columns (", want, ") is in the file (it has: ", have,
         "); name the columns to forecast with --columns");
  }
  s.id = pick.id;
  for (const std::string& c : cols) {
    std::vector<double> v = t.column(c);  // unknown: the error lists the file's columns
    t.check_float32_range(c);
    std::vector<uint8_t> obs;
    for (int64_t r = 0; r < t.rows(); ++r) {
      if (std::isfinite(v[r])) continue;
      const std::string at = cat(" at ", format_timestamp(t.timestamps[r], t.utc_offsets[r], t.time_style), " (line ",
                                 t.lines[r], ", row ", r + 1, " of the ", t.rows(), "-row context window)");
      FCAST_CHECK(a.fill != "error", who, ": column '", c, "' has a missing or non-finite value (", v[r], ")", at,
                  "; fill it (--fill ffill", e.accepts_observed_mask ? ", or --fill mask to hide it from the model" : "",
                  "), use a shorter --context that starts after it, or clean the file");
      ++L.filled;
      if (a.fill == "mask") {
        if (obs.empty()) obs.assign(static_cast<size_t>(t.rows()), 1);
        obs[r] = 0;
        v[r] = 0.0;  // a finite placeholder; the mask hides it
        continue;
      }
      // ffill: the last finite value before it; a leading gap takes the first finite value after it.
      int64_t src = r - 1;
      while (src >= 0 && !std::isfinite(v[src])) --src;
      if (src < 0) {
        src = r + 1;
        while (src < t.rows() && !std::isfinite(v[src])) ++src;
      }
      FCAST_CHECK(src >= 0 && src < t.rows(), who, ": column '", c, "' has no finite value in its ", t.rows(),
                  "-row context window; nothing to fill from");
      v[r] = v[src];
    }
    if (!obs.empty() || !s.observed.empty()) {
      // Every variate gets a mask once one has: the API takes all or none.
      if (s.observed.empty()) s.observed.assign(s.values.size(), std::vector<uint8_t>(static_cast<size_t>(t.rows()), 1));
      if (obs.empty()) obs.assign(static_cast<size_t>(t.rows()), 1);
      s.observed.push_back(std::move(obs));
    }
    s.variate_names.push_back(c);
    s.values.push_back(std::move(v));
  }
  for (int64_t r = 0; r < t.rows(); ++r) s.timestamps.push_back(t.timestamps[r] + t.utc_offsets[r]);
  // Stamps past 9999-12-31 could not be written: refused before any work.
  if (a.future_timestamps.empty())
    check_future_timestamps(t.timestamps.back(), t.median_interval(), a.horizon, t.utc_offsets.back(),
                            "--prediction-length");
  L.future = future_stamps(t, a.horizon, a.freq, a.future_timestamps);
  s.future_timestamps = L.future.wall();
  return L;
}

void write_output(const std::string& path, const std::string& text) {
  if (path.empty() || path == "-") std::cout << text << std::flush;
  else write_file_atomic(path, text);
}

void run_predict(const ModelEntry& e, const PredictArgs& a) {
  const auto t0 = std::chrono::steady_clock::now();
  // Everything the command line can get wrong is reported before any work.
  if (a.inputs.empty()) throw UsageError("missing --input FILE.csv (a market CSV; repeat for several files)");
  std::string format = lower(a.format);
  if (format.empty()) format = lower(fs::path(a.output).extension().string()) == ".json" ? "json" : "csv";
  FCAST_CHECK(format == "csv" || format == "json", "--format must be csv or json, got '", a.format, "'");
  FCAST_CHECK(a.threads >= 0, "--threads must be >= 0 (0 = OpenMP default), got ", a.threads);
  FCAST_CHECK(a.horizon > 0, "--prediction-length must be positive, got ", a.horizon);
  const int64_t num_samples = a.num_samples.value_or(e.default_num_samples);
  FCAST_CHECK(num_samples >= 0, "--num-samples must be >= 0 (0 = point forecast), got ", num_samples);
  if (!e.draws_samples) {  // quantiles from one pass: nothing to sample or aggregate
    const std::string why = cat(e.name, " draws no sample paths (it forecasts quantiles directly; --quantiles picks them)");
    FCAST_CHECK(num_samples == 0, "--num-samples ", num_samples, ": ", why, "; leave --num-samples out");
    FCAST_CHECK(a.samples_out.empty(), "--samples-out: ", why);
    FCAST_CHECK(a.aggregate.empty(), "--aggregate '", a.aggregate, "': ", why, "; its point forecast is the median column");
  }
  FCAST_CHECK(a.samples_out.empty() || num_samples > 0,
              "--samples-out needs sample paths: give --num-samples N (N > 0)");
  FCAST_CHECK(a.fill == "error" || a.fill == "ffill" || a.fill == "mask", "--fill must be error, ffill or mask, got '",
              a.fill, "'");
  FCAST_CHECK(a.fill != "mask" || e.accepts_observed_mask, "--fill mask: ", e.name,
              " takes no missing-value mask; use --fill ffill (carry the last value forward)");
  const CompileSettings settings = resolve_cli_settings(e.compile, a.compile);
  ForecastRequest r;
  r.horizon = a.horizon;
  r.num_samples = num_samples;
  r.seed = a.seed;
  r.limits = resolve_limits(Environment::from_process(), a.limits);
  check_forecast_limits(r.limits, "--prediction-length", r.horizon, "--num-samples", r.num_samples);
  r.nonfinite = nonfinite_policy(a.nonfinite);
  r.quantiles = parse_quantiles(a.quantiles);
  std::optional<eval::AggregationSpec> aggregation;
  if (!a.aggregate.empty()) aggregation = eval::parse_aggregation(a.aggregate);
  r.options = a.model_options;
  for (const std::string& o : a.options) {
    const size_t eq = o.find('=');
    FCAST_CHECK(eq != std::string::npos && eq > 0, "--option '", o, "': expected NAME=VALUE");
    r.options[o.substr(0, eq)] = o.substr(eq + 1);
  }
  int64_t context = 512;
  if (a.context) context = *a.context;
  else if (r.options.count("max_context")) {
    const std::string& v = r.options.at("max_context");
    const auto res = std::from_chars(v.data(), v.data() + v.size(), context);
    FCAST_CHECK(res.ec == std::errc() && res.ptr == v.data() + v.size(), "--max-context '", v, "' is not an integer");
  }
  FCAST_CHECK(context == 0 || context >= 2, "--context must be 0 (every row) or at least 2 rows, got ", context);
  std::vector<std::string> columns;
  for (const std::string& c : split_list(a.columns)) {
    FCAST_CHECK(std::find(columns.begin(), columns.end(), lower(c)) == columns.end(), "--columns names '", c, "' twice");
    columns.push_back(lower(c));
  }
  FCAST_CHECK(a.columns.empty() || !columns.empty(), "--columns is empty; name at least one column, e.g. --columns close");
  for (const std::string& f : {a.output, a.samples_out, a.stats_file})
    if (!f.empty() && f != "-") check_output_file(f);
  ModelPaths dirs;
  for (const ModelPart& p : e.parts) {
    auto it = a.paths.find(p.name);
    dirs[p.name] = checkpoint_dir(e, p, it == a.paths.end() ? "" : it->second);
  }
  if (a.threads > 0) omp_set_num_threads(a.threads);
  if (a.quiet) PlanCache::set_size_notice(false);

  const std::vector<Pick> picks = pick_series(a);
  std::vector<Loaded> loaded;
  int64_t filled = 0;
  for (const Pick& p : picks) {
    r.series.emplace_back();
    loaded.push_back(load_series(e, a, p, context, columns, r.series.back()));
    filled += loaded.back().filled;
  }
  if (filled > 0 && !a.quiet)
    std::cerr << "fcast: " << filled << " missing value(s) in the context " << (a.fill == "mask" ? "masked" : "filled forward")
              << " (--fill " << a.fill << ")\n";

  Progress progress(show_progress(a.quiet, a.progress));
  progress.begin(cat("loading ", e.name));
  std::shared_ptr<LoadedModel> m = e.load(dirs, settings);
  progress.end();
  if (m->random_weights())
    std::cerr << "fcast: NOTE: " << e.name << " has RANDOM weights (written by fcast init-model): the forecast numbers "
              << "mean nothing.\n";
  std::unique_ptr<ForecastSession> session = m->new_session();
  progress.begin(cat("forecasting ", r.series.size(), " series x ", r.horizon, " steps",
                     settings.enabled ? " (the first run of a shape compiles its plans)" : ""));
  r.progress = progress.callback();
  const ForecastResult res = session->forecast(r);
  progress.end();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::cerr << nonfinite_warning(e.name, std::stoll(res.metadata.at("nonfinite_values")), res.metadata.at("nonfinite_detail"));

  // A model may forecast more variates than --columns named (Kronos forecasts every bar field):
  // the output keeps the named ones.
  auto shown = [&](const std::string& variate) {
    return columns.empty() || std::find(columns.begin(), columns.end(), lower(variate)) != columns.end();
  };
  // The --aggregate columns of one cell: the spec over its sample paths (the mean for a point
  // forecast) and their p60 - p40.
  auto aggregated = [&](const SeriesForecast& f, size_t v, int64_t h) -> std::pair<float, float> {
    if (f.samples.empty()) return {f.mean[v][h], 0.0f};
    const std::vector<double> paths(f.samples[v][h].begin(), f.samples[v][h].end());
    return {static_cast<float>(eval::aggregate_one_step(*aggregation, paths)),
            static_cast<float>(eval::band_p40_p60_by_step({f.samples[v][h]}).at(0))};
  };
  auto stamp = [&](size_t k, int64_t h) {
    const FutureStamps& f = loaded[k].future;
    return format_timestamp(f.utc[h], f.offset[h], f.style);
  };
  std::ostringstream out;
  if (format == "csv") {
    out << "symbol,timestamp,variate,step,mean,median,std";
    for (double q : r.quantiles) out << "," << quantile_label(q);
    if (aggregation) out << ",point,band_p40_p60";
    out << "\n";
    for (size_t k = 0; k < res.series.size(); ++k) {
      const SeriesForecast& f = res.series[k];
      for (int64_t h = 0; h < r.horizon; ++h)
        for (size_t v = 0; v < f.variate_names.size(); ++v) {
          if (!shown(f.variate_names[v])) continue;
          out << csv_field(f.id) << "," << stamp(k, h) << "," << csv_field(f.variate_names[v]) << "," << h + 1 << "," << num(f.mean[v][h])
              << "," << num(f.median[v][h]) << "," << num(f.std[v][h]);
          for (size_t q = 0; q < r.quantiles.size(); ++q) out << "," << num(f.quantiles[q][v][h]);
          if (aggregation) {
            const auto [point, band] = aggregated(f, v, h);
            out << "," << num(point) << "," << num(band);
          }
          out << "\n";
        }
    }
  } else {
    nlohmann::ordered_json j;
    nlohmann::ordered_json md;
    md["model"] = e.name;
    md["checkpoints"] = dirs;
    md["identity"] = m->identity();
    md["random_weights"] = m->random_weights();
    md["weights_note"] = m->random_weights()
                             ? "RANDOM weights written by fcast init-model: the forecast means nothing"
                             : "fcast cannot tell trained from random weights written by other tools; only the "
                               "published checkpoints give meaningful forecasts";
    md["executor"] = res.metadata.at("executor");
    md["prediction_length"] = r.horizon;
    md["num_samples"] = r.num_samples;
    md["seed"] = r.seed;
    md["quantiles"] = r.quantiles;
    md["options"] = r.options;
    md["fill"] = a.fill;
    if (aggregation) md["aggregate"] = aggregation->text;
    md["threads"] = omp_get_max_threads();
    md["seconds"] = seconds;
    if (r.nonfinite == NonFinitePolicy::kWarn) {
      md["nonfinite"] = "warn";
      md["nonfinite_values"] = std::stoll(res.metadata.at("nonfinite_values"));
      md["nonfinite_detail"] = res.metadata.at("nonfinite_detail");
    }
    j["metadata"] = std::move(md);
    nlohmann::ordered_json series = nlohmann::ordered_json::array();
    for (size_t k = 0; k < picks.size(); ++k) {
      const MarketTable& t = loaded[k].table;
      series.push_back({{"symbol", picks[k].id},
                        {"input", picks[k].file},
                        {"time_column", t.time_column},
                        {"variates", r.series[k].variate_names},
                        {"context_rows", t.rows()},
                        {"context_first", format_timestamp(t.timestamps.front(), t.utc_offsets.front(), t.time_style)},
                        {"context_last", format_timestamp(t.timestamps.back(), t.utc_offsets.back(), t.time_style)},
                        {"interval_seconds", t.median_interval()},
                        {"future_timestamps", loaded[k].future.rule},
                        {"filled_values", loaded[k].filled}});
    }
    j["series"] = std::move(series);
    nlohmann::ordered_json rows = nlohmann::ordered_json::array();
    for (size_t k = 0; k < res.series.size(); ++k) {
      const SeriesForecast& f = res.series[k];
      for (int64_t h = 0; h < r.horizon; ++h)
        for (size_t v = 0; v < f.variate_names.size(); ++v) {
          if (!shown(f.variate_names[v])) continue;
          nlohmann::ordered_json row;
          row["symbol"] = f.id;
          row["timestamp"] = stamp(k, h);
          row["variate"] = f.variate_names[v];
          row["step"] = h + 1;
          row["mean"] = jnum(f.mean[v][h]);
          row["median"] = jnum(f.median[v][h]);
          row["std"] = jnum(f.std[v][h]);
          for (size_t q = 0; q < r.quantiles.size(); ++q) row[quantile_label(r.quantiles[q])] = jnum(f.quantiles[q][v][h]);
          if (aggregation) {
            const auto [point, band] = aggregated(f, v, h);
            row["point"] = jnum(point);
            row["band_p40_p60"] = jnum(band);
          }
          rows.push_back(std::move(row));
        }
    }
    j["forecast"] = std::move(rows);
    out << j.dump(2) << "\n";
  }
  write_output(a.output, out.str());
  if (!a.samples_out.empty()) {
    std::ostringstream so;
    so << "symbol,timestamp,variate,step,sample,value\n";
    for (size_t k = 0; k < res.series.size(); ++k) {
      const SeriesForecast& f = res.series[k];
      for (int64_t h = 0; h < r.horizon; ++h)
        for (size_t v = 0; v < f.variate_names.size(); ++v) {
          if (!shown(f.variate_names[v])) continue;
          const std::string head = cat(csv_field(f.id), ",", stamp(k, h), ",", csv_field(f.variate_names[v]), ",", h + 1, ",");
          for (size_t n = 0; n < f.samples[v][h].size(); ++n) so << head << n + 1 << "," << num(f.samples[v][h][n]) << "\n";
        }
    }
    write_output(a.samples_out, so.str());
  }
  // Which calendar continued the series (the JSON's `series` has it per series).
  bool one_rule = true;
  for (const Loaded& l : loaded) one_rule = one_rule && l.future.rule == loaded.front().future.rule;
  const std::string rule = one_rule ? loaded.front().future.rule : "per series, see --format json";
  if (!a.quiet)
    std::cerr << "fcast: " << e.name << " forecast of " << res.series.size() << " series x " << r.horizon << " steps ("
              << (r.num_samples > 0 ? cat(r.num_samples, " samples") : std::string("point forecast")) << ", seed "
              << r.seed << ", executor " << res.metadata.at("executor") << ", future timestamps: " << rule << ") in "
              << seconds << " s"
              << (a.output.empty() || a.output == "-" ? "" : ", written to " + a.output) << "\n";
  if (a.stats || !a.stats_file.empty()) {
    std::vector<const Executor*> ex;
    for (Executor* x : session->executors()) ex.push_back(x);
    const std::string line = stats_json(e.compile, settings, ex, seconds).dump();
    if (!a.stats_file.empty()) write_file_atomic(a.stats_file, line + "\n");
    // Last, on stderr: stdout holds only the forecast.
    if (a.stats) std::cerr << line << "\n" << std::flush;
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

void register_model_predict(CLI::App& predict, const ModelEntry& e) {
  auto a = std::make_shared<PredictArgs>();
  CLI::App* cmd = predict.add_subcommand(e.name, "Forecast market CSVs with " + e.name + " (" + e.summary +
                                                     "): mean, median, std and quantiles per symbol, future step "
                                                     "and variate, as CSV or JSON");
  for (const ModelPart& p : e.parts) {
    const std::string names = p.name == "model" ? "--model,-m" : "--" + p.name;
    cmd->add_option(names, a->paths[p.name],
                    p.help + "; a folder, or a Hugging Face repo id (ORG/NAME) found in the local Hugging Face cache, "
                             "offline (required)");
  }
  cmd->add_option("--input,-i", a->inputs,
                  "Market CSV (a time column plus numeric columns; newest-first files are reversed); repeat for several "
                  "files (required)");
  cmd->add_option("--symbol", a->symbol,
                  "Symbol of a long-format file (a symbol column), or 'all' for every symbol of every file (default: "
                  "the file's only symbol)");
  cmd->add_option("--symbols", a->symbols, "Comma-separated symbols to forecast together, found in any --input");
  add_calendar_flags(cmd, a->freq, a->future_timestamps);
  cmd->add_option("--time-column", a->time_column,
                  "Name of the time column (default: the first named date, timestamp, timestamps, time, datetime, ds or "
                  "ts; else an unnamed first column of dates, as pandas to_csv writes its index); epoch seconds or "
                  "milliseconds are read in a named time column");
  std::string cols;
  for (const std::string& c : e.market_variates) cols += (cols.empty() ? "" : ",") + c;
  cmd->add_option("--columns", a->columns,
                  "Comma-separated columns forecast jointly as variates, case-insensitive (default: " +
                      (e.market_variates.size() == 1 ? cols : "those of " + cols + " the file has") + ")");
  cmd->add_option_function<int64_t>(
      "--context,--lookback", [a](const int64_t& n) { a->context = n; },
      "Use the last N rows of each series as context; 0 = every row (default: 512, or --max-context where the model "
      "has it)")
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  cmd->add_option("--prediction-length,--pred-len,-n", a->horizon, "Future steps to forecast, > 0 (default: 64)");
  cmd->add_option_function<int64_t>(
      "--num-samples,--sample-count", [a](const int64_t& n) { a->num_samples = n; },
      cat("Sample paths per series; mean/median/std/quantiles are taken over them; 0 = point forecast (default: ",
          e.default_num_samples, ")"))
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  cmd->add_option("--quantiles", a->quantiles,
                  "Comma-separated quantile levels in [0, 1], written as columns q<level>; empty for none "
                  "(default: 0.1,0.5,0.9)");
  add_seed_option(cmd, a->seed, "Sampling seed, 0 to 2^64 - 1: the same seed gives the same numbers (default: 0)");
  for (const ModelOption& o : e.options) {
    const std::string name = o.name;
    cmd->add_option_function<std::string>(
        "--" + dashed(name), [a, name](const std::string& v) { a->model_options[name] = v; },
        cat(e.name, " option ", name, ": ", o.help, " (default: ", o.default_value, ")"))
        ->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
    if (name == "kv_cache")
      cmd->add_flag_callback("--no-kv-cache", [a] { a->model_options["kv_cache"] = "false"; },
                             "Recompute the whole window at every decoding step instead of using the KV cache (same "
                             "as --kv-cache false)");
  }
  std::string opts;
  for (const ModelOption& o : e.options) opts += (opts.empty() ? "" : ", ") + o.name;
  cmd->add_option("--option", a->options,
                  "Model option NAME=VALUE, repeatable (" + (opts.empty() ? std::string("none") : opts) + ")");
  cmd->add_option("--fill", a->fill,
                  std::string("Missing values inside the context: error (name the row), ffill (carry the last value "
                              "forward)") +
                      (e.accepts_observed_mask ? ", mask (hide them from the model)" : "") + " (default: error)");
  cmd->add_option("--aggregate", a->aggregate,
                  "Also write `point`, the sample paths aggregated by SPEC, and `band_p40_p60` (p60 - p40 of the "
                  "paths): mean, median, p10, p90, quantile_<q>, trimmed_mean_<f>, lower_/upper_trimmed_mean_<f>, "
                  "mean_minus_std_<k>, mean_plus_std_<k>, quantile_plus_std_<q>_<k>, mean_quantile_mix_<q>_<w> "
                  "(fractions above 1 are percentages: trimmed_mean_10) (default: none)");
  cmd->add_option("--output,-o", a->output, "Output file; '-' or empty for stdout (default: stdout)");
  cmd->add_option("--format", a->format, "csv or json (default: json if --output ends in .json, else csv)");
  cmd->add_option("--samples-out", a->samples_out,
                  "Also write every sample path as CSV rows symbol,timestamp,variate,step,sample,value (needs "
                  "--num-samples > 0)");
  cmd->add_option("--threads,-t", a->threads,
                  "OpenMP threads; 0 = OpenMP default (OMP_NUM_THREADS or all cores) (default: 0)");
  cmd->add_flag("--stats", a->stats,
                "Print the executor counters (mode, backend, dtype, compiled, plans_built, recompiles, cache_hits, "
                "cache_misses, fallbacks_to_eager) as one JSON object, the last line of stderr");
  cmd->add_option("--stats-file", a->stats_file, "Write the --stats JSON object to FILE");
  cmd->add_flag("--quiet,-q", a->quiet, "No progress, notes or summary on stderr (warnings and errors still show)");
  cmd->add_flag("--progress", a->progress, "Show progress even when stderr is not a terminal");
  add_nonfinite_flag(cmd, a->nonfinite);
  add_compile_flags(cmd, a->compile);
  add_limit_flags(cmd, a->limits);
  cmd->footer(cat("Output: one row per symbol, future step and variate: symbol, timestamp (on the series' own calendar, "
                  "written as the input writes its stamps), variate, step, mean, median, std, q<level>...; JSON adds a "
                  "metadata block (model, checkpoints, identity, random_weights, settings) and the series read.\n"
                  "Example: fcast predict ",
                  e.name, " -m DIR", e.parts.size() > 1 ? " --tokenizer DIR" : "",
                  " -i tests/data/market/stocks5_daily.csv --symbol all -n 16"));
  cmd->callback([&e, a] { run_predict(e, *a); });
}

void register_predict(CLI::App& app) {
  CLI::App* predict = app.add_subcommand("predict", "Forecast market CSVs with a model (" + model_names() + ")");
  predict->require_subcommand(1);
  for (const ModelEntry& e : model_registry()) register_model_predict(*predict, e);
}

}  // namespace fcast::tools
