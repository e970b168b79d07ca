// resolve_compile_settings / resolve_compile_cli: every variable of the Python setup's contract
// and fcast's own, their defaults, precedence (DISABLE > COMPILE,
// REAL_* > plain, REAL_TESTING > FAST_TESTING, flag > env), bad values (errors that list the
// valid ones) and the recorded source of every value.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "models/registry.h"
#include "core/error.h"
#include "runtime/compile_cli.h"
#include "runtime/compile_settings.h"
#include "test_util.h"

namespace fcast {
namespace {

namespace fs = std::filesystem;

Environment env(std::map<std::string, std::string> vars) { return Environment{std::move(vars)}; }

CompileSettings toto(std::map<std::string, std::string> vars, const CompileOverrides& o = {}) {
  return resolve_compile_settings(find_model("toto").compile, env(std::move(vars)), o);
}
CompileSettings kronos(std::map<std::string, std::string> vars, const CompileOverrides& o = {}) {
  return resolve_compile_settings(find_model("kronos").compile, env(std::move(vars)), o);
}

using test::error_of;
using test::expect_contains;

TEST(CompileSettings, Defaults) {
  for (const ModelEntry& e : model_registry()) {
    const CompileSettings s = resolve_compile_settings(e.compile, env({}));
    EXPECT_TRUE(s.enabled);  // compile on by default on CPU, for Kronos too
    EXPECT_EQ(s.mode, CompileMode::MaxAutotune);
    EXPECT_EQ(s.backend, CompileBackend::Inductor);
    EXPECT_EQ(s.precision, Precision::FP32);
    EXPECT_EQ(s.models_dir, (fs::current_path() / "compiled_models").lexically_normal().string());
    EXPECT_EQ(s.kernel_cache_dir, s.models_dir + "/torch_inductor");
    EXPECT_EQ(s.recompile_limit, 8);
    EXPECT_FALSE(s.debug);
    EXPECT_FALSE(s.log_recompiles);
    EXPECT_EQ(s.context_buckets, (std::vector<int64_t>{256, 512, 1024, 2048, 4096}));
    EXPECT_EQ(s.hybrid_min_batch, 0);
    EXPECT_TRUE(s.persistent_cache);
    for (const char* k : {"enabled", "mode", "backend", "precision", "models_dir", "kernel_cache_dir",
                          "recompile_limit", "debug", "log_recompiles", "context_buckets", "hybrid_min_batch",
                          "persistent_cache"}) {
      ASSERT_TRUE(s.source.count(k)) << k;
      EXPECT_EQ(s.source.at(k), "default") << k;
    }
  }
}

TEST(CompileSettings, BooleanSpellings) {
  for (const char* v : {"1", "true", "TRUE", "Yes", "on", " On "}) {
    EXPECT_FALSE(toto({{"TOTO_DISABLE_COMPILE", v}}).enabled) << v;
    EXPECT_TRUE(toto({{"TOTO_COMPILE", v}}).enabled) << v;
  }
  for (const char* v : {"0", "false", "No", "OFF"}) {
    EXPECT_TRUE(toto({{"TOTO_DISABLE_COMPILE", v}}).enabled) << v;  // a falsy disable flag does nothing
    EXPECT_FALSE(toto({{"TOTO_COMPILE", v}}).enabled) << v;
  }
  // Empty means unset (as the Python setup's mode handling).
  const CompileSettings s = toto({{"TOTO_COMPILE", ""}, {"TOTO_COMPILE_MODE", ""}});
  EXPECT_TRUE(s.enabled);
  EXPECT_EQ(s.source.at("enabled"), "default");
  EXPECT_EQ(s.mode, CompileMode::MaxAutotune);
}

TEST(CompileSettings, DisableWinsOverCompile) {
  for (const char* dis : {"TOTO_DISABLE_COMPILE", "MARKETSIM_TOTO_DISABLE_COMPILE"})
    for (const char* en : {"TOTO_COMPILE", "MARKETSIM_TOTO_COMPILE"}) {
      const CompileSettings s = toto({{dis, "1"}, {en, "1"}});
      EXPECT_FALSE(s.enabled) << dis << " " << en;
      EXPECT_EQ(s.source.at("enabled"), std::string("env ") + dis);
    }
  // A falsy disable flag leaves the decision to TOTO_COMPILE.
  const CompileSettings s = toto({{"TOTO_DISABLE_COMPILE", "0"}, {"MARKETSIM_TOTO_COMPILE", "off"}});
  EXPECT_FALSE(s.enabled);
  EXPECT_EQ(s.source.at("enabled"), "env MARKETSIM_TOTO_COMPILE");
  // TOTO_COMPILE is read before MARKETSIM_TOTO_COMPILE.
  EXPECT_TRUE(toto({{"TOTO_COMPILE", "1"}, {"MARKETSIM_TOTO_COMPILE", "0"}}).enabled);
  EXPECT_EQ(toto({{"TOTO_COMPILE", "1"}, {"MARKETSIM_TOTO_COMPILE", "0"}}).source.at("enabled"), "env TOTO_COMPILE");
}

TEST(CompileSettings, TotoVariablesDoNotTouchKronos) {
  const CompileSettings k = kronos({{"TOTO_DISABLE_COMPILE", "1"},
                                    {"TOTO_COMPILE_MODE", "default"},
                                    {"REAL_TOTO_COMPILE_BACKEND", "aot_eager"}});
  EXPECT_TRUE(k.enabled);
  EXPECT_EQ(k.mode, CompileMode::MaxAutotune);
  EXPECT_EQ(k.backend, CompileBackend::Inductor);
  const CompileSettings t = toto({{"KRONOS_COMPILE", "0"}, {"KRONOS_COMPILE_MODE", "default"}});
  EXPECT_TRUE(t.enabled);
  EXPECT_EQ(t.mode, CompileMode::MaxAutotune);
}

TEST(CompileSettings, KronosVariables) {
  for (const char* var : {"KRONOS_COMPILE", "MARKETSIM_KRONOS_COMPILE"}) {
    const CompileSettings s = kronos({{var, "0"}});
    EXPECT_FALSE(s.enabled) << var;
    EXPECT_EQ(s.source.at("enabled"), std::string("env ") + var);
  }
  EXPECT_TRUE(kronos({{"KRONOS_COMPILE", "1"}, {"MARKETSIM_KRONOS_COMPILE", "0"}}).enabled);
  const CompileSettings s = kronos({{"KRONOS_COMPILE_MODE", "reduce-overhead"}, {"KRONOS_COMPILE_BACKEND", "aot_eager"}});
  EXPECT_EQ(s.mode, CompileMode::ReduceOverhead);
  EXPECT_EQ(s.backend, CompileBackend::AotEager);
  EXPECT_EQ(s.source.at("mode"), "env KRONOS_COMPILE_MODE");
  EXPECT_EQ(s.source.at("backend"), "env KRONOS_COMPILE_BACKEND");
}

TEST(CompileSettings, RealOverridesPlainModeAndBackend) {
  CompileSettings s = toto({{"TOTO_COMPILE_MODE", "default"}});
  EXPECT_EQ(s.mode, CompileMode::Default);
  EXPECT_EQ(s.source.at("mode"), "env TOTO_COMPILE_MODE");
  s = toto({{"TOTO_COMPILE_MODE", "default"}, {"REAL_TOTO_COMPILE_MODE", "reduce-overhead"}});
  EXPECT_EQ(s.mode, CompileMode::ReduceOverhead);
  EXPECT_EQ(s.source.at("mode"), "env REAL_TOTO_COMPILE_MODE");
  s = toto({{"TOTO_COMPILE_BACKEND", "aot_eager"}});
  EXPECT_EQ(s.backend, CompileBackend::AotEager);
  EXPECT_EQ(s.source.at("backend"), "env TOTO_COMPILE_BACKEND");
  s = toto({{"TOTO_COMPILE_BACKEND", "aot_eager"}, {"REAL_TOTO_COMPILE_BACKEND", "inductor"}});
  EXPECT_EQ(s.backend, CompileBackend::Inductor);
  EXPECT_EQ(s.source.at("backend"), "env REAL_TOTO_COMPILE_BACKEND");
  // Case-insensitive.
  EXPECT_EQ(toto({{"TOTO_COMPILE_MODE", "Max-Autotune"}}).mode, CompileMode::MaxAutotune);
}

TEST(CompileSettings, PrecisionRealTestingWinsOverFastTesting) {
  CompileSettings s = toto({{"FAST_TESTING", "1"}});
  EXPECT_EQ(s.precision, Precision::BF16);
  EXPECT_EQ(s.source.at("precision"), "env FAST_TESTING");
  s = toto({{"FAST_TESTING", "1"}, {"REAL_TESTING", "1"}});
  EXPECT_EQ(s.precision, Precision::FP32);
  EXPECT_EQ(s.source.at("precision"), "env REAL_TESTING");
  s = toto({{"FAST_TESTING", "1"}, {"REAL_TESTING", "0"}});
  EXPECT_EQ(s.precision, Precision::BF16);
  s = toto({{"REAL_TESTING", "1"}});
  EXPECT_EQ(s.precision, Precision::FP32);
  EXPECT_EQ(s.source.at("precision"), "env REAL_TESTING");
  EXPECT_EQ(kronos({{"FAST_TESTING", "yes"}}).precision, Precision::BF16);
}

TEST(CompileSettings, Directories) {
  CompileSettings s = toto({{"COMPILED_MODELS_DIR", "/var/cache/fc/"}});
  EXPECT_EQ(s.models_dir, "/var/cache/fc");
  EXPECT_EQ(s.kernel_cache_dir, "/var/cache/fc/torch_inductor");
  EXPECT_EQ(s.source.at("models_dir"), "env COMPILED_MODELS_DIR");
  EXPECT_EQ(s.source.at("kernel_cache_dir"), "default");
  s = toto({{"COMPILED_MODELS_DIR", "rel/cache"}, {"TORCHINDUCTOR_CACHE_DIR", "/tmp/ind"}});
  EXPECT_EQ(s.models_dir, (fs::current_path() / "rel/cache").lexically_normal().string());  // made absolute
  EXPECT_EQ(s.kernel_cache_dir, "/tmp/ind");
  EXPECT_EQ(s.source.at("kernel_cache_dir"), "env TORCHINDUCTOR_CACHE_DIR");
  CompileOverrides o;
  o.models_dir = "/flag/dir";
  s = toto({{"COMPILED_MODELS_DIR", "/env/dir"}}, o);
  EXPECT_EQ(s.models_dir, "/flag/dir");
  EXPECT_EQ(s.kernel_cache_dir, "/flag/dir/torch_inductor");
  EXPECT_EQ(s.source.at("models_dir"), "flag --compiled-models-dir");
}

TEST(CompileSettings, DebugLogsLimit) {
  CompileSettings s = toto({{"TORCH_COMPILE_DEBUG", "1"}, {"TORCHDYNAMO_RECOMPILE_LIMIT", "16"}});
  EXPECT_TRUE(s.debug);
  EXPECT_EQ(s.recompile_limit, 16);
  EXPECT_EQ(s.source.at("debug"), "env TORCH_COMPILE_DEBUG");
  EXPECT_EQ(s.source.at("recompile_limit"), "env TORCHDYNAMO_RECOMPILE_LIMIT");
  for (const char* v : {"recompiles", "+recompiles", "+dynamo,+inductor,+recompiles", " graph_breaks , recompiles ",
                        "recompiles_verbose"}) {
    s = toto({{"TORCH_LOGS", v}});
    EXPECT_TRUE(s.log_recompiles) << v;
    EXPECT_EQ(s.source.at("log_recompiles"), "env TORCH_LOGS");
  }
  for (const char* v : {"+dynamo", "graph_breaks,guards", "-recompiles"})
    EXPECT_FALSE(toto({{"TORCH_LOGS", v}}).log_recompiles) << v;
  EXPECT_EQ(toto({{"TORCHDYNAMO_RECOMPILE_LIMIT", "0"}}).recompile_limit, 0);
}

TEST(CompileSettings, FcastVariables) {
  const CompileSettings s = toto({{"FCAST_CONTEXT_BUCKETS", "1024, 128,512,512"},
                                  {"FCAST_HYBRID_MIN_BATCH", "4"},
                                  {"FCAST_PERSISTENT_CACHE", "off"}});
  EXPECT_EQ(s.context_buckets, (std::vector<int64_t>{128, 512, 1024}));  // sorted, duplicates dropped
  EXPECT_EQ(s.hybrid_min_batch, 4);
  EXPECT_FALSE(s.persistent_cache);
  EXPECT_EQ(s.source.at("context_buckets"), "env FCAST_CONTEXT_BUCKETS");
  EXPECT_EQ(s.source.at("hybrid_min_batch"), "env FCAST_HYBRID_MIN_BATCH");
  EXPECT_EQ(s.source.at("persistent_cache"), "env FCAST_PERSISTENT_CACHE");
}

TEST(CompileSettings, FlagsWinOverEnvironment) {
  const std::map<std::string, std::string> vars = {
      {"TOTO_DISABLE_COMPILE", "1"},       {"REAL_TOTO_COMPILE_MODE", "default"},
      {"REAL_TOTO_COMPILE_BACKEND", "inductor"}, {"REAL_TESTING", "1"},
      {"COMPILED_MODELS_DIR", "/env"},     {"TORCHDYNAMO_RECOMPILE_LIMIT", "3"},
      {"TORCHINDUCTOR_CACHE_DIR", "/envk"}, {"TORCH_COMPILE_DEBUG", "1"},
      {"TORCH_LOGS", "recompiles"},        {"FCAST_CONTEXT_BUCKETS", "64"},
      {"FCAST_HYBRID_MIN_BATCH", "2"},     {"FCAST_PERSISTENT_CACHE", "1"}};
  CompileCliValues cli;
  cli.base.compile = true;
  cli.base.mode = "reduce-overhead";
  cli.base.backend = "aot_eager";
  cli.base.precision = "bf16";
  cli.base.models_dir = "/flag";
  cli.base.recompile_limit = 5;
  cli.kernel_cache_dir = "/flagk";
  cli.debug = false;
  cli.torch_logs = "+dynamo";
  cli.context_buckets = "128,256";
  cli.hybrid_min_batch = 7;
  cli.persistent_cache = false;
  const CompileSettings s = resolve_compile_cli(find_model("toto").compile, env(vars), cli);
  EXPECT_TRUE(s.enabled);
  EXPECT_EQ(s.mode, CompileMode::ReduceOverhead);
  EXPECT_EQ(s.backend, CompileBackend::AotEager);
  EXPECT_EQ(s.precision, Precision::BF16);
  EXPECT_EQ(s.models_dir, "/flag");
  EXPECT_EQ(s.recompile_limit, 5);
  EXPECT_EQ(s.kernel_cache_dir, "/flagk");
  EXPECT_FALSE(s.debug);
  EXPECT_FALSE(s.log_recompiles);
  EXPECT_EQ(s.context_buckets, (std::vector<int64_t>{128, 256}));
  EXPECT_EQ(s.hybrid_min_batch, 7);
  EXPECT_FALSE(s.persistent_cache);
  const std::map<std::string, std::string> want = {{"enabled", "flag --compile"},
                                                   {"mode", "flag --compile-mode"},
                                                   {"backend", "flag --compile-backend"},
                                                   {"precision", "flag --precision"},
                                                   {"models_dir", "flag --compiled-models-dir"},
                                                   {"recompile_limit", "flag --recompile-limit"},
                                                   {"kernel_cache_dir", "flag --kernel-cache-dir"},
                                                   {"debug", "flag --no-compile-debug"},
                                                   {"log_recompiles", "flag --torch-logs"},
                                                   {"context_buckets", "flag --context-buckets"},
                                                   {"hybrid_min_batch", "flag --hybrid-min-batch"},
                                                   {"persistent_cache", "flag --no-persistent-cache"}};
  for (const auto& [k, v] : want) EXPECT_EQ(s.source.at(k), v) << k;

  CompileOverrides off;
  off.compile = false;
  const CompileSettings n = toto({{"TOTO_COMPILE", "1"}}, off);
  EXPECT_FALSE(n.enabled);
  EXPECT_EQ(n.source.at("enabled"), "flag --no-compile");
  // The same overrides through the CompileOverrides-only entry point.
  CompileOverrides o;
  o.precision = "fp32";
  EXPECT_EQ(toto({{"FAST_TESTING", "1"}}, o).precision, Precision::FP32);
}

TEST(CompileSettings, BadValuesListTheValidOnes) {
  expect_contains(error_of([] { toto({{"TOTO_COMPILE_MODE", "fast"}}); }),
                  {"TOTO_COMPILE_MODE", "fast", "default", "reduce-overhead", "max-autotune"});
  expect_contains(error_of([] { toto({{"REAL_TOTO_COMPILE_MODE", "max_autotune"}}); }),
                  {"REAL_TOTO_COMPILE_MODE", "max-autotune"});
  expect_contains(error_of([] { toto({{"TOTO_COMPILE_BACKEND", "eager"}}); }),
                  {"TOTO_COMPILE_BACKEND", "eager", "inductor", "aot_eager"});
  expect_contains(error_of([] { kronos({{"KRONOS_COMPILE_BACKEND", "cudagraphs"}}); }),
                  {"KRONOS_COMPILE_BACKEND", "inductor, aot_eager"});
  expect_contains(error_of([] { kronos({{"KRONOS_COMPILE_MODE", "x"}}); }), {"KRONOS_COMPILE_MODE", "reduce-overhead"});
  for (const char* var : {"TOTO_DISABLE_COMPILE", "MARKETSIM_TOTO_DISABLE_COMPILE", "TOTO_COMPILE",
                          "MARKETSIM_TOTO_COMPILE", "REAL_TESTING", "FAST_TESTING", "TORCH_COMPILE_DEBUG",
                          "FCAST_PERSISTENT_CACHE"})
    expect_contains(error_of([var] { toto({{var, "maybe"}}); }), {var, "maybe", "1, true, yes, on", "0, false, no, off"});
  for (const char* var : {"KRONOS_COMPILE", "MARKETSIM_KRONOS_COMPILE"})
    expect_contains(error_of([var] { kronos({{var, "2"}}); }), {var, "true"});
  expect_contains(error_of([] { toto({{"TORCHDYNAMO_RECOMPILE_LIMIT", "many"}}); }),
                  {"TORCHDYNAMO_RECOMPILE_LIMIT", "many", "integers from 0"});
  expect_contains(error_of([] { toto({{"TORCHDYNAMO_RECOMPILE_LIMIT", "-1"}}); }), {"integers from 0"});
  expect_contains(error_of([] { toto({{"FCAST_HYBRID_MIN_BATCH", "1.5"}}); }), {"FCAST_HYBRID_MIN_BATCH", "integers"});
  expect_contains(error_of([] { toto({{"FCAST_CONTEXT_BUCKETS", "256,abc"}}); }),
                  {"FCAST_CONTEXT_BUCKETS", "abc", "comma-separated list of positive integers"});
  expect_contains(error_of([] { toto({{"FCAST_CONTEXT_BUCKETS", "256,,512"}}); }),
                  {"FCAST_CONTEXT_BUCKETS", "comma-separated list of positive integers"});
  expect_contains(error_of([] { toto({{"FCAST_CONTEXT_BUCKETS", "0"}}); }), {"'0'", "positive integers"});
  expect_contains(error_of([] { toto({{"TORCH_LOGS", "recompile"}}); }), {"TORCH_LOGS", "recompile", "recompiles"});

  CompileOverrides o;
  o.mode = "turbo";
  expect_contains(error_of([&] { toto({}, o); }), {"--compile-mode", "turbo", "max-autotune"});
  o = {};
  o.backend = "nvfuser";
  expect_contains(error_of([&] { toto({}, o); }), {"--compile-backend", "nvfuser", "aot_eager"});
  o = {};
  o.precision = "fp16";
  expect_contains(error_of([&] { toto({}, o); }), {"--precision", "fp16", "fp32, bf16"});
  o = {};
  o.recompile_limit = -3;
  expect_contains(error_of([&] { toto({}, o); }), {"--recompile-limit", "-3", "integers from 0"});
  CompileCliValues cli;
  cli.context_buckets = "x";
  expect_contains(error_of([&] { resolve_compile_cli(find_model("toto").compile, env({}), cli); }), {"--context-buckets"});
}

TEST(CompileSettings, IgnoredVariablesAreNotValidated) {
  // A value that cannot take effect is not read: the flag or the stronger variable decides.
  CompileOverrides o;
  o.mode = "default";
  EXPECT_EQ(toto({{"TOTO_COMPILE_MODE", "bogus"}}, o).mode, CompileMode::Default);
  EXPECT_EQ(toto({{"TOTO_COMPILE_MODE", "bogus"}, {"REAL_TOTO_COMPILE_MODE", "default"}}).mode, CompileMode::Default);
  EXPECT_FALSE(toto({{"TOTO_DISABLE_COMPILE", "1"}, {"TOTO_COMPILE", "bogus"}}).enabled);

  // With compilation off, the compiled-only variables cannot take effect: not read, defaults kept.
  const std::map<std::string, std::string> bogus = {
      {"TOTO_COMPILE_MODE", "bogus"},         {"REAL_TOTO_COMPILE_BACKEND", "bogus"},
      {"REAL_TESTING", "maybe"},              {"FAST_TESTING", "maybe"},
      {"TORCHDYNAMO_RECOMPILE_LIMIT", "many"}, {"TORCH_COMPILE_DEBUG", "maybe"},
      {"TORCH_LOGS", "bogus"},                {"FCAST_CONTEXT_BUCKETS", "x"},
      {"FCAST_HYBRID_MIN_BATCH", "-1"},       {"FCAST_PERSISTENT_CACHE", "maybe"}};
  std::map<std::string, std::string> off = bogus;
  off["TOTO_DISABLE_COMPILE"] = "1";
  const CompileSettings t = toto(off);
  EXPECT_FALSE(t.enabled);
  EXPECT_EQ(t.mode, CompileMode::MaxAutotune);
  for (const auto& [setting, source] : t.source) {
    if (setting != "enabled") {
      EXPECT_EQ(source, "default") << setting;
    }
  }
  off = bogus;
  off["TOTO_COMPILE"] = "off";
  EXPECT_FALSE(toto(off).enabled);
  CompileOverrides no;
  no.compile = false;
  EXPECT_FALSE(toto(bogus, no).enabled);
  std::map<std::string, std::string> kron = {{"KRONOS_COMPILE", "0"}, {"KRONOS_COMPILE_MODE", "bogus"}};
  EXPECT_FALSE(kronos(kron).enabled);
  // Turned on again (by a flag, as fcast stress and bench do), the same values are read and fail.
  CompileOverrides yes;
  yes.compile = true;
  expect_contains(error_of([&] { toto({{"TOTO_DISABLE_COMPILE", "1"}, {"TOTO_COMPILE_MODE", "bogus"}}, yes); }),
                  {"TOTO_COMPILE_MODE", "bogus"});
  const CompileSettings forced = toto({{"TOTO_DISABLE_COMPILE", "1"}, {"TOTO_COMPILE_MODE", "default"}}, yes);
  EXPECT_EQ(forced.mode, CompileMode::Default);
  EXPECT_EQ(forced.source.at("mode"), "env TOTO_COMPILE_MODE");
  // A flag is an explicit request: still validated with compilation off.
  no.mode = "turbo";
  expect_contains(error_of([&] { toto({}, no); }), {"--compile-mode", "turbo"});
}

TEST(CompileSettings, EnvironmentFromProcess) {
  ::setenv("FCAST_COMPILE_SETTINGS_TEST_VAR", "x=y", 1);
  const Environment e = Environment::from_process();
  ASSERT_TRUE(e.get("FCAST_COMPILE_SETTINGS_TEST_VAR").has_value());
  EXPECT_EQ(*e.get("FCAST_COMPILE_SETTINGS_TEST_VAR"), "x=y");
  EXPECT_FALSE(e.get("FCAST_COMPILE_SETTINGS_TEST_UNSET").has_value());
  ::unsetenv("FCAST_COMPILE_SETTINGS_TEST_VAR");
}

TEST(CompileSettings, Names) {
  EXPECT_STREQ(to_string(CompileMode::ReduceOverhead), "reduce-overhead");
  EXPECT_STREQ(to_string(CompileBackend::AotEager), "aot_eager");
  EXPECT_STREQ(to_string(Precision::BF16), "bf16");
  EXPECT_EQ(find_model("kronos").compile.name, "kronos");
  const auto vars = compile_env_vars(find_model("toto").compile);
  for (const char* v : {"TOTO_DISABLE_COMPILE", "MARKETSIM_TOTO_DISABLE_COMPILE", "TOTO_COMPILE", "MARKETSIM_TOTO_COMPILE",
                        "REAL_TOTO_COMPILE_MODE", "TOTO_COMPILE_MODE", "REAL_TOTO_COMPILE_BACKEND",
                        "TOTO_COMPILE_BACKEND", "COMPILED_MODELS_DIR", "TORCHINDUCTOR_CACHE_DIR", "TORCH_COMPILE_DEBUG",
                        "TORCH_LOGS", "TORCHDYNAMO_RECOMPILE_LIMIT", "REAL_TESTING", "FAST_TESTING"})
    EXPECT_NE(std::find(vars.begin(), vars.end(), v), vars.end()) << v;
  const auto kv = compile_env_vars(find_model("kronos").compile);
  for (const char* v : {"KRONOS_COMPILE", "MARKETSIM_KRONOS_COMPILE", "KRONOS_COMPILE_MODE", "KRONOS_COMPILE_BACKEND"})
    EXPECT_NE(std::find(kv.begin(), kv.end(), v), kv.end()) << v;
}

}  // namespace
}  // namespace fcast
