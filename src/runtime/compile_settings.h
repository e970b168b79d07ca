// Compile settings: the compile configuration contract of the Python production setup resolved from the
// environment and CLI flags, with the source of every value recorded for `fcast config`.
//
//   CompileSettings s = resolve_compile_settings(find_model("toto").compile, Environment::from_process(), cli_overrides);
//   std::shared_ptr<Executor> ex = make_executor(s, model_identity);   // runtime/executor_factory.h
#pragma once
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/env.h"

namespace fcast {

enum class CompileMode { Default, ReduceOverhead, MaxAutotune };  // "default" | "reduce-overhead" | "max-autotune"
enum class CompileBackend { Inductor, AotEager };                 // "inductor" | "aot_eager"
enum class Precision { FP32, BF16 };                              // "fp32" | "bf16"

// The compile-contract variables of one model, declared by its registry entry
// (models/registry.h): the Python setup's per-model kill switches and mode/backend overrides. Within each
// list the first variable set wins.
struct CompileFamily {
  std::string name;                        // the model's name, e.g. in `fcast config`
  std::vector<std::string> disable;        // truthy: compilation off (the strongest variable)
  std::vector<std::string> enable;         // compilation on/off
  std::vector<std::string> mode;           // compile mode
  std::vector<std::string> backend;        // compile backend
  std::string note;                        // shown by `fcast config` (e.g. how the Python setup's default differed)
};

const char* to_string(CompileMode m);
const char* to_string(CompileBackend b);
const char* to_string(Precision p);

struct CompileSettings {
  bool enabled = true;                       // compile on by default on CPU
  CompileMode mode = CompileMode::MaxAutotune;
  CompileBackend backend = CompileBackend::Inductor;
  Precision precision = Precision::FP32;
  std::string models_dir = "compiled_models";  // COMPILED_MODELS_DIR (made absolute)
  std::string kernel_cache_dir;                // TORCHINDUCTOR_CACHE_DIR; default <models_dir>/torch_inductor
  int recompile_limit = 8;                     // TORCHDYNAMO_RECOMPILE_LIMIT
  bool debug = false;                          // TORCH_COMPILE_DEBUG
  bool log_recompiles = false;                 // TORCH_LOGS contains "recompiles"
  std::vector<int64_t> context_buckets = {256, 512, 1024, 2048, 4096};  // FCAST_CONTEXT_BUCKETS (time steps)
  int64_t hybrid_min_batch = 0;                // FCAST_HYBRID_MIN_BATCH: calls with fewer series run eager
  bool persistent_cache = true;                // FCAST_PERSISTENT_CACHE=0 disables the on-disk cache
  std::map<std::string, std::string> source;   // setting name -> "default" | "env VAR" | "flag --x"
};

// Values given on the command line; each wins over the environment.
struct CompileOverrides {
  std::optional<bool> compile;             // --compile / --no-compile
  std::optional<std::string> mode;         // --compile-mode
  std::optional<std::string> backend;      // --compile-backend
  std::optional<std::string> precision;    // --precision fp32|bf16
  std::optional<std::string> models_dir;   // --compiled-models-dir
  std::optional<int> recompile_limit;      // --recompile-limit
};

// Throws fcast::Error listing the valid values for a bad value. When compilation is off, the
// variables of the compiled-only settings (all but `enabled`) cannot take effect and are not
// read: those settings keep their defaults unless a flag sets them. A caller that runs compiled
// whatever the switches say passes `compile = true`.
CompileSettings resolve_compile_settings(const CompileFamily& family, const Environment& env, const CompileOverrides& cli = {});

}  // namespace fcast
