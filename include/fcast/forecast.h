// fcast's model-neutral forecasting API: one request and one result type for every model in
// the registry (Toto, Kronos, ...). A loaded model is shared; each caller forecasts through its
// own session.
//
//   #include <fcast/forecast.h>
//   auto model = fcast::load_model("toto", {{"model", "toto-open-base-1.0"}});   // models/registry.h
//   auto session = model->new_session();                       // one per thread
//   fcast::ForecastRequest req;
//   req.series.push_back({.id = "MSTR", .variate_names = {"close"}, .values = {closes}});
//   req.horizon = 64;  req.num_samples = 256;  req.quantiles = {0.1, 0.5, 0.9};  req.seed = 7;
//   fcast::ForecastResult r = session->forecast(req);
//   float q90_step1 = r.series[0].quantiles[2][0][0];          // [quantile][variate][step]
//
// Thread-safety: plain value types. A session (models/registry.h) is used by one thread at a
// time; many sessions of one loaded model may forecast at once.
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace fcast {

// One series: one or more variates observed at the same time steps. Series of one request may
// have different lengths.
struct SeriesInput {
  std::string id;                            // echoed in the result (e.g. the symbol); may be empty
  std::vector<std::string> variate_names;    // one per variate; empty: "v0", "v1", ... Kronos reads
                                             //   open, high, low, close (required), volume, amount
  std::vector<std::vector<double>> values;   // [variate][time], oldest first, all variates equally long
  std::vector<std::vector<uint8_t>> observed;  // optional [variate][time], 1 = observed (models with
                                               //   masks); empty: every value observed
  std::vector<int64_t> timestamps;           // optional: seconds since the epoch, one per step, increasing
                                             //   (required by models with time features: Kronos)
  std::vector<int64_t> future_timestamps;    // optional: the `horizon` stamps to forecast; default:
                                             //   `timestamps` continued on their own calendar
                                             //   (business days, trading sessions, else the
                                             //   median interval)
};

// Caps on the work one request may ask for. A horizon or a sample count a few zeros too long
// would otherwise run for hours and exhaust memory before anything fails; a caller that means
// it raises the cap. Errors name the cap and how to raise it. The `fcast` commands take them
// from --max-horizon / --max-samples, else FCAST_MAX_HORIZON / FCAST_MAX_SAMPLES.
struct ForecastLimits {
  int64_t max_horizon = 4096;  // most steps forecast (models may have a lower limit of their own)
  int64_t max_samples = 4096;  // most sample paths per series
};

// What a forecast does when a model's outputs hold non-finite values: NaN or Inf (and, for Toto,
// values beyond +-float32 max / 2, which its reference replaces by 0) — a sign of inputs too close
// to the float32 limit or of a damaged checkpoint.
enum class NonFinitePolicy {
  kError,  // forecast() throws, naming the model part and output and how many values (the default)
  kWarn,   // the reference's behaviour (Toto: those values become 0; Kronos: they stay NaN/Inf), and
           //   ForecastResult::metadata["nonfinite_values"] counts them (with "nonfinite_detail")
};

struct ForecastRequest {
  std::vector<SeriesInput> series;
  int64_t horizon = 64;                      // steps to forecast (> 0)
  int64_t num_samples = 0;                   // sample paths; 0 = the model's point forecast
                                             //   (Toto: the mean of the predicted distribution;
                                             //   Kronos: one sampled path)
  std::vector<double> quantiles = {0.1, 0.5, 0.9};  // levels in [0, 1]
  uint64_t seed = 0;                         // same seed, same numbers
  // Optional: one seed per series (a caller that gathers requests with seeds of their own, such
  // as the server's batcher). Empty: every series uses `seed`. Each series draws from its own
  // random stream, so a series forecast in a batch gets exactly the numbers it gets alone with
  // the same seed.
  std::vector<uint64_t> series_seeds;
  ForecastLimits limits;                     // horizon and num_samples must stay within these
  // Model-specific options by name (each model's registry entry lists its own, with defaults),
  // e.g. Toto "samples_per_batch", Kronos "temperature", "top_k", "top_p", "max_context".
  std::map<std::string, std::string> options;
  NonFinitePolicy nonfinite = NonFinitePolicy::kError;  // see NonFinitePolicy; default kError
  // Optional: called on the forecasting thread after each decoding step with (steps done, steps
  // in all) over the whole request, for a progress display. Empty (the default): not called.
  std::function<void(int64_t done, int64_t total)> progress;
};

struct SeriesForecast {
  std::string id;
  std::vector<std::string> variate_names;
  std::vector<int64_t> timestamps;                     // future stamps (empty when the input had none)
  std::vector<std::vector<float>> mean, median, std;   // [variate][step]
  std::vector<std::vector<std::vector<float>>> quantiles;  // [quantile][variate][step]
  std::vector<std::vector<std::vector<float>>> samples;    // [variate][step][sample]; empty for a point forecast
};

struct ForecastResult {
  std::vector<SeriesForecast> series;   // in request order
  std::vector<double> quantile_levels;  // as requested
  // model, identity, executor, random_weights ("true"/"false"), seconds, nonfinite_values (a count,
  // "0" unless NonFinitePolicy::kWarn let some through) and nonfinite_detail (where they came from), ...
  std::map<std::string, std::string> metadata;
};

}  // namespace fcast
