// Graph builders shared by the Kronos tokenizer and predictor (spec kronos.md §2): the pre-norm
// transformer block with causal rotary self-attention and the SwiGLU feed-forward.
#pragma once
#include <string>

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
ValueId build_block(Graph& g, ValueId x, const KronosBlockWeights& w, int64_t heads, ValueId pos0,
                    const std::string& name, const BlockCacheInputs* cache = nullptr);

}  // namespace fcast::kronos
