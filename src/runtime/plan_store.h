// The plan store: the backend-neutral half of compilation, shared by every session of one
// loaded model. It keys plans by signature (named fields, see PlanSignature), builds a missing
// plan once (or loads it from the persistent cache, kind "plan"), and owns the recompile
// policy: after mark_warm() a new signature is a recompile, counted with its reason (the
// fields that changed against the nearest known signature), logged when asked
// (TORCH_LOGS=recompiles) and, once `recompile_limit` recompiles happened, refused so the
// caller runs eager (TORCHDYNAMO_RECOMPILE_LIMIT).
//
//   PlanStore store(settings, identity, /*fuse=*/true);
//   PlanStore::Lookup l = store.get(graph, signature, /*strict=*/false);
//   if (!l.plan) run eager;  else backend.bind(graph, *l.plan, ...)
//
// Plans hold no memory of a run (arenas are bound per session by the backend).
// Thread-safety: every method may be called concurrently; a missing plan is built once, under
// the store's lock, while other signatures' lookups wait.
#pragma once
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "graph/plan.h"
#include "runtime/compile_settings.h"
#include "runtime/plan_cache.h"

namespace fcast {

class PlanStore {
 public:
  PlanStore(CompileSettings settings, std::string model_identity, bool fuse);

  struct Lookup {
    std::shared_ptr<const Plan> plan;  // null: the recompile limit is reached, run eager
    bool built = false;                // this lookup built (or loaded) the plan
    bool recompile = false;            // ... after warm-up
    std::string reason;                // for a build: "first call" or the fields that changed
    int64_t cache_hits = 0, cache_misses = 0;  // persistent-cache lookups this call made
  };
  // `strict`: a recompile after warm-up is an error (FCAST_STRICT_PLANS) instead of a build.
  Lookup get(const Graph& g, const PlanSignature& sig, bool strict);

  void mark_warm();
  bool warm() const;
  size_t size() const;
  int64_t recompiles() const;
  std::vector<std::string> recompile_reasons() const;  // one line per recompile, in order

 private:
  const CompileSettings settings_;
  const std::string identity_;
  const bool fuse_;
  mutable std::mutex mu_;
  std::map<std::string, std::shared_ptr<const Plan>> plans_;
  std::vector<PlanSignature> signatures_;  // in build order (to explain recompiles)
  std::vector<std::string> reasons_;
  bool warm_ = false;
  bool warned_limit_ = false;
  std::unique_ptr<PlanCache> cache_;
};

}  // namespace fcast
