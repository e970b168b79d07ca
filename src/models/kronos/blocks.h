// Graph builders shared by the Kronos tokenizer and predictor: the pre-norm
// transformer block with causal rotary self-attention and the SwiGLU feed-forward.
#pragma once
#include <string>
#include <vector>

#include "graph/graph.h"
#include "models/kronos/weights.h"

namespace fcast::kronos {

constexpr float kRmsEps = 1e-5f;  // every RMSNorm in both models

// Static KV cache of one block: graph inputs [N, capacity, d] (post-RoPE keys, values),
// written at pos0 and attended over [0, pos0 + S).
struct BlockCacheInputs {
  ValueId k = kNone, v = kNone;
};

// x [N, S, d] -> [N, S, d]. RoPE positions are pos0 .. pos0+S-1 (pos0 is an I64[1] graph value).
// Without a cache the attention is plain causal over the S positions; with one, the new keys
// and values are written into the cache and the queries attend to [0, pos0 + S).
// `start` (optional I64[1]) is the valid start of a left-padded sequence: RoPE positions count
// from it and keys before it are invisible, so real tokens get exactly the unpadded numbers.
ValueId build_block(Graph& g, ValueId x, const KronosBlockWeights& w, int64_t heads, ValueId pos0,
                    const std::string& name, const BlockCacheInputs* cache = nullptr, ValueId start = kNone);

// Length a sequence of n positions is left-padded to under the executor's context buckets
// (ascending, in time steps): the first bucket >= n (beyond the largest: its next multiple),
// never above max(cap, n) when cap > 0. Without buckets: n (no padding).
int64_t bucketed_length(const std::vector<int64_t>& buckets, int64_t n, int64_t cap = 0);

}  // namespace fcast::kronos
