#include "models/toto/model.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "ops/reference/kernels.h"

namespace fcast::toto {

// Slots outside [start, length) are never read (attention reads exactly that range), so a reset
// only forgets the length: stale rows from an earlier forecast are never seen.
void TotoKVCache::reset() {
  length = 0;
  start = 0;
}

void TotoKVCache::broadcast_from(const TotoKVCache& src) {
  FCAST_ASSERT(src.variates == variates && src.capacity == capacity && batch % src.batch == 0 &&
               keys.size() == src.keys.size() && (keys.empty() || keys[0].dtype() == src.keys[0].dtype()));
  for (size_t l = 0; l < keys.size(); ++l)
    for (int64_t rep = 0; rep < batch / src.batch; ++rep) {
      const size_t bytes = src.keys[l].nbytes();
      std::memcpy(static_cast<char*>(keys[l].raw()) + rep * bytes, src.keys[l].raw(), bytes);
      std::memcpy(static_cast<char*>(values[l].raw()) + rep * bytes, src.values[l].raw(), bytes);
    }
  length = src.length;
  start = src.start;
}

TotoModel::TotoModel(TotoWeights w, std::shared_ptr<Executor> exec)
    : TotoModel(std::make_shared<const TotoWeights>(std::move(w)), std::move(exec)) {}

TotoModel::TotoModel(std::shared_ptr<const TotoWeights> w, std::shared_ptr<Executor> exec)
    : w_(std::move(w)), exec_(std::move(exec)) {
  FCAST_CHECK(w_ != nullptr, "TotoModel: no weights");
  if (!exec_) exec_ = std::make_shared<EagerExecutor>();
  for (bool s : w_->config.space_layers()) time_layers_ += s ? 0 : 1;
}

DType TotoModel::cache_dtype() const { return exec_->policy().kv_cache_dtype(w_->config.embed_dim / w_->config.num_heads); }

TotoKVCache TotoModel::make_cache(int64_t batch, int64_t variates, int64_t capacity) const {
  TotoKVCache c;
  c.batch = batch;
  c.variates = variates;
  c.capacity = capacity;
  const DType dt = cache_dtype();
  for (int64_t l = 0; l < time_layers_; ++l) {
    c.keys.push_back(Tensor::zeros(dt, {batch * variates, capacity, w_->config.embed_dim}));
    c.values.push_back(Tensor::zeros(dt, {batch * variates, capacity, w_->config.embed_dim}));
  }
  return c;
}

int64_t TotoModel::bucket_patches(int64_t patches) const {
  const auto& buckets = exec_->policy().context_buckets;
  if (buckets.empty()) return patches;
  const int64_t P = w_->config.patch_size;
  int64_t largest = 1;
  for (int64_t b : buckets) {
    const int64_t bp = (b + P - 1) / P;
    if (bp >= patches) return bp;
    largest = std::max(largest, bp);
  }
  return (patches + largest - 1) / largest * largest;  // beyond the largest bucket: its multiples
}

int64_t TotoModel::cache_capacity(int64_t context_patches, int64_t new_patches) const {
  if (exec_->policy().context_buckets.empty()) return context_patches + new_patches;
  return bucket_patches(context_patches) + (new_patches + 15) / 16 * 16;
}

const Graph& TotoModel::graph_for(int64_t B, int64_t V, int64_t S, int64_t out_patches, bool cached, int64_t capacity,
                                  bool intermediates, DType cache_dtype) {
  const GraphKey key{B, V, S, out_patches, cached, capacity, intermediates, cache_dtype};
  auto it = graphs_.find(key);
  if (it != graphs_.end()) return *it->second;
  // Shapes change with the request geometry only; a forecast uses two or three graphs.
  if (graphs_.size() >= 32) graphs_.clear();
  auto g = std::make_unique<Graph>(build_graph(B, V, S, out_patches, cached, capacity, intermediates, cache_dtype));
  ++graphs_built_;
  return *graphs_.emplace(key, std::move(g)).first->second;
}

Graph TotoModel::build_graph(int64_t B, int64_t V, int64_t S, int64_t out_patches, bool cached, int64_t capacity,
                             bool intermediates, DType cache_dtype) const {
  const TotoConfig& c = w_->config;
  const int64_t D = c.embed_dim, H = c.num_heads, P = c.patch_size, BV = B * V;
  Graph g;
  g.set_meta("model_part", "toto");
  g.set_meta("phase", cached ? (S == 1 ? "decode" : "prefill") : "full");
  g.set_meta("batch", std::to_string(B));
  g.set_meta("variates", std::to_string(V));
  g.set_meta("rows", std::to_string(BV));
  g.set_meta("patches", std::to_string(S));
  if (cached) g.set_meta("capacity", std::to_string(capacity));
  ValueId patches = g.input("patches", DType::F32, {BV, S, P});
  ValueId pos0 = g.input("pos0", DType::I64, {1});
  ValueId start = cached ? g.input("start", DType::I64, {1}) : kNone;
  ValueId space_ids = kNone;
  const auto space = c.space_layers();
  bool any_space = false;
  for (bool s : space) any_space |= s;
  if (any_space) space_ids = g.input("space_ids", DType::I32, {B * S, V});

  ValueId x = g.linear(patches, g.constant("patch_w", w_->patch_w), g.constant("patch_b", w_->patch_b));
  if (intermediates) g.output("patch_embeddings", x);
  int64_t slot = 0;
  for (int64_t i = 0; i < c.num_layers; ++i) {
    const TotoLayerWeights& L = w_->layers[i];
    const std::string p = cat("l", i, ".");
    ValueId y = g.rmsnorm(x, g.constant(p + "norm1", L.norm1), 1e-8f);
    ValueId wqkv = g.constant(p + "wqkv", L.wqkv), bqkv = g.constant(p + "bqkv", L.bqkv);
    ValueId wo = g.constant(p + "wo", L.wo), bo = g.constant(p + "bo", L.bo);
    ValueId attn;
    if (!space[i]) {
      ValueId qkv = g.linear(y, wqkv, bqkv);
      ValueId q = g.rotary_xpos(g.unpack_heads(qkv, 0, H), pos0, H, false, start);
      ValueId k = g.rotary_xpos(g.unpack_heads(qkv, 1, H), pos0, H, true, start);
      ValueId v = g.unpack_heads(qkv, 2, H);
      if (cached) {
        ValueId kc = g.kv_write(g.input(cat("k", slot), cache_dtype, {BV, capacity, D}), k, pos0);
        ValueId vc = g.kv_write(g.input(cat("v", slot), cache_dtype, {BV, capacity, D}), v, pos0);
        attn = g.attention(q, kc, vc, H, /*causal=*/true, pos0, kNone, /*cached=*/true, start);
      } else {
        attn = g.attention(q, k, v, H, /*causal=*/true);
      }
      attn = g.linear(attn, wo, bo);
      ++slot;
    } else {
      // Space-wise: the V variates at one patch attend to each other (id-mask groups).
      ValueId yt = g.reshape(g.permute0213(g.reshape(y, {B, V, S, D})), {B * S, V, D});
      ValueId qkv = g.linear(yt, wqkv, bqkv);
      ValueId a = g.attention(g.unpack_heads(qkv, 0, H), g.unpack_heads(qkv, 1, H), g.unpack_heads(qkv, 2, H), H,
                              /*causal=*/false, kNone, space_ids);
      a = g.linear(a, wo, bo);
      attn = g.reshape(g.permute0213(g.reshape(a, {B, S, V, D})), {BV, S, D});
    }
    ValueId h = g.add(x, attn);
    ValueId z = g.rmsnorm(h, g.constant(p + "norm2", L.norm2), 1e-8f);
    ValueId m = g.swiglu(g.linear(z, g.constant(p + "w12", L.w12), g.constant(p + "b12", L.b12)));
    x = g.add(h, g.linear(m, g.constant(p + "w3", L.w3), g.constant(p + "b3", L.b3)));
    if (intermediates) g.output(cat("layer", i, "_out"), x);
  }
  const int64_t n_out = out_patches < 0 || out_patches > S ? S : out_patches;
  if (n_out < S) x = g.slice_time(x, S - n_out, n_out);
  ValueId u = g.linear(x, g.constant("unembed_w", w_->unembed_w), g.constant("unembed_b", w_->unembed_b));
  u = g.reshape(u, {BV, n_out * P, D});  // offset-major: feature p*D + d belongs to step p
  if (intermediates) g.output("unembed_flat", u);
  const float eps = std::numeric_limits<float>::epsilon();
  ValueId df = g.add_scalar(g.clamp_min(g.softplus(g.linear(u, g.constant("df_w", w_->df_w), g.constant("df_b", w_->df_b))), eps), 2.0f);
  ValueId loc = g.linear(u, g.constant("loc_w", w_->loc_w), g.constant("loc_b", w_->loc_b));
  ValueId scl = g.clamp_min(g.softplus(g.linear(u, g.constant("scale_w", w_->scale_w), g.constant("scale_b", w_->scale_b))), eps);
  g.output("df", df);
  g.output("loc", loc);
  g.output("scale", scl);
  if (c.mixture()) g.output("weights", g.softmax(g.linear(u, g.constant("mix_w", w_->mix_w), g.constant("mix_b", w_->mix_b))));
  return g;
}

void check_toto_inputs(const Tensor& series, const Tensor& mask, const Tensor& ids, int64_t patch) {
  FCAST_CHECK(series.dtype() == DType::F32 && series.ndim() == 3, "series must be F32 [batch, variates, time], got ",
              dtype_name(series.dtype()), shape_str(series.shape()));
  FCAST_CHECK(mask.dtype() == DType::U8 && mask.shape() == series.shape(), "padding mask must be U8 ",
              shape_str(series.shape()));
  FCAST_CHECK(ids.dtype() == DType::I32 && ids.shape() == series.shape(), "id mask must be I32 ",
              shape_str(series.shape()));
  FCAST_CHECK(series.dim(2) > 0 && series.dim(2) % patch == 0, "series length ", series.dim(2),
              " must be a positive multiple of the patch size ", patch);
  FCAST_CHECK(series.dim(0) > 0 && series.dim(1) > 0, "series has an empty batch or variate axis");
  const float* x = series.data<float>();
  for (int64_t i = 0; i < series.numel(); ++i)
    FCAST_CHECK(std::isfinite(x[i]), "series holds a non-finite value (NaN or Inf) at flat index ", i,
                "; mark missing values with the padding mask and give them a finite placeholder");
  const int64_t B = series.dim(0), V = series.dim(1), T = series.dim(2);
  const int32_t* id = ids.data<int32_t>();
  for (int64_t r = 0; r < B * V; ++r)
    for (int64_t s = 0; s < T / patch; ++s)
      for (int64_t t = 1; t < patch; ++t)
        FCAST_CHECK(id[r * T + s * patch + t] == id[r * T + s * patch], "id mask must be constant within each patch (row ",
                    r, ", patch ", s, ")");
}

TotoOutput TotoModel::forward(const Tensor& series, const Tensor& mask, const Tensor& ids, const ForwardOptions& opt,
                              TotoKVCache* cache) {
  const TotoConfig& c = w_->config;
  const int64_t P = c.patch_size;
  check_toto_inputs(series, mask, ids, P);
  const int64_t B = series.dim(0), V = series.dim(1), T = series.dim(2), BV = B * V;
  TotoOutput out;
  out.scaled = Tensor::empty(DType::F32, {B, V, T});
  out.loc = Tensor::empty(DType::F32, {B, V, T});
  out.scale = Tensor::empty(DType::F32, {B, V, T});
  ref::causal_patch_scaler(series.data<float>(), mask.data<uint8_t>(), BV, T, P, opt.prefix_length,
                           c.stabilize_with_global, c.scale_factor_exponent, out.scaled.data<float>(),
                           out.loc.data<float>(), out.scale.data<float>());
  int64_t start = 0;
  const int64_t held = cache ? cache->length - cache->start : 0;  // real patches in the cache
  if (cache) {
    FCAST_CHECK(cache->batch == B && cache->variates == V, "KV cache was made for ", cache->batch, "x",
                cache->variates, " series, called with ", B, "x", V);
    start = held * P;
    FCAST_CHECK(start == 0 || T - start == P, "with a KV cache holding ", held, " patches the next call must add exactly one patch (",
                start + P, " steps), got ", T);
  }
  const int64_t S = (T - start) / P;
  // A bucketed prefill is left-padded to the bucket: padding patches are invisible to attention
  // and positions count from the valid start, so the real patches get the same numbers.
  int64_t pad = 0;
  if (cache && cache->bucketed && cache->length == 0 && !opt.intermediates) {
    const int64_t Sb = bucket_patches(S);
    if (Sb <= cache->capacity) pad = Sb - S;
  }
  if (cache)
    FCAST_CHECK(cache->length + pad + S <= cache->capacity, "KV cache capacity ", cache->capacity, " patches exceeded (",
                cache->length + pad + S, ")");
  const int64_t Sg = S + pad;
  const int64_t n_out = opt.out_patches < 0 || opt.out_patches > S ? S : opt.out_patches;
  const DType cache_dt = cache && !cache->keys.empty() ? cache->keys[0].dtype() : DType::F32;
  const Graph& g = graph_for(B, V, Sg, n_out, cache != nullptr, cache ? cache->capacity : 0, opt.intermediates, cache_dt);

  TensorMap in;
  Tensor patches = Tensor::zeros(DType::F32, {BV, Sg, P});
  for (int64_t r = 0; r < BV; ++r)
    std::memcpy(patches.data<float>() + (r * Sg + pad) * P, out.scaled.data<float>() + r * T + start,
                sizeof(float) * S * P);
  in["patches"] = patches;
  in["pos0"] = make_scalar_i64(cache ? cache->length : 0);
  if (cache) in["start"] = make_scalar_i64(cache->length == 0 ? pad : cache->start);
  bool any_space = false;
  for (bool sp : c.space_layers()) any_space |= sp;
  if (any_space) {
    Tensor sid = Tensor::empty(DType::I32, {B * Sg, V});
    for (int64_t b = 0; b < B; ++b)
      for (int64_t s = 0; s < Sg; ++s)
        for (int64_t v = 0; v < V; ++v)  // padding patches take the first real patch's ids
          sid.data<int32_t>()[(b * Sg + s) * V + v] =
              ids.data<int32_t>()[(b * V + v) * T + start + std::max<int64_t>(s - pad, 0) * P];
    in["space_ids"] = sid;
  }
  if (cache)
    for (size_t j = 0; j < cache->keys.size(); ++j) {
      in[cat("k", j)] = cache->keys[j];
      in[cat("v", j)] = cache->values[j];
    }
  TensorMap res = exec_->run(g, in);
  if (cache) {
    if (cache->length == 0) cache->start = pad;
    cache->length += Sg;
  }

  const int64_t K = c.components(), steps = n_out * P;
  out.first_step = T - steps;
  auto shaped = [&](const Tensor& t) { return t.reshape({B, V, steps, K}); };
  out.df = shaped(res.at("df"));
  out.mix_loc = shaped(res.at("loc"));
  out.mix_scale = shaped(res.at("scale"));
  if (c.mixture()) {
    out.weights = shaped(res.at("weights"));
  } else {
    out.weights = Tensor::empty(DType::F32, {B, V, steps, 1});
    std::fill(out.weights.data<float>(), out.weights.data<float>() + out.weights.numel(), 1.0f);
  }
  if (opt.intermediates) {
    for (auto& [name, t] : res) {
      if (name == "unembed_flat") out.intermediates[name] = t.reshape({B, V, steps, c.embed_dim});
      else if (name != "df" && name != "loc" && name != "scale" && name != "weights")
        out.intermediates[name] = t.reshape({B, V, S, c.embed_dim});
    }
  }
  return out;
}

}  // namespace fcast::toto
