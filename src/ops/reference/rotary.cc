#include <cmath>
#include <vector>

#include "ops/reference/kernels.h"

namespace fcast::ref {

void xpos_tables(int64_t S, int64_t Dh, int64_t pos0, int64_t centre, bool is_key, float* cs, float* sn, float* sc) {
  const int64_t half = Dh / 2;
  for (int64_t s = 0; s < S; ++s) {
    const float pos = static_cast<float>(pos0 + s);
    const float power = static_cast<float>(pos0 + s - centre) / 512.0f;
    for (int64_t j = 0; j < Dh; ++j) {
      const int64_t i = j / 2;
      const float inv_freq = 1.0f / std::pow(10000.0f, static_cast<float>(2 * i) / static_cast<float>(Dh));
      const float angle = pos * inv_freq;
      cs[s * Dh + j] = std::cos(angle);
      sn[s * Dh + j] = std::sin(angle);
      const int64_t b = j % half;
      const float base = (static_cast<float>(2 * b) + 0.4f * static_cast<float>(Dh)) / (1.4f * static_cast<float>(Dh));
      const float sq = std::pow(base, power);
      sc[s * Dh + j] = is_key ? 1.0f / sq : sq;
    }
  }
}

void rotary_xpos(const float* x, int64_t x_stride, float* y, int64_t N, int64_t S, int64_t H, int64_t Dh,
                 int64_t pos0, int64_t centre, bool is_key) {
  // Per-call tables [S, Dh]: cos/sin of the interleaved angle and the half-split xPos scale.
  std::vector<float> cs(S * Dh), sn(S * Dh), sc(S * Dh);
  xpos_tables(S, Dh, pos0, centre, is_key, cs.data(), sn.data(), sc.data());
  const int64_t D = H * Dh;
#pragma omp parallel for schedule(static) collapse(2) if (N * S * D > 65536)
  for (int64_t n = 0; n < N; ++n)
    for (int64_t s = 0; s < S; ++s) {
      const float* xr = x + (n * S + s) * x_stride;
      float* yr = y + (n * S + s) * D;
      const float* c = cs.data() + s * Dh;
      const float* si = sn.data() + s * Dh;
      const float* k = sc.data() + s * Dh;
      for (int64_t h = 0; h < H; ++h) {
        const float* t = xr + h * Dh;
        float* o = yr + h * Dh;
        for (int64_t j = 0; j < Dh; j += 2) {
          const float r0 = -t[j + 1], r1 = t[j];
          o[j] = t[j] * c[j] * k[j] + r0 * si[j] * k[j];
          o[j + 1] = t[j + 1] * c[j + 1] * k[j + 1] + r1 * si[j + 1] * k[j + 1];
        }
      }
    }
}

void rotary_partial(const float* x, int64_t x_stride, float* y, int64_t N, int64_t S, int64_t H, int64_t Dh,
                    int64_t rot, int64_t pos0, float xpos_base, bool is_key) {
  const int64_t pairs = rot / 2;
  // Per-call tables [S, pairs]: cos, sin and the xPos factor of each pair.
  std::vector<float> cs(S * pairs), sn(S * pairs), sc(S * pairs, 1.0f);
  const int64_t centre = (pos0 + S) >= 0 ? (pos0 + S) / 2 : -((-(pos0 + S) + 1) / 2);
  for (int64_t s = 0; s < S; ++s) {
    const float pos = static_cast<float>(pos0 + s);
    for (int64_t i = 0; i < pairs; ++i) {
      const float theta = 1.0f / std::pow(10000.0f, static_cast<float>(2 * i) / static_cast<float>(rot));
      const float angle = pos * theta;
      cs[s * pairs + i] = std::cos(angle);
      sn[s * pairs + i] = std::sin(angle);
      if (xpos_base > 0) {
        const float base = (static_cast<float>(2 * i) + 0.4f * static_cast<float>(rot)) / (1.4f * static_cast<float>(rot));
        const float power = (pos - static_cast<float>(centre)) / xpos_base;
        const float f = std::pow(base, power);
        sc[s * pairs + i] = is_key ? 1.0f / f : f;
      }
    }
  }
  const int64_t D = H * Dh;
#pragma omp parallel for schedule(static) collapse(2) if (N * S * D > 65536)
  for (int64_t n = 0; n < N; ++n)
    for (int64_t s = 0; s < S; ++s) {
      const float* xr = x + (n * S + s) * x_stride;
      float* yr = y + (n * S + s) * D;
      const float* c = cs.data() + s * pairs;
      const float* si = sn.data() + s * pairs;
      const float* k = sc.data() + s * pairs;
      for (int64_t h = 0; h < H; ++h) {
        const float* t = xr + h * Dh;
        float* o = yr + h * Dh;
        for (int64_t i = 0; i < pairs; ++i) {
          const float a = t[2 * i], b = t[2 * i + 1];
          o[2 * i] = (c[i] * a + si[i] * -b) * k[i];
          o[2 * i + 1] = (c[i] * b + si[i] * a) * k[i];
        }
        for (int64_t d = rot; d < Dh; ++d) o[d] = t[d];
      }
    }
}

void rotary_neox(const float* x, int64_t x_stride, float* y, int64_t N, int64_t S, int64_t H, int64_t Dh,
                 int64_t pos0, const float* inv_freq) {
  const int64_t half = Dh / 2;
  std::vector<float> cs(S * half), sn(S * half);
  for (int64_t s = 0; s < S; ++s)
    for (int64_t m = 0; m < half; ++m) {
      const float angle = static_cast<float>(pos0 + s) * inv_freq[m];
      cs[s * half + m] = std::cos(angle);
      sn[s * half + m] = std::sin(angle);
    }
  const int64_t D = H * Dh;
#pragma omp parallel for schedule(static) collapse(2) if (N * S * D > 65536)
  for (int64_t n = 0; n < N; ++n)
    for (int64_t s = 0; s < S; ++s) {
      const float* xr = x + (n * S + s) * x_stride;
      float* yr = y + (n * S + s) * D;
      for (int64_t h = 0; h < H; ++h) {
        const float* a = xr + h * Dh;
        const float* b = a + half;
        float* o = yr + h * Dh;
        for (int64_t m = 0; m < half; ++m) {
          const float c = cs[s * half + m], si = sn[s * half + m];
          o[m] = a[m] * c + (-b[m]) * si;
          o[half + m] = b[m] * c + a[m] * si;
        }
      }
    }
}

void gather_rows(const float* x, int64_t x_nstride, int64_t x_stride, int64_t offset, float* y, int64_t N, int64_t S,
                 int64_t D) {
  for (int64_t n = 0; n < N; ++n)
    for (int64_t s = 0; s < S; ++s) {
      const float* src = x + n * x_nstride + s * x_stride + offset;
      float* dst = y + (n * S + s) * D;
      for (int64_t d = 0; d < D; ++d) dst[d] = src[d];
    }
}

}  // namespace fcast::ref
