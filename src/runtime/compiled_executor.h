// The compiled executor: runs graphs through plans (graph/plan.h) built once per input
// signature, with one memory arena per plan and, for the "inductor" backend, fused oneDNN /
// AVX-512 kernels on pre-packed weights.
//
//   CompileSettings s;                       // mode, backend, precision, limits: compile_settings.h
//   auto ex = std::make_shared<CompiledExecutor>(s, weights.identity);
//   TotoModel model(weights, ex);            // every forward now runs a plan
//   ... warm-up forecast ...
//   ex->mark_warm();                         // from here a new signature is a recompile
//   ex->stats().recompiles                   // 0 when every call hit a plan
//
// Signature (the plan key): the named fields model, phase, batch, variates, rows, patches,
// capacity (from the graph's meta), graph (a structural hash: ops, attributes, shapes),
// dtype, mode, backend and cpu. Per-step values (KV write position, valid start) are inputs, so
// decode steps never change it. A signature without a plan builds one (from the persistent
// cache when it holds it); after mark_warm() that is a recompile, logged with the fields that
// changed when settings.log_recompiles (TORCH_LOGS=recompiles). Once `recompile_limit`
// recompiles happened, new signatures run eager, with one warning, counted in
// stats().fallbacks_to_eager.
//
// Modes: default = fused plan; reduce-overhead = plus buffers bound once (no per-call set-up:
// only pointers of per-call inputs are swapped); max-autotune = plus per-shape timing of the
// kernel variants, the fastest kept and persisted (PlanCache kind "autotune").
// Backends: inductor (optimised kernels, fp32 or bf16) and aot_eager (plan and arena with the
// reference kernels: equal to eager bit for bit).
// Strict mode (FCAST_STRICT_PLANS=1 or set_strict): a recompile after warm-up, or a tensor
// allocation inside a planned run, is an error instead.
#pragma once
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "graph/plan.h"
#include "runtime/compile_settings.h"
#include "runtime/executor.h"
#include "runtime/plan_cache.h"

namespace fcast {

namespace cpu {
class MatmulKernel;
}

class CompiledExecutor : public Executor {
 public:
  CompiledExecutor(CompileSettings settings, std::string model_identity);
  ~CompiledExecutor() override;

  TensorMap run(const Graph& g, const TensorMap& inputs) override;
  std::string name() const override;
  ExecutorStats stats() const override { return stats_; }

  const CompileSettings& settings() const { return settings_; }
  PlanSignature signature_of(const Graph& g) const;
  size_t plan_count() const { return plans_.size(); }
  // One line per plan built after warm-up: "fields that changed" (also logged when asked).
  const std::vector<std::string>& recompile_reasons() const { return reasons_; }
  // Text description of the plan for `g` ("" when none): steps, implementations, arena size.
  std::string describe_plan(const Graph& g) const;
  void set_strict(bool on) { strict_ = on; }
  // Persistent-cache lookups of pre-packed weights (PlanCache kind "packed"); also counted in
  // stats().cache_hits / cache_misses with the plan and autotune lookups.
  int64_t packed_cache_hits() const { return packed_hits_; }
  int64_t packed_cache_misses() const { return packed_misses_; }

 private:
  struct Bound;
  Bound& plan_for(const Graph& g, const PlanSignature& sig, const std::string& key);
  std::unique_ptr<Bound> bind(const Graph& g, Plan plan);
  TensorMap execute(Bound& b, const Graph& g, const TensorMap& inputs);
  // BF16 with bf16 plans where the attention kernel reads bf16 caches (FCAST_KV_CACHE_BF16=0: F32).
  DType kv_cache_dtype(int64_t head_dim) const override;
  bool bf16_plans() const {
    return settings_.backend == CompileBackend::Inductor && settings_.precision == Precision::BF16;
  }
  std::string choose_matmul_variant(int64_t M, int64_t K, int64_t N, bool bias, bool silu, bool bf16);
  // `w` in `k`'s layout: from the persistent cache (kind "packed") when it holds it, else packed now.
  Tensor pack_weight(const cpu::MatmulKernel& k, const std::string& name, const Tensor& w, bool bf16);

  CompileSettings settings_;
  std::string identity_;
  bool strict_ = false;
  bool running_ = false;
  bool warned_limit_ = false;
  std::map<std::string, std::unique_ptr<Bound>> plans_;
  std::vector<PlanSignature> signatures_;  // in build order (to explain recompiles)
  std::vector<std::string> reasons_;
  std::map<std::string, Tensor> packed_;   // pre-packed weights, shared by every plan
  std::map<std::string, std::string> autotune_;  // shape key -> chosen variant
  std::map<const void*, uint64_t> weight_sums_;   // content checksum per source weight (packed cache keys)
  int64_t packed_hits_ = 0, packed_misses_ = 0;
  std::unique_ptr<PlanCache> plan_cache_, kernel_cache_;
};

}  // namespace fcast
