#include <cmath>
#include <vector>

#include "ops/reference/kernels.h"

namespace fcast::ref {

void causal_patch_scaler(const float* x, const uint8_t* mask, int64_t rows, int64_t T, int64_t patch,
                         int64_t prefix_length, bool stabilize_with_global, double scale_factor_exponent,
                         float* scaled, float* loc, float* scale) {
  const double kMinScale = 0.1;
  const double kMinScaleF32 = static_cast<double>(0.1f);
  const int64_t prefix = prefix_length < 0 ? T : (prefix_length < T ? prefix_length : T);
#pragma omp parallel for schedule(static) if (rows * T > 65536)
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * T;
    const uint8_t* mr = mask + r * T;
    std::vector<double> mu(T), sigma(T);
    double n = 0, sum = 0, m2 = 0, prev_mu = 0;
    for (int64_t t = 0; t < T; ++t) {
      const bool w = mr[t] != 0;
      const double v = xr[t];
      if (w) {
        n += 1;
        sum += v;
      }
      const double N = n > 1 ? n : 1;
      const double cur = sum / N;
      if (w) m2 += (v - prev_mu) * (v - cur);
      const double denom = (N - 1) > 1 ? (N - 1) : 1;
      mu[t] = cur;
      sigma[t] = std::sqrt(m2 / denom + kMinScale);
      prev_mu = cur;
    }
    if (stabilize_with_global) {
      double gw = 0, gs = 0;
      for (int64_t t = 0; t < prefix; ++t)
        if (mr[t]) {
          gw += 1;
          gs += xr[t];
        }
      const double G = gw > 1 ? gw : 1;
      double gm = gs / G;
      if (std::isnan(gm)) gm = 0;
      double gv = 0;
      for (int64_t t = 0; t < prefix; ++t)
        if (mr[t]) gv += (xr[t] - gm) * (xr[t] - gm);
      gv /= G;
      const double g = std::sqrt(gv + kMinScale);
      const double lo_raw = g * std::pow(10.0, -scale_factor_exponent);
      const double lo = lo_raw > kMinScaleF32 ? lo_raw : kMinScaleF32;
      const double hi = g * std::pow(10.0, scale_factor_exponent);
      for (int64_t t = 0; t < T; ++t) sigma[t] = std::fmin(std::fmax(sigma[t], lo), hi);
    }
    for (int64_t t = 0; t < T; ++t) {
      const int64_t last = (t / patch) * patch + patch - 1;
      const int64_t src = last < T ? last : T - 1;
      const float l = static_cast<float>(mu[src]);
      const float s = static_cast<float>(sigma[src]);
      loc[r * T + t] = l;
      scale[r * T + t] = s;
      scaled[r * T + t] = (xr[t] - l) / s;
    }
  }
}

}  // namespace fcast::ref
