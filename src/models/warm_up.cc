#include "models/warm_up.h"

#include <algorithm>
#include <chrono>
#include <cmath>

#include "core/error.h"

namespace fcast {

namespace {

ExecutorStats sum_stats(const std::vector<Executor*>& execs) {
  ExecutorStats t;
  for (Executor* e : execs) {
    t += e->stats();
  }
  return t;
}

ExecutorStats minus(const ExecutorStats& a, const ExecutorStats& b) {
  ExecutorStats d;
  d.plans_built = a.plans_built - b.plans_built;
  d.recompiles = a.recompiles - b.recompiles;
  d.cache_hits = a.cache_hits - b.cache_hits;
  d.cache_misses = a.cache_misses - b.cache_misses;
  d.fallbacks_to_eager = a.fallbacks_to_eager - b.fallbacks_to_eager;
  d.runs = a.runs - b.runs;
  return d;
}

// A positive random walk around 100: deterministic for a seed, never constant.
std::vector<double> random_walk(int64_t n, uint64_t seed) {
  uint64_t state = seed * 0x9e3779b97f4a7c15ull + 0x632be59bd9b4e019ull;
  std::vector<double> v(static_cast<size_t>(n));
  double x = 100.0;
  for (int64_t i = 0; i < n; ++i) {
    state ^= state >> 12;
    state ^= state << 25;
    state ^= state >> 27;
    const double u = static_cast<double>((state * 0x2545f4914f6cdd1dull) >> 11) / 9007199254740992.0;  // [0, 1)
    x *= 1.0 + 0.02 * (u - 0.5);
    v[static_cast<size_t>(i)] = x;
  }
  return v;
}

}  // namespace

std::string WarmUpStep::describe() const {
  return cat("context ", context_length, ", ", num_samples, " samples: ", delta.plans_built, " plans built, ",
             delta.cache_hits, " cache hits, ", delta.cache_misses, " cache misses, ", delta.recompiles,
             " recompiles, ", delta.fallbacks_to_eager, " eager fallbacks, ", delta.runs, " runs in ", seconds, " s");
}

std::vector<WarmUpStep> warm_up_toto(toto::TotoModel& model, const TotoWarmUpOptions& o) {
  FCAST_CHECK(!o.context_lengths.empty(), "warm-up: no context lengths given");
  FCAST_CHECK(!o.num_samples.empty(), "warm-up: no sample counts given");
  FCAST_CHECK(o.prediction_length > 0, "warm-up: prediction length must be positive, got ", o.prediction_length);
  FCAST_CHECK(o.variates > 0, "warm-up: variates must be positive, got ", o.variates);
  for (int64_t L : o.context_lengths) FCAST_CHECK(L >= 2, "warm-up: context length ", L, " is below 2");
  for (int64_t n : o.num_samples) {
    FCAST_CHECK(n >= 0, "warm-up: sample count ", n, " is negative");
    if (n > 0) {
      FCAST_CHECK(o.samples_per_batch > 0, "warm-up: samples per batch must be positive");
      const int64_t spb = std::min(o.samples_per_batch, n);
      FCAST_CHECK(n % spb == 0, "warm-up: samples per batch ", spb, " must divide the sample count ", n);
    }
  }
  std::vector<Executor*> execs = {&model.executor()};
  toto::TotoForecaster forecaster(model);
  std::vector<WarmUpStep> steps;
  for (int64_t L : o.context_lengths)
    for (int64_t n : o.num_samples) {
      Tensor series = Tensor::empty(DType::F32, {1, o.variates, L});
      for (int64_t v = 0; v < o.variates; ++v) {
        const std::vector<double> w = random_walk(L, o.seed + static_cast<uint64_t>(v));
        for (int64_t t = 0; t < L; ++t) series.data<float>()[v * L + t] = static_cast<float>(w[static_cast<size_t>(t)]);
      }
      toto::ForecastOptions fo;
      fo.prediction_length = o.prediction_length;
      fo.nonfinite = NonFinitePolicy::kWarn;  // plans are the point here, not the numbers
      fo.num_samples = n;
      fo.samples_per_batch = n > 0 ? std::min(o.samples_per_batch, n) : o.samples_per_batch;
      fo.use_kv_cache = o.use_kv_cache;
      fo.seed = o.seed;
      const ExecutorStats before = sum_stats(execs);
      const auto t0 = std::chrono::steady_clock::now();
      forecaster.forecast(series, nullptr, nullptr, fo);
      WarmUpStep s;
      s.context_length = L;
      s.num_samples = n;
      s.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      s.delta = minus(sum_stats(execs), before);
      steps.push_back(s);
    }
  if (o.mark_warm) model.executor().mark_warm();
  return steps;
}

std::vector<WarmUpStep> warm_up_kronos(kronos::KronosPredictor& predictor, const KronosWarmUpOptions& o) {
  FCAST_CHECK(!o.context_lengths.empty(), "warm-up: no context lengths given");
  FCAST_CHECK(!o.sample_counts.empty(), "warm-up: no sample counts given");
  FCAST_CHECK(o.pred_len >= 1, "warm-up: pred_len must be >= 1, got ", o.pred_len);
  FCAST_CHECK(o.interval_seconds > 0, "warm-up: the bar interval must be positive");
  for (int64_t L : o.context_lengths) FCAST_CHECK(L >= 2, "warm-up: context length ", L, " is below 2 rows");
  std::vector<WarmUpStep> steps;
  const int64_t start = 1577836800;  // 2020-01-01 00:00:00
  for (int64_t L : o.context_lengths)
    for (int64_t count : o.sample_counts) {
      kronos::SamplingParams sp = o.sampling;
      sp.sample_count = count;
      sp.validate();
      kronos::KronosSeries x;
      const std::vector<double> close = random_walk(L, o.sampling.seed);
      std::vector<double> open(close.size()), high(close.size()), low(close.size()), volume(close.size()),
          amount(close.size());
      for (size_t i = 0; i < close.size(); ++i) {
        open[i] = i ? close[i - 1] : close[i];
        high[i] = std::max(open[i], close[i]) * 1.005;
        low[i] = std::min(open[i], close[i]) * 0.995;
        volume[i] = 1000.0 + 10.0 * static_cast<double>(i % 17);
        amount[i] = volume[i] * close[i];
      }
      for (int64_t i = 0; i < L; ++i) x.timestamps.push_back(start + i * o.interval_seconds);
      x.columns = {{"open", open}, {"high", high}, {"low", low}, {"close", close}, {"volume", volume},
                   {"amount", amount}};
      std::vector<int64_t> future;
      for (int64_t k = 1; k <= o.pred_len; ++k) future.push_back(start + (L - 1 + k) * o.interval_seconds);
      const ExecutorStats before = sum_stats(o.executors);
      const auto t0 = std::chrono::steady_clock::now();
      predictor.predict(x, future, o.pred_len, sp);
      WarmUpStep s;
      s.context_length = L;
      s.num_samples = count;
      s.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      s.delta = minus(sum_stats(o.executors), before);
      steps.push_back(s);
    }
  if (o.mark_warm)
    for (Executor* e : o.executors) e->mark_warm();
  return steps;
}

}  // namespace fcast
