// Builds the executor a CompileSettings asks for: EagerExecutor when compilation is off,
// otherwise the compiled executor (plans, memory arena, fused kernels, persistent cache).
#pragma once
#include <memory>
#include <string>

#include "runtime/compile_settings.h"
#include "runtime/executor.h"

namespace fcast {

// `model_identity` is the model's hash (config + tensor table); it keys the persistent cache.
std::shared_ptr<Executor> make_executor(const CompileSettings& s, const std::string& model_identity);

}  // namespace fcast
