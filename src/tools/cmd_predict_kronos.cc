// `fcast predict kronos`: forecast a market CSV with a Kronos predictor + tokenizer pair.
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <memory>
#include <optional>
#include <sstream>

#include "core/error.h"
#include "io/csv.h"
#include "io/file.h"
#include "models/kronos/predictor.h"
#include "models/registry.h"
#include "runtime/executor_factory.h"
#include "tools/calendar_flags.h"
#include "tools/commands.h"
#include "tools/compile_flags.h"

namespace fcast::tools {

namespace {

namespace fs = std::filesystem;
using namespace fcast::kronos;

constexpr const char* kRandomWeightsMarker = "RANDOM_WEIGHTS.txt";  // as cmd_init_model.cc, cmd_init_model_kronos.cc

const char* kWeightsHint =
    "To use the trained models, download NeoQuasar/Kronos-small and NeoQuasar/Kronos-Tokenizer-base (each a folder "
    "with config.json and model.safetensors) from the Hugging Face hub on a connected machine, e.g. "
    "`huggingface-cli download NeoQuasar/Kronos-small --local-dir kronos-small` and "
    "`huggingface-cli download NeoQuasar/Kronos-Tokenizer-base --local-dir kronos-tokenizer-base`, copy both folders "
    "here and pass them as --model and --tokenizer (Kronos-mini pairs with NeoQuasar/Kronos-Tokenizer-2k). To try "
    "the engine without them, write RANDOM weights (forecasts mean nothing) with `fcast init-model kronos --preset "
    "kronos-small --out MODEL_DIR --tokenizer-out TOKENIZER_DIR`.";

struct PredictKronosArgs {
  std::string model, tokenizer, input, symbol, time_column, freq, future_timestamps, output, format;
  int64_t pred_len = 0;
  std::optional<int64_t> lookback;  // unset: max_context
  int64_t max_context = 512;
  double temperature = 1.0;
  int64_t top_k = 0;
  double top_p = 0.9;
  int64_t sample_count = 1;
  uint64_t seed = 0;
  double clip = 5.0;
  bool no_kv_cache = false;
  CompileCliValues compile;  // --compile/--no-compile, --compile-mode, ... (tools/compile_flags.h)
  LimitCliValues limits;     // --max-horizon, --max-samples
  bool stats = false;        // --stats: executor counters as the last line of stdout
  std::string nonfinite = "error";  // --nonfinite error|warn
};

void check_dir(const std::string& dir, const char* flag, const char* what) {
  FCAST_CHECK(!dir.empty(), "missing ", flag, " DIR (the Kronos ", what,
              " folder with config.json and model.safetensors). ", kWeightsHint);
  std::error_code ec;
  FCAST_CHECK(fs::is_directory(dir, ec), flag, " '", dir, "' does not exist or is not a directory. ", kWeightsHint);
  for (const char* f : {"config.json", "model.safetensors"})
    FCAST_CHECK(fs::exists(fs::path(dir) / f, ec), flag, " '", dir, "' has no ", f, ". ", kWeightsHint);
}

std::string num(float v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.9g", static_cast<double>(v));  // round-trips fp32, as the golden CSVs
  return buf;
}

// Builds the Kronos input columns from a market table. Files with open, high, low and close
// go to KronosPredictor unchanged, so its rules apply (missing volume zeroes volume and
// amount; missing amount = volume * mean(o, h, l, c)). Files without open, high or low get the
// production wrapper's fill (system.md §2.3): open/high/low copied from close, volume 0 when
// absent, amount = volume * close when absent.
KronosSeries series_from_table(const MarketTable& t, std::vector<std::string>& notes) {
  KronosSeries s;
  for (int64_t r = 0; r < t.rows(); ++r) s.timestamps.push_back(t.timestamps[r] + t.utc_offsets[r]);
  FCAST_CHECK(t.has("close"), t.path, ": no 'close' column; Kronos needs at least close prices (available columns: ",
              [&] {
                std::string c;
                for (auto& n : t.columns) c += (c.empty() ? "" : ", ") + n;
                return c;
              }(),
              ")");
  for (const char* c : {"open", "high", "low", "close", "volume", "amount"})
    if (t.has(c)) t.check_float32_range(c);
  const bool ohlc = t.has("open") && t.has("high") && t.has("low");
  if (ohlc) {
    for (const char* c : {"open", "high", "low", "close", "volume", "amount"})
      if (t.has(c)) s.columns[c] = t.column(c);
    notes.push_back("columns: open/high/low/close present, KronosPredictor's column rules apply");
    return s;
  }
  const std::vector<double>& close = t.column("close");
  std::string copied;
  for (const char* c : {"open", "high", "low"}) {
    if (t.has(c)) {
      s.columns[c] = t.column(c);
    } else {
      s.columns[c] = close;
      copied += std::string(copied.empty() ? "" : ", ") + c;
    }
  }
  s.columns["close"] = close;
  s.columns["volume"] = t.has("volume") ? t.column("volume") : std::vector<double>(close.size(), 0.0);
  if (t.has("amount")) {
    s.columns["amount"] = t.column("amount");
  } else {
    std::vector<double> a(close.size());
    for (size_t r = 0; r < a.size(); ++r) a[r] = s.columns["volume"][r] * close[r];
    s.columns["amount"] = a;
  }
  notes.push_back(cat("columns: ", copied, " missing, production-wrapper fill applied (copied from close; volume ",
                      t.has("volume") ? "from the file" : "= 0", "; amount ", t.has("amount") ? "from the file" : "= volume * close",
                      ")"));
  return s;
}

void run_predict_kronos(const PredictKronosArgs& a) {
  const auto t0 = std::chrono::steady_clock::now();
  // Resolved first, so a bad compile flag or variable is reported before any work is done.
  const CompileSettings settings = resolve_cli_settings(find_model("kronos").compile, a.compile);
  check_dir(a.model, "--model", "predictor");
  check_dir(a.tokenizer, "--tokenizer", "tokenizer");
  FCAST_CHECK(a.pred_len >= 1, "--pred-len must be >= 1, got ", a.pred_len);
  FCAST_CHECK(a.max_context >= 1, "--max-context must be >= 1, got ", a.max_context);
  FCAST_CHECK(a.pred_len <= a.max_context, "--pred-len ", a.pred_len, " exceeds --max-context ", a.max_context,
              ": Kronos decodes only the last max_context tokens (raise --max-context or lower --pred-len)");
  FCAST_CHECK(!a.lookback || *a.lookback >= 0, "--lookback must be >= 0 (0 = every row), got ", a.lookback.value_or(0));
  check_forecast_limits(resolve_limits(Environment::from_process(), a.limits), "--pred-len", a.pred_len,
                        "--sample-count", a.sample_count);
  std::string format = a.format;
  if (format.empty()) {
    const std::string ext = fs::path(a.output).extension().string();
    format = ext == ".json" ? "json" : "csv";
  }
  FCAST_CHECK(format == "csv" || format == "json", "--format must be csv or json, got '", format, "'");
  // Before any work: a forecast must not be computed only to find it cannot be written.
  if (!a.output.empty() && a.output != "-") check_output_file(a.output);
  SamplingParams sp;
  sp.temperature = a.temperature;
  sp.top_k = a.top_k;
  sp.top_p = a.top_p;
  sp.sample_count = a.sample_count;
  sp.seed = a.seed;
  sp.validate();

  CsvOptions co;
  co.symbol = a.symbol;
  co.time_column = a.time_column;
  const int64_t lookback = a.lookback.value_or(a.max_context);
  co.keep_last = lookback;  // 0: every row; only the rows kept are held, every row is checked
  MarketTable table = read_market_csv(a.input, co);
  FCAST_CHECK(table.rows() >= 2, a.input, ": ", table.rows(), " usable row(s); Kronos needs at least 2 rows of history",
              a.symbol.empty() ? "" : cat(" for symbol ", a.symbol));
  std::vector<std::string> notes;
  KronosSeries series = series_from_table(table, notes);

  // Future timestamps: given (--future-timestamps), else the series continued on its own
  // calendar (business days, trading sessions) or at --freq; written as the input writes them.
  if (a.future_timestamps.empty())  // past 9999-12-31: refused naming the flag and how many steps fit
    check_future_timestamps(table.timestamps.back(), table.median_interval(), a.pred_len, table.utc_offsets.back(),
                            "--pred-len");
  const FutureStamps fut = future_stamps(table, a.pred_len, a.freq, a.future_timestamps);
  if (a.future_timestamps.empty()) notes.push_back(cat("future timestamps: ", fut.rule));
  const std::vector<int64_t>& future_utc = fut.utc;
  const std::vector<int32_t>& future_off = fut.offset;
  const TimeStyle& style = fut.style;
  const std::vector<int64_t> future_wall = fut.wall();

  KronosPredictorWeights model_weights =
      load_with_hint({{"model", a.model}}, "kronos", [&] { return load_kronos_predictor(a.model); });
  KronosTokenizerWeights tok_weights =
      load_with_hint({{"tokenizer", a.tokenizer}}, "kronos", [&] { return load_kronos_tokenizer(a.tokenizer); });
  // One executor per network: each keys its plans by its own weights' identity.
  const std::shared_ptr<Executor> model_exec = make_executor(settings, model_weights.identity);
  const std::shared_ptr<Executor> tok_exec = make_executor(settings, tok_weights.identity);
  auto model = std::make_shared<KronosModel>(std::move(model_weights), model_exec);
  auto tok = std::make_shared<KronosTokenizer>(std::move(tok_weights), tok_exec);
  for (const std::string& dir : {a.model, a.tokenizer})
    if (fs::exists(fs::path(dir) / kRandomWeightsMarker))
      std::cerr << "fcast: WARNING: " << dir << " holds RANDOM weights (written by fcast init-model); the forecast means nothing\n";
  KronosPredictorOptions po;
  po.max_context = a.max_context;
  po.clip = a.clip;
  po.use_kv_cache = !a.no_kv_cache;
  po.nonfinite = nonfinite_policy(a.nonfinite);
  if (a.no_kv_cache) std::cerr << "fcast: kronos: KV cache off (--no-kv-cache): every step recomputes the full window\n";
  KronosPredictor predictor(model, tok, po);
  for (auto& n : notes) std::cerr << "fcast: kronos: " << n << "\n";
  const KronosForecast f = predictor.predict(series, future_wall, a.pred_len, sp);
  std::cerr << nonfinite_warning("kronos", f.nonfinite_values, f.nonfinite_detail);

  std::ostringstream out;
  if (format == "csv") {
    out << "timestamps,open,high,low,close,volume,amount\n";
    for (int64_t t = 0; t < f.rows(); ++t) {
      out << format_timestamp(future_utc[t], future_off[t], style);
      for (int c = 0; c < kFeatures; ++c) out << "," << num(f.at(t, c));
      out << "\n";
    }
  } else {
    nlohmann::ordered_json j;
    j["model"] = a.model;
    j["tokenizer"] = a.tokenizer;
    j["input"] = a.input;
    if (!a.symbol.empty()) j["symbol"] = a.symbol;
    j["context_rows"] = table.rows();
    j["pred_len"] = a.pred_len;
    j["sampling"] = {{"temperature", sp.temperature}, {"top_k", sp.top_k}, {"top_p", sp.top_p},
                     {"sample_count", sp.sample_count}, {"seed", sp.seed}};
    j["max_context"] = a.max_context;
    if (po.nonfinite == NonFinitePolicy::kWarn) {
      j["nonfinite"] = "warn";
      j["nonfinite_values"] = f.nonfinite_values;
      j["nonfinite_detail"] = f.nonfinite_detail;
    }
    std::vector<std::string> ts;
    for (int64_t t = 0; t < f.rows(); ++t) ts.push_back(format_timestamp(future_utc[t], future_off[t], style));
    j["timestamps"] = ts;
    for (int c = 0; c < kFeatures; ++c) {
      std::vector<double> col;
      for (int64_t t = 0; t < f.rows(); ++t) col.push_back(std::stod(num(f.at(t, c))));
      j["forecast"][kFeatureNames[c]] = col;
    }
    out << j.dump(2) << "\n";
  }
  if (a.output.empty() || a.output == "-") {
    std::cout << out.str();
  } else {
    write_file_atomic(a.output, out.str());
    std::cerr << "fcast: kronos: wrote " << f.rows() << " rows to " << a.output << "\n";
  }
  // Last, so that it is the last line of stdout whether the forecast went there or to a file.
  if (a.stats) {
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::cout << stats_json(find_model("kronos").compile, settings, {model_exec.get(), tok_exec.get()}, seconds).dump() << "\n"
              << std::flush;
  }
}

}  // namespace

void register_predict_kronos(CLI::App& predict) {
  auto a = std::make_shared<PredictKronosArgs>();
  auto* cmd = predict.add_subcommand(
      "kronos",
      "Forecast OHLCV bars of a market CSV with Kronos (predictor + tokenizer). Writes pred_len future rows of "
      "open, high, low, close, volume, amount. Columns: with open/high/low/close present, KronosPredictor's rules "
      "apply (missing volume sets volume and amount to 0; missing amount = volume * mean(o,h,l,c)); without open, "
      "high or low, the production wrapper's fill applies (copied from close, volume 0, amount = volume * close). "
      "Other columns are ignored.");
  cmd->add_option("--model", a->model,
                  "required: Kronos predictor folder (config.json + model.safetensors), e.g. NeoQuasar/Kronos-small "
                  "downloaded from the Hugging Face hub, or one written by `fcast init-model kronos`");
  cmd->add_option("--tokenizer", a->tokenizer,
                  "required: Kronos tokenizer folder, e.g. NeoQuasar/Kronos-Tokenizer-base (Kronos-Tokenizer-2k for "
                  "Kronos-mini)");
  cmd->add_option("--input", a->input, "market CSV (time column + price columns; names are case-insensitive)")->required();
  cmd->add_option("--pred-len", a->pred_len, "future bars to forecast (1 .. max-context)")->required();
  cmd->add_option_function<int64_t>("--lookback", [a](const int64_t& n) { a->lookback = n; },
                  "context rows taken from the end of the CSV; default: --max-context; 0 = every row (the whole "
                  "context is tokenized, so long files are slow)");
  cmd->add_option("--max-context", a->max_context,
                  "bars the model sees per step (window); the reference default is 512 (Kronos-mini: up to 2048)")
      ->capture_default_str();
  cmd->add_option("--temperature", a->temperature, "sampling temperature (> 0); logits are divided by it")
      ->capture_default_str();
  cmd->add_option("--top-k", a->top_k,
                  "keep the k most likely tokens (0 = off); when > 0, --top-p is ignored (reference precedence); "
                  "--top-k 1 is greedy (deterministic)")
      ->capture_default_str();
  cmd->add_option("--top-p", a->top_p, "nucleus sampling mass in (0, 1]; 1 = off; used only when --top-k is 0")
      ->capture_default_str();
  cmd->add_option("--sample-count", a->sample_count,
                  "sample paths per series; their decoded values are averaged")
      ->capture_default_str();
  add_seed_option(cmd, a->seed, "random seed, 0 to 2^64 - 1: the same seed gives the same forecast (default: 0)");
  cmd->add_option("--clip", a->clip, "normalised inputs are clipped to [-clip, clip]")->capture_default_str();
  cmd->add_option("--time-column", a->time_column,
                  "Name of the time column (default: the first named date, timestamp, timestamps, time, datetime, ds or ts; else an unnamed first column of dates, as pandas to_csv writes its index); epoch seconds or milliseconds are read in a named time column");
  cmd->add_option("--symbol", a->symbol, "symbol to select in long-format CSVs with a symbol column (default: none; required when the file "
                  "holds several symbols)");
  add_calendar_flags(cmd, a->freq, a->future_timestamps);
  cmd->add_option("--output", a->output, "output file (.csv or .json); default: standard output");
  cmd->add_option("--format", a->format, "csv or json; default: from the --output extension, else csv");
  cmd->add_flag("--no-kv-cache", a->no_kv_cache,
                "recompute the full window every step, as the reference (default: exact KV cache while the window "
                "grows; also FCAST_KRONOS_KV_CACHE=0)");
  cmd->add_flag("--stats", a->stats,
                "print the executor counters (mode, backend, dtype, compiled, plans_built, recompiles, cache_hits, "
                "cache_misses, fallbacks_to_eager; predictor and tokenizer summed) as one JSON object on the last "
                "line of stdout");
  add_nonfinite_flag(cmd, a->nonfinite);
  add_compile_flags(cmd, a->compile);
  add_limit_flags(cmd, a->limits);
  cmd->callback([a] { run_predict_kronos(*a); });
}

}  // namespace fcast::tools
