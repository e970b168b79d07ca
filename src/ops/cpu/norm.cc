#include <cmath>

#include "ops/cpu/kernels.h"
#include "ops/cpu/vec.h"

namespace fcast::cpu {

void rmsnorm(const float* x, const float* w, float* y, int64_t M, int64_t D, float eps) {
#pragma omp parallel for schedule(static) if (M * D > 32768)
  for (int64_t m = 0; m < M; ++m) {
    const float* xr = x + m * D;
    double ss = 0;
#pragma omp simd reduction(+ : ss)
    for (int64_t d = 0; d < D; ++d) ss += static_cast<double>(xr[d]) * xr[d];
    const float inv = static_cast<float>(1.0 / std::sqrt(ss / static_cast<double>(D) + static_cast<double>(eps)));
    float* yr = y + m * D;
#pragma omp simd
    for (int64_t d = 0; d < D; ++d) yr[d] = (xr[d] * inv) * w[d];
  }
}

void add_rmsnorm(const float* a, const float* b, const float* w, float* h, float* y, int64_t M, int64_t D, float eps) {
#pragma omp parallel for schedule(static) if (M * D > 32768)
  for (int64_t m = 0; m < M; ++m) {
    const float* ar = a + m * D;
    const float* br = b + m * D;
    float* hr = h + m * D;
    double ss = 0;
#pragma omp simd reduction(+ : ss)
    for (int64_t d = 0; d < D; ++d) {
      const float v = ar[d] + br[d];
      hr[d] = v;
      ss += static_cast<double>(v) * v;
    }
    const float inv = static_cast<float>(1.0 / std::sqrt(ss / static_cast<double>(D) + static_cast<double>(eps)));
    float* yr = y + m * D;
#pragma omp simd
    for (int64_t d = 0; d < D; ++d) yr[d] = (hr[d] * inv) * w[d];
  }
}

namespace {

// One row: max, then exp (16-lane polynomial) with the sum accumulated in double as the
// reference does, then the scale. A row that is all -inf gives what the reference gives.
FCAST_INLINE void softmax_row_impl(const float* x, float* y, int64_t D) {
  constexpr int L = vec::kLanes;
  vec::vf vmx = vec::splat(-INFINITY);
  int64_t d = 0;
  for (; d + L <= D; d += L) {
    const vec::vf v = vec::load(x + d);
    vmx = v > vmx ? v : vmx;
  }
  float mx = vec::hmax(vmx);
  for (; d < D; ++d) mx = x[d] > mx ? x[d] : mx;
  double sum = 0;
  if (mx == -INFINITY) {
    for (d = 0; d < D; ++d) y[d] = 0.0f;
  } else {
    for (d = 0; d + L <= D; d += L) {
      const vec::vf e = vec::exp(vec::load(x + d) - vec::splat(mx));
      vec::store(y + d, e);
      for (int i = 0; i < L; ++i) sum += e[i];
    }
    for (; d < D; ++d) {
      y[d] = std::exp(x[d] - mx);
      sum += y[d];
    }
  }
  const float inv = static_cast<float>(1.0 / sum);
  for (d = 0; d < D; ++d) y[d] *= inv;
}
FCAST_ISA_VARIANTS(void, softmax_row, (const float* x, float* y, int64_t D), (x, y, D))

}  // namespace

void softmax(float* x, float* y, int64_t M, int64_t D) {
#pragma omp parallel for schedule(static) if (M * D > 65536)
  for (int64_t m = 0; m < M; ++m) softmax_row(x + m * D, y + m * D, D);
}

}  // namespace fcast::cpu
