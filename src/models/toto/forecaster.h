// TotoForecaster: the reference's generate_mean / generate_samples with a
// static KV cache, left padding to whole patches and de-scaling.
//
//   TotoModel model(load_toto(dir));
//   TotoForecaster fc(model);
//   ForecastOptions o; o.prediction_length = 64; o.num_samples = 256; o.samples_per_batch = 64; o.seed = 7;
//   Forecast f = fc.forecast(series /*F32 [B, V, T]*/, nullptr, nullptr, o);
//   Tensor q10 = f.quantile(0.1);   // [B, V, prediction_length]
#pragma once
#include <fcast/forecast.h>

#include "models/toto/model.h"

namespace fcast::toto {

struct ForecastOptions {
  int64_t prediction_length = 64;  // steps to forecast (> 0)
  int64_t num_samples = 0;         // 0: mean forecast (generate_mean); else sample paths (generate_samples)
  int64_t samples_per_batch = 10;  // sample paths run together; must divide num_samples
  bool use_kv_cache = true;        // the reference's forecast() default
  bool share_prefill = true;       // prefill the context once for all samples (exact; off = reference cost)
  uint64_t seed = 0;               // sampling seed: same seed, same numbers
  // Optional, one per batch row: row b draws from its own stream seeded by row_seeds[b] (empty:
  // every row's stream is seeded by `seed`). A row's draws are those it gets alone in a batch of 1.
  std::vector<uint64_t> row_seeds;
  // Forecast values that are NaN, Inf or beyond +-float32 max / 2: kError (default) throws at the
  // first decode step that has any, naming the model outputs that were non-finite; kWarn replaces
  // them by 0 as the reference's replace_extreme_values does and counts them (Forecast::nonfinite_values).
  NonFinitePolicy nonfinite = NonFinitePolicy::kError;
  // Optional: called after each decoding step with (steps done, steps in all), on the calling
  // thread (progress display).
  std::function<void(int64_t done, int64_t total)> progress;
};

class Forecast {
 public:
  Forecast() = default;
  Forecast(Tensor mean, Tensor samples) : mean_(std::move(mean)), samples_(std::move(samples)) {}
  const Tensor& mean() const { return mean_; }          // [B, V, H]
  const Tensor& samples() const { return samples_; }    // [B, V, H, N]; undefined for a mean forecast
  bool has_samples() const { return samples_.defined(); }
  int64_t num_samples() const { return has_samples() ? samples_.dim(3) : 0; }
  Tensor median() const { return quantile(0.5); }
  Tensor quantile(double q) const;  // linear interpolation between order statistics (torch.quantile)
  Tensor std() const;               // sample standard deviation (Bessel); zeros for a mean forecast
  // Values replaced by 0 under NonFinitePolicy::kWarn, and where the first ones came from.
  int64_t nonfinite_values() const { return nonfinite_values_; }
  const std::string& nonfinite_detail() const { return nonfinite_detail_; }
  void set_nonfinite(int64_t count, std::string detail) {
    nonfinite_values_ = count;
    nonfinite_detail_ = std::move(detail);
  }

 private:
  Tensor mean_, samples_;
  int64_t nonfinite_values_ = 0;
  std::string nonfinite_detail_;
};

class TotoForecaster {
 public:
  explicit TotoForecaster(TotoModel& model) : model_(model) {}
  // series F32 [B, V, T]; mask U8 (1 = observed) and ids I32 of the same shape, or null for
  // all-observed / all-zero ids.
  // Not for concurrent use: the KV caches are kept between calls (one forecaster per thread).
  Forecast forecast(const Tensor& series, const Tensor* mask, const Tensor* ids, const ForecastOptions& opt);

 private:
  // A bucketed cache of this geometry, reset; the buffers of the previous call are reused when
  // they fit, so steady-state forecasts allocate (and fault in) no KV memory.
  TotoKVCache& cache_for(TotoKVCache& slot, int64_t rows, int64_t variates, int64_t capacity);

  TotoModel& model_;
  TotoKVCache context_cache_;  // the prefill (shared by all samples) or the mean forecast's cache
  TotoKVCache sample_cache_;   // one row per sample path
};

}  // namespace fcast::toto
