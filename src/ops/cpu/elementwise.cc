#include <omp.h>

#include <algorithm>
#include <cmath>

#include "ops/cpu/kernels.h"
#include "ops/cpu/vec.h"

namespace fcast::cpu {

namespace {
bool big(int64_t n) { return n > 65536; }

FCAST_INLINE vec::vf silu(vec::vf x) { return x / (vec::splat(1.0f) + vec::exp(-x)); }
FCAST_INLINE float silu(float x) { return x / (1.0f + std::exp(-x)); }

// y[i] = silu(a[i]) * (b ? b[i] : 1) over [0, n): 16 lanes at a time, scalar tail.
FCAST_INLINE void silu_mul_range_impl(const float* a, const float* b, float* y, int64_t n) {
  int64_t i = 0;
  for (; i + vec::kLanes <= n; i += vec::kLanes) {
    const vec::vf s = silu(vec::load(a + i));
    vec::store(y + i, b ? s * vec::load(b + i) : s);
  }
  for (; i < n; ++i) y[i] = b ? silu(a[i]) * b[i] : silu(a[i]);
}
FCAST_ISA_VARIANTS(void, silu_mul_range, (const float* a, const float* b, float* y, int64_t n), (a, b, y, n))

// Splits [0, n) into per-thread chunks of whole vectors.
template <typename F>
void parallel_ranges(int64_t n, F f) {
  if (!big(n)) {
    f(int64_t{0}, n);
    return;
  }
#pragma omp parallel
  {
    const int64_t T = omp_get_num_threads(), t = omp_get_thread_num();
    const int64_t per = (n / T + vec::kLanes - 1) / vec::kLanes * vec::kLanes;
    const int64_t lo = std::min(n, t * per), hi = std::min(n, lo + per);
    if (lo < hi) f(lo, hi);
  }
}
}  // namespace

void silu_mul(const float* a, const float* b, float* y, int64_t n) {
  parallel_ranges(n, [&](int64_t lo, int64_t hi) { silu_mul_range(a + lo, b + lo, y + lo, hi - lo); });
}

float* apply_epilogue(float* y, int64_t M, int64_t N, const std::vector<EpilogueStep>& ops, size_t first, float* out) {
  float* cur = y;
  int64_t W = N;
  for (size_t k = first; k < ops.size(); ++k) {
    const EpilogueStep e = ops[k];
    const int64_t n = M * W;
    switch (e.op) {
      case EpilogueKind::Silu:
        parallel_ranges(n, [&](int64_t lo, int64_t hi) { silu_mul_range(cur + lo, nullptr, cur + lo, hi - lo); });
        break;
      case EpilogueKind::Softplus:
#pragma omp parallel for simd schedule(static) if (big(n))
        for (int64_t i = 0; i < n; ++i) cur[i] = cur[i] > 20.0f ? cur[i] : std::log1p(std::exp(cur[i]));
        break;
      case EpilogueKind::ClampMin:
        for (int64_t i = 0; i < n; ++i) cur[i] = std::isnan(cur[i]) ? cur[i] : (cur[i] < e.arg ? e.arg : cur[i]);
        break;
      case EpilogueKind::AddScalar:
#pragma omp simd
        for (int64_t i = 0; i < n; ++i) cur[i] += e.arg;
        break;
      case EpilogueKind::Scale:
#pragma omp simd
        for (int64_t i = 0; i < n; ++i) cur[i] *= e.arg;
        break;
      case EpilogueKind::Softmax: softmax(cur, cur, M, W); break;
      case EpilogueKind::SwiGLU: {
        const int64_t F = W / 2;
#pragma omp parallel for schedule(static) if (big(M * F))
        for (int64_t m = 0; m < M; ++m) silu_mul_range(cur + m * W, cur + m * W + F, out + m * F, F);
        cur = out;
        W = F;
        break;
      }
    }
  }
  return cur;
}

void f32_to_bf16(const float* x, uint16_t* y, int64_t n) {
#pragma omp parallel for simd schedule(static) if (big(n))
  for (int64_t i = 0; i < n; ++i) y[i] = fcast::f32_to_bf16(x[i]);
}

}  // namespace fcast::cpu
