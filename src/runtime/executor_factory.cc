#include "runtime/executor_factory.h"

#include <sstream>

#include "core/env.h"
#include "runtime/compiled_executor.h"

namespace fcast {

// Hybrid policy (the production guide's hybrid strategy): calls with fewer than `hybrid_min_batch` sequences run
// eager (CompiledExecutor::run). Measured on the 2-core AVX-512/AMX development machine with
//   fcast bench --workload W4 --workload W1 --reps 5
// (Toto published shape, context 512, one series: a batch-1 prefill, the smallest call a
// forecast makes): eager 53 ms, compiled fp32 30 ms (1.78x), compiled bf16 19 ms (2.84x) in
// one run. Compiled already pays off at batch 1 (first call includes the plan build, 0.15-0.25 s),
// so there is no batch below which eager wins: the default threshold is 0 (every call compiled).
std::shared_ptr<Executor> make_executor(const CompileSettings& s, const std::string& model_identity) {
  if (!s.enabled) return std::make_shared<EagerExecutor>();
  return std::make_shared<CompiledExecutor>(s, model_identity);
}

std::optional<CompileSettings> parse_executor_spec(const std::string& spec, const std::string& what) {
  if (spec.empty() || spec == "eager") return std::nullopt;
  std::vector<std::string> parts;
  std::stringstream ss(spec);
  for (std::string p; std::getline(ss, p, ':');) parts.push_back(p);
  CompileSettings s;
  s.persistent_cache = false;
  s.mode = CompileMode::Default;
  FCAST_CHECK(parts.size() <= 3, what, ": expected eager or BACKEND[:MODE][:PRECISION]");
  if (parts[0] == "inductor") s.backend = CompileBackend::Inductor;
  else if (parts[0] == "aot_eager") s.backend = CompileBackend::AotEager;
  else fail(what, ": backend '", parts[0], "' is not one of eager, inductor, aot_eager");
  for (size_t i = 1; i < parts.size(); ++i) {
    const std::string& p = parts[i];
    if (p == "default") s.mode = CompileMode::Default;
    else if (p == "reduce-overhead") s.mode = CompileMode::ReduceOverhead;
    else if (p == "max-autotune") s.mode = CompileMode::MaxAutotune;
    else if (p == "fp32") s.precision = Precision::FP32;
    else if (p == "bf16") s.precision = Precision::BF16;
    else fail(what, ": '", p, "' is not a mode (default, reduce-overhead, max-autotune) or a ",
              "precision (fp32, bf16)");
  }
  return s;
}

std::shared_ptr<Executor> make_executor_from_spec(const std::string& spec, const std::string& model_identity) {
  const std::optional<CompileSettings> s = parse_executor_spec(spec, "executor spec '" + spec + "'");
  if (!s) return std::make_shared<EagerExecutor>();
  return std::make_shared<CompiledExecutor>(*s, model_identity);
}

std::shared_ptr<Executor> golden_executor(const std::string& model_identity) {
  return make_executor_from_spec(env_string("FCAST_GOLDEN_EXECUTOR").value_or(""), model_identity);
}

}  // namespace fcast
