#include "models/kronos/blocks.h"

#include <algorithm>

namespace fcast::kronos {

ValueId build_block(Graph& g, ValueId x, const KronosBlockWeights& w, int64_t heads, ValueId pos0,
                    const std::string& name, const BlockCacheInputs* cache, ValueId start) {
  auto c = [&](const char* part, const Tensor& t) { return g.constant(name + part, t); };
  ValueId y = g.rmsnorm(x, c(".norm1", w.norm1), kRmsEps);
  ValueId inv_freq = c(".inv_freq", w.inv_freq);
  ValueId q = g.rotary_neox(g.linear(y, c(".wq", w.wq), c(".bq", w.bq)), inv_freq, pos0, heads, start);
  ValueId k = g.rotary_neox(g.linear(y, c(".wk", w.wk), c(".bk", w.bk)), inv_freq, pos0, heads, start);
  ValueId v = g.linear(y, c(".wv", w.wv), c(".bv", w.bv));
  ValueId a;
  if (cache) {
    ValueId kc = g.kv_write(cache->k, k, pos0);
    ValueId vc = g.kv_write(cache->v, v, pos0);
    a = g.attention(q, kc, vc, heads, /*causal=*/true, pos0, kNone, /*cached=*/true, start);
  } else {
    a = g.attention(q, k, v, heads, /*causal=*/true, kNone, kNone, /*cached=*/false, start);
  }
  ValueId h = g.add(x, g.linear(a, c(".wo", w.wo), c(".bo", w.bo)));
  ValueId z = g.rmsnorm(h, c(".norm2", w.norm2), kRmsEps);
  ValueId m = g.silu_mul(g.linear(z, c(".w1", w.w1)), g.linear(z, c(".w3", w.w3)));
  return g.add(h, g.linear(m, c(".w2", w.w2)));
}

int64_t bucketed_length(const std::vector<int64_t>& buckets, int64_t n, int64_t cap) {
  if (buckets.empty() || n <= 0) return n;
  int64_t len = 0, largest = 1;
  for (int64_t b : buckets) {
    if (b >= n) {
      len = b;
      break;
    }
    largest = std::max(largest, b);
  }
  if (len == 0) len = (n + largest - 1) / largest * largest;  // beyond the largest bucket: its multiples
  if (cap > 0) len = std::min(len, std::max(cap, n));
  return len;
}

}  // namespace fcast::kronos
