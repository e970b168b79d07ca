#include "tools/compile_flags.h"

#include <charconv>
#include <limits>

#include "core/error.h"

namespace fcast::tools {

namespace {
constexpr int64_t kMaxCap = int64_t{1} << 40;

int64_t cap_value(const std::optional<std::string>& flag, const char* flag_name, const Environment& env,
                  const char* var, int64_t dflt) {
  if (flag) return parse_int(*flag, cat(flag_name, " '", *flag, "'"), 1, kMaxCap, "a valid cap");
  if (auto v = env_string(env, var)) return parse_int(*v, env_quote(var, *v), 1, kMaxCap, "a valid cap");
  return dflt;
}
}  // namespace

void add_limit_flags(CLI::App* cmd, LimitCliValues& v) {
  const ForecastLimits d;
  const std::string g = "Limits (guards against unbounded work; each wins over its environment variable)";
  cmd->add_option_function<std::string>(
         "--max-horizon", [&v](const std::string& s) { v.max_horizon = s; },
         cat("Cap on the forecast horizon in steps; a longer horizon is an error (default: ", d.max_horizon,
             "; env FCAST_MAX_HORIZON)"))
      ->group(g);
  cmd->add_option_function<std::string>(
         "--max-samples", [&v](const std::string& s) { v.max_samples = s; },
         cat("Cap on the sample paths per series; more is an error (default: ", d.max_samples,
             "; env FCAST_MAX_SAMPLES)"))
      ->group(g);
}

ForecastLimits resolve_limits(const Environment& env, const LimitCliValues& v) {
  ForecastLimits l;
  l.max_horizon = cap_value(v.max_horizon, "--max-horizon", env, "FCAST_MAX_HORIZON", l.max_horizon);
  l.max_samples = cap_value(v.max_samples, "--max-samples", env, "FCAST_MAX_SAMPLES", l.max_samples);
  return l;
}

void add_seed_option(CLI::App* cmd, uint64_t& seed, const std::string& help) {
  cmd->add_option_function<std::string>(
      "--seed",
      [&seed](const std::string& s) {
        const char* b = s.data();
        const char* e = b + s.size();
        uint64_t v = 0;
        const auto r = std::from_chars(b, e, v);  // unsigned: no sign accepted
        FCAST_CHECK(b != e && r.ec == std::errc() && r.ptr == e, "--seed '", s,
                    "' is not a valid seed; valid values: integers from 0 to ",
                    std::numeric_limits<uint64_t>::max());
        seed = v;
      },
      help);
}

void add_compile_flags(CLI::App* cmd, CompileCliValues& v) {
  const std::string g = "Compile options (each wins over its environment variable; see `fcast config`)";
  auto* on = cmd->add_flag_callback(
      "--compile", [&v] { v.base.compile = true; },
      "Run through the compiled executor (default: on; env TOTO_COMPILE / KRONOS_COMPILE, "
      "TOTO_DISABLE_COMPILE=1 turns Toto off)");
  auto* off = cmd->add_flag_callback("--no-compile", [&v] { v.base.compile = false; },
                                     "Run the eager reference executor");
  on->excludes(off);
  on->group(g);
  off->group(g);
  cmd->add_option_function<std::string>(
         "--compile-mode", [&v](const std::string& s) { v.base.mode = s; },
         "default | reduce-overhead | max-autotune (default: max-autotune; env REAL_TOTO_COMPILE_MODE > "
         "TOTO_COMPILE_MODE, KRONOS_COMPILE_MODE)")
      ->group(g);
  cmd->add_option_function<std::string>(
         "--compile-backend", [&v](const std::string& s) { v.base.backend = s; },
         "inductor | aot_eager (default: inductor; env REAL_TOTO_COMPILE_BACKEND > TOTO_COMPILE_BACKEND, "
         "KRONOS_COMPILE_BACKEND)")
      ->group(g);
  cmd->add_option_function<std::string>(
         "--precision", [&v](const std::string& s) { v.base.precision = s; },
         "fp32 | bf16 (default: fp32; env REAL_TESTING=1 forces fp32, else FAST_TESTING=1 selects bf16)")
      ->group(g);
  cmd->add_option_function<std::string>(
         "--compiled-models-dir", [&v](const std::string& s) { v.base.models_dir = s; },
         "Persistent plan cache folder, shared by every working folder (default: $XDG_CACHE_HOME/fcast/compiled_models, "
         "else ~/.cache/fcast/compiled_models; env COMPILED_MODELS_DIR)")
      ->group(g);
  cmd->add_option_function<int>(
         "--recompile-limit", [&v](const int& n) { v.base.recompile_limit = n; },
         "Plans built after warm-up before new signatures run eager (default: 8; env TORCHDYNAMO_RECOMPILE_LIMIT)")
      ->group(g);
  cmd->add_option_function<std::string>(
         "--kernel-cache-dir", [&v](const std::string& s) { v.kernel_cache_dir = s; },
         "Autotune/kernel cache folder (default: <compiled-models-dir>/torch_inductor; env TORCHINDUCTOR_CACHE_DIR)")
      ->group(g);
  auto* dbg_on = cmd->add_flag_callback("--compile-debug", [&v] { v.debug = true; },
                                        "Verbose compiler logging (default: off; env TORCH_COMPILE_DEBUG)");
  auto* dbg_off = cmd->add_flag_callback("--no-compile-debug", [&v] { v.debug = false; }, "Turn --compile-debug off");
  dbg_on->excludes(dbg_off);
  dbg_on->group(g);
  dbg_off->group(g);
  cmd->add_option_function<std::string>(
         "--torch-logs", [&v](const std::string& s) { v.torch_logs = s; },
         "Comma-separated log names; 'recompiles' logs every recompile with its reason (default: none; env "
         "TORCH_LOGS)")
      ->group(g);
  cmd->add_option_function<std::string>(
         "--context-buckets", [&v](const std::string& s) { v.context_buckets = s; },
         "Context lengths (time steps) plans are padded to (default: 256,512,1024,2048,4096; env "
         "FCAST_CONTEXT_BUCKETS)")
      ->group(g);
  cmd->add_option_function<int64_t>(
         "--hybrid-min-batch", [&v](const int64_t& n) { v.hybrid_min_batch = n; },
         "Calls with fewer series run eager (default: 0 = always compiled; env FCAST_HYBRID_MIN_BATCH)")
      ->group(g);
  auto* pc_on = cmd->add_flag_callback("--persistent-cache", [&v] { v.persistent_cache = true; },
                                       "Load and store plans in --compiled-models-dir (default: on; env "
                                       "FCAST_PERSISTENT_CACHE)");
  auto* pc_off = cmd->add_flag_callback("--no-persistent-cache", [&v] { v.persistent_cache = false; },
                                        "Keep plans in memory only");
  pc_on->excludes(pc_off);
  pc_on->group(g);
  pc_off->group(g);
}

CompileSettings resolve_cli_settings(const CompileFamily& family, const CompileCliValues& v) {
  return resolve_compile_cli(family, Environment::from_process(), v);
}

ExecutorStats total_stats(const std::vector<const Executor*>& executors) {
  ExecutorStats t;
  for (const Executor* e : executors) {
    if (!e) continue;
    t += e->stats();
  }
  return t;
}

nlohmann::ordered_json stats_json(const CompileFamily& family, const CompileSettings& s,
                                  const std::vector<const Executor*>& executors, double seconds) {
  const ExecutorStats t = total_stats(executors);
  std::string names;
  bool compiled = false;
  for (const Executor* e : executors) {
    if (!e) continue;
    const std::string n = e->name();
    if (names.find(n) == std::string::npos) names += (names.empty() ? "" : "+") + n;
    compiled = compiled || n != "eager";
  }
  nlohmann::ordered_json j;
  j["family"] = family.name;
  j["mode"] = to_string(s.mode);
  j["backend"] = to_string(s.backend);
  j["dtype"] = to_string(s.precision);
  j["compile_requested"] = s.enabled;
  j["compiled"] = compiled;
  j["executor"] = names;
  j["plans_built"] = t.plans_built;
  j["recompiles"] = t.recompiles;
  j["cache_hits"] = t.cache_hits;
  j["cache_misses"] = t.cache_misses;
  j["fallbacks_to_eager"] = t.fallbacks_to_eager;
  j["runs"] = t.runs;
  j["persistent_cache"] = s.persistent_cache;
  j["models_dir"] = s.models_dir;
  j["seconds"] = seconds;
  return j;
}

}  // namespace fcast::tools
