#include <cmath>

#include "ops/reference/kernels.h"

namespace fcast::ref {

void rmsnorm(const float* x, const float* w, float* y, int64_t M, int64_t D, float eps) {
#pragma omp parallel for schedule(static) if (M * D > 65536)
  for (int64_t m = 0; m < M; ++m) {
    const float* xr = x + m * D;
    double ss = 0;
    for (int64_t d = 0; d < D; ++d) ss += static_cast<double>(xr[d]) * xr[d];
    const float inv = static_cast<float>(1.0 / std::sqrt(ss / static_cast<double>(D) + static_cast<double>(eps)));
    for (int64_t d = 0; d < D; ++d) y[m * D + d] = (xr[d] * inv) * w[d];
  }
}

void add(const float* a, const float* b, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = a[i] + b[i];
}
void mul(const float* a, const float* b, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = a[i] * b[i];
}
void scale(const float* a, float s, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = a[i] * s;
}
void add_scalar(const float* a, float s, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = a[i] + s;
}
void clamp_min(const float* a, float lo, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = std::isnan(a[i]) ? a[i] : (a[i] < lo ? lo : a[i]);
}

float silu(float x) { return x / (1.0f + std::exp(-x)); }
float softplus(float x) { return x > 20.0f ? x : std::log1p(std::exp(x)); }

void silu(const float* a, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = silu(a[i]);
}
void softplus(const float* a, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = softplus(a[i]);
}

void swiglu(const float* g, float* y, int64_t M, int64_t F) {
#pragma omp parallel for schedule(static) if (M * F > 65536)
  for (int64_t m = 0; m < M; ++m)
    for (int64_t f = 0; f < F; ++f) y[m * F + f] = silu(g[m * 2 * F + f]) * g[m * 2 * F + F + f];
}

void silu_mul(const float* a, const float* b, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = silu(a[i]) * b[i];
}

void softmax(const float* x, float* y, int64_t M, int64_t D) {
  for (int64_t m = 0; m < M; ++m) {
    const float* xr = x + m * D;
    float* yr = y + m * D;
    float mx = -INFINITY;
    for (int64_t d = 0; d < D; ++d) mx = xr[d] > mx ? xr[d] : mx;
    double sum = 0;
    for (int64_t d = 0; d < D; ++d) {
      yr[d] = (mx == -INFINITY) ? 0.0f : std::exp(xr[d] - mx);
      sum += yr[d];
    }
    const float inv = static_cast<float>(1.0 / sum);
    for (int64_t d = 0; d < D; ++d) yr[d] *= inv;
  }
}

}  // namespace fcast::ref
