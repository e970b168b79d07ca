#include "models/toto/distribution.h"

#include <cmath>
#include <limits>

namespace fcast::toto {

float mixture_mean(const MixtureCell& c) {
  float m = 0;
  for (int64_t k = 0; k < c.K; ++k) m += c.weights[k] * c.loc[k];
  return m * c.affine_scale + c.affine_loc;
}

float mixture_std(const MixtureCell& c) {
  // Law of total variance, as torch's MixtureSameFamily: E[Var] + Var[E]. Unlike the
  // second-moment form it does not cancel catastrophically when one component dominates.
  double mean = 0;
  for (int64_t k = 0; k < c.K; ++k) mean += static_cast<double>(c.weights[k]) * c.loc[k];
  double within = 0, between = 0;
  for (int64_t k = 0; k < c.K; ++k) {
    const double df = c.df[k], s = c.scale[k], w = c.weights[k], d = c.loc[k] - mean;
    within += w * (df > 2.0 ? s * s * df / (df - 2.0) : std::numeric_limits<double>::infinity());
    between += w * d * d;
  }
  return static_cast<float>(std::sqrt(within + between) * c.affine_scale);
}

float mixture_sample(const MixtureCell& c, Rng& rng) {
  double u = rng.uniform(), total = 0;
  for (int64_t k = 0; k < c.K; ++k) total += c.weights[k];
  u *= total;
  int64_t k = 0;
  double acc = c.weights[0];
  while (k + 1 < c.K && u > acc) acc += c.weights[++k];
  const double df = c.df[k];
  const double z = rng.normal();
  const double g = 2.0 * rng.gamma(df / 2.0);  // Chi-square(df)
  const double x = c.loc[k] + c.scale[k] * z / std::sqrt(g / df);
  return static_cast<float>(c.affine_loc + c.affine_scale * x);
}

bool is_extreme(float x) { return !std::isfinite(x) || std::fabs(x) >= std::numeric_limits<float>::max() / 2; }

float replace_extreme(float x) { return is_extreme(x) ? 0.0f : x; }

}  // namespace fcast::toto
