// The backend seam: what a device has to provide to execute plans. The plan store
// (runtime/plan_store.h) decides *which* plan a graph runs; a backend binds a plan to one
// session's memory (arena, kernel handles) and executes it. The CPU backend
// (runtime/cpu_backend.h) is the only one today; a GPU backend implements the same interface.
//
//   std::unique_ptr<BoundPlan> b = backend.bind(graph, plan, &counters);   // once per session and plan
//   TensorMap out = backend.run(*b, graph, inputs, opts);                 // every call
//
// Thread-safety: every Backend method may be called from several threads at once (shared
// state such as pre-packed weights is built once, under the backend's lock). A BoundPlan
// belongs to one session and is run by one thread at a time.
#pragma once
#include <functional>
#include <memory>
#include <string>

#include "graph/plan.h"
#include "runtime/eager_executor.h"

namespace fcast {

// A plan bound to one session: its arena, kernel handles and tensor views.
class BoundPlan {
 public:
  virtual ~BoundPlan() = default;
  virtual const Plan& plan() const = 0;       // with each step's chosen implementation filled in
  virtual std::string describe() const = 0;   // steps, implementations, arena and scratch sizes
};

// Persistent-cache lookups a bind made (pre-packed weights, autotune choices).
struct BindCounters {
  int64_t cache_hits = 0, cache_misses = 0;
};

struct RunOptions {
  bool strict = false;  // a tensor allocation inside the planned run is an error
  // Called after each step with its name, implementation and seconds (profiling); null: not timed.
  std::function<void(const std::string& name, const std::string& impl, double seconds)> on_step;
};

class Backend {
 public:
  virtual ~Backend() = default;
  // Names the device and its features ("x86_64:avx2,avx512f,..."); part of every plan's signature.
  virtual std::string identity() const = 0;
  // Plans for this backend are lowered with fused steps (false: one reference step per node).
  virtual bool fuses() const = 0;
  virtual std::unique_ptr<BoundPlan> bind(const Graph& g, const Plan& plan, BindCounters* counters) = 0;
  virtual TensorMap run(BoundPlan& b, const Graph& g, const TensorMap& inputs, const RunOptions& opt) = 0;
  // Memory for tensors the models keep between runs (KV caches).
  virtual Tensor allocate(DType dtype, const Shape& shape) = 0;
};

}  // namespace fcast
