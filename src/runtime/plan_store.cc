#include "runtime/plan_store.h"

#include <algorithm>
#include <chrono>
#include <iostream>

#include "graph/passes/fusion.h"
#include "graph/passes/memory_plan.h"

namespace fcast {

namespace {

bool same_step(const PlanStep& a, const PlanStep& b) {
  if (a.kind != b.kind || a.node != b.node || a.in != b.in || a.out != b.out || a.out2 != b.out2 ||
      a.tmp != b.tmp || a.i != b.i || a.f != b.f || a.name != b.name || a.epilogue.size() != b.epilogue.size())
    return false;
  for (size_t k = 0; k < a.epilogue.size(); ++k)
    if (a.epilogue[k].op != b.epilogue[k].op || a.epilogue[k].arg != b.epilogue[k].arg) return false;
  return true;
}

// Whether a plan read from the persistent cache may run this graph. Its steps must be exactly
// the ones lowering builds for the graph now (cheap; a step whose operands, attributes or
// epilogue were changed would compute something else or index out of the graph), and its
// arena layout must pass the memory pass's check (the placement is what the cache saves).
bool plan_fits(const Plan& p, const Graph& g, const PlanSignature& sig, bool fuse) {
  if (p.value_count != g.values().size() || !(p.signature == sig)) return false;
  const std::vector<PlanStep> want = lower_graph(g, fuse);
  if (p.steps.size() != want.size()) return false;
  for (size_t k = 0; k < want.size(); ++k)
    if (!same_step(p.steps[k], want[k])) return false;
  return memory_plan_valid(g, p);
}

}  // namespace

PlanStore::PlanStore(CompileSettings settings, std::string model_identity, bool fuse)
    : settings_(std::move(settings)), identity_(std::move(model_identity)), fuse_(fuse) {
  if (settings_.persistent_cache) cache_ = std::make_unique<PlanCache>(settings_.models_dir, true);
}

PlanStore::Lookup PlanStore::get(const Graph& g, const PlanSignature& sig, bool strict) {
  const std::string key = sig.key();
  std::lock_guard<std::mutex> lock(mu_);
  Lookup l;
  if (auto it = plans_.find(key); it != plans_.end()) {
    l.plan = it->second;
    return l;
  }
  if (warm_ && static_cast<int64_t>(reasons_.size()) >= settings_.recompile_limit) {
    if (!warned_limit_) {
      std::cerr << "[fcast] warning: hit the recompile limit (" << settings_.recompile_limit
                << ", TORCHDYNAMO_RECOMPILE_LIMIT); new signatures run eager from now on. Last new signature: " << key
                << "\n";
      warned_limit_ = true;
    }
    return l;
  }
  l.reason = "first call";
  if (!signatures_.empty()) {
    const PlanSignature* nearest = &signatures_.front();
    for (const auto& s : signatures_)
      if (PlanSignature::distance(s, sig) < PlanSignature::distance(*nearest, sig)) nearest = &s;
    l.reason = PlanSignature::diff(*nearest, sig);
  }
  if (warm_) {
    FCAST_CHECK(!strict, "strict plans (FCAST_STRICT_PLANS): a recompile after warm-up was requested: ", l.reason);
    l.recompile = true;
    reasons_.push_back(l.reason);
    if (settings_.log_recompiles)
      std::cerr << "[fcast] recompile " << reasons_.size() << "/" << settings_.recompile_limit << " (model "
                << sig.get("model") << ", " << sig.get("phase") << "): " << l.reason << "\n";
  } else if (settings_.log_recompiles && settings_.debug) {
    std::cerr << "[fcast] compile (warm-up): " << l.reason << "\n";
  }

  // The persistent key leaves out the in-process weights field: the model identity names them.
  PlanSignature persisted = sig;
  persisted.fields.erase(std::remove_if(persisted.fields.begin(), persisted.fields.end(),
                                        [](const auto& f) { return f.first == "weights"; }),
                         persisted.fields.end());
  std::optional<Plan> plan;
  if (cache_) {
    if (auto blob = cache_->load({"plan", identity_, persisted.key()})) {
      plan = Plan::deserialize(*blob);
      if (plan && plan_fits(*plan, g, persisted, fuse_)) {
        ++l.cache_hits;
      } else {
        std::cerr << "[fcast] plan cache: entry for this signature does not fit the graph; rebuilding\n";
        plan.reset();
      }
    }
    if (!plan) ++l.cache_misses;
  }
  if (!plan) {
    plan = compile_plan(g, persisted, CompileOptions{fuse_});
    if (cache_) cache_->store({"plan", identity_, persisted.key()}, plan->serialize());
  }
  plan->signature = sig;
  auto shared = std::make_shared<const Plan>(std::move(*plan));
  plans_.emplace(key, shared);
  signatures_.push_back(sig);
  l.plan = std::move(shared);
  l.built = true;
  return l;
}

void PlanStore::mark_warm() {
  std::lock_guard<std::mutex> lock(mu_);
  warm_ = true;
}

bool PlanStore::warm() const {
  std::lock_guard<std::mutex> lock(mu_);
  return warm_;
}

size_t PlanStore::size() const {
  std::lock_guard<std::mutex> lock(mu_);
  return plans_.size();
}

int64_t PlanStore::recompiles() const {
  std::lock_guard<std::mutex> lock(mu_);
  return static_cast<int64_t>(reasons_.size());
}

std::vector<std::string> PlanStore::recompile_reasons() const {
  std::lock_guard<std::mutex> lock(mu_);
  return reasons_;
}

}  // namespace fcast
