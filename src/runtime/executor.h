// Executors run graphs. Model code talks to this interface only, so the eager reference and
// the compiled executor are interchangeable under every model.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "runtime/eager_executor.h"

namespace fcast {

// Counters every executor reports (the eager one reports zeros). "After warm-up" is the
// caller's notion: mark_warm() starts counting plan builds as recompiles.
struct ExecutorStats {
  int64_t plans_built = 0;          // plans compiled in this process (cache misses included)
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
  virtual ~Executor() = default;
  virtual TensorMap run(const Graph& g, const TensorMap& inputs) = 0;
  virtual std::string name() const = 0;
  virtual ExecutorStats stats() const { return stats_; }
  virtual void mark_warm() { warm_ = true; }
  void set_profiling(bool on) { profiling_ = on; }
  bool profiling() const { return profiling_; }
  const std::vector<OpProfile>& profile() const { return profile_; }
  void clear_profile() { profile_.clear(); }
  // Context-length buckets in time steps (ascending). When non-empty, models left-pad prefills
  // to the next bucket (with masks: results are unchanged) and size KV caches by bucket, so
  // every context length inside one bucket shares one plan. Empty: no padding (eager default).
  const std::vector<int64_t>& context_buckets() const { return context_buckets_; }
  void set_context_buckets(std::vector<int64_t> b) { context_buckets_ = std::move(b); }
  // The dtype models give the KV caches they run on this executor, for attention of this head
  // dim: F32, or BF16 where the executor multiplies in bf16 anyway (half the cache memory and
  // traffic; every executor reads both).
  virtual DType kv_cache_dtype(int64_t head_dim) const { return DType::F32; }

 protected:
  void record_op(const std::string& op, const std::string& impl, double seconds);
  ExecutorStats stats_;
  bool warm_ = false;
  bool profiling_ = false;
  std::vector<OpProfile> profile_;
  std::vector<int64_t> context_buckets_;
};

class EagerExecutor : public Executor {
 public:
  TensorMap run(const Graph& g, const TensorMap& inputs) override;
  std::string name() const override { return "eager"; }
};

}  // namespace fcast
