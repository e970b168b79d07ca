// The model registry: every model fcast runs, behind one model-neutral interface. Tools
// (predict, compile, config, bench, stress, profile, golden, init-model) iterate it and never
// name a model; adding a model means its own folder under src/models/ plus one line in
// registry.cc.
//
//   const ModelEntry& e = find_model("toto");                  // errors list the registered names
//   CompileSettings s = resolve_compile_settings(e.compile, Environment::from_process());
//   std::shared_ptr<LoadedModel> m = e.load({{"model", dir}}, s);   // weights, plans, packed weights
//   std::unique_ptr<ForecastSession> a = m->new_session();     // thread 1
//   std::unique_ptr<ForecastSession> b = m->new_session();     // thread 2, same weights and plans
//   ForecastResult r = a->forecast(request);                   // include/fcast/forecast.h
//
// Ownership and thread-safety (see docs/ARCHITECTURE.md):
// - ModelEntry: static, immutable.
// - LoadedModel: immutable after load and shared (std::shared_ptr) by any number of threads:
//   the weights (memory-mapped once), the compiled model (plans without arenas, pre-packed
//   weights packed once per process, autotune choices). Every method is thread-safe.
// - ForecastSession: one caller's state (the executor's bound plans and arenas, KV caches,
//   statistics; the seed comes with each request). One thread at a time; make one per thread.
#pragma once
#include <fcast/forecast.h>

#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <memory>
#include <string>
#include <vector>

#include "core/error.h"
#include "models/golden.h"
#include "models/warm_up.h"
#include "runtime/compile_settings.h"
#include "runtime/executor.h"

namespace fcast {

struct ModelEntry;

// Checkpoint folders by part name ("model"; Kronos also "tokenizer").
using ModelPaths = std::map<std::string, std::string>;

// Shapes a warm-up forecasts, so that every plan those shapes need is built (fcast compile).
struct WarmUpSpec {
  std::vector<int64_t> context_lengths = {512};
  std::vector<int64_t> num_samples = {0};
  int64_t horizon = 8;
  int64_t variates = 1;
  uint64_t seed = 0;
  std::map<std::string, std::string> options;  // model-specific request options
};

class ForecastSession {
 public:
  virtual ~ForecastSession() = default;
  // Validates the request (clear errors naming the series and field) and forecasts every series.
  virtual ForecastResult forecast(const ForecastRequest& request) = 0;
  // Forecasts dummy series of every (context, samples) shape, then marks the model warm (from
  // then on a new plan is a recompile). One step per shape.
  virtual std::vector<WarmUpStep> warm_up(const WarmUpSpec& spec) = 0;
  // The executors this session runs on (counters, profiling, observers).
  virtual std::vector<Executor*> executors() = 0;
  ExecutorStats stats();  // all executors summed
};

class LoadedModel {
 public:
  virtual ~LoadedModel() = default;
  virtual const ModelEntry& entry() const = 0;
  virtual std::string identity() const = 0;           // hash of config + tensor table (keys the caches)
  virtual int64_t weight_file_bytes() const = 0;
  virtual bool random_weights() const = 0;            // a RANDOM_WEIGHTS.txt marker beside a checkpoint
  virtual const CompileSettings& settings() const = 0;
  virtual std::unique_ptr<ForecastSession> new_session() const = 0;
  // Pre-packed weights held by the shared compiled model(s): count and bytes (0 when eager).
  virtual int64_t packed_weight_bytes() const = 0;
};

// A request option a model understands, with its default (documentation for --help and errors).
struct ModelOption {
  std::string name, default_value, help;
};

// A checkpoint folder a model needs.
struct ModelPart {
  std::string name;  // key in ModelPaths: "model", "tokenizer"
  std::string help;
};

// A random-weight checkpoint at a published (or test) shape, for tests and benchmarks.
struct ModelPreset {
  std::string name, help;
};

// A random-weight checkpoint part that a bench workload runs on: `preset` written with `seed`
// into <--models-dir>/<folder> (the folder names keep checkpoints written by earlier versions).
struct BenchCheckpoint {
  std::string part;    // key in ModelPaths
  std::string preset;  // a preset of this model (write_random)
  uint64_t seed = 1;
  std::string folder;  // "toto-base-random"
};

// A standard `fcast bench` workload (docs/PERFORMANCE.md): one forecast request, repeated; its
// numbers are compared across versions (docs/bench-*.jsonl), so a workload's shape must not change
// under its id.
struct BenchWorkload {
  std::string id;           // "W1": the --workload name
  std::string description;  // one line in the output
  std::vector<BenchCheckpoint> checkpoints;  // published-shape random weights, every part
  int64_t context = 512, horizon = 1;
  int64_t samples = 0;      // ForecastRequest::num_samples (0: mean / point forecast)
  int64_t variates = 1;     // random-walk variates per series (ignored with market_bars)
  int64_t series = 1;       // series in the one request (all of one context length)
  bool market_bars = false; // series are random OHLCV bars (the entry's market_variates), else random walks
  std::map<std::string, std::string> options;  // ForecastRequest::options (e.g. greedy top_k=1)
  uint64_t data_seed = 7;   // random data: one stream for all random walks; series b of bars uses data_seed + b
  int reps = 5;             // steady-state calls when --reps is not given
  // Performance targets rated beyond "compiled fp32 >= 2x eager" (docs/PERFORMANCE.md):
  bool target_bf16 = false;  // bf16 >= 1.5x compiled fp32
  bool target_tail = false;  // compiled fp32 p99 <= 1.2x p50 over >= 50 calls
  bool target_rss = false;   // compiled fp32 peak RSS <= 1.3x the weight files (isolated runs)
  // An RSS check instead of a configuration comparison: one eager load by mmap and one forecast,
  // peak RSS against the weight files (fails above --max-rss-ratio); run only when named.
  bool rss_check = false;
  // A command-line comparison instead: `series` symbols of random bars in one long-format CSV,
  // forecast by one `fcast predict MODEL --symbol all` process (one load, one batched request)
  // against one process per symbol, the ratio printed; run only when named.
  bool cli_batch = false;
  // A backtest comparison instead: one symbol's walk-forward windows (`series` simulations x 4
  // keys x `horizon` days of one-step forecasts, fcast backtest's protocol) forecast in batches
  // against one at a time, in the same session; run only when named.
  bool backtest_batch = false;
};

struct ModelEntry {
  std::string name;     // "toto", "kronos": CLI and API name
  std::string summary;  // one line for --help
  std::vector<ModelPart> parts;
  CompileFamily compile;            // the compile-contract variables of this model (compile_settings.h)
  std::vector<ModelOption> options; // accepted ForecastRequest::options
  std::vector<ModelPreset> presets; // init-model presets
  WarmUpSpec warm_up;               // default shapes of `fcast compile`
  std::string test_preset;          // smallest preset: default random checkpoints of stress/profile
  // Market columns this model forecasts from (those a file has, in this order); the tools'
  // market workloads (stress, profile, bench) build their requests from them.
  std::vector<std::string> market_variates;
  bool accepts_observed_mask = false;  // SeriesInput::observed is honoured (missing values masked)
  int64_t default_num_samples = 0;     // `fcast predict`'s --num-samples default
  // Whether the model draws sample paths (ForecastRequest::num_samples > 0). A model that does
  // not (Toto 2.0: quantiles from one pass) forecasts with num_samples 0 only, and tools refuse
  // what needs samples (aggregation specs over samples, --samples-out) with a clear error.
  bool draws_samples = true;
  // For errors about a missing checkpoint: how to get the trained weights and random ones.
  std::string weights_hint;
  std::vector<BenchWorkload> bench;  // `fcast bench` workloads, in the order `--workload all` runs them
  // Config detection: whether the checkpoint folder `dir` (config.json + model.safetensors)
  // holds this model's `part`; on false, `why` may say what did not match.
  std::function<bool(const std::string& dir, std::string& part, std::string& why)> detect;
  std::function<std::shared_ptr<LoadedModel>(const ModelPaths& paths, const CompileSettings& settings)> load;
  // Writes a random-weight checkpoint of `preset` into the folders of `out` (parts it writes);
  // returns the folders written.
  std::function<ModelPaths(const std::string& preset, uint64_t seed, const ModelPaths& out)> write_random;
  // Optional golden runner (models/golden.h): whether a golden manifest is this model's, and the
  // run of every case (`fcast golden DIR`).
  std::function<bool(const nlohmann::json& manifest)> golden_accepts;
  std::function<GoldenTally(const std::string& dir, const nlohmann::json& manifest, GoldenExecutors& executors)> run_golden;
};

const std::vector<ModelEntry>& model_registry();
const ModelEntry& find_model(const std::string& name);  // throws, listing the registered names
std::string model_names();                               // "toto, kronos"
// The registered model (and part) whose config detection accepts `dir`; throws naming what each
// model found wrong when none does.
const ModelEntry& detect_model(const std::string& dir, std::string* part = nullptr);

// When a checkpoint folder given for `model`'s `part` holds another model's (or part's)
// checkpoint, one sentence saying which and what to use instead ("this looks like a kronos
// tokenizer checkpoint; ..."); "" when it does not look like any other. For load errors.
std::string wrong_checkpoint_hint(const std::string& dir, const std::string& model, const std::string& part);
// Runs `load` (a checkpoint loader); an fcast::Error it throws gets wrong_checkpoint_hint of
// each folder appended. Every registered entry's `load` goes through it.
template <class F>
auto load_with_hint(const ModelPaths& paths, const std::string& model, F&& load) -> decltype(load()) {
  try {
    return load();
  } catch (const Error& e) {
    std::string hints;
    for (const auto& [part, dir] : paths)
      if (const std::string h = wrong_checkpoint_hint(dir, model, part); !h.empty()) hints += "; " + h;
    if (hints.empty()) throw;
    throw Error(e.what() + hints);
  }
}

// The random-weight checkpoint of `e.test_preset` under `root` (root/<name>-<preset>-random/<part>),
// written on first use; for runs without model folders (accuracy figures then mean nothing).
ModelPaths ensure_random_checkpoint(const ModelEntry& e, const std::string& root);

// Helpers for model entries.
bool has_random_weights_marker(const std::string& dir);  // RANDOM_WEIGHTS.txt beside the checkpoint
void write_random_weights_marker(const std::string& dir, const std::string& what);
// Reads a request option: the request's value, else the entry's default; errors name the option.
std::string request_option(const ForecastRequest& r, const ModelEntry& e, const std::string& name);
// Parses an option value; errors name the model and the option ("toto: option kv_cache='x' is not
// a boolean (...)").
int64_t parse_int_option(const std::string& model, const std::string& name, const std::string& value);
double parse_number_option(const std::string& model, const std::string& name, const std::string& value);  // finite
bool parse_bool_option(const std::string& model, const std::string& name, const std::string& value);
// Config detection by keys: whether `dir`/config.json is a JSON object holding every key of
// `keys` (on false, `why` says what is missing).
bool config_has_keys(const std::string& dir, const std::vector<std::string>& keys, std::string& why);
// Checks that the request names only options the entry declares (a typo is an error, listing them).
void check_request_options(const ForecastRequest& r, const ModelEntry& e);
// Checks a horizon and a sample count against the caps of `limits` (include/fcast/forecast.h).
// `horizon_what` / `samples_what` name the values in errors ("--prediction-length", "toto: horizon");
// the error names the cap and how to raise it (ForecastLimits, --max-horizon / --max-samples,
// FCAST_MAX_HORIZON / FCAST_MAX_SAMPLES). The caps themselves must be positive.
void check_forecast_limits(const ForecastLimits& limits, const std::string& horizon_what, int64_t horizon,
                           const std::string& samples_what, int64_t samples);
// Checks what every model needs of a request: horizon > 0 (at most `max_horizon`, the model's own
// limit, and r.limits.max_horizon), 0 <= samples <= r.limits.max_samples,
// quantile levels in [0, 1], at least one series, each with equally long finite variates and,
// when given, as many timestamps (increasing) and `horizon` future stamps. Errors name the series.
void check_request(const ForecastRequest& r, const ModelEntry& e, int64_t max_horizon);
// A series' name in errors: its id, or "series #k".
std::string series_label(const ForecastRequest& r, size_t k);
// The future stamps of a series: its own future_timestamps, else its timestamps continued on
// their own calendar (io/calendar.h: business days, trading sessions, else the median interval);
// empty without timestamps.
std::vector<int64_t> future_timestamps_of(const SeriesInput& s, int64_t horizon);
// Fills median, std and the quantiles of `f` from its samples [variate][step][sample] (or, for
// a point forecast without samples, median = quantiles = mean and std = 0).
void summarise_samples(SeriesForecast& f, const std::vector<double>& levels);

}  // namespace fcast
