#include "models/toto/forecaster.h"

#include <algorithm>
#include <cmath>

#include "models/toto/distribution.h"

namespace fcast::toto {

Tensor Forecast::quantile(double q) const {
  FCAST_CHECK(q >= 0.0 && q <= 1.0, "quantile level ", q, " outside [0, 1]");
  if (!has_samples()) return mean_.clone();
  const int64_t cells = mean_.numel(), N = num_samples();
  Tensor out = Tensor::empty(DType::F32, mean_.shape());
  std::vector<float> buf(N);
  for (int64_t c = 0; c < cells; ++c) {
    std::copy(samples_.data<float>() + c * N, samples_.data<float>() + (c + 1) * N, buf.begin());
    std::sort(buf.begin(), buf.end());
    const double pos = q * static_cast<double>(N - 1);
    const int64_t lo = static_cast<int64_t>(std::floor(pos));
    const int64_t hi = std::min<int64_t>(lo + 1, N - 1);
    const double frac = pos - static_cast<double>(lo);
    out.data<float>()[c] = static_cast<float>(buf[lo] + (buf[hi] - buf[lo]) * frac);
  }
  return out;
}

Tensor Forecast::std() const {
  Tensor out = Tensor::zeros(DType::F32, mean_.shape());
  if (!has_samples()) return out;
  const int64_t cells = mean_.numel(), N = num_samples();
  for (int64_t c = 0; c < cells; ++c) {
    const float* s = samples_.data<float>() + c * N;
    double m = 0, v = 0;
    for (int64_t i = 0; i < N; ++i) m += s[i];
    m /= static_cast<double>(N);
    for (int64_t i = 0; i < N; ++i) v += (s[i] - m) * (s[i] - m);
    out.data<float>()[c] = N > 1 ? static_cast<float>(std::sqrt(v / static_cast<double>(N - 1))) : 0.0f;
  }
  return out;
}

namespace {

// A growing [rows, V, T] history of values, mask and ids, padded on the left to whole patches.
struct History {
  int64_t rows = 0, V = 0, T = 0, cap = 0;
  std::vector<float> x;
  std::vector<uint8_t> m;
  std::vector<int32_t> id;
  void init(int64_t r, int64_t v, int64_t capacity) {
    rows = r; V = v; cap = capacity; T = 0;
    x.assign(r * v * capacity, 0.0f);
    m.assign(r * v * capacity, 0);
    id.assign(r * v * capacity, 0);
  }
  Tensor series() const { return pack<float>(x, DType::F32); }
  Tensor mask() const { return pack<uint8_t>(m, DType::U8); }
  Tensor ids() const { return pack<int32_t>(id, DType::I32); }
  template <class E>
  Tensor pack(const std::vector<E>& src, DType dt) const {
    Tensor t = Tensor::empty(dt, {rows, V, T});
    for (int64_t r = 0; r < rows * V; ++r)
      std::copy(src.begin() + r * cap, src.begin() + r * cap + T, static_cast<E*>(t.raw()) + r * T);
    return t;
  }
  // Appends one patch of values per (row, variate), observed, ids repeating the last id.
  void append(const std::vector<float>& vals, int64_t P) {
    FCAST_ASSERT(T + P <= cap);
    for (int64_t r = 0; r < rows * V; ++r)
      for (int64_t p = 0; p < P; ++p) {
        x[r * cap + T + p] = vals[r * P + p];
        m[r * cap + T + p] = 1;
        id[r * cap + T + p] = id[r * cap + T - 1];
      }
    T += P;
  }
};

// The model outputs of one forward that hold non-finite values, "loc 3 of 48, scale 3 of 48",
// for the message about non-finite forecast values.
std::string nonfinite_outputs(const TotoOutput& o) {
  const std::pair<const char*, const Tensor*> outputs[] = {{"scaler loc", &o.loc},        {"scaler scale", &o.scale},
                                                           {"head df", &o.df},            {"head loc", &o.mix_loc},
                                                           {"head scale", &o.mix_scale}, {"head weights", &o.weights}};
  std::string s;
  for (const auto& [name, t] : outputs) {
    if (!t->defined()) continue;
    int64_t bad = 0;
    for (int64_t i = 0; i < t->numel(); ++i) bad += !std::isfinite(t->data<float>()[i]);
    if (bad > 0) s += cat(s.empty() ? "" : ", ", name, " ", bad, " of ", t->numel());
  }
  return s.empty() ? "every model output is finite; the de-scaled values overflow float32"
                   : "model outputs with non-finite values: " + s;
}

// Counts the forecast values that replace_extreme changes. Under NonFinitePolicy::kError the
// first decode step that has any throws; under kWarn they are counted and the first such step
// is described.
struct ExtremeTally {
  NonFinitePolicy policy = NonFinitePolicy::kError;
  int64_t count = 0;
  std::string first;
  void step_done(int64_t bad, int64_t values, int64_t step, int64_t steps, int64_t P, int64_t H, const TotoOutput& out) {
    if (bad == 0) return;
    const std::string where = cat(bad, " of the ", values, " values of decode step ", step + 1, " of ", steps,
                                  " (forecast steps ", step * P + 1, "-", std::min(H, (step + 1) * P), ") are NaN, Inf or ",
                                  "beyond +-1.7e38 (", nonfinite_outputs(out), ")");
    FCAST_CHECK(policy != NonFinitePolicy::kError, "toto: non-finite forecast: ", where,
                ". The context may be too close to the float32 limit, or the checkpoint is damaged. The reference ",
                "replaces such values by 0 without a word; NonFinitePolicy::kWarn (fcast predict --nonfinite warn) does ",
                "the same and counts them");
    count += bad;
    if (first.empty()) first = "first: " + where;
  }
};

}  // namespace

TotoKVCache& TotoForecaster::cache_for(TotoKVCache& slot, int64_t rows, int64_t variates, int64_t capacity) {
  if (slot.keys.empty() || slot.batch != rows || slot.variates != variates || slot.capacity != capacity ||
      slot.keys[0].dtype() != model_.cache_dtype()) {
    slot = TotoKVCache();  // free the old buffers first: peak memory holds one cache per slot
    slot = model_.make_cache(rows, variates, capacity);
  }
  slot.bucketed = true;
  slot.reset();
  return slot;
}

Forecast TotoForecaster::forecast(const Tensor& series, const Tensor* mask, const Tensor* ids,
                                  const ForecastOptions& opt) {
  const TotoConfig& c = model_.config();
  const int64_t P = c.patch_size;
  FCAST_CHECK(series.dtype() == DType::F32 && series.ndim() == 3, "series must be F32 [batch, variates, time], got ",
              dtype_name(series.dtype()), shape_str(series.shape()));
  const int64_t B = series.dim(0), V = series.dim(1), T = series.dim(2);
  FCAST_CHECK(B > 0 && V > 0, "series has an empty batch or variate axis: ", shape_str(series.shape()));
  FCAST_CHECK(T > 0, "series is empty: at least one time step is needed");
  FCAST_CHECK(opt.prediction_length > 0, "prediction_length must be positive, got ", opt.prediction_length);
  FCAST_CHECK(opt.num_samples >= 0, "num_samples must be >= 0");
  if (mask) FCAST_CHECK(mask->dtype() == DType::U8 && mask->shape() == series.shape(), "padding mask must be U8 ", shape_str(series.shape()));
  if (ids) FCAST_CHECK(ids->dtype() == DType::I32 && ids->shape() == series.shape(), "id mask must be I32 ", shape_str(series.shape()));
  const bool sampling = opt.num_samples > 0;
  int64_t spb = 1;
  if (sampling) {
    FCAST_CHECK(opt.samples_per_batch > 0, "samples_per_batch must be positive");
    spb = std::min(opt.samples_per_batch, opt.num_samples);
    FCAST_CHECK(opt.num_samples % spb == 0, "num_samples (", opt.num_samples, ") must be a multiple of samples_per_batch (",
                spb, ")");
  }
  const float* xs = series.data<float>();
  for (int64_t i = 0; i < series.numel(); ++i)
    FCAST_CHECK(std::isfinite(xs[i]), "series holds a non-finite value (NaN or Inf) at batch ", i / (V * T), ", variate ",
                i / T % V, ", step ", i % T, " of ", T);

  const int64_t Tp = (T + P - 1) / P * P, pad = Tp - T;
  const int64_t steps = (opt.prediction_length + P - 1) / P;
  const int64_t capacity = model_.cache_capacity(Tp / P, steps);  // patches (bucketed when compiled)
  const int64_t H = opt.prediction_length;
  // The capacity leaves room for padding the prefill to its context bucket.
  auto make_bucketed_cache = [&](TotoKVCache& slot, int64_t rows) -> TotoKVCache& {
    return cache_for(slot, rows, V, capacity);
  };

  auto build_history = [&](History& h, int64_t reps) {
    h.init(reps * B, V, Tp + steps * P);
    h.T = Tp;
    for (int64_t s = 0; s < reps; ++s)
      for (int64_t b = 0; b < B; ++b)
        for (int64_t v = 0; v < V; ++v) {
          const int64_t src = (b * V + v) * T, dst = ((s * B + b) * V + v) * h.cap;
          const int32_t first_id = ids ? ids->data<int32_t>()[src] : 0;
          for (int64_t t = 0; t < pad; ++t) h.id[dst + t] = first_id;
          for (int64_t t = 0; t < T; ++t) {
            h.x[dst + pad + t] = xs[src + t];
            h.m[dst + pad + t] = mask ? (mask->data<uint8_t>()[src + t] != 0) : 1;
            h.id[dst + pad + t] = ids ? ids->data<int32_t>()[src + t] : 0;
          }
        }
  };
  ForwardOptions fo;
  fo.prefix_length = Tp;
  fo.out_patches = 1;
  const int64_t K = c.components();
  // Cell accessor for the last P outputs of `out`, row r of `rows`, mapped to output row r % out_rows.
  auto cell = [&](const TotoOutput& out, int64_t row, int64_t v, int64_t p) {
    const int64_t orows = out.df.dim(0);
    const int64_t r = row % orows, Tin = out.loc.dim(2), steps_out = out.df.dim(2);
    const int64_t hi = (r * V + v) * steps_out + (steps_out - P + p);
    const int64_t li = (r * V + v) * Tin + (Tin - P + p);
    return MixtureCell{out.df.data<float>() + hi * K, out.mix_loc.data<float>() + hi * K,
                       out.mix_scale.data<float>() + hi * K, out.weights.data<float>() + hi * K, K,
                       out.loc.data<float>()[li], out.scale.data<float>()[li]};
  };

  ExtremeTally tally;
  tally.policy = opt.nonfinite;
  if (!sampling) {
    History h;
    build_history(h, 1);
    TotoKVCache* cache = opt.use_kv_cache ? &make_bucketed_cache(context_cache_, B) : nullptr;
    Tensor mean = Tensor::empty(DType::F32, {B, V, H});
    std::vector<float> next(B * V * P);
    for (int64_t step = 0; step < steps; ++step) {
      TotoOutput out = model_.forward(h.series(), h.mask(), h.ids(), fo, cache);
      int64_t bad = 0;
      for (int64_t r = 0; r < B; ++r)
        for (int64_t v = 0; v < V; ++v)
          for (int64_t p = 0; p < P; ++p) {
            const float x = mixture_mean(cell(out, r, v, p));
            bad += step * P + p < H && is_extreme(x);  // only values that reach the forecast count
            next[(r * V + v) * P + p] = replace_extreme(x);
          }
      tally.step_done(bad, B * V * std::min(P, H - step * P), step, steps, P, H, out);
      for (int64_t rv = 0; rv < B * V; ++rv)
        for (int64_t p = 0; p < P; ++p) {
          const int64_t t = step * P + p;
          if (t < H) mean.data<float>()[rv * H + t] = next[rv * P + p];
        }
      if (step + 1 < steps) h.append(next, P);
      if (opt.progress) opt.progress(step + 1, steps);
    }
    Forecast f(mean, Tensor());
    f.set_nonfinite(tally.count, tally.first);
    return f;
  }

  const int64_t N = opt.num_samples, rows = spb * B;
  Tensor samples = Tensor::empty(DType::F32, {B, V, H, N});
  // One random stream per series: row b's draws come in the order they come in a batch of one
  // (chunk, step, sample, variate, patch position), whatever the batch holds.
  FCAST_CHECK(opt.row_seeds.empty() || static_cast<int64_t>(opt.row_seeds.size()) == B, "row_seeds has ",
              opt.row_seeds.size(), " seeds for a batch of ", B);
  std::vector<Rng> rngs;
  for (int64_t b = 0; b < B; ++b) rngs.emplace_back(opt.row_seeds.empty() ? opt.seed : opt.row_seeds[b]);
  // The first forward is identical for every sample path: run it once on the B series.
  TotoKVCache* prefill_cache = nullptr;
  TotoOutput first;
  if (opt.share_prefill) {
    History h0;
    build_history(h0, 1);
    if (opt.use_kv_cache) prefill_cache = &make_bucketed_cache(context_cache_, B);
    first = model_.forward(h0.series(), h0.mask(), h0.ids(), fo, prefill_cache);
  }
  // With a shared prefill and a single step no decode call runs: the per-sample cache (rows x
  // capacity x D per layer) would only be allocated and copied for nothing.
  const bool sample_cache = opt.use_kv_cache && !(opt.share_prefill && steps == 1);
  TotoKVCache* cache = sample_cache ? &make_bucketed_cache(sample_cache_, rows) : nullptr;
  std::vector<float> next(rows * V * P);
  for (int64_t chunk = 0; chunk < N / spb; ++chunk) {
    History h;
    build_history(h, spb);
    if (cache) cache->reset();
    for (int64_t step = 0; step < steps; ++step) {
      TotoOutput out;
      const TotoOutput* src = &out;
      if (step == 0 && opt.share_prefill) {
        src = &first;
        if (cache) cache->broadcast_from(*prefill_cache);
      } else {
        out = model_.forward(h.series(), h.mask(), h.ids(), fo, cache);
      }
      int64_t bad = 0;
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t v = 0; v < V; ++v)
          for (int64_t p = 0; p < P; ++p) {
            const float x = mixture_sample(cell(*src, r, v, p), rngs[r % B]);
            bad += step * P + p < H && is_extreme(x);  // only values that reach the forecast count
            next[(r * V + v) * P + p] = replace_extreme(x);
          }
      tally.step_done(bad, rows * V * std::min(P, H - step * P), step, steps, P, H, *src);
      for (int64_t s = 0; s < spb; ++s)
        for (int64_t b = 0; b < B; ++b)
          for (int64_t v = 0; v < V; ++v)
            for (int64_t p = 0; p < P; ++p) {
              const int64_t t = step * P + p;
              if (t < H)
                samples.data<float>()[((b * V + v) * H + t) * N + chunk * spb + s] = next[((s * B + b) * V + v) * P + p];
            }
      if (step + 1 < steps) h.append(next, P);
      if (opt.progress) opt.progress(chunk * steps + step + 1, (N / spb) * steps);
    }
  }
  Tensor mean = Tensor::empty(DType::F32, {B, V, H});
  for (int64_t c2 = 0; c2 < B * V * H; ++c2) {
    double m = 0;
    for (int64_t i = 0; i < N; ++i) m += samples.data<float>()[c2 * N + i];
    mean.data<float>()[c2] = static_cast<float>(m / static_cast<double>(N));
  }
  Forecast f(mean, samples);
  f.set_nonfinite(tally.count, tally.first);
  return f;
}

}  // namespace fcast::toto
