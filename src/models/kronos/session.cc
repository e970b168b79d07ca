#include "models/kronos/session.h"

#include <algorithm>
#include <cctype>
#include <filesystem>

#include "io/json.h"
#include "models/kronos/config.h"
#include "models/kronos/weights.h"

namespace fcast::kronos {

namespace {

double parse_number(const std::string& name, const std::string& v) { return parse_number_option("kronos", name, v); }

int64_t parse_integer(const std::string& name, const std::string& v) {
  const double x = parse_number(name, v);
  FCAST_CHECK(x == std::floor(x) && std::fabs(x) < 9e15, "kronos: option ", name, "='", v, "' is not an integer");
  return static_cast<int64_t>(x);
}

bool parse_flag(const std::string& name, const std::string& v) {
  if (v == "1" || v == "true" || v == "on" || v == "yes") return true;
  if (v == "0" || v == "false" || v == "off" || v == "no") return false;
  fail("kronos: option ", name, "='", v, "' is not a boolean (true/false/1/0/on/off/yes/no)");
}

std::string option(const std::map<std::string, std::string>& given, const std::string& name) {
  auto it = given.find(name);
  if (it != given.end()) return it->second;
  for (const ModelOption& o : find_model("kronos").options)
    if (o.name == name) return o.default_value;
  fail("internal error: kronos option '", name, "' is not declared");
}

bool detect_part(const std::string& dir, std::string& part, std::string& why) {
  const std::string cfg = (std::filesystem::path(dir) / "config.json").string();
  std::error_code ec;
  if (!std::filesystem::exists(cfg, ec)) {
    why = "no config.json";
    return false;
  }
  const nlohmann::json j = read_json_file(cfg);
  if (j.is_object() && j.contains("s1_bits") && j.contains("n_layers") && j.contains("d_model")) {
    part = "model";
    return true;
  }
  if (j.is_object() && j.contains("s1_bits") && j.contains("n_enc_layers")) {
    part = "tokenizer";
    return true;
  }
  why = "config.json has neither a predictor's (s1_bits, n_layers, d_model) nor a tokenizer's (s1_bits, "
        "n_enc_layers) fields";
  return false;
}

// Series without open, high or low get the production wrapper's fill:
// those copied from close, volume 0 when absent, amount = volume * close when absent. With all
// four prices present KronosPredictor's own column rules apply unchanged.
void fill_missing_prices(KronosSeries& ks) {
  if (!ks.columns.count("close") || (ks.columns.count("open") && ks.columns.count("high") && ks.columns.count("low")))
    return;
  const std::vector<double>& close = ks.columns.at("close");
  for (const char* c : {"open", "high", "low"})
    if (!ks.columns.count(c)) ks.columns[c] = close;
  if (!ks.columns.count("volume")) ks.columns["volume"] = std::vector<double>(close.size(), 0.0);
  if (!ks.columns.count("amount")) {
    std::vector<double> a(close.size());
    for (size_t r = 0; r < close.size(); ++r) a[r] = ks.columns["volume"][r] * close[r];
    ks.columns["amount"] = a;
  }
}

}  // namespace

ModelEntry registry_entry() {
  ModelEntry e;
  e.name = "kronos";
  e.summary = "NeoQuasar Kronos: BSQ candlestick tokenizer + autoregressive predictor over OHLCV bars";
  e.parts = {{"model", "Kronos predictor folder (config.json + model.safetensors), e.g. NeoQuasar/Kronos-small"},
             {"tokenizer", "Kronos tokenizer folder, e.g. NeoQuasar/Kronos-Tokenizer-base"}};
  e.compile = {"kronos", {}, {"KRONOS_COMPILE", "MARKETSIM_KRONOS_COMPILE"}, {"KRONOS_COMPILE_MODE"}, {"KRONOS_COMPILE_BACKEND"},
               "the Python production setup left Kronos compilation off by default (KRONOS_COMPILE unset = off); fcast compiles by "
               "default on CPU"};
  e.options = {{"temperature", "1", "sampling temperature (> 0)"},
               {"top_k", "0", "keep the k most likely tokens (0 = off; 1 = greedy)"},
               {"top_p", "0.9", "nucleus mass in (0, 1]; used when top_k is 0"},
               {"max_context", "512", "bars the model sees per step"},
               {"clip", "5", "normalised inputs are clipped to [-clip, clip]"},
               {"kv_cache", "true", "exact KV cache while the window grows (false: recompute, as the reference)"}};
  for (const std::string& p : kronos_preset_names()) e.presets.push_back({p, "Kronos preset " + p});
  e.test_preset = "kronos-tiny";
  e.market_variates = {"open", "high", "low", "close", "volume", "amount"};
  e.weights_hint =
      "To use the trained models, download NeoQuasar/Kronos-small and NeoQuasar/Kronos-Tokenizer-base on a connected "
      "machine, e.g. `huggingface-cli download NeoQuasar/Kronos-small` and `huggingface-cli download "
      "NeoQuasar/Kronos-Tokenizer-base`, copy the folders (or the Hugging Face cache) here and pass them (or the repo "
      "ids) as --model and --tokenizer (Kronos-mini pairs with NeoQuasar/Kronos-Tokenizer-2k). To try the engine "
      "without them, write RANDOM weights (forecasts mean nothing) with `fcast init-model kronos --preset "
      "kronos-small --out MODEL_DIR --tokenizer-out TOKENIZER_DIR`.";
  e.warm_up.context_lengths = {512};
  e.warm_up.num_samples = {1};
  e.warm_up.horizon = 8;
  {
    // The standard workloads of docs/PERFORMANCE.md: Kronos-small with Tokenizer-base on random
    // 5-minute OHLCV bars. Sampling options are all given, so a change of defaults cannot move them.
    const std::vector<BenchCheckpoint> small = {{"model", "kronos-small", 1, "kronos-small-random"},
                                                {"tokenizer", "kronos-tokenizer-base", 2, "kronos-tokenizer-base-random"}};
    auto workload = [&](std::string id, std::string what, int64_t series, int64_t context, int64_t horizon,
                        int64_t samples, std::map<std::string, std::string> options, int reps) {
      BenchWorkload w;
      w.id = std::move(id);
      w.description = std::move(what);
      w.checkpoints = small;
      w.market_bars = true;
      w.series = series;
      w.context = context;
      w.horizon = horizon;
      w.samples = samples;
      w.options = std::move(options);
      w.reps = reps;
      w.data_seed = 11;
      return w;
    };
    const std::map<std::string, std::string> greedy = {{"temperature", "1"}, {"top_k", "1"}, {"top_p", "1"}};
    e.bench.push_back(workload("K1", "Kronos-small + Tokenizer-base, context 512, pred_len 8, greedy, 1 sample", 1,
                               512, 8, 1, greedy, 5));
    e.bench.push_back(workload("K2", "Kronos-small, context 400, pred_len 120, T 1.0, top_p 0.9, 5 samples", 1, 400,
                               120, 5, {{"temperature", "1"}, {"top_k", "0"}, {"top_p", "0.9"}}, 3));
    e.bench.back().target_bf16 = true;
    // One request of 16 series of one length: the session batches them as predict_batch did.
    e.bench.push_back(workload("K3", "Kronos-small, predict_batch of 16 series, context 256, pred_len 24, greedy", 16,
                               256, 24, 1, greedy, 5));
  }
  e.golden_accepts = golden_accepts;
  e.run_golden = run_golden;
  e.detect = detect_part;
  e.load = [](const ModelPaths& paths, const CompileSettings& s) -> std::shared_ptr<LoadedModel> {
    auto m = paths.find("model"), t = paths.find("tokenizer");
    FCAST_CHECK(m != paths.end() && !m->second.empty(), "kronos: no predictor folder given");
    FCAST_CHECK(t != paths.end() && !t->second.empty(), "kronos: no tokenizer folder given");
    auto pw = std::make_shared<const KronosPredictorWeights>(load_kronos_predictor(m->second));
    auto tw = std::make_shared<const KronosTokenizerWeights>(load_kronos_tokenizer(t->second));
    const bool random = has_random_weights_marker(m->second) || has_random_weights_marker(t->second);
    return std::make_shared<KronosLoadedModel>(std::move(pw), std::move(tw), s, random);
  };
  e.write_random = [](const std::string& preset, uint64_t seed, const ModelPaths& out) {
    ModelPaths written;
    auto m = out.find("model"), t = out.find("tokenizer");
    const bool want_model = m != out.end() && !m->second.empty();
    const bool want_tok = t != out.end() && !t->second.empty();
    if (is_kronos_tokenizer_preset(preset)) {
      // A tokenizer preset is written to the one folder given.
      const std::string dir = want_tok ? t->second : want_model ? m->second : "";
      FCAST_CHECK(!dir.empty(), "kronos: no output folder given");
      write_random_kronos_tokenizer(kronos_tokenizer_preset(preset), seed, dir);
      write_random_weights_marker(dir, cat("Kronos tokenizer preset ", preset, ", seed ", seed));
      written["tokenizer"] = dir;
      return written;
    }
    FCAST_CHECK(want_model, "kronos: no predictor output folder given");
    write_random_kronos_predictor(kronos_predictor_preset(preset), seed, m->second);
    write_random_weights_marker(m->second, cat("Kronos predictor preset ", preset, ", seed ", seed));
    written["model"] = m->second;
    if (want_tok) {
      const std::string tp = kronos_matching_tokenizer(preset);
      write_random_kronos_tokenizer(kronos_tokenizer_preset(tp), seed + 1, t->second);
      write_random_weights_marker(t->second, cat("Kronos tokenizer preset ", tp, ", seed ", seed + 1));
      written["tokenizer"] = t->second;
    }
    return written;
  };
  return e;
}

const ModelEntry& KronosLoadedModel::entry() const { return find_model("kronos"); }

KronosLoadedModel::KronosLoadedModel(std::shared_ptr<const KronosPredictorWeights> predictor,
                                     std::shared_ptr<const KronosTokenizerWeights> tokenizer,
                                     CompileSettings settings, bool random_weights)
    : pw_(std::move(predictor)), tw_(std::move(tokenizer)), settings_(std::move(settings)), random_(random_weights) {
  check_kronos_pair(pw_->config, tw_->config, pw_->directory, tw_->directory);
  if (settings_.enabled) {
    predictor_compiled_ = std::make_shared<CompiledModel>(settings_, pw_->identity);
    tokenizer_compiled_ = std::make_shared<CompiledModel>(settings_, tw_->identity);
  }
}

int64_t KronosLoadedModel::weight_file_bytes() const {
  std::error_code ec;
  int64_t n = 0;
  for (const std::string& d : {pw_->directory, tw_->directory}) {
    const auto size = std::filesystem::file_size(std::filesystem::path(d) / "model.safetensors", ec);
    if (!ec) n += static_cast<int64_t>(size);
  }
  return n;
}

int64_t KronosLoadedModel::packed_weight_bytes() const {
  if (!predictor_compiled_) return 0;
  return predictor_compiled_->backend().packed_weight_bytes() + tokenizer_compiled_->backend().packed_weight_bytes();
}

std::unique_ptr<ForecastSession> KronosLoadedModel::new_session() const {
  std::shared_ptr<Executor> pe, te;
  if (predictor_compiled_) {
    pe = std::make_shared<CompiledExecutor>(predictor_compiled_);
    te = std::make_shared<CompiledExecutor>(tokenizer_compiled_);
  } else {
    pe = std::make_shared<EagerExecutor>();
    te = std::make_shared<EagerExecutor>();
  }
  return std::make_unique<KronosSession>(shared_from_this(), std::move(pe), std::move(te));
}

KronosSession::KronosSession(std::shared_ptr<const KronosLoadedModel> model, std::shared_ptr<Executor> pe,
                             std::shared_ptr<Executor> te)
    : loaded_(std::move(model)),
      pexec_(std::move(pe)),
      texec_(std::move(te)),
      model_(std::make_shared<KronosModel>(loaded_->predictor_weights(), pexec_)),
      tok_(std::make_shared<KronosTokenizer>(loaded_->tokenizer_weights(), texec_)) {}

KronosPredictor KronosSession::predictor(const ForecastRequest* r, const WarmUpSpec* w) const {
  const auto& given = r ? r->options : w->options;
  KronosPredictorOptions o;
  o.max_context = parse_integer("max_context", option(given, "max_context"));
  o.clip = parse_number("clip", option(given, "clip"));
  o.use_kv_cache = parse_flag("kv_cache", option(given, "kv_cache"));
  o.log = [](const std::string&) {};  // column-fill notes: the caller chose the columns
  // A warm-up builds plans; its numbers are dropped.
  o.nonfinite = r ? r->nonfinite : NonFinitePolicy::kWarn;
  return KronosPredictor(model_, tok_, o);
}

ForecastResult KronosSession::forecast(const ForecastRequest& r) {
  const ModelEntry& e = loaded_->entry();
  // The horizon is also capped by max_context (KronosPredictor says so by name).
  check_request(r, e, 1 << 16);
  KronosPredictor pred = predictor(&r, nullptr);
  SamplingParams sp;
  sp.temperature = parse_number("temperature", request_option(r, e, "temperature"));
  sp.top_k = parse_integer("top_k", request_option(r, e, "top_k"));
  sp.top_p = parse_number("top_p", request_option(r, e, "top_p"));
  sp.sample_count = std::max<int64_t>(1, r.num_samples);
  sp.seed = r.seed;
  sp.validate();
  const int64_t H = r.horizon;

  std::vector<PreparedSeries> prepared;
  for (size_t k = 0; k < r.series.size(); ++k) {
    const SeriesInput& s = r.series[k];
    const std::string who = series_label(r, k);
    FCAST_CHECK(!s.timestamps.empty(), "kronos: ", who, " has no timestamps (Kronos reads calendar features)");
    FCAST_CHECK(s.observed.empty(), "kronos: ", who, " has an observed mask; Kronos takes no masks");
    FCAST_CHECK(!s.variate_names.empty(), "kronos: ", who,
                " has no variate names (name them open, high, low, close, volume, amount)");
    KronosSeries ks;
    ks.timestamps = s.timestamps;
    for (size_t v = 0; v < s.values.size(); ++v) {
      std::string n = s.variate_names[v];
      for (char& c : n) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      FCAST_CHECK(!ks.columns.count(n), "kronos: ", who, " names variate '", n, "' twice");
      ks.columns[n] = s.values[v];
    }
    fill_missing_prices(ks);
    prepared.push_back(prepare_series(ks, future_timestamps_of(s, H), pred.options().clip, who));
  }

  ForecastResult out;
  out.quantile_levels = r.quantiles;
  out.series.resize(r.series.size());
  std::vector<bool> done(r.series.size(), false);
  int64_t nonfinite = 0;
  std::string nonfinite_detail;
  for (size_t first = 0; first < r.series.size(); ++first) {
    if (done[first]) continue;
    // The predictor batches series of one context length.
    std::vector<size_t> group;
    std::vector<PreparedSeries> batch;
    for (size_t k = first; k < r.series.size(); ++k)
      if (!done[k] && prepared[k].context == prepared[first].context) {
        group.push_back(k);
        batch.push_back(prepared[k]);
        done[k] = true;
      }
    GenerationTrace trace;
    sp.series_seeds.clear();
    for (size_t k : group) sp.series_seeds.push_back(r.series_seeds.empty() ? r.seed : r.series_seeds[k]);
    // Steps weighted by series, so that the overall count grows evenly across groups.
    const int64_t before = std::count(done.begin(), done.end(), true) - static_cast<int64_t>(group.size()),
                  count = static_cast<int64_t>(group.size()), all = static_cast<int64_t>(r.series.size());
    if (r.progress)
      sp.progress = [&r, before, count, all](int64_t d, int64_t total) { r.progress(before * total + d * count, all * total); };
    const std::vector<KronosForecast> fc = pred.generate(batch, H, sp, &trace);
    const int64_t R = trace.rows_per_series, Wf = trace.final_window;
    for (const KronosForecast& f : fc) nonfinite += f.nonfinite_values;
    if (nonfinite_detail.empty()) nonfinite_detail = fc[0].nonfinite_detail;
    for (size_t b = 0; b < group.size(); ++b) {
      const PreparedSeries& p = batch[b];
      SeriesForecast& sf = out.series[group[b]];
      sf.id = r.series[group[b]].id;
      sf.timestamps = p.y_timestamps;
      sf.mean.assign(kFeatures, std::vector<float>(H));
      // Per-path values: the decoded rows of every path, de-normalised as the reference does
      // with their average (the mean below is the reference's own average).
      const bool paths = r.num_samples > 0;
      if (paths) sf.samples.assign(kFeatures, std::vector<std::vector<float>>(H, std::vector<float>(R)));
      for (int c = 0; c < kFeatures; ++c) {
        sf.variate_names.push_back(kFeatureNames[c]);
        for (int64_t t = 0; t < H; ++t) {
          sf.mean[c][t] = fc[b].at(t, c);
          if (!paths) continue;
          for (int64_t row = 0; row < R; ++row) {
            const size_t n = static_cast<size_t>(b) * static_cast<size_t>(R) + static_cast<size_t>(row);
            const float z = trace.final_decoded[(n * static_cast<size_t>(Wf) + static_cast<size_t>(Wf - H + t)) * kFeatures + c];
            sf.samples[c][t][row] = z * (p.std[c] + 1e-5f) + p.mean[c];
          }
        }
      }
      summarise_samples(sf, r.quantiles);
    }
  }
  out.metadata = {{"model", e.name},
                  {"identity", loaded_->identity()},
                  {"executor", pexec_->name()},
                  {"random_weights", loaded_->random_weights() ? "true" : "false"},
                  {"nonfinite_values", std::to_string(nonfinite)},
                  {"nonfinite_detail", nonfinite_detail}};
  return out;
}

std::vector<WarmUpStep> KronosSession::warm_up(const WarmUpSpec& spec) {
  KronosPredictor pred = predictor(nullptr, &spec);
  KronosWarmUpOptions o;
  o.context_lengths = spec.context_lengths;
  o.sample_counts.clear();
  for (int64_t n : spec.num_samples) o.sample_counts.push_back(std::max<int64_t>(1, n));
  o.pred_len = spec.horizon;
  o.sampling.seed = spec.seed;
  // The sampling options shape the plans too (greedy decoding runs one path per series).
  o.sampling.temperature = parse_number("temperature", option(spec.options, "temperature"));
  o.sampling.top_k = parse_integer("top_k", option(spec.options, "top_k"));
  o.sampling.top_p = parse_number("top_p", option(spec.options, "top_p"));
  o.executors = {pexec_.get(), texec_.get()};
  return warm_up_kronos(pred, o);
}

}  // namespace fcast::kronos
