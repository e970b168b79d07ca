#include <cmath>

#include "ops/cpu/kernels.h"
#include "ops/reference/kernels.h"

namespace fcast::cpu {

namespace {
int64_t floor_div2(int64_t x) { return x >= 0 ? x / 2 : -((-x + 1) / 2); }
}  // namespace

int64_t rotary_table_floats(int64_t S, int64_t Dh) { return 3 * S * Dh; }

void rotary(const RotaryArgs& a) {
  const int64_t D = a.D, H = a.H, Dh = D / H, S = a.S, half = Dh / 2;
  FCAST_CHECK(a.dst_cap == 0 || (a.pos0 >= 0 && a.pos0 + S <= a.dst_cap), "KV cache overflow: writing ", S,
              " entries at ", a.pos0, " into a cache of capacity ", a.dst_cap);
  // Positions count from the valid start (left padding of a bucketed prefill).
  const int64_t p0 = a.pos0 - a.start;
  float* cs = a.table;
  float* sn = cs + S * Dh;
  float* sc = sn + S * Dh;
  // The same tables, computed with the same operations, as ref::rotary_xpos / rotary_neox.
  if (a.mode == 1) {
    const int64_t centre = floor_div2(p0 + S - 1);
    ref::xpos_tables(S, Dh, p0, centre, a.is_key, cs, sn, sc);
  } else if (a.mode == 2) {
    for (int64_t s = 0; s < S; ++s)
      for (int64_t m = 0; m < half; ++m) {
        const float angle = static_cast<float>(p0 + s) * a.inv_freq[m];
        cs[s * half + m] = std::cos(angle);
        sn[s * half + m] = std::sin(angle);
      }
  }
  const int64_t in_stride = a.packed ? 3 * D : D;
#pragma omp parallel for schedule(static) collapse(2) if (a.N * S * D > 65536)
  for (int64_t n = 0; n < a.N; ++n)
    for (int64_t s = 0; s < S; ++s) {
      const float* xr = a.src + (n * S + s) * in_stride + (a.packed ? a.which * D : 0);
      const int64_t row = a.dst_cap ? n * a.dst_cap + a.pos0 + s : n * S + s;
      float* yr = a.dst16 ? nullptr : a.dst + row * D;
      float t[512];   // one head's row, unpacked (Dh <= 512 is checked when the plan is bound)
      float ob[512];  // one head's output row, when it is stored as bf16
      for (int64_t h = 0; h < H; ++h) {
        if (a.packed)
          for (int64_t d = 0; d < Dh; ++d) t[d] = xr[d * H + h];
        else
          for (int64_t d = 0; d < Dh; ++d) t[d] = xr[h * Dh + d];
        float* o = a.dst16 ? ob : yr + h * Dh;
        if (a.mode == 0) {
          for (int64_t d = 0; d < Dh; ++d) o[d] = t[d];
        } else if (a.mode == 1) {
          const float* c = cs + s * Dh;
          const float* si = sn + s * Dh;
          const float* k = sc + s * Dh;
          for (int64_t j = 0; j < Dh; j += 2) {
            const float r0 = -t[j + 1], r1 = t[j];
            o[j] = t[j] * c[j] * k[j] + r0 * si[j] * k[j];
            o[j + 1] = t[j + 1] * c[j + 1] * k[j + 1] + r1 * si[j + 1] * k[j + 1];
          }
        } else {
          const float* c = cs + s * half;
          const float* si = sn + s * half;
          for (int64_t m = 0; m < half; ++m) {
            o[m] = t[m] * c[m] + (-t[half + m]) * si[m];
            o[half + m] = t[half + m] * c[m] + t[m] * si[m];
          }
        }
        if (a.dst16)  // per element, not cpu::f32_to_bf16: a nested parallel region per row costs more
          for (int64_t d = 0; d < Dh; ++d) a.dst16[row * D + h * Dh + d] = fcast::f32_to_bf16(ob[d]);
      }
    }
}

}  // namespace fcast::cpu
