#include "runtime/plan_store.h"

#include <algorithm>
#include <chrono>
#include <iostream>

namespace fcast {

namespace {

// The ops a step of each kind may start at (graph/passes/fusion.cc forms them so).
bool kind_fits(StepKind k, Op op) {
  switch (k) {
    case StepKind::Reference: return true;
    case StepKind::Matmul: return op == Op::Linear;
    case StepKind::AddRMSNorm: return op == Op::Add;
    case StepKind::RMSNorm: return op == Op::RMSNorm;
    case StepKind::Softmax: return op == Op::Softmax;
    case StepKind::Rotary:
      return op == Op::UnpackHeads || op == Op::RotaryXPos || op == Op::RotaryNeox || op == Op::KVWrite;
    case StepKind::Attention: return op == Op::Attention;
    case StepKind::SiluMul: return op == Op::SiluMul || op == Op::Silu;
  }
  return false;
}

// A blob that parses but does not fit this graph (other value count, operands out of range) is
// a miss as well: the backend would index out of the graph.
bool plan_fits(const Plan& p, const Graph& g, const PlanSignature& sig) {
  const size_t nv = g.values().size();
  if (p.value_count != nv || p.offset.size() != nv || !(p.signature == sig)) return false;
  auto ok = [&](ValueId v) { return v == kNone || (v >= 0 && static_cast<size_t>(v) < nv); };
  for (const PlanStep& s : p.steps)
    if (s.node < 0 || static_cast<size_t>(s.node) >= g.nodes().size() || !ok(s.out) || !ok(s.out2) || !ok(s.tmp) ||
        !std::all_of(s.in.begin(), s.in.end(), ok) || !kind_fits(s.kind, g.nodes()[s.node].op))
      return false;
  // A reference step runs its node as the graph has it: its operands and result must be the
  // node's own (another value of another shape would be read or written out of bounds).
  for (const PlanStep& s : p.steps)
    if (s.kind == StepKind::Reference && (s.in != g.nodes()[s.node].in || s.out != g.nodes()[s.node].out))
      return false;
  // Every arena slot lies inside the arena; every temporary a step writes has one.
  if (p.arena_bytes < 0) return false;
  for (size_t v = 0; v < nv; ++v) {
    const int64_t off = p.offset[v];
    if (off == -1) continue;
    const auto& val = g.values()[v];
    const int64_t bytes = shape_numel(val.shape) * static_cast<int64_t>(dtype_size(val.dtype));
    if (off < 0 || off > p.arena_bytes || bytes > p.arena_bytes - off) return false;
  }
  for (const PlanStep& s : p.steps)
    for (ValueId v : {s.out, s.out2, s.tmp})
      if (v != kNone) {
        const ValueId r = storage_root(g, v);
        if (g.values()[r].kind == Graph::Kind::Temp && p.offset[r] < 0) return false;
      }
  return true;
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
      if (plan && plan_fits(*plan, g, persisted)) {
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
