// KronosPredictor: normalise each series, tokenize the whole context,
// generate pred_len (s1, s2) pairs autoregressively over a window of at most max_context bars,
// decode, average the sample paths and de-normalise.
//
//   auto model = std::make_shared<KronosModel>(load_kronos_predictor("Kronos-small"));
//   auto tok = std::make_shared<KronosTokenizer>(load_kronos_tokenizer("Kronos-Tokenizer-base"));
//   KronosPredictor predictor(model, tok);                       // max_context 512, clip 5
//   SamplingParams sp;  sp.top_k = 1;                            // greedy
//   KronosForecast f = predictor.predict(series, future_stamps, /*pred_len=*/8, sp);
//   float close0 = f.at(0, 3);
//
// Generation keeps static KV caches while the window grows and switches to the reference's
// full window recomputation once it slides (see predictor.cc and docs/KRONOS.md).
#pragma once
#include <fcast/forecast.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "models/kronos/features.h"
#include "models/kronos/model.h"
#include "models/kronos/sampling.h"
#include "models/kronos/tokenizer.h"

namespace fcast::kronos {

struct KronosPredictorOptions {
  int64_t max_context = 512;   // bars the predictor sees per step (> 0); the reference's default
  double clip = 5.0;           // normalised inputs are clipped to [-clip, clip]; the reference's default
  bool use_kv_cache = true;    // exact KV caching while the window grows; FCAST_KRONOS_KV_CACHE=0 turns it off
  int64_t kv_cache_max_mb = 4096;  // larger caches fall back to full recomputation (logged)
  // NaN or Inf in the predictor's logits, the tokenizer decoder's output or the forecast: kError
  // (default) throws at the first, naming the part and output; kWarn lets them through as the
  // reference does (a NaN forecast) and reports them (KronosForecast::nonfinite_*).
  NonFinitePolicy nonfinite = NonFinitePolicy::kError;
  std::function<void(const std::string&)> log;  // notes (cache off, filled columns); default: stderr
};

struct KronosForecast {
  std::vector<int64_t> timestamps;  // the future (y) timestamps, wall-clock seconds
  std::vector<float> values;        // [pred_len, 6]: open, high, low, close, volume, amount
  int64_t nonfinite_values = 0;     // NaN/Inf among `values` (NonFinitePolicy::kWarn)
  std::string nonfinite_detail;     // the model outputs that held non-finite values in this call
                                    //   (every series of a batch), first occurrence of each
  int64_t rows() const { return static_cast<int64_t>(timestamps.size()); }
  float at(int64_t t, int c) const { return values[static_cast<size_t>(t * kFeatures + c)]; }
};

// Everything the reference exposes along the way (golden checks, tests, debugging).
// Row n = b * rows_per_series + r; rows_per_series is sample_count, or 1 when greedy decoding
// computed one path per series and shared it.
struct GenerationTrace {
  int64_t series = 0, rows_per_series = 0, pred_len = 0, context = 0, final_window = 0, v1 = 0, v2 = 0;
  std::vector<int64_t> ctx_s1, ctx_s2;            // [B, L]
  std::vector<int64_t> window_start, window_len;  // [P]
  std::vector<char> step_mode;                    // [P]: 'P' prefill, 'C' cached step, 'W' full window
  std::vector<int64_t> step_s1, step_s2;          // [N, P]
  std::vector<float> step_s1_logits, step_s2_logits;  // [N, P, V]: raw, before temperature
  std::vector<int64_t> final_s1, final_s2;        // [N, Wf]
  std::vector<float> final_decoded;               // [N, Wf, 6]
  std::vector<float> preds_norm;                  // [B, P, 6]
};

// Teacher forcing: ids [B, S, P] (row-major) used instead of draws.
struct ForcedTokens {
  const int64_t* s1 = nullptr;
  const int64_t* s2 = nullptr;
};

class KronosPredictor {
 public:
  KronosPredictor(std::shared_ptr<KronosModel> model, std::shared_ptr<KronosTokenizer> tokenizer,
                  KronosPredictorOptions opt = {});

  const KronosPredictorOptions& options() const { return opt_; }
  KronosModel& model() { return *model_; }
  KronosTokenizer& tokenizer() { return *tok_; }

  // One series. y_timestamps must hold pred_len stamps.
  KronosForecast predict(const KronosSeries& x, const std::vector<int64_t>& y_timestamps, int64_t pred_len,
                         const SamplingParams& p);
  // Several series of equal context length, each normalised on its own; forecasts in input order.
  std::vector<KronosForecast> predict_batch(const std::vector<KronosSeries>& xs,
                                            const std::vector<std::vector<int64_t>>& y_timestamps, int64_t pred_len,
                                            const SamplingParams& p);
  // Lower level: prepared series in, forecasts out, with an optional trace and teacher forcing.
  std::vector<KronosForecast> generate(const std::vector<PreparedSeries>& series, int64_t pred_len,
                                       const SamplingParams& p, GenerationTrace* trace = nullptr,
                                       const ForcedTokens* forced = nullptr);

 private:
  void note(const std::string& msg) const;
  std::shared_ptr<KronosModel> model_;
  std::shared_ptr<KronosTokenizer> tok_;
  KronosPredictorOptions opt_;
};

}  // namespace fcast::kronos
