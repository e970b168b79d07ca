// `fcast stress` and `fcast bench` take their models, checkpoint flags and workloads from the
// model registry (models/registry.h): their --help and their errors name every registered model,
// part and workload, so a model added with one registration line shows up without tool changes.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "models/registry.h"
#include "runtime/compile_settings.h"
#include "test_util.h"
#include "tools/stress/workload.h"

namespace fcast {
namespace {

test::CommandResult run_fcast(const test::TempDir& dir, const std::vector<std::string>& args) {
  std::string cmd = test::shell_quote(test::fcast_binary());
  for (const auto& a : args) {
    cmd.append(" ");
    cmd.append(test::shell_quote(a));
  }
  return test::run_command(cmd, dir.sub("stdout.txt"), dir.sub("stderr.txt"));
}

TEST(ToolsRegistryCli, StressHelpListsEveryModelAndCheckpointFlag) {
  test::TempDir dir("stress_help");
  const test::CommandResult r = run_fcast(dir, {"stress", "--help"});
  ASSERT_TRUE(r.exited);
  ASSERT_EQ(r.status, 0) << r.err;
  ASSERT_FALSE(model_registry().empty());
  for (const ModelEntry& e : model_registry()) {
    EXPECT_NE(r.out.find(e.name), std::string::npos) << e.name << "\n" << r.out;
    for (const ModelPart& p : e.parts) {
      const std::string flag = "--" + e.name + "-" + p.name;
      EXPECT_NE(r.out.find(flag), std::string::npos) << flag << "\n" << r.out;
    }
  }
  // `both` stays an accepted spelling of every model (tests and docs use it).
  EXPECT_NE(r.out.find("both"), std::string::npos) << r.out;
}

TEST(ToolsRegistryCli, StressUnknownModelListsTheRegisteredOnes) {
  test::TempDir dir("stress_bad_model");
  const test::CommandResult r = run_fcast(dir, {"stress", "--model", "chronos", "--output-dir", dir.sub("o")});
  ASSERT_TRUE(r.exited);
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.err.find("--model"), std::string::npos) << r.err;
  for (const ModelEntry& e : model_registry()) EXPECT_NE(r.err.find(e.name), std::string::npos) << e.name << "\n" << r.err;
}

TEST(ToolsRegistryCli, BenchHelpListsEveryWorkload) {
  test::TempDir dir("bench_help");
  const test::CommandResult r = run_fcast(dir, {"bench", "--help"});
  ASSERT_TRUE(r.exited);
  ASSERT_EQ(r.status, 0) << r.err;
  size_t workloads = 0;
  for (const ModelEntry& e : model_registry())
    for (const BenchWorkload& w : e.bench) {
      ++workloads;
      EXPECT_NE(r.out.find(w.id), std::string::npos) << w.id << "\n" << r.out;
    }
  EXPECT_GT(workloads, 0u);
}

TEST(ToolsRegistryCli, BenchUnknownWorkloadListsTheValidOnes) {
  test::TempDir dir("bench_bad_workload");
  const test::CommandResult r = run_fcast(dir, {"bench", "--workload", "W99", "--models-dir", dir.sub("m")});
  ASSERT_TRUE(r.exited);
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.err.find("W99"), std::string::npos) << r.err;
  for (const ModelEntry& e : model_registry())
    for (const BenchWorkload& w : e.bench) EXPECT_NE(r.err.find(w.id), std::string::npos) << w.id << "\n" << r.err;
}

// Every declared workload names a checkpoint for every part of its model, so bench can write and
// load it without knowing the model.
TEST(ToolsRegistryCli, BenchWorkloadsDeclareEveryPart) {
  for (const ModelEntry& e : model_registry())
    for (const BenchWorkload& w : e.bench) {
      for (const ModelPart& p : e.parts) {
        bool found = false;
        for (const BenchCheckpoint& c : w.checkpoints) found = found || c.part == p.name;
        EXPECT_TRUE(found) << e.name << " " << w.id << " has no checkpoint for part " << p.name;
      }
      EXPECT_GT(w.context, 0) << w.id;
      EXPECT_GT(w.horizon, 0) << w.id;
      EXPECT_GT(w.series, 0) << w.id;
    }
}

// Every workload's request, as bench builds it, is one the model's session accepts and forecasts:
// run on the model's tiny random test checkpoint (eager) with the workload's series, variates and
// options but a short context and horizon, so the test stays cheap; the published shapes
// themselves run in the bench_* ctest entries.
TEST(ToolsRegistryCli, BenchWorkloadRequestsForecastOnEveryModel) {
  test::TempDir dir("bench_requests");
  for (const ModelEntry& e : model_registry()) {
    const ModelPaths paths = ensure_random_checkpoint(e, dir.path.string());
    CompileSettings s = resolve_compile_settings(e.compile, Environment{});
    s.enabled = false;
    std::unique_ptr<ForecastSession> session = e.load(paths, s)->new_session();
    for (BenchWorkload w : e.bench) {
      w.context = std::min<int64_t>(w.context, 64);
      w.horizon = std::min<int64_t>(w.horizon, 2);
      w.samples = std::min<int64_t>(w.samples, 2);
      if (w.options.count("samples_per_batch") && w.samples > 0) w.options["samples_per_batch"] = std::to_string(w.samples);
      const ForecastRequest r = stress::bench_request(e, w);
      ASSERT_EQ(static_cast<int64_t>(r.series.size()), w.series) << w.id;
      ForecastResult f;
      ASSERT_NO_THROW(f = session->forecast(r)) << e.name << " " << w.id;
      ASSERT_EQ(f.series.size(), r.series.size()) << w.id;
      for (const SeriesForecast& sf : f.series) {
        ASSERT_FALSE(sf.mean.empty()) << w.id;
        EXPECT_EQ(static_cast<int64_t>(sf.mean[0].size()), w.horizon) << w.id;
      }
    }
  }
}

}  // namespace
}  // namespace fcast
