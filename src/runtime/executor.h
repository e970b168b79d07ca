// Executors run graphs. Model code talks to this interface only, so the eager reference and
// the compiled executor are interchangeable under every model.
//
//   std::shared_ptr<Executor> ex = make_executor(settings, identity);   // executor_factory.h
//   TensorMap out = ex->run(graph, {{"x", x}});
//   ex->policy().context_buckets;          // how models should pad (a value fixed at creation)
//   ex->set_observer([](const Graph& g, TensorMap& out) { ... });   // tools: see every run
//
// An executor is one caller's (a session's) execution state: statistics, profile, bound plans
// and arenas (compiled). Thread-safety: one executor is used by one thread at a time; several
// executors (sessions) may run at once, also over one shared CompiledModel
// (runtime/compiled_executor.h). policy() and name() may be called from any thread.
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "runtime/eager_executor.h"
#include "runtime/exec_policy.h"

namespace fcast {

// Counters every executor reports (the eager one reports runs only). "After warm-up" is the
// model's notion: mark_warm() starts counting plan builds as recompiles.
struct ExecutorStats {
  int64_t plans_built = 0;          // plans compiled by this session (cache misses included)
  int64_t recompiles = 0;           // plans built after mark_warm()
  int64_t cache_hits = 0;           // plans (or their parts) loaded from the persistent cache
  int64_t cache_misses = 0;         // persistent-cache lookups that had to build
  int64_t fallbacks_to_eager = 0;   // calls run eagerly because the recompile limit was reached
  int64_t runs = 0;                 // graph executions
  // Field-wise sum (a predictor and its tokenizer, or several models, reported as one).
  ExecutorStats& operator+=(const ExecutorStats& o) {
    plans_built += o.plans_built;
    recompiles += o.recompiles;
    cache_hits += o.cache_hits;
    cache_misses += o.cache_misses;
    fallbacks_to_eager += o.fallbacks_to_eager;
    runs += o.runs;
    return *this;
  }
};

// Per-op (per fused kernel) time, collected while profiling is on.
struct OpProfile {
  std::string op;     // op or fused-kernel name, e.g. "linear+bias+silu"
  std::string impl;   // implementation chosen, e.g. "reference", "onednn-f32", "amx-bf16"
  double seconds = 0;
  int64_t calls = 0;
};

class Executor {
 public:
  // Called after every run with the graph and its outputs, which it may replace (the stress
  // test's deliberate perturbation) or only read (the profiler's graph recorder).
  using Observer = std::function<void(const Graph& g, TensorMap& outputs)>;

  explicit Executor(ExecPolicy policy = {}) : policy_(std::move(policy)) {}
  virtual ~Executor() = default;
  Executor(const Executor&) = delete;
  Executor& operator=(const Executor&) = delete;

  TensorMap run(const Graph& g, const TensorMap& inputs);
  virtual std::string name() const = 0;
  virtual ExecutorStats stats() const { return stats_; }
  // Why each plan built after warm-up was built (the signature fields that changed), in order.
  virtual std::vector<std::string> recompile_reasons() const { return {}; }
  // From here a new plan is a recompile (counted, logged, limited).
  virtual void mark_warm() { warm_ = true; }

  const ExecPolicy& policy() const { return policy_; }
  void set_observer(Observer o) { observer_ = std::move(o); }

  void set_profiling(bool on) { profiling_ = on; }
  bool profiling() const { return profiling_; }
  const std::vector<OpProfile>& profile() const { return profile_; }
  void clear_profile() { profile_.clear(); }

 protected:
  virtual TensorMap run_graph(const Graph& g, const TensorMap& inputs) = 0;
  void record_op(const std::string& op, const std::string& impl, double seconds);
  ExecutorStats stats_;
  bool warm_ = false;
  bool profiling_ = false;
  std::vector<OpProfile> profile_;

 private:
  const ExecPolicy policy_;
  Observer observer_;
};

class EagerExecutor : public Executor {
 public:
  explicit EagerExecutor(ExecPolicy policy = {}) : Executor(std::move(policy)) {}
  std::string name() const override { return "eager"; }

 protected:
  TensorMap run_graph(const Graph& g, const TensorMap& inputs) override;
};

}  // namespace fcast
