// Toto 1.0 backbone: scaler (float64 statistics, host side) + a graph for patch embedding,
// the transformer layers, unembed and the Student-T mixture head, run by an Executor.
//
//   TotoModel m(load_toto("models/toto"));
//   TotoOutput out = m.forward(series, mask, ids);          // no cache
//   TotoKVCache cache = m.make_cache(rows, variates, max_patches);
//   out = m.forward(series, mask, ids, prefix, &cache);     // prefill, then one patch per call
#pragma once
#include <map>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "graph/graph.h"
#include "models/toto/weights.h"
#include "runtime/executor.h"

namespace fcast::toto {

// Static KV cache for the time-wise layers: keys (after rotary + xPos) and values, laid out
// [rows * variates, capacity (patches), embed_dim]. `length` patches are filled.
//   A bucketed prefill (executor with context buckets) is left-padded: slots [0, start) hold
// padding that attention never sees, and positions count from `start`.
struct TotoKVCache {
  int64_t batch = 0, variates = 0, capacity = 0, length = 0;
  int64_t start = 0;  // first valid slot (left padding of a bucketed prefill)
  bool bucketed = false;  // sized by cache_capacity(): the prefill may be padded to its bucket
  std::vector<Tensor> keys, values;  // one per time-wise layer
  void reset();
  // Copies rows [0, src.batch) of `src` into this cache's rows so that row r = s * src.batch + b
  // holds src row b (sample-major replication used to share one prefill across samples).
  void broadcast_from(const TotoKVCache& src);
};

struct TotoOutput {
  Tensor scaled, loc, scale;               // scaler outputs over the whole input [B, V, T]
  Tensor df, mix_loc, mix_scale, weights;  // head parameters [B, V, n_out, K] for the returned steps
  int64_t first_step = 0;                  // input time index of the first returned step
  std::map<std::string, Tensor> intermediates;  // patch_embeddings, layer{i}_out, unembed_flat
};

struct ForwardOptions {
  int64_t prefix_length = -1;   // scaler's global-statistics prefix; -1 = whole series
  int64_t out_patches = -1;     // unembed/head only for the last n patches; -1 = all new patches
  bool intermediates = false;   // also return per-layer outputs
};

class TotoModel {
 public:
  explicit TotoModel(TotoWeights w, std::shared_ptr<Executor> exec = nullptr);
  // The weights shared with other sessions (no copy).
  TotoModel(std::shared_ptr<const TotoWeights> w, std::shared_ptr<Executor> exec);
  const std::shared_ptr<const TotoWeights>& shared_weights() const { return w_; }

  const TotoConfig& config() const { return w_->config; }
  const TotoWeights& weights() const { return *w_; }
  Executor& executor() { return *exec_; }
  void set_executor(std::shared_ptr<Executor> e) { exec_ = std::move(e); }

  // series F32 [B, V, T] (T a multiple of patch_size), mask U8 [B, V, T] (1 = observed),
  // ids I32 [B, V, T]. With a cache: the first call is a prefill of any number of patches,
  // later calls must add exactly one patch.
  TotoOutput forward(const Tensor& series, const Tensor& mask, const Tensor& ids, const ForwardOptions& opt = {},
                     TotoKVCache* cache = nullptr);

  // The caches are F32, or BF16 where the executor asks for it (bf16 compiled plans).
  TotoKVCache make_cache(int64_t batch, int64_t variates, int64_t capacity_patches) const;
  DType cache_dtype() const;
  // Cache capacity (patches) for a context of `context_patches` followed by `new_patches`
  // decode steps. With context buckets the capacity depends on the bucket only (rounded up),
  // so every context length of one bucket shares the decode plan.
  int64_t cache_capacity(int64_t context_patches, int64_t new_patches) const;
  // Patches a prefill of `patches` is padded to (itself without context buckets).
  int64_t bucket_patches(int64_t patches) const;

  // The backbone graph for `rows` = B*V sequences of `patches` new patches (exposed for tests
  // and the compiler). Inputs: "patches" [B*V, S, P], "pos0" I64[1], "space_ids" I32[B*S, V],
  // and per time-wise layer "k{j}"/"v{j}" caches plus the valid start "start" I64[1] when `cached`.
  Graph build_graph(int64_t B, int64_t V, int64_t S, int64_t out_patches, bool cached, int64_t cache_capacity,
                    bool intermediates, DType cache_dtype = DType::F32) const;

  // Graphs built since construction: each geometry is built once and reused (decode steps
  // run the same graph object, which the executor does not hash again).
  int64_t graphs_built() const { return graphs_built_; }

 private:
  using GraphKey = std::tuple<int64_t, int64_t, int64_t, int64_t, bool, int64_t, bool, DType>;
  const Graph& graph_for(int64_t B, int64_t V, int64_t S, int64_t out_patches, bool cached, int64_t capacity,
                         bool intermediates, DType cache_dtype);

  std::shared_ptr<const TotoWeights> w_;  // shared by every session of the loaded model
  std::shared_ptr<Executor> exec_;
  int64_t time_layers_ = 0;
  std::map<GraphKey, std::unique_ptr<Graph>> graphs_;
  int64_t graphs_built_ = 0;
};

// Validates user-facing inputs (shapes, finiteness of observed values).
void check_toto_inputs(const Tensor& series, const Tensor& mask, const Tensor& ids, int64_t patch);

}  // namespace fcast::toto
