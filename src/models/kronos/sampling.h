// Kronos token sampling: temperature, then top-k OR top-p filtering (the
// reference's precedence: top_k > 0 disables top_p), softmax, one categorical draw. Draws use
// fcast::Rng, so a seed gives the same tokens on every build; top_k == 1 is an argmax.
//
//   SamplingParams p;  p.temperature = 0.7; p.top_p = 0.9;
//   std::vector<float> probs(V);  filtered_probs(logits, V, p, probs.data());
//   Rng rng(7);  int64_t id = sample_token(logits, V, p, rng);
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/rng.h"

namespace fcast::kronos {

struct SamplingParams {
  double temperature = 1.0;   // > 0; logits are divided by it (fp32) before filtering
  int64_t top_k = 0;          // > 0: keep logits >= the k-th largest (ties kept); disables top_p
  double top_p = 0.9;         // (0, 1]; < 1 and top_k == 0: nucleus filtering
  int64_t sample_count = 1;   // >= 1: paths per series, averaged after decoding
  uint64_t seed = 0;          // seeds fcast::Rng; same seed, same draws
  // Optional, one per series of a batch: series b's paths draw from a stream seeded by
  // series_seeds[b] (empty: every series' stream is seeded by `seed`), so a series gets the
  // tokens it gets alone.
  std::vector<uint64_t> series_seeds;
  // Optional: called after each generated step with (steps done, steps in all), on the calling
  // thread (progress display).
  std::function<void(int64_t done, int64_t total)> progress;

  bool greedy() const { return top_k == 1; }
  void validate() const;      // errors name the bad parameter
  std::string describe() const;
};

// Probabilities after temperature + filtering + softmax, as the reference computes them
// before torch.multinomial. Removed tokens get exactly 0.
void filtered_probs(const float* logits, int64_t V, const SamplingParams& p, float* probs);

// One categorical draw from probs (zero-probability entries are never drawn).
int64_t draw_categorical(const float* probs, int64_t V, Rng& rng);

// argmax, first index on exact ties.
int64_t argmax(const float* logits, int64_t V);

// Greedy (top_k == 1): argmax. Otherwise filtered_probs + draw_categorical.
int64_t sample_token(const float* logits, int64_t V, const SamplingParams& p, Rng& rng);

// Pearson chi-square goodness of fit of `counts` against `probs` (expected = n * p). Bins with
// an expected count below min_expected are pooled into one bin. A count in a zero-probability
// bin makes the test fail outright (p_value = 0).
struct ChiSquareResult {
  double statistic = 0;
  int64_t dof = 0;
  double p_value = 1;
  int64_t impossible_draws = 0;  // draws of zero-probability tokens
};
ChiSquareResult chi_square_test(const std::vector<int64_t>& counts, const std::vector<double>& probs,
                                double min_expected = 5.0);
// Upper tail of the chi-square distribution: P(X >= x) with k degrees of freedom.
double chi_square_sf(double x, double k);

}  // namespace fcast::kronos
