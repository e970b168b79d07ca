#include "core/error.h"
#include "ops/reference/kernels.h"

namespace fcast::ref {

void embedding(const float* table, int64_t V, int64_t D, const int64_t* ids, int64_t n, float mult, float* y) {
  for (int64_t i = 0; i < n; ++i) {
    FCAST_CHECK(ids[i] >= 0 && ids[i] < V, "embedding index ", ids[i], " out of range [0, ", V, ")");
    const float* src = table + ids[i] * D;
    float* dst = y + i * D;
    if (mult == 1.0f)
      for (int64_t d = 0; d < D; ++d) dst[d] = src[d];
    else
      for (int64_t d = 0; d < D; ++d) dst[d] = src[d] * mult;
  }
}

}  // namespace fcast::ref
