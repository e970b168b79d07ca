// serve::ComputeThread: every function runs on the same one thread (so the process keeps one
// OpenMP team), in arrival order, with its exception rethrown to the caller; a call from the
// compute thread itself runs directly (no deadlock); the OpenMP thread count it is given holds
// there.
#include <gtest/gtest.h>
#include <omp.h>

#include <atomic>
#include <set>
#include <stdexcept>
#include <thread>
#include <vector>

#include "serve/compute_thread.h"

namespace {

using fcast::serve::ComputeThread;

TEST(ComputeThread, EveryCallRunsOnOneThreadOtherThanTheCallers) {
  ComputeThread c;
  std::mutex mu;
  std::set<std::thread::id> seen;
  std::atomic<int> ran{0};
  std::vector<std::thread> callers;
  for (int k = 0; k < 8; ++k)
    callers.emplace_back([&] {
      for (int i = 0; i < 20; ++i)
        c.run([&] {
          std::lock_guard<std::mutex> lock(mu);
          seen.insert(std::this_thread::get_id());
          ++ran;
        });
    });
  for (auto& t : callers) t.join();
  EXPECT_EQ(ran.load(), 160);
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_NE(*seen.begin(), std::this_thread::get_id());
}

TEST(ComputeThread, RethrowsAndKeepsRunning) {
  ComputeThread c;
  EXPECT_THROW(c.run([] { throw std::runtime_error("bad input"); }), std::runtime_error);
  int x = 0;
  c.run([&] { x = 7; });
  EXPECT_EQ(x, 7);
}

TEST(ComputeThread, ACallFromTheComputeThreadRunsDirectly) {
  ComputeThread c;
  int depth = 0;
  c.run([&] {
    EXPECT_TRUE(c.on_this_thread());
    c.run([&] { depth = 2; });
  });
  EXPECT_EQ(depth, 2);
  EXPECT_FALSE(c.on_this_thread());
}

TEST(ComputeThread, OpenMPThreadCountAppliesOnTheComputeThread) {
  ComputeThread c(1);
  int inside = 0;
  c.run([&] { inside = omp_get_max_threads(); });
  EXPECT_EQ(inside, 1);
  int team = 0;
  c.run([&] {
#pragma omp parallel
    {
#pragma omp single
      team = omp_get_num_threads();
    }
  });
  EXPECT_EQ(team, 1);
}

}  // namespace
