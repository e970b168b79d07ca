#include "models/toto2/session.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>

#include "core/rng.h"
#include "io/json.h"
#include "runtime/eager_executor.h"

namespace fcast::toto2 {

namespace {

constexpr int64_t kMaxHorizon = 1 << 16;

// A positive random walk around 100 (warm-up series: never constant, deterministic).
std::vector<double> walk(int64_t n, uint64_t seed) {
  Rng rng(seed + 12345);
  std::vector<double> v(static_cast<size_t>(n));
  double x = 100.0;
  for (auto& e : v) e = x *= 1.0 + 0.01 * rng.normal();
  return v;
}

}  // namespace

int64_t bucketed_length(int64_t steps, const std::vector<int64_t>& buckets, int64_t P) {
  if (buckets.empty()) return steps;
  int64_t largest = P;
  for (int64_t b : buckets) {
    const int64_t bp = (b + P - 1) / P * P;
    if (bp >= steps) return bp;
    largest = std::max(largest, bp);
  }
  return (steps + largest - 1) / largest * largest;  // beyond the largest bucket: its multiples
}

const std::vector<double>& model_levels() {
  static const std::vector<double> l = {0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9};
  return l;
}

float interpolate_quantile(const float* q, double level) {
  // Segment i covers [0.1 (i + 1), 0.1 (i + 2)]; levels outside [0.1, 0.9] use the end segments.
  const double pos = level * 10.0 - 1.0;  // 0 at level 0.1, 8 at 0.9
  const int64_t i = std::clamp<int64_t>(static_cast<int64_t>(std::floor(pos)), 0, kQuantiles - 2);
  const double f = pos - static_cast<double>(i);
  return static_cast<float>(q[i] + (q[i + 1] - q[i]) * f);
}

ModelEntry registry_entry() {
  ModelEntry e;
  e.name = "toto2";
  e.summary = "Datadog Toto 2.0: a patch transformer with a 9-quantile head, one pass for the whole horizon";
  e.parts = {{"model", "Toto 2.0 checkpoint folder (config.json + model.safetensors or a sharded index), e.g. "
                       "Datadog/Toto-2.0-4m"}};
  e.compile = {"toto2", {"TOTO2_DISABLE_COMPILE"}, {"TOTO2_COMPILE"}, {"TOTO2_COMPILE_MODE"}, {"TOTO2_COMPILE_BACKEND"}, ""};
  e.options = {
      {"decode_block_size", "0",
       "steps per pass, a multiple of the patch size: later blocks see the earlier blocks' medians (0: one pass for the "
       "whole horizon)"},
      {"has_missing_values", "true", "hide fully unobserved context patches from time attention"},
      {"scaler_fallback_min_obs", "0",
       "rows with fewer observations in their first patches take their first N observations' statistics there (the "
       "GluonTS wrapper uses 8)"},
      {"quantile_cap", "0", "> 0: clamp forecasts to the observed context range +- k scales (the GluonTS wrapper uses 1e4)"},
      {"max_context", "4096", "steps of history the model sees (the last ones); the released models use 4096"}};
  for (const std::string& p : toto2_preset_names()) e.presets.push_back({p, toto2_preset_help(p)});
  e.test_preset = "tiny";
  e.market_variates = {"close"};
  e.accepts_observed_mask = true;
  e.default_num_samples = 0;
  e.draws_samples = false;
  e.weights_hint =
      "To use a trained model, download Datadog/Toto-2.0-4m (or -22m, -313m, -1B, -2.5B: config.json and "
      "model.safetensors) on a connected machine, copy the folder (or the Hugging Face cache) here and pass it (or the "
      "repo id) as --model. To try the engine without it, write RANDOM weights (forecasts mean nothing) with `fcast "
      "init-model toto2 --preset 4m --out DIR`.";
  e.warm_up.context_lengths = {512};
  e.warm_up.num_samples = {0};
  e.warm_up.horizon = 64;
  {
    auto workload = [](std::string id, std::string what, std::string preset, std::string folder, int64_t context,
                       int64_t horizon, int64_t series, int reps) {
      BenchWorkload w;
      w.id = std::move(id);
      w.description = std::move(what);
      w.checkpoints = {{"model", std::move(preset), 1, std::move(folder)}};
      w.context = context;
      w.horizon = horizon;
      w.series = series;
      w.reps = reps;
      w.target_bf16 = true;
      return w;
    };
    for (const auto& [ctx, h, n] : std::vector<std::tuple<int64_t, int64_t, int64_t>>{
             {512, 64, 1}, {512, 64, 32}, {2048, 336, 1}, {2048, 336, 32}}) {
      const std::string shape = cat("context ", ctx, ", horizon ", h, ", ", n, n == 1 ? " series" : " series in one call");
      e.bench.push_back(workload(cat("T2a-c", ctx, "-h", h, "-b", n), "Toto-2.0-4m shape (random weights), " + shape, "4m",
                                 "toto2-4m-random", ctx, h, n, n == 1 ? 20 : 5));
    }
    for (const auto& [ctx, h, n] : std::vector<std::tuple<int64_t, int64_t, int64_t>>{
             {512, 64, 1}, {512, 64, 32}, {2048, 336, 1}, {2048, 336, 32}}) {
      const std::string shape = cat("context ", ctx, ", horizon ", h, ", ", n, n == 1 ? " series" : " series in one call");
      e.bench.push_back(workload(cat("T2b-c", ctx, "-h", h, "-b", n),
                                 "Toto 2.0 ~300M shape (ASSUMED config, random weights), " + shape, "300m-assumed",
                                 "toto2-300m-assumed-random", ctx, h, n, n == 1 ? 5 : 2));
    }
  }
  e.golden_accepts = golden_accepts;
  e.run_golden = run_golden;
  e.detect = [](const std::string& dir, std::string& part, std::string& why) {
    if (!config_has_keys(dir, {"patch_size", "d_model"}, why)) return false;
    part = "model";
    return true;
  };
  e.load = [](const ModelPaths& paths, const CompileSettings& s) -> std::shared_ptr<LoadedModel> {
    auto it = paths.find("model");
    FCAST_CHECK(it != paths.end() && !it->second.empty(), "toto2: no model folder given");
    auto w = std::make_shared<const Toto2Weights>(load_toto2(it->second));
    return std::make_shared<Toto2LoadedModel>(std::move(w), s, has_random_weights_marker(it->second));
  };
  e.write_random = [](const std::string& preset, uint64_t seed, const ModelPaths& out) {
    auto it = out.find("model");
    FCAST_CHECK(it != out.end() && !it->second.empty(), "toto2: no output folder given");
    write_random_toto2(toto2_preset(preset), seed, it->second);
    write_random_weights_marker(it->second, cat("Toto 2.0 preset ", preset, ", seed ", seed));
    return ModelPaths{{"model", it->second}};
  };
  return e;
}

const ModelEntry& Toto2LoadedModel::entry() const { return find_model("toto2"); }

Toto2LoadedModel::Toto2LoadedModel(std::shared_ptr<const Toto2Weights> w, CompileSettings s, bool random_weights)
    : w_(std::move(w)), settings_(std::move(s)), random_(random_weights) {
  if (settings_.enabled) compiled_ = std::make_shared<CompiledModel>(settings_, w_->identity);
}

std::unique_ptr<ForecastSession> Toto2LoadedModel::new_session() const {
  std::shared_ptr<Executor> exec;
  if (compiled_) exec = std::make_shared<CompiledExecutor>(compiled_);
  else exec = std::make_shared<EagerExecutor>();
  return std::make_unique<Toto2Session>(shared_from_this(), std::move(exec));
}

int64_t Toto2LoadedModel::packed_weight_bytes() const { return compiled_ ? compiled_->backend().packed_weight_bytes() : 0; }

Toto2Session::Toto2Session(std::shared_ptr<const Toto2LoadedModel> m, std::shared_ptr<Executor> exec)
    : loaded_(std::move(m)), exec_(std::move(exec)), model_(loaded_->weights(), exec_) {}

ForecastResult Toto2Session::forecast(const ForecastRequest& r) {
  const ModelEntry& e = loaded_->entry();
  check_request(r, e, kMaxHorizon);
  FCAST_CHECK(r.num_samples == 0, "toto2: Toto 2.0 forecasts 9 quantiles in one pass and draws no sample paths; ask for "
              "num_samples 0 (got ", r.num_samples, ")");
  Toto2ForecastOptions o;
  o.horizon = r.horizon;
  o.decode_block_size = parse_int_option("toto2", "decode_block_size", request_option(r, e, "decode_block_size"));
  o.has_missing_values = parse_bool_option("toto2", "has_missing_values", request_option(r, e, "has_missing_values"));
  o.scaler_fallback_min_obs = parse_int_option("toto2", "scaler_fallback_min_obs", request_option(r, e, "scaler_fallback_min_obs"));
  o.quantile_cap_k = parse_number_option("toto2", "quantile_cap", request_option(r, e, "quantile_cap"));
  const int64_t max_context = parse_int_option("toto2", "max_context", request_option(r, e, "max_context"));
  const int64_t P = model_.config().patch_size;
  FCAST_CHECK(max_context >= P, "toto2: max_context (", max_context, ") must be at least the patch size ", P);
  FCAST_CHECK(o.decode_block_size >= 0 && o.decode_block_size % P == 0, "toto2: decode_block_size (",
              o.decode_block_size, ") must be a multiple of the patch size ", P, " (0: one pass)");

  ForecastResult out;
  out.quantile_levels = r.quantiles;
  out.series.resize(r.series.size());
  // Series of equal (padded) length and variate count run as one batch; rows never interact
  // (each series gets its own id), so a series gets the numbers it gets alone.
  std::vector<bool> done(r.series.size(), false);
  const auto used_length = [&](const SeriesInput& s) {
    return std::min<int64_t>(static_cast<int64_t>(s.values[0].size()), max_context);
  };
  int64_t groups_done = 0;
  for (size_t first = 0; first < r.series.size(); ++first) {
    if (done[first]) continue;
    const int64_t V = static_cast<int64_t>(r.series[first].values.size());
    const int64_t Tu = used_length(r.series[first]);
    FCAST_CHECK(Tu >= P, "toto2: ", series_label(r, first), " has ", Tu, " steps; Toto 2.0 needs at least one patch (",
                P, " steps) of context");
    // Left-padded to whole patches; with context buckets (compiled executors) and a single pass
    // over masked gaps, further to the bucket, so that every context length of one bucket shares
    // one plan. The padding is unobserved: its patches get group id -1, which real patches never
    // attend to, and RoPE/xPos scores depend on relative positions only, so the forecast changes by
    // float32 round-off alone (tested).
    int64_t Tp = (Tu + P - 1) / P * P;
    if (o.has_missing_values && o.decode_block_size == 0) Tp = bucketed_length(Tp, exec_->policy().context_buckets, P);
    const int64_t pad = Tp - Tu;
    std::vector<size_t> group;
    for (size_t k = first; k < r.series.size(); ++k)
      if (!done[k] && static_cast<int64_t>(r.series[k].values.size()) == V && used_length(r.series[k]) == Tu) {
        group.push_back(k);
        done[k] = true;
      }
    const int64_t B = static_cast<int64_t>(group.size());
    Tensor target = Tensor::zeros(DType::F32, {B, V, Tp});
    Tensor mask = Tensor::zeros(DType::U8, {B, V, Tp});
    Tensor ids = Tensor::empty(DType::I32, {B, V});
    for (int64_t b = 0; b < B; ++b) {
      const SeriesInput& s = r.series[group[static_cast<size_t>(b)]];
      const int64_t T = static_cast<int64_t>(s.values[0].size()), skip = T - Tu;
      for (int64_t v = 0; v < V; ++v) {
        ids.data<int32_t>()[b * V + v] = 0;  // the variates of one series attend to each other
        for (int64_t t = 0; t < Tu; ++t) {
          const bool obs = s.observed.empty() || s.observed[v][skip + t];
          target.data<float>()[(b * V + v) * Tp + pad + t] = obs ? static_cast<float>(s.values[v][skip + t]) : 0.0f;
          mask.data<uint8_t>()[(b * V + v) * Tp + pad + t] = obs ? 1 : 0;
        }
      }
    }
    const Tensor q = model_.forecast(target, mask, ids, o);  // [9, B, V, H]
    const int64_t H = r.horizon, BV = B * V;
    for (int64_t b = 0; b < B; ++b) {
      const size_t k = group[static_cast<size_t>(b)];
      const SeriesInput& s = r.series[k];
      SeriesForecast& sf = out.series[k];
      sf.id = s.id;
      sf.variate_names = s.variate_names;
      if (sf.variate_names.empty())
        for (int64_t v = 0; v < V; ++v) sf.variate_names.push_back(cat("v", v));
      sf.timestamps = future_timestamps_of(s, H);
      sf.mean.assign(V, std::vector<float>(H));
      sf.median.assign(V, std::vector<float>(H));
      sf.std.assign(V, std::vector<float>(H));
      sf.quantiles.assign(r.quantiles.size(), std::vector<std::vector<float>>(V, std::vector<float>(H)));
      for (int64_t v = 0; v < V; ++v)
        for (int64_t h = 0; h < H; ++h) {
          float col[kQuantiles];
          for (int64_t j = 0; j < kQuantiles; ++j) col[j] = q.data<float>()[(j * BV + b * V + v) * H + h];
          // No mean and no samples: the point forecast is the median; std is the normal-equivalent
          // spread of the 10-90 % range (q90 - q10 = 2.5631 sigma).
          sf.median[v][h] = col[4];
          sf.mean[v][h] = col[4];
          sf.std[v][h] = (col[8] - col[0]) / 2.5631031f;
          for (size_t j = 0; j < r.quantiles.size(); ++j) sf.quantiles[j][v][h] = interpolate_quantile(col, r.quantiles[j]);
        }
    }
    groups_done += B;
    if (r.progress) r.progress(groups_done, static_cast<int64_t>(r.series.size()));
  }
  out.metadata = {{"model", e.name},
                  {"identity", loaded_->identity()},
                  {"executor", exec_->name()},
                  {"random_weights", loaded_->random_weights() ? "true" : "false"},
                  {"point_forecast", "median"},
                  {"nonfinite_values", "0"},
                  {"nonfinite_detail", ""}};
  return out;
}

std::vector<WarmUpStep> Toto2Session::warm_up(const WarmUpSpec& spec) {
  FCAST_CHECK(!spec.context_lengths.empty(), "warm-up: no context lengths given");
  std::vector<WarmUpStep> steps;
  for (int64_t L : spec.context_lengths) {
    ForecastRequest r;
    r.horizon = spec.horizon;
    r.options = spec.options;
    SeriesInput s;
    for (int64_t v = 0; v < spec.variates; ++v) s.values.push_back(walk(L, spec.seed + static_cast<uint64_t>(v)));
    r.series.push_back(std::move(s));
    const ExecutorStats before = stats();
    const auto t0 = std::chrono::steady_clock::now();
    forecast(r);
    WarmUpStep w;
    w.context_length = L;
    w.num_samples = 0;
    w.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const ExecutorStats after = stats();
    w.delta.plans_built = after.plans_built - before.plans_built;
    w.delta.recompiles = after.recompiles - before.recompiles;
    w.delta.cache_hits = after.cache_hits - before.cache_hits;
    w.delta.cache_misses = after.cache_misses - before.cache_misses;
    w.delta.fallbacks_to_eager = after.fallbacks_to_eager - before.fallbacks_to_eager;
    w.delta.runs = after.runs - before.runs;
    steps.push_back(w);
  }
  exec_->mark_warm();
  return steps;
}

}  // namespace fcast::toto2
