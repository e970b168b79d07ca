// Batched forecasting in the library: many independent series in one request (each with its own
// length, variates and seed) give, for every series and every output (mean, median, std,
// quantiles, sample paths), exactly the numbers that series gets forecast alone with its seed —
// in fp32, compiled and eager, Toto and Kronos — while series of one geometry share graph runs.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "core/rng.h"
#include "models/registry.h"

using namespace fcast;

namespace {

std::string data(const std::string& rel) { return std::string(FCAST_TEST_DATA) + "/" + rel; }

CompileSettings settings(bool compiled) {
  CompileSettings s;
  s.enabled = compiled;
  s.persistent_cache = false;
  s.mode = CompileMode::ReduceOverhead;
  s.precision = Precision::FP32;
  return s;
}

std::vector<double> walk(int64_t n, uint64_t seed, double start) {
  Rng rng(seed);
  std::vector<double> v;
  double x = start;
  for (int64_t i = 0; i < n; ++i) {
    x *= 1.0 + 0.02 * (rng.uniform() - 0.5);
    v.push_back(x);
  }
  return v;
}

SeriesInput toto_series(const std::string& id, int64_t T, int64_t V, uint64_t seed) {
  SeriesInput s;
  s.id = id;
  for (int64_t v = 0; v < V; ++v) s.values.push_back(walk(T, seed * 10 + static_cast<uint64_t>(v), 100.0 + 7.0 * v));
  return s;
}

SeriesInput kronos_series(const std::string& id, int64_t T, uint64_t seed) {
  SeriesInput s;
  s.id = id;
  const std::vector<double> close = walk(T, seed, 50.0);
  std::vector<double> open(close), high(close), low(close), vol(static_cast<size_t>(T));
  for (int64_t t = 0; t < T; ++t) {
    open[t] = t ? close[t - 1] : close[t];
    high[t] = std::max(open[t], close[t]) * 1.004;
    low[t] = std::min(open[t], close[t]) * 0.996;
    vol[t] = 1000 + 17 * ((t + static_cast<int64_t>(seed)) % 9);
  }
  s.variate_names = {"open", "high", "low", "close", "volume"};
  s.values = {open, high, low, close, vol};
  for (int64_t t = 0; t < T; ++t) s.timestamps.push_back(1700000000 + 3600 * t);
  return s;
}

int64_t graph_runs(ForecastSession& s) { return s.stats().runs; }

// Forecasts `batch` as one request (series_seeds: one per series) and each series alone with its
// seed, on two fresh sessions of one model; every output must be equal, and the batch must have
// taken fewer graph runs than the series alone (they shared the batch axis).
void check_batch_equals_alone(const std::shared_ptr<LoadedModel>& model, ForecastRequest batch,
                              const std::vector<uint64_t>& seeds, const std::string& what) {
  // Equal seeds: the request's one seed (series_seeds left empty); else one per series.
  if (std::all_of(seeds.begin(), seeds.end(), [&](uint64_t x) { return x == seeds[0]; }))
    batch.seed = seeds[0];
  else
    batch.series_seeds = seeds;
  auto together = model->new_session();
  const ForecastResult all = together->forecast(batch);
  const int64_t batched_runs = graph_runs(*together);
  auto single = model->new_session();
  ASSERT_EQ(all.series.size(), batch.series.size()) << what;
  for (size_t k = 0; k < batch.series.size(); ++k) {
    ForecastRequest one = batch;
    one.series = {batch.series[k]};
    one.series_seeds.clear();
    one.seed = seeds[k];
    const ForecastResult r = single->forecast(one);
    const SeriesForecast &a = all.series[k], &b = r.series[0];
    const std::string where = cat(what, ", series ", k, " (", a.id, ")");
    EXPECT_EQ(a.id, b.id) << where;
    EXPECT_EQ(a.mean, b.mean) << where << ": mean";
    EXPECT_EQ(a.median, b.median) << where << ": median";
    EXPECT_EQ(a.std, b.std) << where << ": std";
    EXPECT_EQ(a.quantiles, b.quantiles) << where << ": quantiles";
    EXPECT_EQ(a.samples, b.samples) << where << ": sample paths";
    EXPECT_EQ(a.timestamps, b.timestamps) << where << ": timestamps";
    if (batch.num_samples > 0) {
      ASSERT_FALSE(a.samples.empty()) << where << ": no sample paths returned";
      EXPECT_EQ(static_cast<int64_t>(a.samples[0][0].size()), batch.num_samples) << where;
    }
  }
  EXPECT_LT(batched_runs, graph_runs(*single)) << what << ": the batch did not share runs";
}

std::shared_ptr<LoadedModel> load_toto(bool compiled) {
  return find_model("toto").load({{"model", data("golden/toto/models/tiny_a")}}, settings(compiled));
}

std::shared_ptr<LoadedModel> load_kronos(bool compiled) {
  return find_model("kronos").load({{"model", data("golden/kronos/models/tiny/predictor")},
                                    {"tokenizer", data("golden/kronos/models/tiny/tokenizer")}},
                                   settings(compiled));
}

ForecastRequest toto_batch(int64_t samples) {
  ForecastRequest r;
  // Three series of one geometry (one batched run), one shorter, one with two variates.
  r.series = {toto_series("a", 72, 1, 1), toto_series("b", 72, 1, 2), toto_series("c", 40, 1, 3),
              toto_series("d", 72, 1, 4), toto_series("e", 72, 2, 5)};
  r.horizon = 9;  // two decode steps (patch 8), the second cut short
  r.num_samples = samples;
  if (samples > 0) r.options["samples_per_batch"] = "4";
  r.quantiles = {0.05, 0.5, 0.95};
  return r;
}

ForecastRequest kronos_batch(int64_t samples) {
  ForecastRequest r;
  r.series = {kronos_series("x", 48, 1), kronos_series("y", 48, 2), kronos_series("z", 64, 3), kronos_series("w", 48, 4)};
  r.horizon = 4;
  r.num_samples = samples;
  r.quantiles = {0.1, 0.5, 0.9};
  return r;
}

}  // namespace

TEST(Batching, TotoBatchEqualsAloneCompiled) {
  auto m = load_toto(true);
  check_batch_equals_alone(m, toto_batch(8), {11, 12, 13, 11, 15}, "toto compiled, 8 samples");
  check_batch_equals_alone(m, toto_batch(0), {1, 2, 3, 4, 5}, "toto compiled, point forecast");
}

TEST(Batching, TotoBatchEqualsAloneEager) {
  check_batch_equals_alone(load_toto(false), toto_batch(8), {7, 8, 9, 10, 11}, "toto eager, 8 samples");
}

TEST(Batching, KronosBatchEqualsAloneCompiled) {
  auto m = load_kronos(true);
  check_batch_equals_alone(m, kronos_batch(3), {21, 22, 23, 21}, "kronos compiled, 3 paths");
  check_batch_equals_alone(m, kronos_batch(0), {1, 2, 3, 4}, "kronos compiled, point forecast");
}

TEST(Batching, KronosBatchEqualsAloneEager) {
  check_batch_equals_alone(load_kronos(false), kronos_batch(2), {5, 6, 7, 8}, "kronos eager, 2 paths");
}

// One seed for the request (no series_seeds): every series gets what it gets alone with that seed.
TEST(Batching, OneRequestSeedGivesEverySeriesItsAloneNumbers) {
  check_batch_equals_alone(load_toto(true), toto_batch(4), {9, 9, 9, 9, 9}, "toto, one seed");
}

TEST(Batching, SeriesSeedsMustMatchTheSeries) {
  auto s = load_toto(false)->new_session();
  ForecastRequest r = toto_batch(0);
  r.series_seeds = {1, 2};
  try {
    s->forecast(r);
    FAIL() << "2 seeds for 5 series were accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("2 series seeds for 5 series"), std::string::npos) << e.what();
  }
}
