#include <cmath>

#include "ops/cpu/kernels.h"

namespace fcast::cpu {

namespace {
bool big(int64_t n) { return n > 65536; }
}  // namespace

float* apply_epilogue(float* y, int64_t M, int64_t N, const std::vector<EpilogueOp>& ops, size_t first, float* out) {
  float* cur = y;
  int64_t W = N;
  for (size_t k = first; k < ops.size(); ++k) {
    const EpilogueOp e = ops[k];
    const int64_t n = M * W;
    switch (e.op) {
      case Epilogue::Silu:
#pragma omp parallel for simd schedule(static) if (big(n))
        for (int64_t i = 0; i < n; ++i) cur[i] = cur[i] / (1.0f + std::exp(-cur[i]));
        break;
      case Epilogue::Softplus:
#pragma omp parallel for simd schedule(static) if (big(n))
        for (int64_t i = 0; i < n; ++i) cur[i] = cur[i] > 20.0f ? cur[i] : std::log1p(std::exp(cur[i]));
        break;
      case Epilogue::ClampMin:
        for (int64_t i = 0; i < n; ++i) cur[i] = std::isnan(cur[i]) ? cur[i] : (cur[i] < e.arg ? e.arg : cur[i]);
        break;
      case Epilogue::AddScalar:
#pragma omp simd
        for (int64_t i = 0; i < n; ++i) cur[i] += e.arg;
        break;
      case Epilogue::Scale:
#pragma omp simd
        for (int64_t i = 0; i < n; ++i) cur[i] *= e.arg;
        break;
      case Epilogue::Softmax: softmax(cur, cur, M, W); break;
      case Epilogue::SwiGLU: {
        const int64_t F = W / 2;
#pragma omp parallel for schedule(static) if (big(M * F))
        for (int64_t m = 0; m < M; ++m) {
          const float* g = cur + m * W;
          float* o = out + m * F;
#pragma omp simd
          for (int64_t f = 0; f < F; ++f) o[f] = (g[f] / (1.0f + std::exp(-g[f]))) * g[F + f];
        }
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
  for (int64_t i = 0; i < n; ++i) {
    uint32_t u;
    std::memcpy(&u, &x[i], 4);
    // Round to nearest even; NaN stays NaN (quiet bit set).
    const uint32_t r = ((u & 0x7fffffffu) > 0x7f800000u) ? (u | 0x00400000u) : u + 0x7fffu + ((u >> 16) & 1u);
    y[i] = static_cast<uint16_t>(r >> 16);
  }
}

}  // namespace fcast::cpu
