// Toto golden runner: every file entry of the manifest is one case, run according to its
// machine-readable `kind`, `model` and `args` (not its file name), so unseen cases in the same
// layout run without code changes. A case that cannot be run counts as a failure.
#include <chrono>
#include <cmath>
#include <filesystem>
#include <iostream>
#include <map>
#include <memory>
#include <set>

#include "core/error.h"
#include "io/safetensors.h"
#include "models/toto/distribution.h"
#include "models/toto/forecaster.h"
#include "ops/reference/kernels.h"
#include "runtime/executor_factory.h"
#include "models/toto/session.h"

namespace fcast::toto {

namespace fs = std::filesystem;
using toto::TotoModel;

namespace {

using Comparison = GoldenComparison;

double at(const Tensor& t, int64_t i) {
  return t.dtype() == DType::F64 ? t.data<double>()[i] : static_cast<double>(t.data<float>()[i]);
}

// Elementwise |got - want| <= tol * (|want| + 1); non-finite references must match exactly.
// `skip` (optional) marks cells excluded by the manifest's fragile-cell rule.
void compare(Comparison& c, const std::string& name, const Tensor& got, const Tensor& want, double tol,
             const std::vector<bool>* skip = nullptr) {
  ++c.compared;
  if (got.numel() != want.numel()) {
    c.failures.push_back(cat(name, ": shape ", shape_str(got.shape()), " vs reference ", shape_str(want.shape())));
    return;
  }
  double worst = 0;
  int64_t bad = 0, first_bad = -1;
  for (int64_t i = 0; i < want.numel(); ++i) {
    if (skip && (*skip)[i]) continue;
    const double w = at(want, i), g = at(got, i);
    if (!std::isfinite(w) || !std::isfinite(g)) {
      const bool same = (std::isnan(w) && std::isnan(g)) || (std::isinf(w) && std::isinf(g) && (w > 0) == (g > 0));
      if (!same) {
        ++bad;
        if (first_bad < 0) first_bad = i;
      }
      continue;
    }
    const double e = std::fabs(g - w) / (std::fabs(w) + 1.0);
    if (e > worst) worst = e;
    if (e > tol) {
      ++bad;
      if (first_bad < 0) first_bad = i;
    }
  }
  if (worst > c.worst) {
    c.worst = worst;
    c.worst_name = name;
  }
  if (bad)
    c.failures.push_back(cat(name, ": ", bad, " of ", want.numel(), " cells off (first at flat index ", first_bad,
                             ": got ", at(got, first_bad), ", want ", at(want, first_bad), "), worst ", worst,
                             " > tol ", tol));
}

Tensor as_f32(const Tensor& t) { return t.dtype() == DType::F32 ? t : t.to(DType::F32); }
Tensor as_u8(const Tensor& t) { return t.dtype() == DType::U8 ? t : t.to(DType::U8); }
Tensor as_i32(const Tensor& t) { return t.dtype() == DType::I32 ? t : t.to(DType::I32); }

// Mixture summaries over [B, V, n, K] head outputs paired with scaler loc/scale [B, V, T]
// (the last n steps of T).
struct Summaries {
  Tensor base_mean, pred_mean, pred_std;
  std::vector<bool> fragile;  // a component's df < 2.05
};
Summaries summarise(const toto::TotoOutput& o) {
  const int64_t B = o.df.dim(0), V = o.df.dim(1), n = o.df.dim(2), K = o.df.dim(3), T = o.loc.dim(2);
  Summaries s;
  s.base_mean = Tensor::empty(DType::F32, {B, V, n});
  s.pred_mean = Tensor::empty(DType::F32, {B, V, n});
  s.pred_std = Tensor::empty(DType::F32, {B, V, n});
  s.fragile.assign(B * V * n, false);
  for (int64_t r = 0; r < B * V; ++r)
    for (int64_t t = 0; t < n; ++t) {
      const int64_t h = (r * n + t) * K, li = r * T + (T - n + t);
      toto::MixtureCell cell{o.df.data<float>() + h, o.mix_loc.data<float>() + h, o.mix_scale.data<float>() + h,
                             o.weights.data<float>() + h, K, 0.0f, 1.0f};
      s.base_mean.data<float>()[r * n + t] = toto::mixture_mean(cell);
      cell.affine_loc = o.loc.data<float>()[li];
      cell.affine_scale = o.scale.data<float>()[li];
      s.pred_mean.data<float>()[r * n + t] = toto::mixture_mean(cell);
      s.pred_std.data<float>()[r * n + t] = toto::mixture_std(cell);
      for (int64_t k = 0; k < K; ++k) s.fragile[r * n + t] = s.fragile[r * n + t] || cell.df[k] < 2.05f;
    }
  return s;
}

// Tail [.., T] -> last n steps along the last axis.
Tensor tail(const Tensor& t, int64_t n) {
  const int64_t T = t.dim(-1), rows = t.numel() / T;
  Shape s = t.shape();
  s.back() = n;
  Tensor out = Tensor::empty(DType::F32, s);
  for (int64_t r = 0; r < rows; ++r)
    std::copy(t.data<float>() + r * T + T - n, t.data<float>() + r * T + T, out.data<float>() + r * n);
  return out;
}

std::vector<bool> fragile_from_reference(const Tensor& ref_df) {
  const int64_t K = ref_df.dim(-1), cells = ref_df.numel() / K;
  std::vector<bool> f(cells, false);
  for (int64_t c = 0; c < cells; ++c)
    for (int64_t k = 0; k < K; ++k) f[c] = f[c] || at(ref_df, c * K + k) < 2.05;
  return f;
}

// All forward-style outputs by golden tensor name.
std::map<std::string, Tensor> forward_outputs(TotoModel& m, const Tensor& series, const Tensor& mask, const Tensor& ids,
                                              int64_t prefix) {
  toto::ForwardOptions fo;
  fo.prefix_length = prefix;
  fo.intermediates = true;
  toto::TotoOutput o = m.forward(series, mask, ids, fo);
  Summaries s = summarise(o);
  std::map<std::string, Tensor> r = {{"scaler_loc", o.loc},   {"scaler_scale", o.scale}, {"scaled_inputs", o.scaled},
                                     {"mix_df", o.df},        {"mix_loc", o.mix_loc},    {"mix_scale", o.mix_scale},
                                     {"mix_weights", o.weights}, {"base_mean", s.base_mean}, {"pred_mean", s.pred_mean},
                                     {"pred_std", s.pred_std}};
  for (auto& [k, v] : o.intermediates) r[k] = v;
  return r;
}

int64_t arg_or(const nlohmann::json& args, const char* key, int64_t dflt) {
  if (!args.contains(key) || args[key].is_null()) return dflt;
  return args[key].get<int64_t>();
}

// Left padding to whole patches exactly as the forecaster does (zeros, mask false, first id).
void pad_like_forecaster(const Tensor& raw, const Tensor& raw_mask, int64_t P, Tensor& series, Tensor& mask) {
  const int64_t B = raw.dim(0), V = raw.dim(1), T = raw.dim(2), Tp = (T + P - 1) / P * P, pad = Tp - T;
  series = Tensor::zeros(DType::F32, {B, V, Tp});
  mask = Tensor::zeros(DType::U8, {B, V, Tp});
  Tensor rf = as_f32(raw), rm = as_u8(raw_mask);
  for (int64_t r = 0; r < B * V; ++r)
    for (int64_t t = 0; t < T; ++t) {
      series.data<float>()[r * Tp + pad + t] = rf.data<float>()[r * T + t];
      mask.data<uint8_t>()[r * Tp + pad + t] = rm.data<uint8_t>()[r * T + t];
    }
}

class TotoCaseRunner {
 public:
  TotoCaseRunner(std::string dir, const nlohmann::json& manifest, GoldenExecutors& executors)
      : dir_(std::move(dir)), m_(manifest), executors_(executors) {
    // Numbers only, and no built-in fallback: a golden run at a made-up tolerance proves nothing.
    FCAST_CHECK(m_.contains("recommended_tolerances_fp32") && m_["recommended_tolerances_fp32"].is_object(), dir_,
                "/manifest.json: no 'recommended_tolerances_fp32' object");
    const auto& tol = m_["recommended_tolerances_fp32"];
    const auto number = [&](const char* key) {
      FCAST_CHECK(tol.contains(key) && tol[key].is_number() && std::isfinite(tol[key].get<double>()) &&
                      tol[key].get<double>() >= 0,
                  dir_, "/manifest.json: recommended_tolerances_fp32.", key, " must be a number >= 0, got ",
                  tol.contains(key) ? tol[key].dump() : std::string("nothing"));
      return tol[key].get<double>();
    };
    single_ = number("single_call");
    multi_ = number("multi_step");
  }

  Comparison run(const std::string& rel, const nlohmann::json& entry) {
    Comparison c;
    const std::string kind = entry.at("kind").get<std::string>();
    const nlohmann::json args = entry.value("args", nlohmann::json::object());
    TotoModel& model = model_for(entry.at("model").get<std::string>());
    SafetensorsFile f = SafetensorsFile::open((fs::path(dir_) / rel).string());
    std::set<std::string> used;
    auto want = [&](const std::string& n) {
      used.insert(n);
      return f.get(n);
    };
    auto has = [&](const std::string& n) { return f.has(n); };
    const int64_t P = model.config().patch_size;

    if (kind == "scaler") {
      const Tensor series = as_f32(want("series")), mask = as_u8(want("padding_mask"));
      const int64_t rows = series.numel() / series.dim(-1), T = series.dim(-1);
      const auto& prefixes = args.at("prefix_lengths");
      for (const auto& p : prefixes) {
        const std::string key = p.is_null() ? "null" : std::to_string(p.get<int64_t>());
        const std::string pre = args.at("output_prefix").at(key).get<std::string>();
        Tensor scaled = Tensor::empty(DType::F32, series.shape()), loc = Tensor::empty(DType::F32, series.shape()),
               scl = Tensor::empty(DType::F32, series.shape());
        const auto& cfg = model.config();
        ref::causal_patch_scaler(series.data<float>(), mask.data<uint8_t>(), rows, T, cfg.patch_size,
                                 p.is_null() ? -1 : p.get<int64_t>(), cfg.stabilize_with_global,
                                 cfg.scale_factor_exponent, scaled.data<float>(), loc.data<float>(), scl.data<float>());
        compare(c, pre + "scaled", scaled, want(pre + "scaled"), single_);
        compare(c, pre + "loc", loc, want(pre + "loc"), single_);
        compare(c, pre + "scale", scl, want(pre + "scale"), single_);
      }
    } else if (kind == "forward" || kind == "forward_f64" || kind == "multivariate_idmask") {
      Tensor series = as_f32(want("series")), mask, ids;
      if (kind == "forward_f64") {
        // The float64 twin stores only the series: take mask and ids from the float32 file.
        std::string twin = rel;
        twin.replace(twin.rfind("_f64"), 4, "");
        SafetensorsFile tf = SafetensorsFile::open((fs::path(dir_) / twin).string());
        mask = as_u8(tf.get("padding_mask"));
        ids = as_i32(tf.get("id_mask"));
      } else {
        mask = as_u8(want("padding_mask"));
        ids = as_i32(want("id_mask"));
      }
      if (has("raw_series")) {  // check our left padding reproduces the stored padded input
        Tensor ps, pm;
        pad_like_forecaster(want("raw_series"), want("raw_padding_mask"), P, ps, pm);
        compare(c, "padding(series)", ps, series, 0.0);
        compare(c, "padding(mask)", pm.to(DType::F32), mask.to(DType::F32), 0.0);
      }
      auto outs = forward_outputs(model, series, mask, ids, arg_or(args, "scaling_prefix_length", -1));
      std::vector<bool> fragile;
      if (has("mix_df")) fragile = fragile_from_reference(f.get("mix_df"));
      for (const auto& info : f.tensors()) {
        const std::string& n = info.name;
        if (used.count(n) || n == "raw_series" || n == "raw_padding_mask") continue;
        if (n.rfind("forecast_mean_", 0) == 0) continue;  // handled below
        auto it = outs.find(n);
        if (it == outs.end()) {
          c.failures.push_back("no producer for reference tensor '" + n + "'");
          continue;
        }
        compare(c, n, it->second, want(n), single_, n == "pred_std" && !fragile.empty() ? &fragile : nullptr);
      }
      if (has("forecast_mean_kv") || has("forecast_mean_nokv")) {
        const int64_t H = args.at("prediction_length").get<int64_t>();
        for (bool kv : {true, false}) {
          const std::string n = kv ? "forecast_mean_kv" : "forecast_mean_nokv";
          if (!has(n)) continue;
          toto::TotoForecaster fc(model);
          toto::ForecastOptions o;
          o.prediction_length = H;
          o.use_kv_cache = kv;
          compare(c, n, fc.forecast(series, &mask, &ids, o).mean(), want(n), multi_);
        }
      }
    } else if (kind == "kv_cache") {
      run_kv_case(c, model, f, args, used);
    } else if (kind == "generate_mean") {
      const Tensor raw = as_f32(want("raw_series")), raw_mask = as_u8(want("raw_padding_mask")),
                   raw_ids = as_i32(want("raw_id_mask"));
      const auto& outputs = args.at("outputs");
      for (auto it = outputs.begin(); it != outputs.end(); ++it) {
        const std::string spec = it.value().get<std::string>();
        FCAST_CHECK(spec == "use_kv_cache=true" || spec == "use_kv_cache=false", "unknown output spec '", spec, "'");
        toto::TotoForecaster fc(model);
        toto::ForecastOptions o;
        o.prediction_length = args.at("prediction_length").get<int64_t>();
        o.use_kv_cache = spec == "use_kv_cache=true";
        compare(c, it.key(), fc.forecast(raw, &raw_mask, &raw_ids, o).mean(), want(it.key()), multi_);
      }
    } else if (kind == "sampling") {
      run_sampling_case(c, model, f, args, used);
    } else {
      c.failures.push_back("unknown case kind '" + kind + "'");
    }
    return c;
  }

 private:
  TotoModel& model_for(const std::string& name) {
    auto it = models_.find(name);
    if (it != models_.end()) return *it->second;
    toto::TotoWeights w = toto::load_toto((fs::path(dir_) / "models" / name).string());
    const std::string identity = w.identity;
    auto m = std::make_unique<TotoModel>(std::move(w), executors_.make(identity));
    return *models_.emplace(name, std::move(m)).first->second;
  }

  void run_kv_case(Comparison& c, TotoModel& model, const SafetensorsFile& f, const nlohmann::json& args,
                   std::set<std::string>& used) {
    const Tensor series = as_f32(f.get("series")), mask = as_u8(f.get("padding_mask")), ids = as_i32(f.get("id_mask"));
    const int64_t P = model.config().patch_size, B = series.dim(0), V = series.dim(1), T = series.dim(2);
    const int64_t L0 = args.at("prefill_length").get<int64_t>(), steps = args.at("decode_steps").get<int64_t>();
    const int64_t prefix = arg_or(args, "scaling_prefix_length", -1);
    toto::TotoKVCache cache = model.make_cache(B, V, T / P);
    auto cut = [&](const Tensor& t, int64_t L) {
      Tensor o = Tensor::empty(t.dtype(), {B, V, L});
      const size_t es = dtype_size(t.dtype());
      for (int64_t r = 0; r < B * V; ++r)
        std::memcpy(static_cast<char*>(o.raw()) + r * L * es, static_cast<const char*>(t.raw()) + r * T * es, L * es);
      return o;
    };
    for (int64_t k = 0; k <= steps; ++k) {
      const int64_t L = L0 + k * P;
      toto::ForwardOptions fo;
      fo.prefix_length = prefix;
      fo.out_patches = k == 0 ? -1 : 1;
      const Tensor s = cut(series, L), m = cut(mask, L), i = cut(ids, L);
      toto::TotoOutput cached = model.forward(s, m, i, fo, &cache);
      toto::TotoOutput plain = model.forward(s, m, i, fo, nullptr);
      for (auto* pr : {&cached, &plain}) {
        const std::string pre = cat("step", k, pr == &cached ? "_cached_" : "_nocache_");
        Summaries sm = summarise(*pr);
        compare(c, pre + "mix_df", pr->df, f.get(pre + "mix_df"), single_);
        compare(c, pre + "mix_loc", pr->mix_loc, f.get(pre + "mix_loc"), single_);
        compare(c, pre + "mix_scale", pr->mix_scale, f.get(pre + "mix_scale"), single_);
        compare(c, pre + "mix_weights", pr->weights, f.get(pre + "mix_weights"), single_);
        compare(c, pre + "pred_mean", sm.pred_mean, f.get(pre + "pred_mean"), single_);
        for (auto n : {"mix_df", "mix_loc", "mix_scale", "mix_weights", "pred_mean"}) used.insert(pre + n);
      }
      const int64_t n_out = cached.df.dim(2);
      used.insert(cat("step", k, "_scaler_loc"));
      used.insert(cat("step", k, "_scaler_scale"));
      compare(c, cat("step", k, "_scaler_loc"), tail(cached.loc, n_out), f.get(cat("step", k, "_scaler_loc")), single_);
      compare(c, cat("step", k, "_scaler_scale"), tail(cached.scale, n_out), f.get(cat("step", k, "_scaler_scale")), single_);
    }
    // Cache contents: ours [B*V, capacity, H*Dh], the reference's [B*V, H, capacity, Dh].
    // Reference names use the transformer layer index; our slots count time-wise layers only.
    const int64_t H = model.config().num_heads, Dh = model.config().head_dim(), cap = cache.capacity;
    std::vector<int64_t> layer_of_slot;
    const auto space = model.config().space_layers();
    for (size_t l = 0; l < space.size(); ++l)
      if (!space[l]) layer_of_slot.push_back(static_cast<int64_t>(l));
    for (size_t j = 0; j < cache.keys.size(); ++j)
      for (int kv = 0; kv < 2; ++kv) {
        const std::string n = cat("cache_layer", layer_of_slot[j], kv ? "_values" : "_keys");
        if (!f.has(n)) continue;
        used.insert(n);
        const Tensor& mine = kv ? cache.values[j] : cache.keys[j];
        Tensor t = Tensor::empty(DType::F32, {B * V, H, cap, Dh});
        for (int64_t r = 0; r < B * V; ++r)
          for (int64_t h = 0; h < H; ++h)
            for (int64_t p = 0; p < cap; ++p)
              for (int64_t d = 0; d < Dh; ++d)
                t.data<float>()[((r * H + h) * cap + p) * Dh + d] = mine.data<float>()[(r * cap + p) * H * Dh + h * Dh + d];
        compare(c, n, t, f.get(n), single_);
      }
    for (const auto& info : f.tensors())
      if (!used.count(info.name) && info.name != "series" && info.name != "padding_mask" && info.name != "id_mask")
        c.failures.push_back("no producer for reference tensor '" + info.name + "'");
  }

  void run_sampling_case(Comparison& c, TotoModel& model, const SafetensorsFile& f, const nlohmann::json& args,
                         std::set<std::string>& used) {
    const int64_t P = model.config().patch_size;
    Tensor raw = as_f32(f.get("raw_series")), raw_mask = as_u8(f.get("raw_padding_mask")), raw_ids = as_i32(f.get("raw_id_mask"));
    Tensor series, mask;
    pad_like_forecaster(raw, raw_mask, P, series, mask);
    const int64_t B = raw.dim(0), V = raw.dim(1), T = raw.dim(2), Tp = series.dim(2);
    Tensor ids = Tensor::empty(DType::I32, {B, V, Tp});
    for (int64_t r = 0; r < B * V; ++r)
      for (int64_t t = 0; t < Tp; ++t)
        ids.data<int32_t>()[r * Tp + t] = raw_ids.data<int32_t>()[r * T + std::max<int64_t>(0, t - (Tp - T))];
    toto::ForwardOptions fo;
    fo.prefix_length = Tp;
    fo.out_patches = 1;
    toto::TotoOutput o = model.forward(series, mask, ids, fo);
    compare(c, "first_patch_mix_df", o.df, f.get("first_patch_mix_df"), single_);
    compare(c, "first_patch_mix_loc", o.mix_loc, f.get("first_patch_mix_loc"), single_);
    compare(c, "first_patch_mix_scale", o.mix_scale, f.get("first_patch_mix_scale"), single_);
    compare(c, "first_patch_mix_weights", o.weights, f.get("first_patch_mix_weights"), single_);
    compare(c, "first_patch_scaler_loc", tail(o.loc, P), f.get("first_patch_scaler_loc"), single_);
    compare(c, "first_patch_scaler_scale", tail(o.scale, P), f.get("first_patch_scaler_scale"), single_);

    // Statistical check 1: our sampler against the exact first-patch quantiles.
    const int64_t draws = 4096, K = o.df.dim(3);
    const Tensor q10 = f.get("first_patch_exact_q10"), q50 = f.get("first_patch_exact_q50"), q90 = f.get("first_patch_exact_q90");
    Rng rng(20240611);
    double worst_z = 0;
    int64_t off = 0;
    for (int64_t cell = 0; cell < B * V * P; ++cell) {
      const int64_t r = cell / P, p = cell % P, h = (r * P + p) * K, li = r * Tp + Tp - P + p;
      toto::MixtureCell mc{o.df.data<float>() + h, o.mix_loc.data<float>() + h, o.mix_scale.data<float>() + h,
                           o.weights.data<float>() + h, K, o.loc.data<float>()[li], o.scale.data<float>()[li]};
      int64_t below[3] = {0, 0, 0};
      for (int64_t d = 0; d < draws; ++d) {
        const double x = toto::mixture_sample(mc, rng);
        below[0] += x < at(q10, cell);
        below[1] += x < at(q50, cell);
        below[2] += x < at(q90, cell);
      }
      const double lv[3] = {0.1, 0.5, 0.9};
      for (int j = 0; j < 3; ++j) {
        const double se = std::sqrt(lv[j] * (1 - lv[j]) / draws);
        const double z = std::fabs(static_cast<double>(below[j]) / draws - lv[j]) / se;
        worst_z = std::max(worst_z, z);
        off += z > 5.0;
      }
    }
    ++c.compared;
    if (off) c.failures.push_back(cat("first-patch sampler: ", off, " quantile fractions beyond 5 standard errors (worst ", worst_z, ")"));
    // Statistical check 2: multi-step sample paths against the reference's statistics.
    const int64_t H = args.at("prediction_length").get<int64_t>();
    for (bool kv : {true, false}) {
      const std::string pre = kv ? "forecast_kv_" : "forecast_nokv_";
      if (!f.has(pre + "q50")) continue;
      toto::TotoForecaster fc(model);
      toto::ForecastOptions fopt;
      fopt.prediction_length = H;
      fopt.num_samples = args.value("num_samples", int64_t{4096});
      fopt.samples_per_batch = args.value("samples_per_batch", int64_t{1024});
      fopt.use_kv_cache = kv;
      fopt.seed = kv ? 1 : 2;
      toto::Forecast fcst = fc.forecast(raw, &raw_mask, &raw_ids, fopt);
      const Tensor rq10 = f.get(pre + "q10"), rq90 = f.get(pre + "q90");
      const std::pair<std::string, Tensor> stats[] = {{"mean", fcst.mean()}, {"q10", fcst.quantile(0.1)},
                                                      {"q50", fcst.quantile(0.5)}, {"q90", fcst.quantile(0.9)}};
      // Steps of the first generated patch have exact (noise-free) statistics: compare those
      // cells with them, the later cells with the reference's own sample statistics.
      for (const auto& [name, mine] : stats) {
        const Tensor ref = f.get(pre + name);
        const std::string exact_name = "first_patch_exact_" + name;
        const bool have_exact = f.has(exact_name);
        const Tensor exact = have_exact ? f.get(exact_name) : Tensor();
        double worst = 0, sum = 0;
        int64_t worst_i = 0;
        for (int64_t i = 0; i < ref.numel(); ++i) {
          const double width = std::max(at(rq90, i) - at(rq10, i), 1e-12);
          const int64_t row = i / H, t = i % H;
          const double want = have_exact && t < P ? at(exact, row * P + t) : at(ref, i);
          const double e = std::fabs(at(mine, i) - want) / width;
          if (e > worst) worst_i = i;
          worst = std::max(worst, e);
          sum += e;
        }
        const double mean_e = sum / static_cast<double>(ref.numel());
        ++c.compared;
        if (worst > 0.15 || mean_e > 0.03)
          c.failures.push_back(cat(pre, name, ": |diff|/(q90-q10) worst ", worst, " at cell ", worst_i, " (got ",
                                   at(mine, worst_i), ", reference ", at(ref, worst_i), "; limit 0.15), mean ", mean_e,
                                   " (limit 0.03)"));
        c.worst = std::max(c.worst, 0.0);
      }
    }
    for (const auto& info : f.tensors()) used.insert(info.name);
  }

  std::string dir_;
  const nlohmann::json& m_;
  GoldenExecutors& executors_;
  double single_ = 1e-4, multi_ = 5e-4;
  std::map<std::string, std::unique_ptr<TotoModel>> models_;
};

}  // namespace

bool golden_accepts(const nlohmann::json& m) {
  if (!m.contains("files") || !m["files"].is_object()) return false;
  // Toto 2.0 manifests share the layout; their model configs have d_model instead of embed_dim.
  if (m.contains("models") && m["models"].is_object())
    for (const auto& [name, model] : m["models"].items())
      if (model.is_object() && model.contains("config") && model["config"].is_object() && model["config"].contains("d_model"))
        return false;
  return true;
}

GoldenTally run_golden(const std::string& dir, const nlohmann::json& manifest, GoldenExecutors& executors) {
  TotoCaseRunner runner(dir, manifest, executors);
  return run_golden_files(manifest.at("files"), [&](const std::string& file, const nlohmann::json& entry) {
    return runner.run(file, entry);
  });
}

}  // namespace fcast::toto
