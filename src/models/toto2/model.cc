#include "models/toto2/model.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "core/error.h"
#include "runtime/eager_executor.h"

namespace fcast::toto2 {

void causal_scaler(const float* x, const uint8_t* mask, int64_t rows, int64_t T, int64_t P, float* loc, float* scale,
                   float* scaled) {
  std::vector<double> mu(static_cast<size_t>(T)), sd(static_cast<size_t>(T));
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * T;
    const uint8_t* mr = mask + r * T;
    double n = 0, sum = 0, m2 = 0, mu_prev = 0;
    for (int64_t t = 0; t < T; ++t) {
      const double w = mr[t] ? 1.0 : 0.0, xv = static_cast<double>(xr[t]);
      n += w;
      sum += w * xv;
      const double N = std::max(n, 1.0);
      const double m = sum / N;
      m2 += (xv - mu_prev) * (xv - m) * w;
      const double var = m2 / std::max(N - 1.0, 1.0);
      mu[t] = m;
      sd[t] = std::max(std::sqrt(var), 1e-6);
      mu_prev = m;
    }
    for (int64_t t = 0; t < T; ++t) {
      const int64_t last = std::min(t / P * P + P - 1, T - 1);
      loc[r * T + t] = static_cast<float>(mu[last]);
      scale[r * T + t] = static_cast<float>(sd[last]);
      if (scaled) scaled[r * T + t] = mr[t] ? (xr[t] - loc[r * T + t]) / scale[r * T + t] : 0.0f;
    }
  }
}

void scaler_fallback(const float* x, const uint8_t* mask, int64_t rows, int64_t T, int64_t P, int64_t min_obs,
                     float* loc, float* scale) {
  if (min_obs <= 0) return;
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * T;
    const uint8_t* mr = mask + r * T;
    double sum = 0;
    int64_t n = 0;
    for (int64_t t = 0; t < T && n < min_obs; ++t)
      if (mr[t]) {
        sum += xr[t];
        ++n;
      }
    const float cnt = static_cast<float>(std::max<int64_t>(n, 1));
    const float dloc = static_cast<float>(sum) / cnt;
    double ss = 0;
    int64_t seen = 0;
    for (int64_t t = 0; t < T && seen < min_obs; ++t)
      if (mr[t]) {
        const float d = xr[t] - dloc;
        ss += static_cast<double>(d) * d;
        ++seen;
      }
    const float dvar = static_cast<float>(ss) / std::max(cnt - 1.0f, 1.0f);
    const float dscale = std::max(std::sqrt(dvar), 1e-6f);
    int64_t observed = 0;
    for (int64_t s = 0; s * P < T; ++s) {
      for (int64_t t = s * P; t < std::min(T, s * P + P); ++t) observed += mr[t] ? 1 : 0;
      if (observed >= min_obs) break;  // counts only grow: later patches are not below either
      for (int64_t t = s * P; t < std::min(T, s * P + P); ++t) {
        loc[r * T + t] = dloc;
        scale[r * T + t] = dscale;
      }
    }
  }
}

Toto2Model::Toto2Model(std::shared_ptr<const Toto2Weights> w, std::shared_ptr<Executor> exec)
    : w_(std::move(w)), exec_(std::move(exec)) {
  FCAST_CHECK(w_ != nullptr, "Toto2Model: no weights");
  if (!exec_) exec_ = std::make_shared<EagerExecutor>();
}

namespace {
ValueId residual_mlp(Graph& g, ValueId x, const ResidualMlp& m, const std::string& p) {
  ValueId h = g.silu(g.linear(x, g.constant(p + "w1", m.w1), g.constant(p + "b1", m.b1)));
  ValueId main = g.linear(h, g.constant(p + "w2", m.w2), g.constant(p + "b2", m.b2));
  ValueId skip = g.linear(x, g.constant(p + "ws", m.ws), g.constant(p + "bs", m.bs));
  return g.add(main, skip);
}
ValueId opt_constant(Graph& g, const std::string& name, const Tensor& t) { return t.defined() ? g.constant(name, t) : kNone; }
}  // namespace

bool Toto2Model::takes_variate_groups(int64_t V) const {
  // One variate attends to itself only: no mask is needed (the reference builds none either).
  if (V <= 1) return false;
  for (const LayerWeights& L : w_->layers)
    if (L.variate) return true;
  return false;
}

Graph Toto2Model::build_graph(const PassShape& ps) const {
  const Toto2Config& c = w_->config;
  const int64_t B = ps.B, V = ps.V, S = ps.S, BV = B * V, D = c.d_model, P = c.patch_size, H = c.num_heads,
                dk = c.dk(), HD = H * dk;
  const float eps = static_cast<float>(c.norm_eps);
  const float xpos = c.use_xpos ? 256.0f : 0.0f;
  Graph g;
  g.set_meta("model_part", "toto2");
  g.set_meta("phase", ps.cached ? "block" : "full");
  g.set_meta("batch", std::to_string(B));
  g.set_meta("variates", std::to_string(V));
  g.set_meta("patches", std::to_string(S));
  g.set_meta("out", cat(ps.out_start, "+", ps.n_out));
  if (ps.cached) g.set_meta("capacity", std::to_string(ps.capacity));
  ValueId feats = g.input("features", DType::F32, {BV, S, 2 * P});
  ValueId pos0 = g.input("pos0", DType::I64, {1});
  ValueId tg = ps.time_groups ? g.input("time_groups", DType::I32, {BV, S}) : kNone;
  ValueId kg = ps.cached && ps.time_groups ? g.input("key_groups", DType::I32, {BV, ps.capacity}) : kNone;
  ValueId vg = takes_variate_groups(V) ? g.input("variate_groups", DType::I32, {B * S, V}) : kNone;

  ValueId x = residual_mlp(g, feats, w_->patch, "patch.");
  if (ps.intermediates) g.output("transformer_in", x);
  int64_t slot = 0;
  for (size_t i = 0; i < w_->layers.size(); ++i) {
    const LayerWeights& L = w_->layers[i];
    const std::string p = cat("l", i, ".");
    ValueId y = g.rmsnorm(x, g.constant(p + "norm1", L.norm1), eps);
    ValueId wqkv = g.constant(p + "wqkv", L.wqkv), bqkv = opt_constant(g, p + "bqkv", L.bqkv);
    ValueId qn = opt_constant(g, p + "q_norm", L.q_norm), kn = opt_constant(g, p + "k_norm", L.k_norm);
    auto heads = [&](ValueId qkv, int which, int64_t rows, int64_t len, ValueId norm) {
      ValueId t = g.take_cols(qkv, which * HD, HD);
      if (norm != kNone) t = g.reshape(g.rmsnorm(g.reshape(t, {rows, len, H, dk}), norm, eps), {rows, len, HD});
      return t;
    };
    ValueId attn;
    if (!L.variate) {
      ValueId qkv = g.linear(y, wqkv, bqkv);
      ValueId q = g.rotary_partial(heads(qkv, 0, BV, S, qn), pos0, H, false, c.rotary_dims(), xpos);
      ValueId k = g.rotary_partial(heads(qkv, 1, BV, S, kn), pos0, H, true, c.rotary_dims(), xpos);
      ValueId v = heads(qkv, 2, BV, S, kNone);
      if (ps.cached) {
        ValueId kc = g.kv_write(g.input(cat("k", slot), ps.cache_dtype, {BV, ps.capacity, HD}), k, pos0);
        ValueId vc = g.kv_write(g.input(cat("v", slot), ps.cache_dtype, {BV, ps.capacity, HD}), v, pos0);
        attn = g.attention(q, kc, vc, H, /*causal=*/true, pos0, tg, /*cached=*/true, kNone, kg);
      } else {
        attn = g.attention(q, k, v, H, /*causal=*/true, kNone, tg);
      }
      ++slot;
      attn = g.linear(attn, g.constant(p + "wo", L.wo), opt_constant(g, p + "bo", L.bo));
    } else {
      ValueId yt = g.reshape(g.permute0213(g.reshape(y, {B, V, S, D})), {B * S, V, D});
      ValueId qkv = g.linear(yt, wqkv, bqkv);
      ValueId a = g.attention(heads(qkv, 0, B * S, V, qn), heads(qkv, 1, B * S, V, kn), heads(qkv, 2, B * S, V, kNone),
                              H, /*causal=*/false, kNone, vg);
      a = g.linear(a, g.constant(p + "wo", L.wo), opt_constant(g, p + "bo", L.bo));
      attn = g.reshape(g.permute0213(g.reshape(a, {B, S, V, D})), {BV, S, D});
    }
    ValueId h = g.add(g.scale(x, L.alpha_attn), attn);
    ValueId z = g.rmsnorm(h, g.constant(p + "norm2", L.norm2), eps);
    ValueId m = g.swiglu(g.linear(z, g.constant(p + "w12", L.w12), opt_constant(g, p + "b12", L.b12)));
    x = g.add(g.scale(h, L.alpha_mlp), g.linear(m, g.constant(p + "w3", L.w3), opt_constant(g, p + "b3", L.b3)));
    if (ps.intermediates) g.output(cat("layer", i, "_out"), x);
  }
  x = g.rmsnorm(x, g.constant("out_norm", w_->out_norm), eps);
  if (ps.intermediates) g.output("transformer_out", x);
  if (ps.out_start > 0 || ps.n_out < S) x = g.slice_time(x, ps.out_start, ps.n_out);
  g.output("head", residual_mlp(g, x, w_->head, "head."));
  return g;
}

const Graph& Toto2Model::graph_for(const PassShape& p) {
  auto it = graphs_.find(p.key());
  if (it != graphs_.end()) return *it->second;
  if (graphs_.size() >= 32) graphs_.clear();
  auto g = std::make_unique<Graph>(build_graph(p));
  ++graphs_built_;
  return *graphs_.emplace(p.key(), std::move(g)).first->second;
}

namespace {

void check_inputs(const Tensor& target, const Tensor& mask, const Tensor& ids, int64_t P) {
  FCAST_CHECK(target.dtype() == DType::F32 && target.ndim() == 3, "toto2: target must be F32 [batch, variates, time], got ",
              dtype_name(target.dtype()), shape_str(target.shape()));
  FCAST_CHECK(mask.dtype() == DType::U8 && mask.shape() == target.shape(), "toto2: the mask must be U8 ",
              shape_str(target.shape()), ", got ", dtype_name(mask.dtype()), shape_str(mask.shape()));
  FCAST_CHECK(ids.dtype() == DType::I32 && ids.shape() == (Shape{target.dim(0), target.dim(1)}), "toto2: series ids must be I32 [",
              target.dim(0), ", ", target.dim(1), "], got ", dtype_name(ids.dtype()), shape_str(ids.shape()));
  FCAST_CHECK(target.dim(0) > 0 && target.dim(1) > 0, "toto2: empty batch or variate axis");
  FCAST_CHECK(target.dim(2) > 0 && target.dim(2) % P == 0, "toto2: the context length ", target.dim(2),
              " must be a positive multiple of the patch size ", P, " (left-pad with unobserved steps)");
  FCAST_CHECK(target.dim(2) / P <= kMaxPositions, "toto2: ", target.dim(2) / P, " context patches exceed the model's ",
              kMaxPositions, " positions");
  const float* x = target.data<float>();
  for (int64_t i = 0; i < target.numel(); ++i)
    FCAST_CHECK(std::isfinite(x[i]), "toto2: the target holds a non-finite value at flat index ", i,
                " (unobserved steps still need a finite placeholder)");
  for (int64_t i = 0; i < ids.numel(); ++i)
    FCAST_CHECK(ids.data<int32_t>()[i] != -1, "toto2: series id -1 is reserved (fully unobserved patches)");
}

// Patch features [rows, count, 2P] of patches [first, first + count) of rows [rows, L]: asinh of
// the scaled value (0 where unobserved), then the missing indicator.
void patch_features(const float* x, const uint8_t* m, const float* loc, const float* scale, int64_t rows, int64_t L,
                    int64_t P, int64_t first, int64_t count, float* out, int64_t out_count, int64_t out_offset) {
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t s = 0; s < count; ++s) {
      float* o = out + (r * out_count + out_offset + s) * 2 * P;
      for (int64_t p = 0; p < P; ++p) {
        const int64_t t = (first + s) * P + p, i = r * L + t;
        const bool obs = m[i] != 0;
        const float z = obs ? (x[i] - loc[i]) / scale[i] : 0.0f;
        o[p] = std::asinh(z);
        o[P + p] = obs ? 0.0f : 1.0f;
      }
    }
}

// [BV, S, D] graph rows as [B, V, S, D].
Tensor as_bvsd(const Tensor& t, int64_t B, int64_t V) { return t.reshape({B, V, t.dim(1), t.dim(2)}); }

// Head output [BV, n, P * Q] -> [Q, B, V, n, P].
Tensor head_qfirst(const Tensor& h, int64_t B, int64_t V, int64_t P) {
  const int64_t BV = B * V, n = h.dim(1), Q = kQuantiles;
  Tensor out = Tensor::empty(DType::F32, {Q, B, V, n, P});
  for (int64_t r = 0; r < BV; ++r)
    for (int64_t j = 0; j < n; ++j)
      for (int64_t p = 0; p < P; ++p)
        for (int64_t q = 0; q < Q; ++q)
          out.data<float>()[((q * BV + r) * n + j) * P + p] = h.data<float>()[(r * n + j) * P * Q + p * Q + q];
  return out;
}

}  // namespace

Toto2ForwardOutput Toto2Model::forward(const Tensor& target, const Tensor& mask, const Tensor& ids, bool intermediates) {
  const Toto2Config& c = w_->config;
  const int64_t P = c.patch_size;
  check_inputs(target, mask, ids, P);
  const int64_t B = target.dim(0), V = target.dim(1), T = target.dim(2), BV = B * V, S = T / P;
  Toto2ForwardOutput out;
  out.loc = Tensor::empty(DType::F32, {B, V, T});
  out.scale = Tensor::empty(DType::F32, {B, V, T});
  const float* x = target.data<float>();
  const uint8_t* m = mask.data<uint8_t>();
  causal_scaler(x, m, BV, T, P, out.loc.data<float>(), out.scale.data<float>());
  Tensor feats = Tensor::empty(DType::F32, {BV, S, 2 * P});
  patch_features(x, m, out.loc.data<float>(), out.scale.data<float>(), BV, T, P, 0, S, feats.data<float>(), S, 0);
  Tensor gids = Tensor::empty(DType::I32, {BV, S});
  for (int64_t r = 0; r < BV; ++r)
    for (int64_t s = 0; s < S; ++s) {
      bool any = false;
      for (int64_t p = 0; p < P; ++p) any |= m[r * T + s * P + p] != 0;
      gids.data<int32_t>()[r * S + s] = any ? ids.data<int32_t>()[r] : -1;
    }
  PassShape ps{B, V, S, 0, S, true, false, 0, intermediates, DType::F32};
  TensorMap in;
  in["features"] = feats;
  in["pos0"] = make_scalar_i64(0);
  in["time_groups"] = gids;
  if (takes_variate_groups(V)) {
    Tensor vg = Tensor::empty(DType::I32, {B * S, V});
    for (int64_t b = 0; b < B; ++b)
      for (int64_t s = 0; s < S; ++s)
        for (int64_t v = 0; v < V; ++v) vg.data<int32_t>()[(b * S + s) * V + v] = gids.data<int32_t>()[(b * V + v) * S + s];
    in["variate_groups"] = vg;
  }
  const Graph& g = graph_for(ps);
  TensorMap res = exec_->run(g, in);
  out.quantiles = head_qfirst(res.at("head"), B, V, P);
  if (intermediates) {
    out.intermediates["patch_input"] = feats.reshape({B, V, S, 2 * P});
    out.intermediates["group_ids"] = gids.reshape({B, V, S});
    out.intermediates["patch_embeddings"] = as_bvsd(res.at("transformer_in"), B, V);
    for (auto& [name, t] : res)
      if (name != "head" && name != "transformer_in") out.intermediates[name] = as_bvsd(t, B, V);
  }
  return out;
}

Tensor Toto2Model::forecast(const Tensor& target, const Tensor& mask, const Tensor& ids, const Toto2ForecastOptions& o,
                            std::map<std::string, Tensor>* trace) {
  const Toto2Config& c = w_->config;
  const int64_t P = c.patch_size, Q = kQuantiles;
  check_inputs(target, mask, ids, P);
  FCAST_CHECK(o.horizon > 0, "toto2: the horizon must be positive, got ", o.horizon);
  FCAST_CHECK(o.decode_block_size >= 0 && o.decode_block_size % P == 0, "toto2: decode_block_size (",
              o.decode_block_size, ") must be a multiple of the patch size ", P, " (0: one pass)");
  FCAST_CHECK(o.scaler_fallback_min_obs >= 0, "toto2: scaler_fallback_min_obs must be >= 0");
  FCAST_CHECK(std::isfinite(o.quantile_cap_k) && o.quantile_cap_k >= 0, "toto2: the quantile cap must be >= 0");
  const int64_t B = target.dim(0), V = target.dim(1), T = target.dim(2), BV = B * V, I = T / P;
  const int64_t N = (o.horizon + P - 1) / P;
  const int64_t Bk = o.decode_block_size > 0 ? std::min(o.decode_block_size / P, N) : N;
  FCAST_CHECK(I + N <= kMaxPositions, "toto2: ", I, " context and ", N, " forecast patches exceed the model's ",
              kMaxPositions, " positions");
  const bool blocks = Bk < N;
  const int64_t L = T + N * P;
  std::vector<float> ft(static_cast<size_t>(BV * L), 0.0f);
  std::vector<uint8_t> fm(static_cast<size_t>(BV * L), 0);
  for (int64_t r = 0; r < BV; ++r)
    for (int64_t t = 0; t < T; ++t) {
      ft[r * L + t] = target.data<float>()[r * T + t];
      fm[r * L + t] = t >= T - P ? 1 : mask.data<uint8_t>()[r * T + t];  // the last context patch counts as observed
    }
  // The cap's range: the observed context of each row (0 when none).
  std::vector<float> cmin(static_cast<size_t>(BV), 0.0f), cmax(static_cast<size_t>(BV), 0.0f), sigma_a(static_cast<size_t>(BV));
  for (int64_t r = 0; r < BV; ++r) {
    bool any = false;
    for (int64_t t = 0; t < T; ++t)
      if (fm[r * L + t]) {
        const float v = ft[r * L + t];
        cmin[r] = any ? std::min(cmin[r], v) : v;
        cmax[r] = any ? std::max(cmax[r], v) : v;
        any = true;
      }
  }
  std::vector<float> loc(static_cast<size_t>(BV * L)), scl(static_cast<size_t>(BV * L));
  auto rescale = [&](int pass) {
    causal_scaler(ft.data(), fm.data(), BV, L, P, loc.data(), scl.data());
    if (trace) {
      (*trace)[cat("pass", pass, "_scaler_loc")] = Tensor::from_vector(loc, {B, V, L});
      (*trace)[cat("pass", pass, "_scaler_scale")] = Tensor::from_vector(scl, {B, V, L});
    }
    scaler_fallback(ft.data(), fm.data(), BV, L, P, o.scaler_fallback_min_obs, loc.data(), scl.data());
  };
  rescale(0);
  for (int64_t r = 0; r < BV; ++r) sigma_a[r] = scl[r * L + T - 1];

  // Group ids of the first pass: context patches without an observed step get -1.
  const int64_t S0 = I + Bk;
  std::vector<int32_t> base(static_cast<size_t>(BV * S0));
  for (int64_t r = 0; r < BV; ++r)
    for (int64_t s = 0; s < S0; ++s) {
      bool any = s >= I;
      for (int64_t p = 0; s < I && p < P && !any; ++p) any = fm[r * L + s * P + p] != 0;
      base[r * S0 + s] = any ? ids.data<int32_t>()[r] : -1;
    }

  DType cache_dt = exec_->policy().kv_cache_dtype(c.dk());
  const int64_t cap = I + N;
  std::vector<Tensor> kcache, vcache;
  int64_t time_layers = 0;
  for (const LayerWeights& Lw : w_->layers) time_layers += Lw.variate ? 0 : 1;
  if (blocks)
    for (int64_t l = 0; l < time_layers; ++l) {
      kcache.push_back(Tensor::zeros(cache_dt, {BV, cap, c.num_heads * c.dk()}));
      vcache.push_back(Tensor::zeros(cache_dt, {BV, cap, c.num_heads * c.dk()}));
    }
  Tensor key_groups;
  if (blocks) {
    key_groups = Tensor::empty(DType::I32, {BV, cap});
    for (int64_t r = 0; r < BV; ++r)
      for (int64_t s = 0; s < cap; ++s)
        key_groups.data<int32_t>()[r * cap + s] = s < I ? base[r * S0 + s] : ids.data<int32_t>()[r];
  }

  Tensor result = Tensor::empty(DType::F32, {Q, B, V, N * P});
  float* res = result.data<float>();
  const bool trace_graph = trace != nullptr;
  std::vector<float> y(static_cast<size_t>(Q * P));

  // Runs one pass over `S` patches whose features are `feats`, and de-scales the outputs into
  // result patches [k, k + n).
  auto run_pass = [&](int pass, int64_t S, const Tensor& feats, int64_t pos0, const std::vector<int32_t>& tgroups,
                      const std::vector<int32_t>& vgroups, int64_t out_start, int64_t n, int64_t k,
                      const Tensor& kgroups) {
    const bool time_groups = blocks || o.has_missing_values;
    PassShape ps{B, V, S, out_start, n, time_groups, blocks, blocks ? cap : 0, trace_graph, cache_dt};
    const Graph& g = graph_for(ps);
    TensorMap in;
    in["features"] = feats;
    in["pos0"] = make_scalar_i64(pos0);
    if (time_groups) in["time_groups"] = Tensor::from_vector(tgroups, {BV, S});
    if (blocks) {
      in["key_groups"] = kgroups;
      for (int64_t l = 0; l < time_layers; ++l) {
        in[cat("k", l)] = kcache[l];
        in[cat("v", l)] = vcache[l];
      }
    }
    if (takes_variate_groups(V)) {
      Tensor vg = Tensor::empty(DType::I32, {B * S, V});
      for (int64_t b = 0; b < B; ++b)
        for (int64_t s = 0; s < S; ++s)
          for (int64_t v = 0; v < V; ++v) vg.data<int32_t>()[(b * S + s) * V + v] = vgroups[(b * V + v) * S + s];
      in["variate_groups"] = vg;
    }
    TensorMap out = exec_->run(g, in);
    const Tensor& head = out.at("head");
    if (trace) {
      const std::string p = cat("pass", pass, "_");
      (*trace)[p + "transformer_in"] = as_bvsd(out.at("transformer_in"), B, V);
      (*trace)[p + "group_ids"] = Tensor::from_vector(vgroups, {B, V, S});
      for (auto& [name, t] : out)
        if (name != "head" && name != "transformer_in") (*trace)[p + name] = as_bvsd(t, B, V);
      (*trace)[p + "head_out"] = head_qfirst(head, B, V, P);
      if (pass > 0) {
        std::vector<int32_t> ids_t;
        for (int64_t s = 0; s < S; ++s) ids_t.push_back(static_cast<int32_t>(pos0 + s));
        (*trace)[p + "time_ids"] = Tensor::from_vector(ids_t, {S});
      }
    }
    const float* h = head.data<float>();
    for (int64_t r = 0; r < BV; ++r)
      for (int64_t j = 0; j < n; ++j) {
        const int64_t step0 = T + (k + j) * P;
        for (int64_t p = 0; p < P; ++p) {
          const float l = loc[r * L + step0 + p], s = scl[r * L + step0 + p];
          for (int64_t q = 0; q < Q; ++q) y[q * P + p] = std::sinh(h[(r * n + j) * P * Q + p * Q + q]) * s + l;
        }
        // Infinities become the largest (smallest) finite value of the same quantile in the patch.
        for (int64_t q = 0; q < Q; ++q) {
          float hi = -std::numeric_limits<float>::infinity(), lo = std::numeric_limits<float>::infinity();
          for (int64_t p = 0; p < P; ++p)
            if (std::isfinite(y[q * P + p])) {
              hi = std::max(hi, y[q * P + p]);
              lo = std::min(lo, y[q * P + p]);
            }
          for (int64_t p = 0; p < P; ++p) {
            float& v = y[q * P + p];
            if (v == std::numeric_limits<float>::infinity()) v = hi;
            else if (v == -std::numeric_limits<float>::infinity()) v = lo;
          }
        }
        if (o.quantile_cap_k > 0) {
          const float kk = static_cast<float>(o.quantile_cap_k);
          const float lo = cmin[r] - kk * sigma_a[r], hi = cmax[r] + kk * sigma_a[r];
          for (float& v : y) v = std::min(std::max(v, lo), hi);
        }
        float col[kQuantiles];
        for (int64_t p = 0; p < P; ++p) {
          for (int64_t q = 0; q < Q; ++q) col[q] = y[q * P + p];
          std::sort(col, col + Q);
          for (int64_t q = 0; q < Q; ++q) res[(q * BV + r) * N * P + (k + j) * P + p] = col[q];
        }
      }
  };

  // First pass: the context and Bk placeholder patches.
  Tensor feats = Tensor::empty(DType::F32, {BV, S0, 2 * P});
  patch_features(ft.data(), fm.data(), loc.data(), scl.data(), BV, L, P, 0, I, feats.data<float>(), S0, 0);
  for (int64_t r = 0; r < BV; ++r)
    for (int64_t s = I; s < S0; ++s)
      for (int64_t p = 0; p < 2 * P; ++p) feats.data<float>()[(r * S0 + s) * 2 * P + p] = p < P ? 0.0f : 1.0f;
  if (blocks && !o.has_missing_values) {
    // Plain causal attention in the first pass: every patch carries its row's id.
    std::vector<int32_t> all(static_cast<size_t>(BV * S0));
    Tensor kg = Tensor::empty(DType::I32, {BV, cap});
    for (int64_t r = 0; r < BV; ++r) {
      for (int64_t s = 0; s < S0; ++s) all[r * S0 + s] = ids.data<int32_t>()[r];
      for (int64_t s = 0; s < cap; ++s) kg.data<int32_t>()[r * cap + s] = ids.data<int32_t>()[r];
    }
    run_pass(0, S0, feats, 0, all, base, I - 1, Bk, 0, kg);
  } else {
    run_pass(0, S0, feats, 0, base, base, I - 1, Bk, 0, key_groups);
  }
  int64_t k = Bk, pass = 1;
  while (k < N) {
    const int64_t b = std::min(Bk, N - k);
    // The previous block's medians become observed values.
    for (int64_t r = 0; r < BV; ++r)
      for (int64_t t = T + (k - Bk) * P; t < T + k * P; ++t) {
        ft[r * L + t] = res[(4 * BV + r) * N * P + (t - T)];
        fm[r * L + t] = 1;
      }
    rescale(static_cast<int>(pass));
    const int64_t S = Bk + b;
    Tensor f = Tensor::empty(DType::F32, {BV, S, 2 * P});
    patch_features(ft.data(), fm.data(), loc.data(), scl.data(), BV, L, P, I + k - Bk, Bk, f.data<float>(), S, 0);
    for (int64_t r = 0; r < BV; ++r)
      for (int64_t s = Bk; s < S; ++s)
        for (int64_t p = 0; p < 2 * P; ++p) f.data<float>()[(r * S + s) * 2 * P + p] = p < P ? 0.0f : 1.0f;
    std::vector<int32_t> tq(static_cast<size_t>(BV * S)), vq(static_cast<size_t>(BV * S));
    for (int64_t r = 0; r < BV; ++r)
      for (int64_t s = 0; s < S; ++s) {
        tq[r * S + s] = ids.data<int32_t>()[r];
        // The reference takes the ids of the first S patches of the first pass here.
        vq[r * S + s] = s < S0 ? base[r * S0 + s] : ids.data<int32_t>()[r];
      }
    run_pass(static_cast<int>(pass), S, f, I + k - Bk, tq, vq, Bk - 1, b, k, key_groups);
    k += b;
    ++pass;
  }
  if (N * P == o.horizon) return result;
  Tensor cut = Tensor::empty(DType::F32, {Q, B, V, o.horizon});
  for (int64_t row = 0; row < Q * BV; ++row)
    std::memcpy(cut.data<float>() + row * o.horizon, res + row * N * P, sizeof(float) * o.horizon);
  return cut;
}

}  // namespace fcast::toto2
