#include "ops/reference/kernels.h"

namespace fcast::ref {

float dot(const float* a, const float* b, int64_t n) {
  float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int j = 0; j < 8; ++j) acc[j] += a[i + j] * b[i + j];
  for (int j = 0; i < n; ++i, ++j) acc[j] += a[i] * b[i];
  return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

void linear(const float* x, int64_t x_stride, const float* w, const float* b, float* y, int64_t M, int64_t K,
            int64_t N) {
  // Blocks of weight rows stay in cache while every input row passes over them.
  constexpr int64_t kNB = 32;
  const int64_t nblocks = (N + kNB - 1) / kNB;
#pragma omp parallel for schedule(static) collapse(2) if (M * N * K > 65536)
  for (int64_t nb = 0; nb < nblocks; ++nb)
    for (int64_t m = 0; m < M; ++m) {
      const int64_t n1 = nb * kNB + kNB < N ? nb * kNB + kNB : N;
      const float* xr = x + m * x_stride;
      for (int64_t n = nb * kNB; n < n1; ++n) y[m * N + n] = dot(xr, w + n * K, K) + (b ? b[n] : 0.0f);
    }
}

}  // namespace fcast::ref
