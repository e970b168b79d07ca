#include <cmath>

#include "ops/cpu/kernels.h"

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

void softmax(float* x, float* y, int64_t M, int64_t D) {
#pragma omp parallel for schedule(static) if (M * D > 65536)
  for (int64_t m = 0; m < M; ++m) {
    const float* xr = x + m * D;
    float* yr = y + m * D;
    float mx = -INFINITY;
#pragma omp simd reduction(max : mx)
    for (int64_t d = 0; d < D; ++d) mx = xr[d] > mx ? xr[d] : mx;
    double sum = 0;
#pragma omp simd reduction(+ : sum)
    for (int64_t d = 0; d < D; ++d) {
      const float e = (mx == -INFINITY) ? 0.0f : std::exp(xr[d] - mx);
      yr[d] = e;
      sum += e;
    }
    const float inv = static_cast<float>(1.0 / sum);
#pragma omp simd
    for (int64_t d = 0; d < D; ++d) yr[d] *= inv;
  }
}

}  // namespace fcast::cpu
