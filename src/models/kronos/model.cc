#include "models/kronos/model.h"

#include <cmath>
#include <cstring>

#include "models/kronos/blocks.h"

namespace fcast::kronos {

namespace {
const char* kStampNames[5] = {"minute", "hour", "weekday", "day", "month"};
const int64_t kStampSizes[5] = {60, 24, 7, 32, 13};
enum GraphKind { kStep = 0, kS2Step = 1 };
}  // namespace

void check_kronos_stamp(const Tensor& stamp, int64_t B, int64_t T) {
  FCAST_CHECK(stamp.defined() && stamp.dtype() == DType::F32 && stamp.shape() == Shape({B, T, 5}),
              "time features must be F32 ", shape_str({B, T, 5}), " (minute, hour, weekday, day, month), got ",
              stamp.defined() ? dtype_name(stamp.dtype()) : "none", stamp.defined() ? shape_str(stamp.shape()) : "");
  const float* p = stamp.data<float>();
  for (int64_t r = 0; r < B * T; ++r)
    for (int c = 0; c < 5; ++c) {
      const float v = p[r * 5 + c];
      FCAST_CHECK(std::isfinite(v), "time feature '", kStampNames[c], "' is not finite at batch row ", r / T,
                  ", position ", r % T);
      const double idx = std::trunc(static_cast<double>(v));  // the reference truncates with .long()
      FCAST_CHECK(idx >= 0 && idx < static_cast<double>(kStampSizes[c]), "time feature '", kStampNames[c], "' = ", v,
                  " at batch row ", r / T, ", position ", r % T, " is outside its table [0, ", kStampSizes[c], ")");
    }
}

void check_kronos_ids(const Tensor& ids, int64_t B, int64_t T, int64_t vocab, const char* what) {
  FCAST_CHECK(ids.defined() && ids.dtype() == DType::I64 && ids.shape() == Shape({B, T}), what, " ids must be I64 ",
              shape_str({B, T}), ", got ", ids.defined() ? dtype_name(ids.dtype()) : "none",
              ids.defined() ? shape_str(ids.shape()) : "");
  const int64_t* p = ids.data<int64_t>();
  for (int64_t i = 0; i < ids.numel(); ++i)
    FCAST_CHECK(p[i] >= 0 && p[i] < vocab, what, " id ", p[i], " at batch row ", i / T, ", position ", i % T,
                " is outside the vocabulary [0, ", vocab, ")");
}

size_t KronosCache::bytes() const {
  size_t n = dep_k.nbytes() + dep_v.nbytes();
  for (auto& t : k) n += t.nbytes();
  for (auto& t : v) n += t.nbytes();
  return n;
}

void KronosCache::replicate_from(const KronosCache& src, int64_t repeats) {
  FCAST_ASSERT(rows == src.rows * repeats && capacity == src.capacity && k.size() == src.k.size() &&
               dep_k.dtype() == src.dep_k.dtype() && (k.empty() || k[0].dtype() == src.k[0].dtype()));
  auto rep = [&](Tensor& dst, const Tensor& s) {
    const size_t row_bytes = s.nbytes() / static_cast<size_t>(src.rows);
    for (int64_t r = 0; r < src.rows; ++r)
      for (int64_t j = 0; j < repeats; ++j)
        std::memcpy(static_cast<char*>(dst.raw()) + (r * repeats + j) * row_bytes,
                    static_cast<const char*>(s.raw()) + r * row_bytes, row_bytes);
  };
  for (size_t l = 0; l < k.size(); ++l) {
    rep(k[l], src.k[l]);
    rep(v[l], src.v[l]);
  }
  rep(dep_k, src.dep_k);
  rep(dep_v, src.dep_v);
  length = src.length;
  start = src.start;
}

KronosModel::KronosModel(KronosPredictorWeights w, std::shared_ptr<Executor> exec)
    : KronosModel(std::make_shared<const KronosPredictorWeights>(std::move(w)), std::move(exec)) {}

KronosModel::KronosModel(std::shared_ptr<const KronosPredictorWeights> w, std::shared_ptr<Executor> exec)
    : w_(std::move(w)), exec_(std::move(exec)) {
  FCAST_CHECK(w_ != nullptr, "KronosModel: no weights");
  if (!exec_) exec_ = std::make_shared<EagerExecutor>();
}

ValueId KronosModel::token_embedding(Graph& g, ValueId s1, ValueId s2) const {
  // emb_s1[s1]·√d and emb_s2[s2]·√d (√d rounded to fp32, as the reference's scalar multiply).
  const float sqrt_d = static_cast<float>(std::sqrt(static_cast<double>(w_->config.d_model)));
  ValueId e1 = g.embedding(g.constant("emb_s1", w_->emb_s1), s1, sqrt_d);
  ValueId e2 = g.embedding(g.constant("emb_s2", w_->emb_s2), s2, sqrt_d);
  return g.linear(g.concat(e1, e2), g.constant("fusion_w", w_->fusion_w), g.constant("fusion_b", w_->fusion_b));
}

ValueId KronosModel::time_embedding(Graph& g, ValueId stamp) const {
  // hour + weekday + day + month + minute, summed left to right.
  const Tensor* tabs[5] = {&w_->minute, &w_->hour, &w_->weekday, &w_->day, &w_->month};
  auto term = [&](int c) {
    return g.embedding(g.constant(cat("time_", kStampNames[c]), *tabs[c]), g.stamp_index(stamp, c, kStampSizes[c]));
  };
  ValueId te = g.add(term(1), term(2));
  te = g.add(te, term(3));
  te = g.add(te, term(4));
  return g.add(te, term(0));
}

Graph KronosModel::build_forward_graph(int64_t B, int64_t T, bool stamp, bool intermediates) const {
  const auto& c = w_->config;
  Graph g;
  ValueId s1 = g.input("s1", DType::I64, {B, T});
  ValueId s2 = g.input("s2", DType::I64, {B, T});
  ValueId pos0 = g.constant("pos0", make_scalar_i64(0));
  ValueId x = token_embedding(g, s1, s2);
  if (intermediates) g.output("token_embedding", x);
  if (stamp) {
    ValueId te = time_embedding(g, g.input("stamp", DType::F32, {B, T, 5}));
    if (intermediates) g.output("time_embedding", te);
    x = g.add(x, te);
  }
  for (int64_t l = 0; l < c.n_layers; ++l) x = build_block(g, x, w_->layers[l], c.n_heads, pos0, cat("layer", l));
  ValueId ctx = g.rmsnorm(x, g.constant("norm", w_->norm), kRmsEps);
  g.output("context", ctx);
  g.output("s1_logits", g.linear(ctx, g.constant("proj_s1_w", w_->proj_s1_w), g.constant("proj_s1_b", w_->proj_s1_b)));
  return g;
}

Graph KronosModel::build_s2_full_graph(int64_t B, int64_t T) const {
  // Tq == Tk: the cross-attention's rotary table covers positions 0..T-1 for q and k.
  const auto& c = w_->config;
  const int64_t H = KronosPredictorConfig::kDepHeads;
  Graph g;
  ValueId ctx = g.input("context", DType::F32, {B, T, c.d_model});
  ValueId s1 = g.input("s1", DType::I64, {B, T});
  ValueId pos0 = g.constant("pos0", make_scalar_i64(0));
  ValueId inv = g.constant("dep_inv_freq", w_->dep_inv_freq);
  ValueId sib = g.embedding(g.constant("emb_s1", w_->emb_s1), s1);  // raw: no √d
  ValueId q = g.rotary_neox(g.linear(sib, g.constant("dep_wq", w_->dep_wq), g.constant("dep_bq", w_->dep_bq)), inv, pos0, H);
  ValueId k = g.rotary_neox(g.linear(ctx, g.constant("dep_wk", w_->dep_wk), g.constant("dep_bk", w_->dep_bk)), inv, pos0, H);
  ValueId v = g.linear(ctx, g.constant("dep_wv", w_->dep_wv), g.constant("dep_bv", w_->dep_bv));
  ValueId a = g.attention(q, k, v, H, /*causal=*/false);  // eval mode: non-causal
  a = g.linear(a, g.constant("dep_wo", w_->dep_wo), g.constant("dep_bo", w_->dep_bo));
  ValueId x2 = g.rmsnorm(g.add(ctx, a), g.constant("dep_norm", w_->dep_norm), kRmsEps);
  g.output("s2_logits", g.linear(x2, g.constant("proj_s2_w", w_->proj_s2_w), g.constant("proj_s2_b", w_->proj_s2_b)));
  return g;
}

Graph KronosModel::build_s2_last_graph(int64_t B, int64_t T) const {
  // Tq == 1: the rotary table has only position 0 (the identity) and broadcasts over the keys.
  const auto& c = w_->config;
  const int64_t H = KronosPredictorConfig::kDepHeads;
  Graph g;
  ValueId ctx = g.input("context", DType::F32, {B, T, c.d_model});
  ValueId s1 = g.input("s1", DType::I64, {B, 1});
  ValueId sib = g.embedding(g.constant("emb_s1", w_->emb_s1), s1);
  ValueId q = g.linear(sib, g.constant("dep_wq", w_->dep_wq), g.constant("dep_bq", w_->dep_bq));
  ValueId k = g.linear(ctx, g.constant("dep_wk", w_->dep_wk), g.constant("dep_bk", w_->dep_bk));
  ValueId v = g.linear(ctx, g.constant("dep_wv", w_->dep_wv), g.constant("dep_bv", w_->dep_bv));
  ValueId a = g.attention(q, k, v, H, /*causal=*/false);
  a = g.linear(a, g.constant("dep_wo", w_->dep_wo), g.constant("dep_bo", w_->dep_bo));
  ValueId last = g.slice_time(ctx, T - 1, 1);
  ValueId x2 = g.rmsnorm(g.add(last, a), g.constant("dep_norm", w_->dep_norm), kRmsEps);
  g.output("s2_logits", g.linear(x2, g.constant("proj_s2_w", w_->proj_s2_w), g.constant("proj_s2_b", w_->proj_s2_b)));
  return g;
}

Graph KronosModel::build_step_graph(int64_t N, int64_t S, int64_t capacity, bool layer_caches, DType cache,
                                    DType dep_cache) const {
  const auto& c = w_->config;
  const int64_t d = c.d_model;
  Graph g;
  g.set_meta("model_part", "kronos_predictor");
  g.set_meta("phase", layer_caches ? (S == 1 ? "decode" : "prefill") : "window");
  g.set_meta("rows", std::to_string(N));
  g.set_meta("patches", std::to_string(S));
  g.set_meta("capacity", std::to_string(capacity));
  ValueId s1 = g.input("s1", DType::I64, {N, S});
  ValueId s2 = g.input("s2", DType::I64, {N, S});
  ValueId stamp = g.input("stamp", DType::F32, {N, S, 5});
  // Without layer caches the window always starts at position 0.
  ValueId pos0 = layer_caches ? g.input("pos0", DType::I64, {1}) : g.constant("pos0", make_scalar_i64(0));
  ValueId start = g.input("start", DType::I64, {1});  // valid start (left padding of a bucketed call)
  ValueId x = g.add(token_embedding(g, s1, s2), time_embedding(g, stamp));
  for (int64_t l = 0; l < c.n_layers; ++l) {
    if (layer_caches) {
      BlockCacheInputs ci{g.input(cat("k", l), cache, {N, capacity, d}), g.input(cat("v", l), cache, {N, capacity, d})};
      x = build_block(g, x, w_->layers[l], c.n_heads, pos0, cat("layer", l), &ci, start);
    } else {
      x = build_block(g, x, w_->layers[l], c.n_heads, pos0, cat("layer", l), nullptr, start);
    }
  }
  ValueId ctx = g.rmsnorm(x, g.constant("norm", w_->norm), kRmsEps);
  // The dependency layer's keys/values of the new context rows carry no RoPE (single-query
  // cross-attention), so they stay valid while the window grows.
  ValueId dk = g.linear(ctx, g.constant("dep_wk", w_->dep_wk), g.constant("dep_bk", w_->dep_bk));
  ValueId dv = g.linear(ctx, g.constant("dep_wv", w_->dep_wv), g.constant("dep_bv", w_->dep_bv));
  g.output("dep_k", g.kv_write(g.input("dep_k", dep_cache, {N, capacity, d}), dk, pos0));
  g.output("dep_v", g.kv_write(g.input("dep_v", dep_cache, {N, capacity, d}), dv, pos0));
  ValueId last = S == 1 ? ctx : g.slice_time(ctx, S - 1, 1);  // heads only for the last row (exact)
  g.output("last_context", last);
  g.output("s1_logits", g.linear(last, g.constant("proj_s1_w", w_->proj_s1_w), g.constant("proj_s1_b", w_->proj_s1_b)));
  return g;
}

Graph KronosModel::build_s2_step_graph(int64_t N, int64_t capacity, DType cache) const {
  const auto& c = w_->config;
  const int64_t d = c.d_model, H = KronosPredictorConfig::kDepHeads;
  Graph g;
  g.set_meta("model_part", "kronos_predictor");
  g.set_meta("phase", "s2");
  g.set_meta("rows", std::to_string(N));
  g.set_meta("capacity", std::to_string(capacity));
  ValueId s1 = g.input("s1", DType::I64, {N, 1});
  ValueId ctx = g.input("last_context", DType::F32, {N, 1, d});
  ValueId dk = g.input("dep_k", cache, {N, capacity, d});
  ValueId dv = g.input("dep_v", cache, {N, capacity, d});
  ValueId pos0 = g.input("pos0", DType::I64, {1});  // last window row: keys [start, pos0 + 1) are attended
  ValueId start = g.input("start", DType::I64, {1});
  ValueId sib = g.embedding(g.constant("emb_s1", w_->emb_s1), s1);
  ValueId q = g.linear(sib, g.constant("dep_wq", w_->dep_wq), g.constant("dep_bq", w_->dep_bq));
  ValueId a = g.attention(q, dk, dv, H, /*causal=*/false, pos0, kNone, /*cached=*/true, start);
  a = g.linear(a, g.constant("dep_wo", w_->dep_wo), g.constant("dep_bo", w_->dep_bo));
  ValueId x2 = g.rmsnorm(g.add(ctx, a), g.constant("dep_norm", w_->dep_norm), kRmsEps);
  g.output("s2_logits", g.linear(x2, g.constant("proj_s2_w", w_->proj_s2_w), g.constant("proj_s2_b", w_->proj_s2_b)));
  return g;
}

const Graph& KronosModel::cached_graph(int kind, int64_t a, int64_t b, int64_t c, bool flag, const KronosCache& cache) {
  const DType layer = cache.k.empty() ? DType::F32 : cache.k[0].dtype(), dep = cache.dep_k.dtype();
  auto key = std::make_tuple(kind, a, b, c, flag, layer, dep);
  auto it = graphs_.find(key);
  if (it != graphs_.end()) return *it->second;
  auto g = std::make_unique<Graph>(kind == kStep ? build_step_graph(a, b, c, flag, layer, dep)
                                                 : build_s2_step_graph(a, c, dep));
  ++graphs_built_;
  if (graphs_.size() > 16) graphs_.clear();  // shapes change only with (rows, window); keep the set small
  return *graphs_.emplace(key, std::move(g)).first->second;
}

KronosForward KronosModel::decode_s1(const Tensor& s1, const Tensor& s2, const Tensor* stamp, bool intermediates) {
  FCAST_CHECK(s1.defined() && s1.ndim() == 2 && s1.numel() > 0, "decode_s1: s1 ids must be non-empty I64 [batch, time]");
  const int64_t B = s1.dim(0), T = s1.dim(1);
  check_kronos_ids(s1, B, T, w_->config.vocab_s1(), "s1");
  check_kronos_ids(s2, B, T, w_->config.vocab_s2(), "s2");
  TensorMap in{{"s1", s1}, {"s2", s2}};
  if (stamp) {
    check_kronos_stamp(*stamp, B, T);
    in["stamp"] = *stamp;
  }
  TensorMap out = exec_->run(build_forward_graph(B, T, stamp != nullptr, intermediates), in);
  KronosForward f;
  f.s1_logits = out.at("s1_logits");
  f.context = out.at("context");
  if (intermediates) {
    f.token_embedding = out.at("token_embedding");
    if (stamp) f.time_embedding = out.at("time_embedding");
  }
  return f;
}

Tensor KronosModel::decode_s2(const Tensor& context, const Tensor& s1_ids) {
  const int64_t d = w_->config.d_model;
  FCAST_CHECK(context.defined() && context.dtype() == DType::F32 && context.ndim() == 3 && context.dim(2) == d &&
                  context.dim(1) > 0,
              "decode_s2: context must be F32 [batch, time, ", d, "]");
  const int64_t B = context.dim(0), T = context.dim(1);
  FCAST_CHECK(s1_ids.defined() && s1_ids.ndim() == 2 && s1_ids.dim(0) == B && (s1_ids.dim(1) == T || s1_ids.dim(1) == 1),
              "decode_s2: s1 ids must be [", B, ", ", T, "] or [", B, ", 1] (the reference supports no other query length)");
  const int64_t Tq = s1_ids.dim(1);
  check_kronos_ids(s1_ids, B, Tq, w_->config.vocab_s1(), "s1");
  const Graph g = Tq == T && T != 1 ? build_s2_full_graph(B, T) : build_s2_last_graph(B, T);
  return exec_->run(g, {{"context", context}, {"s1", s1_ids}}).at("s2_logits");
}

DType KronosModel::layer_cache_dtype() const { return exec_->policy().kv_cache_dtype(w_->config.d_model / w_->config.n_heads); }
DType KronosModel::dep_cache_dtype() const { return exec_->policy().kv_cache_dtype(w_->config.dep_head_dim()); }

KronosCache KronosModel::make_cache(int64_t rows, int64_t capacity, bool layer_caches) const {
  const int64_t d = w_->config.d_model;
  const DType layer = layer_cache_dtype(), dep = dep_cache_dtype();
  KronosCache c;
  c.rows = rows;
  c.capacity = capacity;
  if (layer_caches)
    for (int64_t l = 0; l < w_->config.n_layers; ++l) {
      c.k.push_back(Tensor::zeros(layer, {rows, capacity, d}));
      c.v.push_back(Tensor::zeros(layer, {rows, capacity, d}));
    }
  c.dep_k = Tensor::zeros(dep, {rows, capacity, d});
  c.dep_v = Tensor::zeros(dep, {rows, capacity, d});
  return c;
}

namespace {
KronosStepOutput step_output(const TensorMap& out, int64_t N) {
  KronosStepOutput o;
  const Tensor& l = out.at("s1_logits");
  o.s1_logits = l.reshape({N, l.dim(2)});
  o.last_context = out.at("last_context");
  return o;
}

// Left-pads [N, S(, C)] rows to [N, S + pad(, C)] with zeros (id 0 and stamp 0 are valid).
Tensor left_pad(const Tensor& t, int64_t pad) {
  if (pad == 0) return t;
  Shape s = t.shape();
  const int64_t N = s[0], S = s[1];
  s[1] += pad;
  Tensor out = Tensor::zeros(t.dtype(), s);
  const size_t step = t.nbytes() / static_cast<size_t>(N * S);  // bytes per position
  for (int64_t r = 0; r < N; ++r)
    std::memcpy(static_cast<char*>(out.raw()) + static_cast<size_t>(r * (S + pad) + pad) * step,
                static_cast<const char*>(t.raw()) + static_cast<size_t>(r * S) * step, static_cast<size_t>(S) * step);
  return out;
}
}  // namespace

int64_t KronosModel::padded_length(int64_t n, int64_t cap) const {
  return bucketed_length(exec_->policy().context_buckets, n, cap);
}

KronosStepOutput KronosModel::forward_cached(const Tensor& s1, const Tensor& s2, const Tensor& stamp, KronosCache& cache,
                                             int64_t padded_len) {
  FCAST_CHECK(cache.has_layer_caches(), "forward_cached needs a cache made with layer_caches = true");
  const int64_t N = cache.rows, S = s1.dim(1);
  check_kronos_ids(s1, N, S, w_->config.vocab_s1(), "s1");
  check_kronos_ids(s2, N, S, w_->config.vocab_s2(), "s2");
  check_kronos_stamp(stamp, N, S);
  // Only a prefill (empty cache) is padded: the padding sits before every real token.
  const int64_t pad = cache.length == 0 && padded_len > S ? padded_len - S : 0;
  FCAST_CHECK(cache.length + pad + S <= cache.capacity, "KV cache capacity ", cache.capacity, " exceeded: holding ",
              cache.length, " positions, adding ", pad + S);
  if (cache.length == 0) cache.start = pad;
  TensorMap in{{"s1", left_pad(s1, pad)}, {"s2", left_pad(s2, pad)}, {"stamp", left_pad(stamp, pad)},
               {"pos0", make_scalar_i64(cache.length)}, {"start", make_scalar_i64(cache.start)},
               {"dep_k", cache.dep_k}, {"dep_v", cache.dep_v}};
  for (size_t l = 0; l < cache.k.size(); ++l) {
    in[cat("k", l)] = cache.k[l];
    in[cat("v", l)] = cache.v[l];
  }
  TensorMap out = exec_->run(cached_graph(kStep, N, S + pad, cache.capacity, true, cache), in);
  cache.length += S + pad;
  return step_output(out, N);
}

KronosStepOutput KronosModel::forward_window(const Tensor& s1, const Tensor& s2, const Tensor& stamp, KronosCache& cache,
                                             int64_t padded_len) {
  const int64_t N = cache.rows, W = s1.dim(1);
  check_kronos_ids(s1, N, W, w_->config.vocab_s1(), "s1");
  check_kronos_ids(s2, N, W, w_->config.vocab_s2(), "s2");
  check_kronos_stamp(stamp, N, W);
  const int64_t pad = padded_len > W ? padded_len - W : 0;
  FCAST_CHECK(W + pad <= cache.capacity, "window of ", W + pad, " positions exceeds the cache capacity ", cache.capacity);
  TensorMap in{{"s1", left_pad(s1, pad)}, {"s2", left_pad(s2, pad)}, {"stamp", left_pad(stamp, pad)},
               {"start", make_scalar_i64(pad)}, {"dep_k", cache.dep_k}, {"dep_v", cache.dep_v}};
  TensorMap out = exec_->run(cached_graph(kStep, N, W + pad, cache.capacity, false, cache), in);
  cache.length = W + pad;
  cache.start = pad;
  return step_output(out, N);
}

Tensor KronosModel::s2_step(const Tensor& s1, const Tensor& last_context, KronosCache& cache) {
  const int64_t N = cache.rows;
  check_kronos_ids(s1, N, 1, w_->config.vocab_s1(), "s1");
  FCAST_CHECK(cache.length > cache.start, "s2_step: the cache holds no context rows");
  TensorMap in{{"s1", s1}, {"last_context", last_context}, {"dep_k", cache.dep_k}, {"dep_v", cache.dep_v},
               {"pos0", make_scalar_i64(cache.length - 1)}, {"start", make_scalar_i64(cache.start)}};
  TensorMap out = exec_->run(cached_graph(kS2Step, N, 1, cache.capacity, false, cache), in);
  const Tensor& l = out.at("s2_logits");
  return l.reshape({N, l.dim(2)});
}

}  // namespace fcast::kronos
