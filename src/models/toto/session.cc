#include "models/toto/session.h"

#include <algorithm>
#include <filesystem>

#include "io/json.h"
#include "models/toto/weights.h"

namespace fcast::toto {

namespace {

// Horizons beyond this are refused: a forecast's memory and time grow with it, and no Toto
// use needs more (the published model was trained for far shorter horizons).
constexpr int64_t kMaxHorizon = 1 << 16;

}  // namespace

ModelEntry registry_entry() {
  ModelEntry e;
  e.name = "toto";
  e.summary = "Datadog Toto 1.0: a decoder-only transformer over patches with a Student-T mixture head";
  e.parts = {{"model", "Toto checkpoint folder (config.json + model.safetensors), e.g. Datadog/Toto-Open-Base-1.0"}};
  e.compile = {"toto",
               {"TOTO_DISABLE_COMPILE", "MARKETSIM_TOTO_DISABLE_COMPILE"},
               {"TOTO_COMPILE", "MARKETSIM_TOTO_COMPILE"},
               {"REAL_TOTO_COMPILE_MODE", "TOTO_COMPILE_MODE"},
               {"REAL_TOTO_COMPILE_BACKEND", "TOTO_COMPILE_BACKEND"},
               ""};
  e.options = {{"samples_per_batch", "256", "sample paths run together; clamped to num_samples, must divide it"},
               {"kv_cache", "true", "decode with the KV cache (false: recompute the context every step)"}};
  for (const std::string& p : toto_preset_names()) e.presets.push_back({p, "Toto preset " + p});
  e.test_preset = "tiny";
  e.market_variates = {"close"};
  e.accepts_observed_mask = true;
  e.default_num_samples = 256;
  e.weights_hint =
      "To use the trained model, download Datadog/Toto-Open-Base-1.0 (config.json and model.safetensors) on a "
      "connected machine, e.g. `huggingface-cli download Datadog/Toto-Open-Base-1.0`, copy the folder (or the "
      "Hugging Face cache) here and pass it (or the repo id) as --model. To try the engine without it, write RANDOM "
      "weights (forecasts mean nothing) with `fcast init-model toto --preset tiny --out DIR`.";
  e.warm_up.context_lengths = {512};
  e.warm_up.num_samples = {256};
  e.warm_up.horizon = 64;
  {
    // The standard workloads of docs/PERFORMANCE.md at the Toto-Open-Base-1.0 shape; all sample
    // paths of a call run as one batch (samples_per_batch = num_samples).
    const std::vector<BenchCheckpoint> base = {{"model", "toto-open-base-1.0", 1, "toto-base-random"}};
    auto workload = [&](std::string id, std::string what, int64_t variates, int64_t context, int64_t horizon,
                        int64_t samples, int reps) {
      BenchWorkload w;
      w.id = std::move(id);
      w.description = std::move(what);
      w.checkpoints = base;
      w.variates = variates;
      w.context = context;
      w.horizon = horizon;
      w.samples = samples;
      if (samples > 0) w.options["samples_per_batch"] = std::to_string(samples);
      w.reps = reps;
      return w;
    };
    // W1 and W4: the p99 target is over 50 calls.
    e.bench.push_back(workload("W1", "Toto-Open-Base-1.0 shape, 1 variate, context 512, prediction 1, 128 samples",
                               1, 512, 1, 128, 50));
    e.bench.back().target_bf16 = e.bench.back().target_tail = e.bench.back().target_rss = true;
    e.bench.push_back(workload("W2", "Toto, context 2048, prediction 256 (prefill + 3 decode steps), 256 samples", 1,
                               2048, 256, 256, 5));
    e.bench.back().target_bf16 = true;
    e.bench.push_back(workload("W3", "Toto, 5 variates, context 512, prediction 128, 64 samples", 5, 512, 128, 64, 10));
    e.bench.push_back(workload("W4", "Toto mean forecast at W1's shape", 1, 512, 1, 0, 50));
    // The published-shape check: load by mmap, forecast, peak RSS against the weight file.
    BenchWorkload rss = workload("toto-published-rss",
                                 "Toto-Open-Base-1.0 shape (random weights), context 512, 64 steps, 256 samples", 1,
                                 512, 64, 256, 0);
    rss.rss_check = true;
    rss.data_seed = 3;
    e.bench.push_back(rss);
    BenchWorkload m1 = workload("M1", "Toto-Open-Base-1.0 shape, 20 symbols of one CSV, context 512, prediction 64, "
                                "mean forecast: one `fcast predict toto --symbol all` vs 20 processes", 1, 512, 64, 0, 1);
    m1.series = 20;
    m1.cli_batch = true;
    m1.data_seed = 5;
    e.bench.push_back(m1);
    BenchWorkload b1 = workload("B1", "Toto-Open-Base-1.0 shape, fcast backtest of one symbol: 50 simulations x 4 keys "
                                "x 7 one-step forecasts, context 512, 128 samples: batched vs one forecast at a time",
                                1, 512, 7, 128, 1);
    b1.series = 50;
    b1.backtest_batch = true;
    b1.data_seed = 9;
    e.bench.push_back(b1);
  }
  e.golden_accepts = golden_accepts;
  e.run_golden = run_golden;
  e.detect = [](const std::string& dir, std::string& part, std::string& why) {
    if (!config_has_keys(dir, {"patch_size", "embed_dim"}, why)) return false;
    part = "model";
    return true;
  };
  e.load = [](const ModelPaths& paths, const CompileSettings& s) -> std::shared_ptr<LoadedModel> {
    auto it = paths.find("model");
    FCAST_CHECK(it != paths.end() && !it->second.empty(), "toto: no model folder given");
    auto w = std::make_shared<const TotoWeights>(load_toto(it->second));
    return std::make_shared<TotoLoadedModel>(std::move(w), s, has_random_weights_marker(it->second));
  };
  e.write_random = [](const std::string& preset, uint64_t seed, const ModelPaths& out) {
    auto it = out.find("model");
    FCAST_CHECK(it != out.end() && !it->second.empty(), "toto: no output folder given");
    write_random_toto(toto_preset(preset), seed, it->second);
    write_random_weights_marker(it->second, cat("Toto preset ", preset, ", seed ", seed));
    return ModelPaths{{"model", it->second}};
  };
  return e;
}

const ModelEntry& TotoLoadedModel::entry() const { return find_model("toto"); }

TotoLoadedModel::TotoLoadedModel(std::shared_ptr<const TotoWeights> weights, CompileSettings settings,
                                 bool random_weights)
    : w_(std::move(weights)), settings_(std::move(settings)), random_(random_weights) {
  if (settings_.enabled) compiled_ = std::make_shared<CompiledModel>(settings_, w_->identity);
}

std::unique_ptr<ForecastSession> TotoLoadedModel::new_session() const {
  std::shared_ptr<Executor> exec;
  if (compiled_) exec = std::make_shared<CompiledExecutor>(compiled_);
  else exec = std::make_shared<EagerExecutor>();
  return std::make_unique<TotoSession>(shared_from_this(), std::move(exec));
}

int64_t TotoLoadedModel::packed_weight_bytes() const { return compiled_ ? compiled_->backend().packed_weight_bytes() : 0; }

TotoSession::TotoSession(std::shared_ptr<const TotoLoadedModel> model, std::shared_ptr<Executor> exec)
    : loaded_(std::move(model)), exec_(std::move(exec)), model_(loaded_->weights(), exec_), forecaster_(model_) {}

ForecastResult TotoSession::forecast(const ForecastRequest& r) {
  const ModelEntry& e = loaded_->entry();
  check_request(r, e, kMaxHorizon);
  ForecastOptions fo;
  fo.prediction_length = r.horizon;
  fo.num_samples = r.num_samples;
  fo.seed = r.seed;
  fo.nonfinite = r.nonfinite;
  fo.use_kv_cache = parse_bool_option("toto", "kv_cache", request_option(r, e, "kv_cache"));
  if (r.num_samples > 0) {
    const int64_t spb = parse_int_option("toto", "samples_per_batch", request_option(r, e, "samples_per_batch"));
    FCAST_CHECK(spb > 0, "toto: samples_per_batch must be positive, got ", spb);
    fo.samples_per_batch = std::min(spb, r.num_samples);
    FCAST_CHECK(r.num_samples % fo.samples_per_batch == 0, "toto: samples_per_batch (", fo.samples_per_batch,
                ") must divide num_samples (", r.num_samples, ")");
  }
  ForecastResult out;
  out.quantile_levels = r.quantiles;
  out.series.resize(r.series.size());
  // Series of equal length and variate count run as one batch (exactly the numbers each would
  // get alone: rows never interact); others in their own calls.
  std::vector<bool> done(r.series.size(), false);
  int64_t nonfinite = 0;
  std::string nonfinite_detail;
  for (size_t first = 0; first < r.series.size(); ++first) {
    if (done[first]) continue;
    const int64_t V = static_cast<int64_t>(r.series[first].values.size());
    const int64_t T = static_cast<int64_t>(r.series[first].values[0].size());
    std::vector<size_t> group;
    for (size_t k = first; k < r.series.size(); ++k)
      if (!done[k] && static_cast<int64_t>(r.series[k].values.size()) == V &&
          static_cast<int64_t>(r.series[k].values[0].size()) == T) {
        group.push_back(k);
        done[k] = true;
      }
    const int64_t B = static_cast<int64_t>(group.size());
    Tensor series = Tensor::empty(DType::F32, {B, V, T});
    Tensor mask = Tensor::empty(DType::U8, {B, V, T});
    for (int64_t b = 0; b < B; ++b) {
      const SeriesInput& s = r.series[group[static_cast<size_t>(b)]];
      for (int64_t v = 0; v < V; ++v)
        for (int64_t t = 0; t < T; ++t) {
          const bool obs = s.observed.empty() || s.observed[v][t];
          // Unobserved values get a finite placeholder; the padding mask hides them from the scaler.
          series.data<float>()[(b * V + v) * T + t] = obs ? static_cast<float>(s.values[v][t]) : 0.0f;
          mask.data<uint8_t>()[(b * V + v) * T + t] = obs ? 1 : 0;
        }
    }
    fo.row_seeds.clear();
    for (size_t k : group) fo.row_seeds.push_back(r.series_seeds.empty() ? r.seed : r.series_seeds[k]);
    // Every group decodes the same steps: overall progress counts groups done plus this one.
    const int64_t groups_done = std::count(done.begin(), done.end(), true) - B, groups = static_cast<int64_t>(r.series.size());
    if (r.progress)
      fo.progress = [&r, groups_done, groups, B](int64_t d, int64_t total) {
        r.progress(groups_done * total + d * B, groups * total);
      };
    const Forecast f = forecaster_.forecast(series, &mask, nullptr, fo);
    nonfinite += f.nonfinite_values();
    if (nonfinite_detail.empty()) nonfinite_detail = f.nonfinite_detail();
    const int64_t H = r.horizon, N = f.num_samples();
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
      if (N > 0) sf.samples.assign(V, std::vector<std::vector<float>>(H, std::vector<float>(N)));
      for (int64_t v = 0; v < V; ++v)
        for (int64_t h = 0; h < H; ++h) {
          sf.mean[v][h] = f.mean().data<float>()[(b * V + v) * H + h];
          for (int64_t n = 0; n < N; ++n) sf.samples[v][h][n] = f.samples().data<float>()[((b * V + v) * H + h) * N + n];
        }
      summarise_samples(sf, r.quantiles);
    }
  }
  out.metadata = {{"model", e.name},
                  {"identity", loaded_->identity()},
                  {"executor", exec_->name()},
                  {"random_weights", loaded_->random_weights() ? "true" : "false"},
                  {"nonfinite_values", std::to_string(nonfinite)},
                  {"nonfinite_detail", nonfinite_detail}};
  return out;
}

std::vector<WarmUpStep> TotoSession::warm_up(const WarmUpSpec& spec) {
  TotoWarmUpOptions o;
  o.context_lengths = spec.context_lengths;
  o.num_samples = spec.num_samples;
  o.prediction_length = spec.horizon;
  o.variates = spec.variates;
  o.seed = spec.seed;
  auto it = spec.options.find("samples_per_batch");
  if (it != spec.options.end()) o.samples_per_batch = parse_int_option("toto", "samples_per_batch", it->second);
  it = spec.options.find("kv_cache");
  if (it != spec.options.end()) o.use_kv_cache = parse_bool_option("toto", "kv_cache", it->second);
  return warm_up_toto(model_, o);
}

}  // namespace fcast::toto
