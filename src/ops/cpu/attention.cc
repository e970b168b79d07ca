#include <algorithm>
#include <cmath>

#include "ops/cpu/kernels.h"

namespace fcast::cpu {

// One query row against key blocks with a running maximum and sum (online softmax), so memory
// stays O(block) however long the context is.
void attention(const ref::AttentionArgs& a, int64_t key_block) {
  const int64_t D = a.H * a.Dh, Dh = a.Dh;
  const int64_t B = std::clamp<int64_t>(key_block, 8, 1024);
  const bool parallel = a.N * a.H * a.Sq * std::max<int64_t>(a.kv_len, 1) * a.Dh > 32768;
#pragma omp parallel for schedule(static) collapse(3) if (parallel)
  for (int64_t n = 0; n < a.N; ++n)
    for (int64_t h = 0; h < a.H; ++h)
      for (int64_t i = 0; i < a.Sq; ++i) {
        float sc[1024];
        float acc[512];  // Dh <= 512 is checked when the plan is bound
        const float* q = a.q + n * a.q_nstride + i * a.q_tstride + h * Dh;
        int64_t last = a.kv_len;
        if (a.causal) last = std::min(last, a.q_pos0 + i + 1);
        float m = -INFINITY, l = 0;
        for (int64_t d = 0; d < Dh; ++d) acc[d] = 0;
        for (int64_t j0 = a.kv_start; j0 < last; j0 += B) {
          const int64_t jn = std::min(B, last - j0);
          float bm = -INFINITY;
          for (int64_t jb = 0; jb < jn; ++jb) {
            const int64_t j = j0 + jb;
            float s = -INFINITY;
            if (!a.q_group || a.q_group[n * a.Sq + i] == a.k_group[n * a.kv_len + j]) {
              const float* k = a.k + n * a.k_nstride + j * a.k_tstride + h * Dh;
              float dot = 0;
#pragma omp simd reduction(+ : dot)
              for (int64_t d = 0; d < Dh; ++d) dot += q[d] * k[d];
              s = dot * a.scale;
            }
            sc[jb] = s;
            bm = std::max(bm, s);
          }
          if (bm == -INFINITY) continue;
          const float mn = std::max(m, bm);
          const float corr = m == -INFINITY ? 0.0f : std::exp(m - mn);
          l *= corr;
#pragma omp simd
          for (int64_t d = 0; d < Dh; ++d) acc[d] *= corr;
          for (int64_t jb = 0; jb < jn; ++jb) {
            if (sc[jb] == -INFINITY) continue;
            const float p = std::exp(sc[jb] - mn);
            l += p;
            const float* v = a.v + n * a.v_nstride + (j0 + jb) * a.v_tstride + h * Dh;
#pragma omp simd
            for (int64_t d = 0; d < Dh; ++d) acc[d] += p * v[d];
          }
          m = mn;
        }
        float* o = a.out + (n * a.Sq + i) * D + h * Dh;
        const float inv = l > 0 ? 1.0f / l : 0.0f;
        for (int64_t d = 0; d < Dh; ++d) o[d] = acc[d] * inv;
      }
}

}  // namespace fcast::cpu
