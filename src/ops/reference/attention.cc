#include <cmath>
#include <vector>

#include "core/error.h"
#include "ops/reference/kernels.h"

namespace fcast::ref {

void attention(const AttentionArgs& a) {
  FCAST_CHECK(!a.k16 && !a.v16, "ref::attention takes fp32 keys and values (convert a bf16 cache first)");
  const int64_t D = a.H * a.Dh;
  const int64_t kg_stride = a.k_group_nstride > 0 ? a.k_group_nstride : a.kv_len;
  // Small problems run on the calling thread: a parallel region costs more than it saves there.
  const bool parallel = a.N * a.H * a.Sq * (a.kv_len > 0 ? a.kv_len : 1) * a.Dh > 65536;
#pragma omp parallel if (parallel)
  {
    std::vector<float> p(static_cast<size_t>(a.kv_len > 0 ? a.kv_len : 1));
#pragma omp for schedule(static) collapse(3)
    for (int64_t n = 0; n < a.N; ++n)
      for (int64_t h = 0; h < a.H; ++h)
        for (int64_t i = 0; i < a.Sq; ++i) {
          const float* q = a.q + n * a.q_nstride + i * a.q_tstride + h * a.Dh;
          int64_t last = a.kv_len;
          if (a.causal) {
            const int64_t lim = a.q_pos0 + i + 1;
            last = lim < last ? lim : last;
          }
          float mx = -INFINITY;
          for (int64_t j = a.kv_start; j < last; ++j) {
            bool ok = !a.q_group || a.q_group[n * a.Sq + i] == a.k_group[n * kg_stride + j];
            float s = ok ? dot(q, a.k + n * a.k_nstride + j * a.k_tstride + h * a.Dh, a.Dh) * a.scale : -INFINITY;
            p[j] = s;
            mx = s > mx ? s : mx;
          }
          float sum = 0;
          for (int64_t j = a.kv_start; j < last; ++j) {
            p[j] = p[j] == -INFINITY ? 0.0f : std::exp(p[j] - mx);
            sum += p[j];
          }
          float* o = a.out + (n * a.Sq + i) * D + h * a.Dh;
          for (int64_t d = 0; d < a.Dh; ++d) o[d] = 0;
          if (sum == 0) continue;  // no visible key: output zeros
          for (int64_t j = a.kv_start; j < last; ++j) {
            const float w = p[j] / sum;
            const float* v = a.v + n * a.v_nstride + j * a.v_tstride + h * a.Dh;
            for (int64_t d = 0; d < a.Dh; ++d) o[d] += w * v[d];
          }
        }
  }
}

}  // namespace fcast::ref
