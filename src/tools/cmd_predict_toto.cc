// `fcast predict toto`: forecasts one or several columns of a market CSV with a Toto checkpoint
// and writes mean, median, std and quantiles per future step as CSV or JSON.
#include <omp.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <memory>
#include <sstream>

#include "core/error.h"
#include "io/csv.h"
#include "io/file.h"
#include "models/toto/forecaster.h"
#include "models/toto/weights.h"
#include "models/registry.h"
#include "runtime/executor_factory.h"
#include "tools/calendar_flags.h"
#include "tools/commands.h"
#include "tools/compile_flags.h"

namespace fcast::tools {

namespace {

namespace fs = std::filesystem;

// Written by `fcast init-model` beside a random checkpoint (see cmd_init_model.cc).
constexpr const char* kRandomWeightsMarker = "RANDOM_WEIGHTS.txt";

const char* kWeightsHint =
    "To use the trained model, download Datadog/Toto-Open-Base-1.0 (config.json and model.safetensors) from the "
    "Hugging Face hub on a connected machine, e.g. `huggingface-cli download Datadog/Toto-Open-Base-1.0 "
    "--local-dir toto-open-base-1.0`, copy that folder here and pass it as --model. To try the engine without "
    "it, write RANDOM weights (forecasts mean nothing) with `fcast init-model toto --preset tiny --out DIR`.";

struct PredictTotoArgs {
  std::string model;
  std::string input;
  std::string columns = "close";
  std::string symbol;
  std::string time_column;
  std::string freq;               // pandas alias or "" (the series' own calendar)
  std::string future_timestamps;  // a CSV whose time column gives the future stamps
  int64_t context = 512;
  int64_t prediction_length = 64;
  int64_t num_samples = 256;
  int64_t samples_per_batch = 256;
  std::string quantiles = "0.1,0.5,0.9";
  uint64_t seed = 0;
  bool no_kv_cache = false;
  std::string output;
  std::string format;
  int threads = 0;
  CompileCliValues compile;  // --compile/--no-compile, --compile-mode, ... (tools/compile_flags.h)
  LimitCliValues limits;     // --max-horizon, --max-samples
  bool stats = false;        // --stats: executor counters as the last line of stdout
  std::string nonfinite = "error";  // --nonfinite error|warn
};

std::string trim(const std::string& s) {
  size_t b = 0, e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  return s.substr(b, e - b);
}

std::string lower(std::string s) {
  for (char& ch : s) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return s;
}

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

// Shortest text that reads back as the same float; JSON-safe callers handle non-finite values.
std::string num(float v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  char buf[32];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, r.ptr);
}

std::string quantile_label(double q) {
  char buf[32];
  const auto r = std::to_chars(buf, buf + sizeof buf, q);
  return "q" + std::string(buf, r.ptr);
}

void check_model_dir(const std::string& dir) {
  FCAST_CHECK(!dir.empty(), "missing --model DIR (a Toto checkpoint folder with config.json and model.safetensors). ",
              kWeightsHint);
  std::error_code ec;
  FCAST_CHECK(fs::exists(dir, ec), "model directory '", dir, "' does not exist. ", kWeightsHint);
  FCAST_CHECK(fs::is_directory(dir, ec), "--model '", dir, "' is not a directory. ", kWeightsHint);
  for (const char* f : {"config.json", "model.safetensors"})
    FCAST_CHECK(fs::exists(fs::path(dir) / f, ec), "model directory '", dir, "' has no ", f, ". ", kWeightsHint);
}

struct Prepared {
  MarketTable table;
  FutureStamps future;                // the forecast's stamps
  std::vector<std::string> columns;  // as the user spelled them, lower-cased
  std::vector<double> quantiles;
  toto::ForecastOptions fo;
};

Prepared prepare(const PredictTotoArgs& a) {
  Prepared p;
  FCAST_CHECK(a.prediction_length > 0, "--prediction-length must be positive, got ", a.prediction_length);
  FCAST_CHECK(a.num_samples >= 0, "--num-samples must be >= 0 (0 = mean forecast), got ", a.num_samples);
  FCAST_CHECK(a.context >= 2, "--context must be at least 2 rows, got ", a.context);
  FCAST_CHECK(a.threads >= 0, "--threads must be >= 0 (0 = OpenMP default), got ", a.threads);
  check_forecast_limits(resolve_limits(Environment::from_process(), a.limits), "--prediction-length",
                        a.prediction_length, "--num-samples", a.num_samples);
  p.fo.prediction_length = a.prediction_length;
  p.fo.num_samples = a.num_samples;
  p.fo.seed = a.seed;
  p.fo.use_kv_cache = !a.no_kv_cache;
  p.fo.nonfinite = nonfinite_policy(a.nonfinite);
  if (a.num_samples > 0) {
    FCAST_CHECK(a.samples_per_batch > 0, "--samples-per-batch must be positive, got ", a.samples_per_batch);
    p.fo.samples_per_batch = std::min(a.samples_per_batch, a.num_samples);
    FCAST_CHECK(a.num_samples % p.fo.samples_per_batch == 0, "--samples-per-batch (", p.fo.samples_per_batch,
                ") must divide --num-samples (", a.num_samples, ")");
  }
  p.quantiles = parse_quantiles(a.quantiles);
  for (const auto& c : split_list(a.columns)) {
    const std::string l = lower(c);
    FCAST_CHECK(std::find(p.columns.begin(), p.columns.end(), l) == p.columns.end(), "--columns names '", c,
                "' twice");
    p.columns.push_back(l);
  }
  FCAST_CHECK(!p.columns.empty(), "--columns is empty; name at least one column, e.g. --columns close");

  FCAST_CHECK(!a.input.empty(), "missing --input FILE.csv");
  CsvOptions co;
  co.symbol = a.symbol;
  co.time_column = a.time_column;
  co.keep_last = a.context;  // only the context window is kept; every row is still checked
  p.table = read_market_csv(a.input, co);
  for (const auto& c : p.columns) p.table.column(c);  // unknown column: the error lists the available ones
  FCAST_CHECK(p.table.rows() >= 2, a.input, ": the series has ", p.table.rows(),
              " row(s); at least 2 are needed (the time step is inferred from them)");
  for (const auto& c : p.columns) {
    const std::vector<double>& v = p.table.column(c);
    for (int64_t r = 0; r < p.table.rows(); ++r)
      FCAST_CHECK(std::isfinite(v[r]), a.input, ": column '", c, "' has a missing or non-finite value (", v[r],
                  ") at ", format_timestamp(p.table.timestamps[r], p.table.utc_offsets[r], p.table.time_style),
                  " (line ", p.table.lines[r], ", row ", r + 1, " of the ", p.table.rows(),
                  "-row context window); use a shorter --context that starts after it, or clean the file");
    p.table.check_float32_range(c);
  }
  // Future stamps past 9999-12-31 could not be written: refused before any work.
  check_future_timestamps(p.table.timestamps.back(), p.table.median_interval(), a.prediction_length,
                          p.table.utc_offsets.back(), "--prediction-length");
  p.future = future_stamps(p.table, a.prediction_length, a.freq, a.future_timestamps);
  return p;
}

void run_predict_toto(const PredictTotoArgs& a) {
  std::string format = lower(a.format);
  if (format.empty()) format = lower(fs::path(a.output).extension().string()) == ".json" ? "json" : "csv";
  FCAST_CHECK(format == "csv" || format == "json", "--format must be csv or json, got '", a.format, "'");
  // Before any work: a forecast must not be computed only to find it cannot be written.
  if (!a.output.empty() && a.output != "-") check_output_file(a.output);
  if (a.threads > 0) omp_set_num_threads(a.threads);
  // Resolved first, so a bad compile flag or variable is reported before any work is done.
  const CompileSettings settings = resolve_cli_settings(find_model("toto").compile, a.compile);
  check_model_dir(a.model);
  Prepared p = prepare(a);
  const MarketTable& t = p.table;
  const int64_t V = static_cast<int64_t>(p.columns.size()), T = t.rows(), H = a.prediction_length;

  std::error_code ec;
  const bool random_marker = fs::exists(fs::path(a.model) / kRandomWeightsMarker, ec);
  if (random_marker)
    std::cerr << "fcast: NOTE: " << a.model << " holds RANDOM weights (written by fcast init-model); "
              << "the forecast numbers mean nothing.\n";

  const auto t0 = std::chrono::steady_clock::now();
  toto::TotoWeights weights = load_with_hint({{"model", a.model}}, "toto", [&] { return toto::load_toto(a.model); });
  const std::shared_ptr<Executor> executor = make_executor(settings, weights.identity);
  toto::TotoModel model(std::move(weights), executor);
  toto::TotoForecaster forecaster(model);
  Tensor series = Tensor::empty(DType::F32, {1, V, T});
  for (int64_t v = 0; v < V; ++v) {
    const std::vector<double>& col = t.column(p.columns[v]);
    for (int64_t r = 0; r < T; ++r) series.data<float>()[v * T + r] = static_cast<float>(col[r]);
  }
  toto::Forecast f = forecaster.forecast(series, nullptr, nullptr, p.fo);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  const Tensor median = f.median(), sd = f.std();
  std::vector<Tensor> qs;
  for (double q : p.quantiles) qs.push_back(f.quantile(q));
  const int64_t step = t.median_interval();
  const int32_t offset = t.utc_offsets.back();
  // Stamps on the series' calendar, written as the input writes them (date only, Z, +HH:MM, ...).
  auto stamp = [&](int64_t h) { return format_timestamp(p.future.utc[h], p.future.offset[h], p.future.style); };
  auto at = [&](const Tensor& x, int64_t v, int64_t h) { return x.data<float>()[v * H + h]; };

  std::ostringstream out;
  if (format == "csv") {
    out << "timestamp,variate,step,mean,median,std";
    for (double q : p.quantiles) out << "," << quantile_label(q);
    out << "\n";
    for (int64_t h = 0; h < H; ++h)
      for (int64_t v = 0; v < V; ++v) {
        out << stamp(h) << "," << p.columns[v] << "," << h + 1 << "," << num(at(f.mean(), v, h)) << ","
            << num(at(median, v, h)) << "," << num(at(sd, v, h));
        for (const auto& q : qs) out << "," << num(at(q, v, h));
        out << "\n";
      }
  } else {
    // Through the shortest float text, so JSON shows 320.01013 rather than 320.0101318359375.
    auto jnum = [](float x) {
      return std::isfinite(x) ? nlohmann::json(std::strtod(num(x).c_str(), nullptr)) : nlohmann::json(nullptr);
    };
    nlohmann::ordered_json j;
    const toto::TotoWeights& w = model.weights();
    j["model"] = {{"family", "toto"},
                  {"dir", a.model},
                  {"weights_identity", w.identity},
                  {"weight_file_bytes", w.weight_file_bytes},
                  {"config", w.config.to_json()},
                  {"random_weights", random_marker},
                  {"weights_note", random_marker
                                       ? "RANDOM weights written by fcast init-model: the forecast means nothing"
                                       : "fcast cannot tell trained from random weights; only the published "
                                         "Datadog/Toto-Open-Base-1.0 checkpoint gives meaningful forecasts"}};
    j["input"] = {{"file", a.input},
                  {"symbol", t.symbol},
                  {"time_column", t.time_column},
                  {"columns", p.columns},
                  {"context_rows", T},
                  {"context_first", format_timestamp(t.timestamps.front(), t.utc_offsets.front(), t.time_style)},
                  {"context_last", format_timestamp(t.timestamps.back(), offset, t.time_style)},
                  {"interval_seconds", step},
                  {"future_timestamps", p.future.rule}};
    j["options"] = {{"prediction_length", H},
                    {"num_samples", a.num_samples},
                    {"samples_per_batch", a.num_samples > 0 ? p.fo.samples_per_batch : 0},
                    {"mean_forecast", a.num_samples == 0},
                    {"seed", a.seed},
                    {"kv_cache", p.fo.use_kv_cache},
                    {"quantiles", p.quantiles},
                    {"threads", omp_get_max_threads()}};
    if (p.fo.nonfinite == NonFinitePolicy::kWarn) {
      j["options"]["nonfinite"] = "warn";
      j["nonfinite_values"] = f.nonfinite_values();
      j["nonfinite_detail"] = f.nonfinite_detail();
    }
    j["seconds"] = seconds;
    nlohmann::ordered_json rows = nlohmann::ordered_json::array();
    for (int64_t h = 0; h < H; ++h)
      for (int64_t v = 0; v < V; ++v) {
        nlohmann::ordered_json r;
        r["timestamp"] = stamp(h);
        r["variate"] = p.columns[v];
        r["step"] = h + 1;
        r["mean"] = jnum(at(f.mean(), v, h));
        r["median"] = jnum(at(median, v, h));
        r["std"] = jnum(at(sd, v, h));
        for (size_t k = 0; k < qs.size(); ++k) r[quantile_label(p.quantiles[k])] = jnum(at(qs[k], v, h));
        rows.push_back(std::move(r));
      }
    j["forecast"] = std::move(rows);
    out << j.dump(2) << "\n";
  }

  if (a.output.empty() || a.output == "-") {
    std::cout << out.str() << std::flush;
  } else {
    write_file_atomic(a.output, out.str());
  }
  std::cerr << nonfinite_warning("toto", f.nonfinite_values(), f.nonfinite_detail());
  std::cerr << "fcast: toto forecast of " << V << " variate(s) x " << H << " steps from " << T << " context rows ("
            << (a.num_samples > 0 ? std::to_string(a.num_samples) + " samples" : std::string("mean forecast"))
            << ", seed " << a.seed << ", kv-cache " << (p.fo.use_kv_cache ? "on" : "off") << ", executor "
            << executor->name() << ") in " << seconds
            << " s" << (a.output.empty() || a.output == "-" ? "" : ", written to " + a.output) << "\n";
  // Last, so that it is the last line of stdout whether the forecast went there or to a file.
  if (a.stats)
    std::cout << stats_json(find_model("toto").compile, settings, {executor.get()}, seconds).dump() << "\n" << std::flush;
}

}  // namespace

void register_predict_toto(CLI::App& predict) {
  auto a = std::make_shared<PredictTotoArgs>();
  CLI::App* cmd = predict.add_subcommand(
      "toto", "Forecast columns of a market CSV with Toto: mean, median, std and quantiles per future step");
  cmd->add_option("--model", a->model,
                  "Toto checkpoint folder (config.json + model.safetensors): the published "
                  "Datadog/Toto-Open-Base-1.0, or random weights from `fcast init-model toto` (required)");
  cmd->add_option("--input", a->input,
                  "Market CSV (a date/timestamp column plus numeric columns; newest-first files are reversed)")
      ->required();
  cmd->add_option("--columns", a->columns,
                  "Comma-separated columns to forecast jointly as variates, case-insensitive (default: close)");
  add_calendar_flags(cmd, a->freq, a->future_timestamps);
  cmd->add_option("--time-column", a->time_column,
                  "Name of the time column (default: the first named date, timestamp, timestamps, time, datetime, ds or ts; else an unnamed first column of dates, as pandas to_csv writes its index); epoch seconds or milliseconds are read in a named time column");
  cmd->add_option("--symbol", a->symbol,
                  "Symbol to select in a long-format file with a symbol column; required when it holds several "
                  "(default: none)");
  cmd->add_option("--context", a->context, "Use the last N rows as context, >= 2 (default: 512, or all rows if fewer)");
  cmd->add_option("--prediction-length", a->prediction_length, "Future steps to forecast, > 0 (default: 64)");
  cmd->add_option("--num-samples", a->num_samples,
                  "Sample paths drawn; 0 = mean forecast (median = mean, std = 0) (default: 256)");
  cmd->add_option("--samples-per-batch", a->samples_per_batch,
                  "Sample paths run together; clamped to --num-samples, must divide it (default: 256)");
  cmd->add_option("--quantiles", a->quantiles,
                  "Comma-separated quantile levels in [0, 1] written as columns q<level>; empty for none "
                  "(default: 0.1,0.5,0.9)");
  add_seed_option(cmd, a->seed, "Sampling seed, 0 to 2^64 - 1: the same seed gives the same numbers (default: 0)");
  cmd->add_flag("--no-kv-cache", a->no_kv_cache,
                "Recompute the whole context at every decoding step instead of using the KV cache (default: "
                "cache on)");
  cmd->add_option("--output", a->output, "Output file; '-' or empty for stdout (default: stdout)");
  cmd->add_option("--format", a->format, "csv or json (default: json if --output ends in .json, else csv)");
  cmd->add_option("--threads", a->threads, "OpenMP threads; 0 = OpenMP default (OMP_NUM_THREADS or all cores) "
                                           "(default: 0)");
  cmd->add_flag("--stats", a->stats,
                "Print the executor counters (mode, backend, dtype, compiled, plans_built, recompiles, cache_hits, "
                "cache_misses, fallbacks_to_eager) as one JSON object on the last line of stdout");
  add_nonfinite_flag(cmd, a->nonfinite);
  add_compile_flags(cmd, a->compile);
  add_limit_flags(cmd, a->limits);
  cmd->footer(
      "Output: one row per future step and variate: timestamp (continued at the median interval of the input, "
      "date only for daily data), variate, step, mean, median, std, q<level>... JSON adds the model, input and "
      "options.\nExample: fcast predict toto --model out/models/toto-tiny-random --input tests/data/market/MSTR.csv "
      "--prediction-length 16 --num-samples 64");
  cmd->callback([a] { run_predict_toto(*a); });
}

}  // namespace fcast::tools
