// Command-line values for every compile setting, including the ones CompileOverrides
// (compile_settings.h) does not carry: the kernel cache directory, debug and recompile
// logging, context buckets, the hybrid threshold and the persistent-cache switch. Each flag
// wins over its environment variable; the source map records "flag --x".
//
//   CompileCliValues cli;
//   cli.base.mode = "reduce-overhead";          // --compile-mode
//   cli.context_buckets = "128,256,512";        // --context-buckets
//   CompileSettings s = resolve_compile_cli(entry.compile, Environment::from_process(), cli);
//
// resolve_compile_settings(family, env, overrides) is resolve_compile_cli with only `base` set.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "runtime/compile_settings.h"

namespace fcast {

struct CompileCliValues {
  CompileOverrides base;                        // --compile/--no-compile, --compile-mode, --compile-backend,
                                                // --precision, --compiled-models-dir, --recompile-limit
  std::optional<std::string> kernel_cache_dir;  // --kernel-cache-dir      (TORCHINDUCTOR_CACHE_DIR)
  std::optional<bool> debug;                    // --compile-debug / --no-compile-debug (TORCH_COMPILE_DEBUG)
  std::optional<std::string> torch_logs;        // --torch-logs LIST       (TORCH_LOGS)
  std::optional<std::string> context_buckets;   // --context-buckets LIST  (FCAST_CONTEXT_BUCKETS)
  std::optional<int64_t> hybrid_min_batch;      // --hybrid-min-batch N    (FCAST_HYBRID_MIN_BATCH)
  std::optional<bool> persistent_cache;         // --persistent-cache / --no-persistent-cache (FCAST_PERSISTENT_CACHE)
};

// Throws fcast::Error naming the variable or flag and listing the valid values.
CompileSettings resolve_compile_cli(const CompileFamily& family, const Environment& env, const CompileCliValues& cli);


// Every environment variable resolve_compile_cli reads for `family`, in documentation order.
std::vector<std::string> compile_env_vars(const CompileFamily& family);

}  // namespace fcast
