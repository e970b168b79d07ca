// `fcast stress` run as a user would (the built binary, FCAST_BINARY) on tiny models with a short
// context (the bundled trained ones by default, random ones with --random-weights): the reports and their schema, production-check's exit codes on the default and
// on a deliberately broken compiled path (FCAST_TEST_PERTURB_COMPILED), clean errors, and the
// partial reports an interrupted run leaves. No assertion depends on timing: the speed check is
// reported but not rated here (--no-speed-verdict), as a loaded CI machine makes timings noise.
#include <gtest/gtest.h>
#include <signal.h>
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <vector>
#include "test_util.h"

extern char** environ;

namespace fcast {
namespace {

namespace fs = std::filesystem;

const std::string kMarket = std::string(FCAST_TEST_DATA) + "/market/";

using test::slurp;
using RunResult = test::CommandResult;
using test::shell_quote;

// Runs `env ENV fcast ARGS` through the shell with stdout and stderr captured in files.
RunResult run(const std::string& env, const std::vector<std::string>& args, const fs::path& dir) {
  fs::create_directories(dir);
  std::string cmd;
  if (!env.empty()) {
    cmd.append("env ");
    cmd.append(env);
    cmd.append(" ");
  }
  cmd.append(shell_quote(test::fcast_binary()));
  for (const auto& a : args) {
    cmd.append(" ");
    cmd.append(shell_quote(a));
  }
  return test::run_command(cmd, (dir / "stdout.txt").string(), (dir / "stderr.txt").string());
}

class StressCli : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("fcast_stress_" + std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()) + "_" +
            std::to_string(getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override {
    if (!HasFailure()) fs::remove_all(dir_);
  }
  // Small and fast: tiny models (random ones unless `random` is false), context 64, 8 samples, 3
  // forecasts per mode, two series.
  std::vector<std::string> base(const std::string& mode, const std::string& model, int iterations,
                                bool random = true) const {
    std::vector<std::string> a = {"stress", "--mode", mode, "--iterations", std::to_string(iterations), "--model",
                                  model, "--context-length", "64", "--num-samples", "8", "--forecasts", "3",
                                  "--output-dir", (dir_ / "out").string(), "--models-cache", (dir_ / "models").string(),
                                  "--data", kMarket + "MSTR.csv", "--data", kMarket + "SUIUSDT.csv",
                                  "--no-speed-verdict"};
    if (random) a.push_back("--random-weights");
    return a;
  }
  fs::path dir_;
};

void expect_number(const nlohmann::json& j, const char* key) {
  ASSERT_TRUE(j.contains(key)) << key;
  EXPECT_TRUE(j[key].is_number()) << key << " = " << j[key];
}

// The default models: the tiny ones trained on the bundled market data (tests/data/models).
TEST_F(StressCli, QuickWritesJsonMarkdownHtmlWithTheSchema) {
  const RunResult r = run("", base("quick", "both", 2, /*random=*/false), dir_);
  ASSERT_TRUE(r.exited);
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.err.find("TINY MODELS TRAINED HERE"), std::string::npos) << r.err;  // the banner
  EXPECT_EQ(r.err.find("RANDOM WEIGHTS"), std::string::npos) << r.err;
  EXPECT_NE(r.out.find("MAE / last-value MAE"), std::string::npos) << r.out;
  EXPECT_FALSE(fs::exists(dir_ / "models"));  // no random checkpoint written
  EXPECT_NE(r.out.find("Verdict:"), std::string::npos);
  const fs::path out = dir_ / "out";
  for (const char* f : {"compile_stress_results_quick.json", "compile_stress_summary_quick.json",
                        "compile_stress_report_quick.md", "compile_stress_report_quick.html"})
    EXPECT_TRUE(fs::exists(out / f)) << f;
  const nlohmann::json j = nlohmann::json::parse(slurp((out / "compile_stress_results_quick.json").string()));
  ASSERT_TRUE(j.is_array());
  ASSERT_EQ(j.size(), 8u);  // 2 iterations x 2 models x 2 modes
  int compiled = 0, kronos = 0;
  for (const auto& e : j) {
    EXPECT_TRUE(e["model_name"].is_string());
    EXPECT_TRUE(e["compile_mode"].is_string());
    EXPECT_TRUE(e["iteration"].is_number_integer());
    for (const char* k : {"mae", "rmse", "mape", "prediction_mean", "prediction_std", "target_mean"})
      expect_number(e["accuracy"], k);
    for (const char* k : {"inference_time_ms", "peak_memory_mb", "load_time_ms", "first_call_ms", "latency_p50_ms",
                          "latency_p99_ms", "peak_rss_mb"})
      expect_number(e["performance"], k);
    for (const char* k : {"recompilations", "plans_built", "recompiles_after_warmup", "cache_hits", "cache_misses"})
      EXPECT_TRUE(e["performance"][k].is_number_integer()) << k;
    EXPECT_EQ(e["performance"]["latencies_ms"].size(), 2u);  // 3 forecasts: 1 first call + 2 steady
    EXPECT_GT(e["accuracy"]["prediction_std"].get<double>(), 0.0);  // the true spread of the samples
    EXPECT_GT(e["accuracy"]["target_mean"].get<double>(), 0.0);     // real held-out closes
    EXPECT_EQ(e["windows"].size(), 3u);
    compiled += e["compiled"].get<bool>();
    kronos += e["model_name"] == "Kronos";
    if (e["compiled"].get<bool>()) {
      EXPECT_GT(e["performance"]["plans_built"].get<int>(), 0);
    }
  }
  EXPECT_EQ(compiled, 4);
  EXPECT_EQ(kronos, 4);  // Kronos runs compiled too (the Python tool never compiled it)
  // Iterations use different series / origins.
  EXPECT_NE(j[0]["symbol"], j[4]["symbol"]);
  const nlohmann::json s = nlohmann::json::parse(slurp((out / "compile_stress_summary_quick.json").string()));
  EXPECT_EQ(s["status"], "complete");
  EXPECT_EQ(s["completed_iterations"], 2);
  EXPECT_EQ(s["summary"].size(), 2u);
  EXPECT_EQ(s["checkpoints"]["trained_tiny_default"], true);
  EXPECT_EQ(s["checkpoints"]["random_weights"], false);
  const std::string models = std::string(FCAST_TEST_DATA) + "/models/";
  EXPECT_EQ(s["checkpoints"]["toto"]["model"], models + "toto-tiny-market");
  EXPECT_EQ(s["checkpoints"]["kronos"]["model"], models + "kronos-tiny-market/predictor");
  EXPECT_EQ(s["checkpoints"]["kronos"]["tokenizer"], models + "kronos-tiny-market/tokenizer");
  EXPECT_EQ(s["scores"]["per_symbol"].size(), 8u);  // 2 symbols x 2 models x 2 modes
  for (const auto& x : s["scores"]["per_symbol"]) {
    EXPECT_GE(x["coverage_q10_q90"].get<double>(), 0.0);
    EXPECT_LE(x["coverage_q10_q90"].get<double>(), 1.0);
    EXPECT_GT(x["last_value_mae"].get<double>(), 0.0);
  }
  EXPECT_EQ(s["settings"]["run"]["context_length (Toto)"]["source"], "flag --context-length");
  EXPECT_EQ(s["context_length_per_model"]["Kronos"], 64);
  EXPECT_EQ(s["settings"]["run"]["prediction_length"]["source"], "default");
  EXPECT_FALSE(s["engine"]["version"].get<std::string>().empty());
  EXPECT_FALSE(s["engine"]["kernel_isa"].get<std::string>().empty());
  const std::string html = slurp((out / "compile_stress_report_quick.html").string());
  EXPECT_NE(html.find("<svg"), std::string::npos);
  EXPECT_NE(html.find("TINY MODELS TRAINED HERE"), std::string::npos);
  // One forecast chart per (model, iteration): 2 x 2.
  size_t charts = 0;
  for (size_t p = html.find("data-kind='forecast'"); p != std::string::npos; p = html.find("data-kind='forecast'", p + 1))
    ++charts;
  EXPECT_EQ(charts, 4u);
  EXPECT_NE(slurp((out / "compile_stress_report_quick.md").string()).find("## Verdict"), std::string::npos);
}

TEST_F(StressCli, RandomWeightsFlagWritesRandomCheckpointsWithItsBanner) {
  const RunResult r = run("", base("quick", "toto", 1), dir_);
  ASSERT_TRUE(r.exited);
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.err.find("RANDOM WEIGHTS"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("TINY MODELS TRAINED HERE"), std::string::npos) << r.err;
  EXPECT_TRUE(fs::exists(dir_ / "models"));
  const nlohmann::json s = nlohmann::json::parse(slurp((dir_ / "out" / "compile_stress_summary_quick.json").string()));
  EXPECT_EQ(s["checkpoints"]["random_weights"], true);
  EXPECT_EQ(s["checkpoints"]["trained_tiny_default"], false);
  EXPECT_NE(slurp((dir_ / "out" / "compile_stress_report_quick.html").string()).find("RANDOM WEIGHTS"),
            std::string::npos);
}

// Without --context-length each default trained model forecasts from the context it was trained
// with (tests/data/models/stress_defaults.json); random weights keep 512.
TEST_F(StressCli, DefaultContextIsEachTrainedModelsOwn) {
  const std::vector<std::string> args = {"stress", "--iterations", "1", "--num-samples", "4", "--forecasts", "2",
                                         "--prediction-length", "2", "--output-dir", (dir_ / "out").string(),
                                         "--data", kMarket + "MSTR.csv", "--no-speed-verdict"};
  const RunResult r = run("", args, dir_);
  ASSERT_TRUE(r.exited);
  ASSERT_EQ(r.status, 0) << r.err;
  const nlohmann::json s = nlohmann::json::parse(slurp((dir_ / "out" / "compile_stress_summary_quick.json").string()));
  EXPECT_EQ(s["context_length_per_model"]["Toto"], 256);
  EXPECT_EQ(s["context_length_per_model"]["Kronos"], 120);
  EXPECT_NE(s["settings"]["run"]["context_length (Kronos)"]["source"].get<std::string>().find("training context"),
            std::string::npos);
  const nlohmann::json records =
      nlohmann::json::parse(slurp((dir_ / "out" / "compile_stress_results_quick.json").string()));
  for (const auto& e : records) {
    EXPECT_EQ(e["context_length"], e["model_name"] == "Toto" ? 256 : 120);
    // Both models forecast from the same origins, so their windows line up.
    EXPECT_EQ(e["windows"][0]["origin"], records[0]["windows"][0]["origin"]);
  }
}

// A binary far from the source tree finds no default models: a clear error naming what to do.
TEST_F(StressCli, MissingDefaultModelsIsAClearError) {
  fs::create_directories(dir_ / "bin");
  fs::copy_file(FCAST_BINARY, dir_ / "bin" / "fcast");
  fs::permissions(dir_ / "bin" / "fcast", fs::perms::owner_exec, fs::perm_options::add);
  const std::string cmd = "cd " + shell_quote(dir_.string()) + " && ./bin/fcast stress --model toto --data " +
                          shell_quote(kMarket + "MSTR.csv") + " --output-dir o";
  const RunResult r = test::run_command(cmd, (dir_ / "stdout.txt").string(), (dir_ / "stderr.txt").string());
  ASSERT_TRUE(r.exited);
  EXPECT_EQ(r.status, 1) << r.err;
  EXPECT_NE(r.err.find("tests/data/models"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("--random-weights"), std::string::npos) << r.err;
}

TEST_F(StressCli, ProductionCheckPassesOnTheDefaultConfiguration) {
  const RunResult r = run("", base("production-check", "both", 2), dir_);
  ASSERT_TRUE(r.exited);
  EXPECT_EQ(r.status, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("PRODUCTION READINESS: PASSED"), std::string::npos) << r.out;
  const std::string env = slurp((dir_ / "out" / "recommended.env").string());
  EXPECT_NE(env.find("TOTO_"), std::string::npos) << env;
  EXPECT_NE(env.find("KRONOS_"), std::string::npos) << env;
  EXPECT_TRUE(fs::exists(dir_ / "out" / "compile_stress_results_production-check.json"));
}

TEST_F(StressCli, ProductionCheckFailsOnABrokenCompiledPath) {
  const RunResult r = run("FCAST_TEST_PERTURB_COMPILED=0.2", base("production-check", "both", 2), dir_);
  ASSERT_TRUE(r.exited);
  EXPECT_EQ(r.status, 2) << r.out << r.err;
  EXPECT_NE(r.out.find("PRODUCTION READINESS: FAILED"), std::string::npos) << r.out;
  EXPECT_NE(r.err.find("FAIL Toto"), std::string::npos) << r.err;    // every reason is printed
  EXPECT_NE(r.err.find("FAIL Kronos"), std::string::npos) << r.err;
  const std::string env = slurp((dir_ / "out" / "recommended.env").string());
  EXPECT_NE(env.find("TOTO_DISABLE_COMPILE=1"), std::string::npos) << env;
  EXPECT_NE(env.find("KRONOS_COMPILE=0"), std::string::npos) << env;
  const nlohmann::json s =
      nlohmann::json::parse(slurp((dir_ / "out" / "compile_stress_summary_production-check.json").string()));
  EXPECT_EQ(s["verdict"], "FAIL");
  EXPECT_EQ(s["perturbation"], 0.2);
}

TEST_F(StressCli, QuickModeReportsButDoesNotFailTheProcess) {
  const RunResult r = run("FCAST_TEST_PERTURB_COMPILED=0.2", base("quick", "toto", 1), dir_);
  ASSERT_TRUE(r.exited);
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("Verdict: FAIL"), std::string::npos) << r.out;
}

TEST_F(StressCli, UserErrorsExitCleanly) {
  struct Case {
    std::vector<std::string> args;
    std::string needle;
  };
  const std::string bad_csv = (dir_ / "bad.csv").string();
  {
    std::ofstream f(bad_csv);
    f << "date,close\n2020-01-01,1\n2020-01-02,abc\n";
  }
  const std::vector<Case> cases = {
      {{"stress", "--mode", "bogus"}, "--mode"},
      {{"stress", "--model", "chronos"}, "--model"},
      {{"stress", "--data", (dir_ / "missing.csv").string(), "--output-dir", (dir_ / "o").string()}, "does not exist"},
      {{"stress", "--data", bad_csv, "--output-dir", (dir_ / "o").string(), "--models-cache", (dir_ / "m").string()},
       "bad.csv"},
      {{"stress", "--toto-model", (dir_ / "nope").string(), "--model", "toto", "--output-dir", (dir_ / "o").string()},
       "--toto-model"},
      {{"stress", "--context-length", "100000", "--model", "toto", "--output-dir", (dir_ / "o").string(),
        "--models-cache", (dir_ / "m").string()},
       "--context-length"},
      {{"stress", "--compile-mode", "fastest", "--model", "toto", "--output-dir", (dir_ / "o").string(),
        "--models-cache", (dir_ / "m").string()},
       "fastest"},
  };
  for (const Case& c : cases) {
    const RunResult r = run("", c.args, dir_);
    ASSERT_TRUE(r.exited) << c.args.back();
    EXPECT_NE(r.status, 0) << c.args.back();
    EXPECT_NE(r.err.find(c.needle), std::string::npos) << c.needle << "\n" << r.err;
  }
}

// SIGINT after the first record is on disk: the run stops, exits 130 and leaves valid reports.
TEST_F(StressCli, InterruptedRunLeavesValidPartialReports) {
  std::vector<std::string> args = base("full", "toto", 200);
  args.insert(args.begin(), FCAST_BINARY);
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  const std::string err = (dir_ / "stderr.txt").string(), out = (dir_ / "stdout.txt").string();
  posix_spawn_file_actions_addopen(&fa, 1, out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&fa, 2, err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  pid_t pid = 0;
  ASSERT_EQ(posix_spawn(&pid, FCAST_BINARY, &fa, nullptr, argv.data(), environ), 0);
  posix_spawn_file_actions_destroy(&fa);
  const fs::path results = dir_ / "out" / "compile_stress_results_full.json";
  // Wait (by polling, with no time limit of its own) until a record has been written.
  int status = 0;
  bool ended_early = false;
  for (;;) {
    if (waitpid(pid, &status, WNOHANG) == pid) {
      ended_early = true;
      break;
    }
    if (fs::exists(results)) {
      const auto j = nlohmann::json::parse(slurp(results.string()), nullptr, false);
      if (!j.is_discarded() && j.is_array() && !j.empty()) break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_FALSE(ended_early) << slurp(err);
  kill(pid, SIGINT);
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status)) << "ended by a signal";
  EXPECT_EQ(WEXITSTATUS(status), 130);
  const nlohmann::json j = nlohmann::json::parse(slurp(results.string()));
  EXPECT_TRUE(j.is_array());
  EXPECT_GE(j.size(), 1u);
  EXPECT_LT(j.size(), 400u);
  const nlohmann::json s = nlohmann::json::parse(slurp((dir_ / "out" / "compile_stress_summary_full.json").string()));
  EXPECT_NE(s["status"].get<std::string>().find("interrupted"), std::string::npos);
  EXPECT_NE(slurp((dir_ / "out" / "compile_stress_report_full.md").string()).find("interrupted"), std::string::npos);
  EXPECT_NE(slurp(err).find("partial reports"), std::string::npos);
}

}  // namespace
}  // namespace fcast
