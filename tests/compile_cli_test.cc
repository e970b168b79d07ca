// The compile controls as a user meets them, through the built binary (FCAST_BINARY):
// `fcast config` (text and --json, sources, bad values), `fcast predict ... --stats` (the last
// line of stdout is one JSON object with the executor counters; compiled by default) and
// `fcast compile` followed by a NEW process that compiles nothing (every plan from the cache).
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "models/registry.h"
#include "runtime/compile_cli.h"
#include "test_util.h"

namespace fcast {
namespace {

namespace fs = std::filesystem;

const std::string kMstr = std::string(FCAST_TEST_DATA) + "/market/MSTR.csv";

struct CliRun {
  int status = -1;  // exit status; -1 when ended by a signal
  std::string out, err;
};

using test::slurp;

using test::last_line;

class CompileCli : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = (fs::temp_directory_path() / ("fcast_compile_cli_test_" + std::to_string(::getpid()))).string();
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    CliRun r = run("init-model toto --preset tiny --seed 5 --out " + dir_ + "/toto");
    ASSERT_EQ(r.status, 0) << r.err;
    r = run("init-model kronos --preset kronos-tiny --seed 5 --out " + dir_ + "/km --tokenizer-out " + dir_ + "/kt");
    ASSERT_EQ(r.status, 0) << r.err;
  }
  static void TearDownTestSuite() {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  // Runs `fcast ARGS` in dir_ with every compile variable removed from the environment and
  // `env` (NAME=value ...) added; stdout and stderr are captured separately.
  static CliRun run(const std::string& args, const std::string& env = "") {
    static int n = 0;
    const std::string base = dir_ + "/run" + std::to_string(n++);
    std::string cmd = "cd '" + dir_ + "' && env";
    for (const ModelEntry& e : model_registry())
      for (const auto& v : compile_env_vars(e.compile)) cmd += " -u " + v;
    cmd += " " + env + " '" + std::string(FCAST_BINARY) + "' " + args;
    test::CommandResult c = test::run_command(cmd, base + ".out", base + ".err");
    return CliRun{c.status, std::move(c.out), std::move(c.err)};
  }

  static std::string predict_toto(const std::string& extra) {
    return "predict toto --model toto --input '" + kMstr +
           "' --context 256 --num-samples 32 --samples-per-batch 32 --prediction-length 8 " + extra;
  }
  static std::string predict_kronos(const std::string& extra) {
    return "predict kronos --model km --tokenizer kt --input '" + kMstr +
           "' --lookback 48 --pred-len 3 --max-context 48 --seed 1 " + extra;
  }

  // --stats: one JSON object, the last line of stderr (stdout holds only the forecast).
  static nlohmann::json stats_of(const CliRun& r) {
    const std::string line = last_line(r.err);
    nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
    EXPECT_FALSE(j.is_discarded()) << "last line is not JSON: " << line;
    return j;
  }

  static std::string dir_;
};
std::string CompileCli::dir_;

TEST_F(CompileCli, ConfigPrintsDefaultsAndSources) {
  CliRun r = run("config");
  ASSERT_EQ(r.status, 0) << r.err;
  for (const char* s : {"toto:", "kronos:", "max-autotune", "inductor", "fp32", "compiled_models/torch_inductor",
                        "256,512,1024,2048,4096", "default", "cpu: "})
    EXPECT_NE(r.out.find(s), std::string::npos) << s << "\n" << r.out;

  r = run("config --json --compile-backend aot_eager --recompile-limit 3",
          "REAL_TOTO_COMPILE_MODE=reduce-overhead TOTO_COMPILE_MODE=default KRONOS_COMPILE=0 FAST_TESTING=1 "
          "COMPILED_MODELS_DIR=/var/tmp/fc TORCH_LOGS=+recompiles");
  ASSERT_EQ(r.status, 0) << r.err;
  const nlohmann::json j = nlohmann::json::parse(r.out);
  const auto& t = j["toto"]["settings"];
  EXPECT_EQ(t["enabled"]["value"], true);
  EXPECT_EQ(t["enabled"]["source"], "default");
  EXPECT_EQ(t["mode"]["value"], "reduce-overhead");
  EXPECT_EQ(t["mode"]["source"], "env REAL_TOTO_COMPILE_MODE");
  EXPECT_EQ(t["backend"]["value"], "aot_eager");
  EXPECT_EQ(t["backend"]["source"], "flag --compile-backend");
  EXPECT_EQ(t["precision"]["value"], "bf16");
  EXPECT_EQ(t["precision"]["source"], "env FAST_TESTING");
  EXPECT_EQ(t["models_dir"]["value"], "/var/tmp/fc");
  EXPECT_EQ(t["kernel_cache_dir"]["value"], "/var/tmp/fc/torch_inductor");
  EXPECT_EQ(t["recompile_limit"]["value"], 3);
  EXPECT_EQ(t["log_recompiles"]["value"], true);
  EXPECT_EQ(t["log_recompiles"]["source"], "env TORCH_LOGS");
  const auto& k = j["kronos"]["settings"];
  EXPECT_EQ(k["enabled"]["value"], false);
  EXPECT_EQ(k["enabled"]["source"], "env KRONOS_COMPILE");
  EXPECT_EQ(k["mode"]["value"], "max-autotune");  // TOTO_* does not reach Kronos
  // The overridden plain variable is reported as not in effect.
  bool noted = false;
  for (const auto& n : j["toto"]["notes"]) noted = noted || n.get<std::string>().find("TOTO_COMPILE_MODE='default'") == 0;
  EXPECT_TRUE(noted) << j["toto"]["notes"].dump();
}

TEST_F(CompileCli, BadValuesAreErrorsListingTheValidOnes) {
  struct Case {
    std::string args, env;
    std::vector<std::string> parts;
  };
  const std::vector<Case> cases = {
      {"config", "TOTO_COMPILE_MODE=fast", {"TOTO_COMPILE_MODE='fast'", "default, reduce-overhead, max-autotune"}},
      {"config", "TOTO_DISABLE_COMPILE=maybe", {"TOTO_DISABLE_COMPILE", "1, true, yes, on"}},
      {"config --precision fp16", "", {"--precision 'fp16'", "fp32, bf16"}},
      {"config", "TORCHDYNAMO_RECOMPILE_LIMIT=lots", {"TORCHDYNAMO_RECOMPILE_LIMIT", "integers from 0"}},
      {"config --family all --compile-backend eager", "", {"--compile-backend 'eager'", "inductor, aot_eager"}},
      {predict_toto("--compile-mode turbo"), "", {"--compile-mode 'turbo'", "max-autotune"}},
      {predict_kronos(""), "KRONOS_COMPILE_BACKEND=tensorrt", {"KRONOS_COMPILE_BACKEND", "inductor, aot_eager"}},
  };
  for (const Case& c : cases) {
    const CliRun r = run(c.args, c.env);
    EXPECT_EQ(r.status, 1) << c.args << " " << c.env << "\n" << r.err;
    for (const auto& p : c.parts) EXPECT_NE(r.err.find(p), std::string::npos) << c.args << "\n" << r.err << "\nlacks " << p;
  }
  // --compile and --no-compile together are a usage error, not a crash.
  const CliRun both = run("config --compile --no-compile");
  EXPECT_GT(both.status, 0);
  EXPECT_NE(both.status, -1);
}

// fcast bench refuses bad options before it loads or writes any checkpoint.
TEST_F(CompileCli, BenchBadOptionsAreErrors) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"bench --workload W9", "unknown workload 'W9'; valid: W1 W2 W3 W4 K1 K2 K3"},
      {"bench --workload W1 --configs eager,fp16", "unknown configuration 'fp16'; valid: eager, fp32, bf16"},
      {"bench --workload W1 --reps -1", "--reps must be at least 1"},
      {"bench --workload W1 --top -2", "--top must not be negative"},
      {"bench --workload W1 --rounds 0", "--rounds must be at least 1"},
      // A child of an interleaved run that fails (here: no place for its checkpoint) is named,
      // and the parent neither hangs nor leaves the other children waiting.
      {"bench --workload W4 --configs eager,fp32 --reps 4 --models-dir /proc/nonexistent",
       "bench: the eager run of W4 said '' where 'ready' was expected"},
  };
  for (const auto& [args, msg] : cases) {
    const CliRun r = run(args);
    EXPECT_EQ(r.status, 1) << args << "\n" << r.err;
    EXPECT_NE(r.err.find(msg), std::string::npos) << args << "\n" << r.err;
    EXPECT_FALSE(fs::exists(dir_ + "/out/models")) << args << " wrote a checkpoint";
  }
}

TEST_F(CompileCli, PredictTotoRunsCompiledByDefaultAndReportsStats) {
  const std::string cache = dir_ + "/cache-toto-default";
  const CliRun r = run(predict_toto("--stats --compiled-models-dir '" + cache + "'"));
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("timestamp,variate,step"), std::string::npos);  // the forecast still comes first
  const nlohmann::json s = stats_of(r);
  for (const char* k : {"mode", "backend", "dtype", "compiled", "plans_built", "recompiles", "cache_hits",
                        "cache_misses", "fallbacks_to_eager"})
    EXPECT_TRUE(s.contains(k)) << k << " missing from " << s.dump();
  EXPECT_EQ(s["mode"], "max-autotune");
  EXPECT_EQ(s["backend"], "inductor");
  EXPECT_EQ(s["dtype"], "fp32");
  EXPECT_EQ(s["compile_requested"], true);
  EXPECT_EQ(s["compiled"], true) << s.dump();
  EXPECT_GT(s["plans_built"].get<int64_t>(), 0) << s.dump();
  EXPECT_EQ(s["recompiles"], 0);
  EXPECT_EQ(s["fallbacks_to_eager"], 0);

  // Eager on request: flag, or the Python setup's kill switch.
  for (const auto& [args, env] : std::vector<std::pair<std::string, std::string>>{
           {"--stats --no-compile", ""}, {"--stats", "TOTO_DISABLE_COMPILE=1"}, {"--stats", "MARKETSIM_TOTO_COMPILE=off"}}) {
    const CliRun e = run(predict_toto(args), env);
    ASSERT_EQ(e.status, 0) << e.err;
    const nlohmann::json es = stats_of(e);
    EXPECT_EQ(es["compiled"], false) << args << " " << env;
    EXPECT_EQ(es["compile_requested"], false);
    EXPECT_EQ(es["plans_built"], 0);
  }

  // With --output the forecast goes to the file and stdout stays empty; --stats-file gets the
  // same object as stderr.
  const CliRun f = run(predict_toto("--stats --stats-file stats.json --compile-backend aot_eager --compile-mode default "
                                    "--output out.json --compiled-models-dir '" + cache + "'"));
  ASSERT_EQ(f.status, 0) << f.err;
  const nlohmann::json fs_ = stats_of(f);
  EXPECT_EQ(fs_["backend"], "aot_eager");
  EXPECT_EQ(fs_["mode"], "default");
  EXPECT_EQ(f.out, "");
  EXPECT_TRUE(fs::exists(dir_ + "/out.json"));
  EXPECT_EQ(nlohmann::json::parse(test::slurp(dir_ + "/stats.json")), fs_);
}

TEST_F(CompileCli, CompiledAndEagerForecastsAgree) {
  // aot_eager runs the reference kernels through plans: the CSV must be identical to eager.
  const CliRun e = run(predict_toto("--no-compile"));
  const CliRun a = run(predict_toto("--compile-backend aot_eager --no-persistent-cache"));
  ASSERT_EQ(e.status, 0) << e.err;
  ASSERT_EQ(a.status, 0) << a.err;
  EXPECT_EQ(e.out, a.out);
}

TEST_F(CompileCli, PredictKronosReportsStats) {
  const CliRun r = run(predict_kronos("--stats --compiled-models-dir '" + dir_ + "/cache-kronos-default'"));
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("symbol,timestamp,variate,step,mean"), std::string::npos);
  const nlohmann::json s = stats_of(r);
  EXPECT_EQ(s["family"], "kronos");
  EXPECT_EQ(s["compiled"], true) << s.dump();
  EXPECT_GT(s["plans_built"].get<int64_t>(), 0);
  const CliRun e = run(predict_kronos("--stats"), "KRONOS_COMPILE=0");
  ASSERT_EQ(e.status, 0) << e.err;
  EXPECT_EQ(stats_of(e)["compiled"], false);
}

// `fcast compile` stores the plans; a NEW process with the same shapes loads every plan from
// the cache: no cache miss (each fresh compile is a miss), no recompile.
TEST_F(CompileCli, CompileThenPredictInANewProcessCompilesNothing) {
  const std::string cache = dir_ + "/cache-aot-toto";
  const CliRun c = run("compile toto --model toto --context-lengths 128,256 --num-samples 32 --samples-per-batch 32 "
                    "--prediction-length 8 --json --compiled-models-dir '" + cache + "'");
  ASSERT_EQ(c.status, 0) << c.err << c.out;
  const nlohmann::json cj = nlohmann::json::parse(last_line(c.out));
  EXPECT_GT(cj["plans_built"].get<int64_t>(), 0) << c.out;
  EXPECT_GT(cj["stored"].size(), 0u) << c.out;
  EXPECT_NE(c.out.find("cache misses"), std::string::npos);

  const CliRun p = run(predict_toto("--stats --compiled-models-dir '" + cache + "'"));
  ASSERT_EQ(p.status, 0) << p.err;
  const nlohmann::json s = stats_of(p);
  EXPECT_GT(s["plans_built"].get<int64_t>(), 0) << s.dump();
  EXPECT_GE(s["cache_hits"].get<int64_t>(), s["plans_built"].get<int64_t>()) << s.dump();
  EXPECT_EQ(s["cache_misses"], 0) << s.dump();
  EXPECT_EQ(s["recompiles"], 0) << s.dump();

  // A shape that was not compiled ahead of time is a miss (the counters are not stuck at zero).
  const CliRun other = run("predict toto --model toto --input '" + kMstr +
                        "' --columns close,high --context 256 --num-samples 32 --samples-per-batch 32 --prediction-length 8 "
                        "--stats "
                        "--compiled-models-dir '" + cache + "'");
  ASSERT_EQ(other.status, 0) << other.err;
  EXPECT_GT(stats_of(other)["cache_misses"].get<int64_t>(), 0) << other.out;
}

TEST_F(CompileCli, CompileKronosThenPredictCompilesNothing) {
  const std::string cache = dir_ + "/cache-aot-kronos";
  const CliRun c = run("compile kronos --model km --tokenizer kt --context-lengths 48 --pred-len 3 --max-context 48 "
                    "--seed 1 --compiled-models-dir '" + cache + "'");
  ASSERT_EQ(c.status, 0) << c.err << c.out;
  const CliRun p = run(predict_kronos("--stats --compiled-models-dir '" + cache + "'"));
  ASSERT_EQ(p.status, 0) << p.err;
  const nlohmann::json s = stats_of(p);
  EXPECT_GT(s["plans_built"].get<int64_t>(), 0) << s.dump();
  EXPECT_EQ(s["cache_misses"], 0) << s.dump();
  EXPECT_EQ(s["recompiles"], 0) << s.dump();
}

TEST_F(CompileCli, CompileRefusesWhenNothingWouldBeStored) {
  CliRun r = run("compile toto --model toto --context-lengths 64", "TOTO_DISABLE_COMPILE=1");
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("compilation is off"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("TOTO_DISABLE_COMPILE"), std::string::npos) << r.err;
  r = run("compile toto --model toto --context-lengths 64 --no-persistent-cache");
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("persistent cache is off"), std::string::npos) << r.err;
  r = run("compile toto --model toto --context-lengths 64,x");
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("--context-lengths 'x'"), std::string::npos) << r.err;
  r = run("compile toto --model toto --modes default,fast");
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("valid values: default, reduce-overhead, max-autotune"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace fcast
