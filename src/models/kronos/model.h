// The Kronos predictor network: hierarchical token embedding + temporal
// embedding, a causal transformer, the s1 head and the dependency-aware s2 head. Model code
// only builds graphs; the Executor runs them.
//
//   KronosModel m(load_kronos_predictor("Kronos-small"));
//   KronosForward f = m.decode_s1(s1, s2, &stamp);          // s1_logits [B,T,V1], context [B,T,d]
//   Tensor l2 = m.decode_s2(f.context, s1_cond);            // [B,T,V2] (or [B,1,V2] for a [B,1] query)
//
// Generation uses three graphs that are built once per shape and reused every step:
//   step graph    S new positions at write position pos0 (an I64[1] input, never an attribute)
//                 against static per-layer KV caches [N, capacity, d] (graph inputs written in
//                 place), or, without layer caches, a plain full window at positions 0..W-1;
//                 both write the dependency layer's keys/values of the context rows into
//                 dep_k/dep_v [N, capacity, d] and return the last row's s1 logits + context.
//   s2 graph      one query (the sampled s1's raw embedding) over dep_k/dep_v rows [0, pos0+1).
// The built graphs are cached inside the model, so a KronosModel is not thread-safe: use one
// per thread (the weights are shared, zero-copy views of the mapped file).
#pragma once
#include <map>
#include <memory>
#include <string>
#include <tuple>

#include "graph/graph.h"
#include "models/kronos/weights.h"
#include "runtime/executor.h"

namespace fcast::kronos {

struct KronosForward {
  Tensor s1_logits;        // [B, T, V1]
  Tensor context;          // [B, T, d] (final-norm hidden state)
  Tensor token_embedding;  // [B, T, d] (with intermediates)
  Tensor time_embedding;   // [B, T, d] (with intermediates and a stamp)
};

// Static caches for generation, rows = batch rows (series x samples, series-major).
struct KronosCache {
  int64_t rows = 0, capacity = 0;
  int64_t length = 0;             // slots held: left padding + the current window length
  int64_t start = 0;              // valid start: slots [0, start) are left padding of a bucketed call
  std::vector<Tensor> k, v;       // per layer [rows, capacity, d] (post-RoPE keys, values); empty without layer caches
  Tensor dep_k, dep_v;            // [rows, capacity, d]: dependency-layer keys/values of the context rows
  bool has_layer_caches() const { return !k.empty(); }
  size_t bytes() const;
  // This cache's row r*repeats + j becomes src row r (series-major replication of a shared prefill).
  void replicate_from(const KronosCache& src, int64_t repeats);
};

struct KronosStepOutput {
  Tensor s1_logits;     // [N, V1] for the last position
  Tensor last_context;  // [N, 1, d]
};

class KronosModel {
 public:
  explicit KronosModel(KronosPredictorWeights w, std::shared_ptr<Executor> exec = nullptr);
  // The weights shared with other sessions (no copy).
  KronosModel(std::shared_ptr<const KronosPredictorWeights> w, std::shared_ptr<Executor> exec);
  const std::shared_ptr<const KronosPredictorWeights>& shared_weights() const { return w_; }

  const KronosPredictorConfig& config() const { return w_->config; }
  const KronosPredictorWeights& weights() const { return *w_; }
  void set_executor(std::shared_ptr<Executor> e) { exec_ = std::move(e); }

  // decode_s1: ids I64 [B, T], stamp F32 [B, T, 5] (minute, hour, weekday, day, month) or null
  // (no temporal term). RoPE positions 0..T-1.
  KronosForward decode_s1(const Tensor& s1, const Tensor& s2, const Tensor* stamp, bool intermediates = false);
  // decode_s2: context [B, T, d]; s1_ids [B, T] (full length, RoPE at 0..T-1 on q and k) or
  // [B, 1] (generation: RoPE is the identity, the query attends to all T rows, and the logits
  // of the last row are returned as [B, 1, V2]).
  Tensor decode_s2(const Tensor& context, const Tensor& s1_ids);

  // Generation. With layer_caches the caches take positions incrementally (phase A);
  // without, every call is a full window recompute from position 0.
  // Caches are F32, or BF16 where the executor asks for it (bf16 compiled plans; per head dim,
  // so the layers' caches and the dependency layer's may differ).
  KronosCache make_cache(int64_t rows, int64_t capacity, bool layer_caches) const;
  DType layer_cache_dtype() const;
  DType dep_cache_dtype() const;
  // Runs S = s1.dim(1) new positions [cache.length, cache.length + S) through the cached layers.
  // padded_len > S on an empty cache left-pads this prefill to padded_len slots (masked; RoPE
  // positions count from the valid start, so the results are those of the unpadded call).
  KronosStepOutput forward_cached(const Tensor& s1, const Tensor& s2, const Tensor& stamp, KronosCache& cache,
                                  int64_t padded_len = 0);
  // Full recompute of a W-token window at positions 0..W-1 (the reference's decode_s1); fills
  // dep_k/dep_v rows [0, W) and sets cache.length = W. padded_len > W left-pads the window
  // (rows [pad, pad + W), cache.start = pad), with unchanged results.
  KronosStepOutput forward_window(const Tensor& s1, const Tensor& s2, const Tensor& stamp, KronosCache& cache,
                                  int64_t padded_len = 0);
  // s2 logits [N, V2] of the last window row given the chosen s1 ids (I64 [N, 1]).
  Tensor s2_step(const Tensor& s1, const Tensor& last_context, KronosCache& cache);

  // Graph builders (exposed for tests and other executors).
  Graph build_forward_graph(int64_t B, int64_t T, bool stamp, bool intermediates) const;
  Graph build_s2_full_graph(int64_t B, int64_t T) const;
  Graph build_s2_last_graph(int64_t B, int64_t T) const;
  Graph build_step_graph(int64_t N, int64_t S, int64_t capacity, bool layer_caches, DType cache = DType::F32,
                         DType dep_cache = DType::F32) const;
  Graph build_s2_step_graph(int64_t N, int64_t capacity, DType cache = DType::F32) const;

  // Length a call of n positions is padded to under the executor's context buckets, at most
  // max(cap, n) (cap <= 0: no cap); n when the executor has no buckets.
  int64_t padded_length(int64_t n, int64_t cap = 0) const;
  bool bucketed() const { return !exec_->policy().context_buckets.empty(); }

  // How many graphs were built since construction (each shape is built once and reused).
  int64_t graphs_built() const { return graphs_built_; }

 private:
  ValueId token_embedding(Graph& g, ValueId s1, ValueId s2) const;
  ValueId time_embedding(Graph& g, ValueId stamp) const;
  const Graph& cached_graph(int kind, int64_t a, int64_t b, int64_t c, bool flag, const KronosCache& cache);

  std::shared_ptr<const KronosPredictorWeights> w_;  // shared by every session of the loaded model
  std::shared_ptr<Executor> exec_;
  std::map<std::tuple<int, int64_t, int64_t, int64_t, bool, DType, DType>, std::unique_ptr<Graph>> graphs_;
  int64_t graphs_built_ = 0;
};

// Checks a stamp tensor [B, T, 5]: finite, and every truncated value inside its table
// (minute 0-59, hour 0-23, weekday 0-6, day 0-31, month 0-12). Errors name the field.
void check_kronos_stamp(const Tensor& stamp, int64_t B, int64_t T);
// Checks ids I64 [B, T] within [0, vocab).
void check_kronos_ids(const Tensor& ids, int64_t B, int64_t T, int64_t vocab, const char* what);

}  // namespace fcast::kronos
