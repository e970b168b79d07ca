#include "ops/reference/kernels.h"

#include "ops/cpu/isa.h"

namespace fcast::ref {

// Both dot kernels use the same 8 fixed partial sums and the same final combination, so every
// output element gets bit-identical arithmetic whichever kernel computes it. The functions are
// compiled per ISA level and dispatched at run time (FCAST_CPU_ISA can lower the level); without
// FMA contraction every variant performs the same IEEE operations in the same order, so results
// do not depend on the CPU.

#define FCAST_REF_VARIANTS(ret, name, params, args) FCAST_ISA_VARIANTS_T("avx512f", "avx2", ret, name, params, args)

namespace {
inline __attribute__((always_inline)) float dot_impl(const float* a, const float* b, int64_t n) {
  float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int j = 0; j < 8; ++j) acc[j] += a[i + j] * b[i + j];
  for (int j = 0; i < n; ++i, ++j) acc[j] += a[i] * b[i];
  return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}
}  // namespace
FCAST_REF_VARIANTS(float, dot, (const float* a, const float* b, int64_t n), (a, b, n))

namespace {

// Four dot products of one input row against four weight rows, sharing the input loads.
inline __attribute__((always_inline)) void dot4_impl(const float* x, const float* w0, const float* w1,
                                                     const float* w2, const float* w3, int64_t n, float* out) {
  float a0[8] = {0, 0, 0, 0, 0, 0, 0, 0}, a1[8] = {0, 0, 0, 0, 0, 0, 0, 0}, a2[8] = {0, 0, 0, 0, 0, 0, 0, 0},
        a3[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int j = 0; j < 8; ++j) {
      const float xv = x[i + j];
      a0[j] += xv * w0[i + j];
      a1[j] += xv * w1[i + j];
      a2[j] += xv * w2[i + j];
      a3[j] += xv * w3[i + j];
    }
  for (int j = 0; i < n; ++i, ++j) {
    a0[j] += x[i] * w0[i];
    a1[j] += x[i] * w1[i];
    a2[j] += x[i] * w2[i];
    a3[j] += x[i] * w3[i];
  }
  float* accs[4] = {a0, a1, a2, a3};
  for (int r = 0; r < 4; ++r) {
    const float* c = accs[r];
    out[r] = ((c[0] + c[1]) + (c[2] + c[3])) + ((c[4] + c[5]) + (c[6] + c[7]));
  }
}
FCAST_REF_VARIANTS(void, dot4,
                   (const float* x, const float* w0, const float* w1, const float* w2, const float* w3, int64_t n,
                    float* out),
                   (x, w0, w1, w2, w3, n, out))

// A 4x4 tile: four input rows against four weight rows (16 dot products, same order as dot()).
inline __attribute__((always_inline)) void tile4x4_impl(const float* x, int64_t x_stride, const float* w, int64_t K,
                                                        float* y, int64_t y_stride) {
  float acc[4][4][8] = {};
  int64_t i = 0;
  for (; i + 8 <= K; i += 8)
    for (int r = 0; r < 4; ++r)
      for (int c = 0; c < 4; ++c)
        for (int j = 0; j < 8; ++j) acc[r][c][j] += x[r * x_stride + i + j] * w[c * K + i + j];
  for (int j = 0; i < K; ++i, ++j)
    for (int r = 0; r < 4; ++r)
      for (int c = 0; c < 4; ++c) acc[r][c][j] += x[r * x_stride + i] * w[c * K + i];
  for (int r = 0; r < 4; ++r)
    for (int c = 0; c < 4; ++c) {
      const float* a = acc[r][c];
      y[r * y_stride + c] = ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]));
    }
}
FCAST_REF_VARIANTS(void, tile4x4, (const float* x, int64_t x_stride, const float* w, int64_t K, float* y, int64_t y_stride),
                   (x, x_stride, w, K, y, y_stride))

}  // namespace

void linear(const float* x, int64_t x_stride, const float* w, const float* b, float* y, int64_t M, int64_t K,
            int64_t N) {
  // Blocks of weight rows stay in cache while every group of four input rows passes over them.
  constexpr int64_t kNB = 64;
  const int64_t nblocks = (N + kNB - 1) / kNB, mblocks = (M + 3) / 4;
#pragma omp parallel for schedule(static) collapse(2) if (M * N * K > 65536)
  for (int64_t nb = 0; nb < nblocks; ++nb)
    for (int64_t mb = 0; mb < mblocks; ++mb) {
      const int64_t n0 = nb * kNB, n1 = n0 + kNB < N ? n0 + kNB : N;
      const int64_t m0 = mb * 4, m1 = m0 + 4 < M ? m0 + 4 : M;
      int64_t n = n0;
      if (m1 - m0 == 4)
        for (; n + 4 <= n1; n += 4) tile4x4(x + m0 * x_stride, x_stride, w + n * K, K, y + m0 * N + n, N);
      for (int64_t m = m0; m < m1; ++m) {
        const float* xr = x + m * x_stride;
        float* yr = y + m * N;
        int64_t nn = m1 - m0 == 4 ? n : n0;
        for (; nn + 4 <= n1; nn += 4)
          dot4(xr, w + nn * K, w + (nn + 1) * K, w + (nn + 2) * K, w + (nn + 3) * K, K, yr + nn);
        for (; nn < n1; ++nn) yr[nn] = dot(xr, w + nn * K, K);
      }
      if (b)
        for (int64_t m = m0; m < m1; ++m)
          for (int64_t c = n0; c < n1; ++c) y[m * N + c] += b[c];
    }
}

}  // namespace fcast::ref
