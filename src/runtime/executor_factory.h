// Builds the executor a CompileSettings asks for: EagerExecutor when compilation is off,
// otherwise the compiled executor (plans, memory arena, fused kernels, persistent cache).
#pragma once
#include <memory>
#include <optional>
#include <string>

#include "runtime/compile_settings.h"
#include "runtime/executor.h"

namespace fcast {

// `model_identity` is the model's hash (config + tensor table); it keys the persistent cache.
std::shared_ptr<Executor> make_executor(const CompileSettings& s, const std::string& model_identity);

// An executor from a short spec, for tools and tests: "eager", or
// "BACKEND[:MODE][:PRECISION]" with BACKEND inductor|aot_eager, MODE default|reduce-overhead|
// max-autotune (default "default"), PRECISION fp32|bf16 (default fp32); e.g. "inductor:max-autotune:bf16".
// Persistent caching is off (goldens and tests must not depend on a cache folder). Throws
// fcast::Error listing the valid values for a bad spec.
std::shared_ptr<Executor> make_executor_from_spec(const std::string& spec, const std::string& model_identity);

// The settings of a spec as above; nullopt for "eager" or an empty spec. `what` is how errors
// quote the spec (--compile 'x', FCAST_GOLDEN_EXECUTOR='x').
std::optional<CompileSettings> parse_executor_spec(const std::string& spec, const std::string& what);

// The golden runners' executor: FCAST_GOLDEN_EXECUTOR (a spec as above; unset or "eager" = eager).
std::shared_ptr<Executor> golden_executor(const std::string& model_identity);

}  // namespace fcast
