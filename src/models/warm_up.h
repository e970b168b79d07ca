// Warm-up: one dummy forecast per (context length, sample count) so that every plan a later
// forecast of those shapes needs is built now (and, with the persistent cache on, stored in
// COMPILED_MODELS_DIR for the next process). Afterwards the executors are marked warm: any
// further plan build counts as a recompile and is logged with its reason.
//
//   toto::TotoModel model(load_toto(dir), make_executor(settings, identity));
//   TotoWarmUpOptions o;  o.context_lengths = {256, 512, 1024};  o.num_samples = {128};
//   for (const WarmUpStep& s : warm_up_toto(model, o)) std::cout << s.describe() << "\n";
//
// The dummy series is a seeded random walk (a constant series would give the scaler a zero
// scale, a path no real forecast takes).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "models/kronos/predictor.h"
#include "models/toto/forecaster.h"
#include "runtime/executor.h"

namespace fcast {

struct WarmUpStep {
  int64_t context_length = 0;
  int64_t num_samples = 0;     // Toto: sample paths; Kronos: sample_count
  double seconds = 0;
  ExecutorStats delta;         // counters added by this step, all executors summed
  std::string describe() const;  // one line: "context 512, 128 samples: 3 plans built, 0 cache hits, ... in 1.2 s"
};

struct TotoWarmUpOptions {
  std::vector<int64_t> context_lengths = {512};  // the Python setup's warm-up used 512
  std::vector<int64_t> num_samples = {256};      // 0 = mean forecast
  int64_t samples_per_batch = 256;               // clamped to each num_samples; must divide it
  int64_t prediction_length = 64;
  int64_t variates = 1;                          // columns forecast jointly (`predict --columns`)
  bool use_kv_cache = true;
  uint64_t seed = 0;
  bool mark_warm = true;                         // executor().mark_warm() at the end
};

// Runs the forecasts through model.executor(); errors (bad options) throw fcast::Error.
std::vector<WarmUpStep> warm_up_toto(toto::TotoModel& model, const TotoWarmUpOptions& o);

struct KronosWarmUpOptions {
  std::vector<int64_t> context_lengths = {512};  // rows of history (lookback)
  std::vector<int64_t> sample_counts = {1};
  int64_t pred_len = 8;
  kronos::SamplingParams sampling;               // sample_count is taken from sample_counts
  int64_t interval_seconds = 86400;              // dummy bar spacing (daily)
  std::vector<Executor*> executors;              // counted and marked warm (predictor's and tokenizer's)
  bool mark_warm = true;
};

std::vector<WarmUpStep> warm_up_kronos(kronos::KronosPredictor& predictor, const KronosWarmUpOptions& o);

}  // namespace fcast
