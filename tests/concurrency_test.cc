// One loaded model, many sessions (models/registry.h): threads forecasting at once on one
// shared model get exactly the numbers one session gets one request after the other, in fp32
// and bf16; pre-packed weights exist once whatever the number of sessions; strict plans (no
// recompile, no allocation inside a planned run) hold with several sessions at once.
// Run under ThreadSanitizer as docs/ARCHITECTURE.md describes.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <thread>

#include "core/rng.h"
#include "models/registry.h"
#include "runtime/compiled_executor.h"

using namespace fcast;

namespace {

std::string data(const std::string& rel) { return std::string(FCAST_TEST_DATA) + "/" + rel; }

CompileSettings compiled(Precision p) {
  CompileSettings s;
  s.persistent_cache = false;  // nothing shared through the disk: only through the loaded model
  s.mode = CompileMode::ReduceOverhead;
  s.precision = p;
  return s;
}

std::vector<double> walk(int64_t n, uint64_t seed, double start) {
  Rng rng(seed);
  std::vector<double> v;
  double x = start;
  for (int64_t i = 0; i < n; ++i) {
    x *= 1.0 + 0.01 * (rng.uniform() - 0.5);
    v.push_back(x);
  }
  return v;
}

// Requests of three geometries (two context lengths, two variate counts), seeds differing.
std::vector<ForecastRequest> toto_requests() {
  std::vector<ForecastRequest> rs;
  for (int k = 0; k < 3; ++k) {
    ForecastRequest r;
    SeriesInput s;
    s.id = cat("s", k);
    const int64_t T = k == 1 ? 40 : 72, V = k == 2 ? 2 : 1;
    for (int64_t v = 0; v < V; ++v) s.values.push_back(walk(T, 10 * k + v, 100.0 + v));
    r.series.push_back(s);
    r.horizon = 8;
    r.num_samples = 8;
    r.seed = static_cast<uint64_t>(k + 1);
    rs.push_back(r);
  }
  return rs;
}

std::vector<ForecastRequest> kronos_requests() {
  std::vector<ForecastRequest> rs;
  for (int k = 0; k < 2; ++k) {
    ForecastRequest r;
    SeriesInput s;
    const int64_t T = k == 0 ? 48 : 64;
    const std::vector<double> close = walk(T, 7 + k, 50.0);
    s.variate_names = {"open", "high", "low", "close", "volume"};
    std::vector<double> open(close), high(close), low(close), vol(static_cast<size_t>(T));
    for (int64_t t = 0; t < T; ++t) {
      open[t] = t ? close[t - 1] : close[t];
      high[t] = std::max(open[t], close[t]) * 1.003;
      low[t] = std::min(open[t], close[t]) * 0.997;
      vol[t] = 1000 + 13 * (t % 7);
    }
    s.values = {open, high, low, close, vol};
    for (int64_t t = 0; t < T; ++t) s.timestamps.push_back(1700000000 + 3600 * t);
    r.series.push_back(s);
    r.horizon = 4;
    r.num_samples = 2;
    r.seed = static_cast<uint64_t>(k);
    rs.push_back(r);
  }
  return rs;
}

void expect_same(const ForecastResult& a, const ForecastResult& b, const std::string& what) {
  ASSERT_EQ(a.series.size(), b.series.size()) << what;
  for (size_t k = 0; k < a.series.size(); ++k) {
    const SeriesForecast &x = a.series[k], &y = b.series[k];
    ASSERT_EQ(x.mean, y.mean) << what << ": mean of series " << k;
    ASSERT_EQ(x.samples, y.samples) << what << ": samples of series " << k;
    ASSERT_EQ(x.quantiles, y.quantiles) << what << ": quantiles of series " << k;
  }
}

// `threads` threads, each with its own session, each forecasting every request (in a rotated
// order, so that different geometries run at the same moment), against one session that ran
// them one after the other.
void check_sessions(const std::shared_ptr<LoadedModel>& model, const std::vector<ForecastRequest>& reqs, int threads,
                    bool strict) {
  auto first = model->new_session();
  std::vector<ForecastResult> want;
  for (const auto& r : reqs) want.push_back(first->forecast(r));
  for (Executor* e : first->executors()) e->mark_warm();  // the shared model is warm for everyone
  const int64_t packed = model->packed_weight_bytes();

  std::vector<std::vector<ForecastResult>> got(threads);
  std::vector<std::string> errors(threads);
  std::vector<std::unique_ptr<ForecastSession>> sessions;
  for (int t = 0; t < threads; ++t) {
    sessions.push_back(model->new_session());
    if (strict)
      for (Executor* e : sessions.back()->executors())
        if (auto* c = dynamic_cast<CompiledExecutor*>(e)) c->set_strict(true);
  }
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t)
    pool.emplace_back([&, t] {
      try {
        got[t].resize(reqs.size());
        for (size_t i = 0; i < reqs.size(); ++i) {
          const size_t k = (i + static_cast<size_t>(t)) % reqs.size();
          got[t][k] = sessions[t]->forecast(reqs[k]);
        }
      } catch (const std::exception& e) {
        errors[t] = e.what();
      }
    });
  for (auto& th : pool) th.join();
  for (int t = 0; t < threads; ++t) {
    ASSERT_EQ(errors[t], "") << "thread " << t;
    for (size_t k = 0; k < reqs.size(); ++k) expect_same(want[k], got[t][k], cat("thread ", t, ", request ", k));
    const ExecutorStats st = sessions[t]->stats();
    EXPECT_EQ(st.recompiles, 0) << "thread " << t << ": the plans were built by the first session";
    EXPECT_EQ(st.plans_built, 0) << "thread " << t;
  }
  // Each weight was packed once, by the first session; the others bound the same copies.
  EXPECT_EQ(model->packed_weight_bytes(), packed);
}

std::shared_ptr<LoadedModel> toto_model(const CompileSettings& s) {
  return find_model("toto").load({{"model", data("golden/toto/models/tiny_a")}}, s);
}

std::shared_ptr<LoadedModel> kronos_model(const CompileSettings& s) {
  return find_model("kronos").load({{"model", data("golden/kronos/models/tiny/predictor")},
                                    {"tokenizer", data("golden/kronos/models/tiny/tokenizer")}},
                                   s);
}

}  // namespace

TEST(Concurrency, TotoSessionsFp32MatchSequential) {
  auto m = toto_model(compiled(Precision::FP32));
  EXPECT_GT(m->packed_weight_bytes(), -1);
  check_sessions(m, toto_requests(), 4, false);
  EXPECT_GT(m->packed_weight_bytes(), 0);
}

TEST(Concurrency, TotoSessionsBf16MatchSequential) {
  check_sessions(toto_model(compiled(Precision::BF16)), toto_requests(), 3, false);
}

TEST(Concurrency, TotoEagerSessionsMatchSequential) {
  CompileSettings s;
  s.enabled = false;
  check_sessions(toto_model(s), toto_requests(), 2, false);
}

TEST(Concurrency, KronosSessionsMatchSequentialBothPrecisions) {
  check_sessions(kronos_model(compiled(Precision::FP32)), kronos_requests(), 3, false);
  check_sessions(kronos_model(compiled(Precision::BF16)), kronos_requests(), 2, false);
}

TEST(Concurrency, StrictPlansHoldWithSeveralSessions) {
  check_sessions(toto_model(compiled(Precision::FP32)), toto_requests(), 3, true);
  check_sessions(kronos_model(compiled(Precision::FP32)), kronos_requests(), 2, true);
}

TEST(Concurrency, StrictSessionRefusesANewShapeAfterWarmUp) {
  auto m = toto_model(compiled(Precision::FP32));
  auto reqs = toto_requests();
  auto a = m->new_session();
  a->forecast(reqs[0]);
  for (Executor* e : a->executors()) e->mark_warm();
  auto b = m->new_session();
  for (Executor* e : b->executors()) dynamic_cast<CompiledExecutor*>(e)->set_strict(true);
  EXPECT_NO_THROW(b->forecast(reqs[0]));
  try {
    b->forecast(reqs[2]);  // two variates: a new plan after warm-up
    FAIL() << "a recompile after warm-up in strict mode must throw";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("strict plans"), std::string::npos) << e.what();
  }
}

TEST(Concurrency, SessionsShareOnePackedCopy) {
  auto m = toto_model(compiled(Precision::BF16));
  auto reqs = toto_requests();
  auto a = m->new_session();
  a->forecast(reqs[0]);
  const int64_t one = m->packed_weight_bytes();
  ASSERT_GT(one, 0);
  std::vector<std::unique_ptr<ForecastSession>> more;
  for (int i = 0; i < 4; ++i) {
    more.push_back(m->new_session());
    more.back()->forecast(reqs[0]);
  }
  EXPECT_EQ(m->packed_weight_bytes(), one);
  auto& store = dynamic_cast<CompiledExecutor*>(a->executors()[0])->compiled_model().plans();
  const size_t plans = store.size();
  EXPECT_GT(plans, 0u);
  for (auto& s : more) EXPECT_EQ(dynamic_cast<CompiledExecutor*>(s->executors()[0])->plan_count(), plans);
}

namespace {

int64_t rss_bytes() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::stoll(line.substr(6)) * 1024;
  return -1;
}

}  // namespace

// Resident memory of N sessions = one copy of the (packed) weights + N sets of arenas and caches:
// on a Kronos-small-shaped random checkpoint (about 110 MB of packed weights) each further
// session adds its own plan arenas and KV caches, well under another packed copy. The
// measurement is printed (RecordProperty and stdout).
TEST(Concurrency, MoreSessionsAddCachesNotWeights) {
#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
  GTEST_SKIP() << "RSS is not meaningful under a sanitizer (its shadow memory grows with every thread)";
#endif
  const std::string root = ::testing::TempDir() + "/fcast_sessions_rss";
  const ModelEntry& e = find_model("kronos");
  const ModelPaths paths = e.write_random("kronos-small", 1, {{"model", root + "/model"}, {"tokenizer", root + "/tok"}});
  CompileSettings s = compiled(Precision::FP32);
  s.mode = CompileMode::Default;
  auto m = e.load(paths, s);
  auto reqs = kronos_requests();
  std::vector<std::unique_ptr<ForecastSession>> sessions;
  sessions.push_back(m->new_session());
  sessions.back()->forecast(reqs[0]);
  const int64_t rss1 = rss_bytes(), packed = m->packed_weight_bytes();
  ASSERT_GT(packed, 50'000'000);
  for (int i = 0; i < 3; ++i) {
    sessions.push_back(m->new_session());
    sessions.back()->forecast(reqs[0]);
  }
  const int64_t rss4 = rss_bytes();
  std::cout << "[ measured ] packed weights " << packed / 1e6 << " MB; RSS with 1 session " << rss1 / 1e6
            << " MB, with 4 sessions " << rss4 / 1e6 << " MB (+" << (rss4 - rss1) / 1e6 << " MB)\n";
  RecordProperty("packed_mb", std::to_string(packed / 1e6));
  RecordProperty("rss_1_session_mb", std::to_string(rss1 / 1e6));
  RecordProperty("rss_4_sessions_mb", std::to_string(rss4 / 1e6));
  EXPECT_EQ(m->packed_weight_bytes(), packed);
  // A packed copy per session would add `packed` per session.
  EXPECT_LT((rss4 - rss1) / 3, packed / 2);
  std::filesystem::remove_all(root);
}
