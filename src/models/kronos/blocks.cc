#include "models/kronos/blocks.h"

namespace fcast::kronos {

ValueId build_block(Graph& g, ValueId x, const KronosBlockWeights& w, int64_t heads, ValueId pos0,
                    const std::string& name, const BlockCacheInputs* cache) {
  auto c = [&](const char* part, const Tensor& t) { return g.constant(name + part, t); };
  ValueId y = g.rmsnorm(x, c(".norm1", w.norm1), kRmsEps);
  ValueId inv_freq = c(".inv_freq", w.inv_freq);
  ValueId q = g.rotary_neox(g.linear(y, c(".wq", w.wq), c(".bq", w.bq)), inv_freq, pos0, heads);
  ValueId k = g.rotary_neox(g.linear(y, c(".wk", w.wk), c(".bk", w.bk)), inv_freq, pos0, heads);
  ValueId v = g.linear(y, c(".wv", w.wv), c(".bv", w.bv));
  ValueId a;
  if (cache) {
    ValueId kc = g.kv_write(cache->k, k, pos0);
    ValueId vc = g.kv_write(cache->v, v, pos0);
    a = g.attention(q, kc, vc, heads, /*causal=*/true, pos0, kNone, /*cached=*/true);
  } else {
    a = g.attention(q, k, v, heads, /*causal=*/true);
  }
  ValueId h = g.add(x, g.linear(a, c(".wo", w.wo), c(".bo", w.bo)));
  ValueId z = g.rmsnorm(h, c(".norm2", w.norm2), kRmsEps);
  ValueId m = g.silu_mul(g.linear(z, c(".w1", w.w1)), g.linear(z, c(".w3", w.w3)));
  return g.add(h, g.linear(m, c(".w2", w.w2)));
}

}  // namespace fcast::kronos
