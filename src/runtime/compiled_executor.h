// Compiled execution, split the way llama.cpp splits llama_model and llama_context:
//
// - CompiledModel: shared by every session of one loaded model and immutable in what it
//   computes: the settings, the plan store (plans without arenas, recompile policy, persistent
//   cache; runtime/plan_store.h) and the backend (pre-packed weights, autotune choices;
//   runtime/backend.h). Thread-safe.
// - CompiledExecutor: one session's executor over a CompiledModel: plans bound to its own
//   arenas and kernel handles, its statistics, its profile. One thread at a time.
//
//   CompileSettings s;                                        // compile_settings.h
//   auto compiled = std::make_shared<CompiledModel>(s, weights.identity);
//   auto a = std::make_shared<CompiledExecutor>(compiled);    // session 1 (thread 1)
//   auto b = std::make_shared<CompiledExecutor>(compiled);    // session 2 (thread 2): same plans and packed weights
//   TotoModel model(weights, a);                              // every forward now runs a plan
//   ... warm-up forecast ...
//   a->mark_warm();                                           // the model is warm: a new signature is a recompile
//   a->stats().recompiles                                     // 0 when every call hit a plan
//
// Signature (the plan key): the named fields model, phase, batch, variates, rows, patches,
// capacity (from the graph's meta), graph (a structural hash: ops, attributes, shapes), weights,
// dtype, mode, backend and cpu (the backend's identity). Per-step values (KV write position,
// valid start) are inputs, so decode steps never change it. A graph that model code keeps and
// runs again is not hashed again (Graph::uid). After mark_warm() a new signature is a
// recompile, logged with the fields that changed when settings.log_recompiles
// (TORCH_LOGS=recompiles); once `recompile_limit` recompiles happened, new signatures run
// eager, with one warning, counted in stats().fallbacks_to_eager.
//
// Modes: default = fused plan; reduce-overhead = plus buffers bound once (no per-call set-up:
// only pointers of per-call inputs are swapped); max-autotune = plus per-shape timing of the
// kernel variants, the fastest kept and persisted (PlanCache kind "autotune").
// Backends: inductor (optimised kernels, fp32 or bf16) and aot_eager (plan and arena with the
// reference kernels: equal to eager bit for bit).
// Strict mode (FCAST_STRICT_PLANS=1 or set_strict): a recompile after warm-up, or a tensor
// allocation by the calling thread inside a planned run, is an error instead.
#pragma once
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "runtime/backend.h"
#include "runtime/compile_settings.h"
#include "runtime/cpu_backend.h"
#include "runtime/executor.h"
#include "runtime/plan_store.h"

namespace fcast {

class CompiledModel {
 public:
  CompiledModel(CompileSettings settings, std::string model_identity);

  const CompileSettings& settings() const { return settings_; }
  const std::string& identity() const { return identity_; }
  const ExecPolicy& policy() const { return policy_; }
  PlanStore& plans() { return plans_; }
  const PlanStore& plans() const { return plans_; }
  CpuBackend& backend() { return *backend_; }
  const CpuBackend& backend() const { return *backend_; }
  // The plan key of `g` (see above). Thread-safe.
  PlanSignature signature_of(const Graph& g) const;

 private:
  const CompileSettings settings_;
  const std::string identity_;
  const ExecPolicy policy_;
  std::unique_ptr<CpuBackend> backend_;
  PlanStore plans_;
};

class CompiledExecutor : public Executor {
 public:
  explicit CompiledExecutor(std::shared_ptr<CompiledModel> model);
  // A session over a CompiledModel of its own (a model used by one caller).
  CompiledExecutor(CompileSettings settings, std::string model_identity);
  ~CompiledExecutor() override;

  std::string name() const override;
  // Marks the shared model warm: from now on a new signature in any session is a recompile.
  void mark_warm() override;

  const CompileSettings& settings() const { return model_->settings(); }
  CompiledModel& compiled_model() { return *model_; }
  PlanSignature signature_of(const Graph& g) const { return model_->signature_of(g); }
  size_t plan_count() const { return bound_.size(); }  // plans bound by this session
  // One line per plan this session built after warm-up: "fields that changed".
  std::vector<std::string> recompile_reasons() const override { return reasons_; }
  // Text description of this session's plan for `g` ("" when none): steps, implementations, arena size.
  std::string describe_plan(const Graph& g) const;
  void set_strict(bool on) { strict_ = on; }
  // Persistent-cache lookups of pre-packed weights (PlanCache kind "packed") by the shared
  // model, all sessions together; also counted in the binding session's stats().cache_hits /
  // cache_misses with the plan and autotune lookups.
  int64_t packed_cache_hits() const { return model_->backend().packed_cache_hits(); }
  int64_t packed_cache_misses() const { return model_->backend().packed_cache_misses(); }

 protected:
  TensorMap run_graph(const Graph& g, const TensorMap& inputs) override;

 private:
  BoundPlan* bound_for(const Graph& g);  // null: run eager (recompile limit)

  std::shared_ptr<CompiledModel> model_;
  bool strict_ = false;
  std::map<std::string, std::unique_ptr<BoundPlan>> bound_;   // signature key -> this session's binding
  std::unordered_map<uint64_t, BoundPlan*> by_graph_;         // Graph::uid -> binding (no rehash)
  std::vector<std::string> reasons_;
};

}  // namespace fcast
