// The CPU backend: binds plans to fused kernels (oneDNN matmuls on pre-packed weights with
// fused epilogues, add+RMSNorm, rotary + KV write, flash attention; fp32 or bf16) or, for the
// aot_eager backend, to the reference kernels; runs them over one arena per bound plan.
//
//   CpuBackend cpu(settings, model_identity);        // one per CompiledModel
//   auto b = cpu.bind(graph, plan, &counters);        // per session: arena + kernel handles
//   TensorMap out = cpu.run(*b, graph, inputs, {});
//
// Pre-packed weights (PlanCache kind "packed") and max-autotune choices (kind "autotune") are
// shared by every plan and every session of the model: each weight is packed once per process.
// Thread-safety: bind(), run() of distinct BoundPlans, allocate() and the counters may be
// called concurrently; packing and autotuning happen under the backend's lock.
#pragma once
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "runtime/backend.h"
#include "runtime/compile_settings.h"
#include "runtime/plan_cache.h"

namespace fcast {

namespace cpu {
class MatmulKernel;
}

class CpuBackend : public Backend {
 public:
  CpuBackend(CompileSettings settings, std::string model_identity);
  ~CpuBackend() override;

  std::string identity() const override;
  bool fuses() const override { return settings_.backend == CompileBackend::Inductor; }
  std::unique_ptr<BoundPlan> bind(const Graph& g, const Plan& plan, BindCounters* counters) override;
  TensorMap run(BoundPlan& b, const Graph& g, const TensorMap& inputs, const RunOptions& opt) override;
  Tensor allocate(DType dtype, const Shape& shape) override { return Tensor::zeros(dtype, shape); }

  // Persistent-cache lookups of pre-packed weights, over all sessions.
  int64_t packed_cache_hits() const;
  int64_t packed_cache_misses() const;
  // Distinct pre-packed weights held (each exists once, whatever the number of sessions) and their bytes.
  size_t packed_weight_count() const;
  int64_t packed_weight_bytes() const;

 private:
  struct Bound;
  bool bf16_plans() const {
    return settings_.backend == CompileBackend::Inductor && settings_.precision == Precision::BF16;
  }
  // Callers hold mu_.
  std::string choose_matmul_variant(int64_t M, int64_t K, int64_t N, bool bias, bool silu, bool bf16,
                                    BindCounters& c);
  Tensor pack_weight(const cpu::MatmulKernel& k, const std::string& name, const Tensor& w, bool bf16,
                     BindCounters& c);

  const CompileSettings settings_;
  const std::string identity_;
  mutable std::mutex mu_;
  std::map<std::string, Tensor> packed_;          // pre-packed weights, shared by every plan and session
  std::map<std::string, std::string> autotune_;   // shape key -> chosen variant
  std::map<const void*, uint64_t> weight_sums_;   // content checksum per source weight (packed cache keys)
  int64_t packed_hits_ = 0, packed_misses_ = 0;
  std::unique_ptr<PlanCache> packed_cache_, kernel_cache_;
};

}  // namespace fcast
