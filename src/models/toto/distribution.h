// The Student-T mixture predictive distribution, de-scaled by the scaler statistics:
// moments and seeded sampling.
#pragma once
#include "core/rng.h"

namespace fcast::toto {

// One time step's mixture (K components) in scaled space, plus the affine de-scaling.
struct MixtureCell {
  const float* df;
  const float* loc;
  const float* scale;
  const float* weights;
  int64_t K;
  float affine_loc, affine_scale;
};

// De-scaled mean in float32 as the reference computes it: (sum_k w_k loc_k) * scale + loc.
float mixture_mean(const MixtureCell& c);
// De-scaled standard deviation (+inf when a component has df == 2 exactly).
float mixture_std(const MixtureCell& c);
// One draw: component ~ Categorical(w), then loc_k + scale_k * Z / sqrt(G / df_k), G ~ Chi2(df_k).
float mixture_sample(const MixtureCell& c, Rng& rng);
// The reference's replace_extreme_values: NaN, +-Inf and |x| >= FLT_MAX/2 become 0.
float replace_extreme(float x);
// Whether replace_extreme changes x.
bool is_extreme(float x);

}  // namespace fcast::toto
