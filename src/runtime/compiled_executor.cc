#include "runtime/compiled_executor.h"

#include <chrono>
#include <iostream>

#include "core/env.h"
#include "core/hash.h"

namespace fcast {

namespace {

// Structural hash: everything about the graph that a plan depends on except per-call data
// and the weights' values (ops, attributes, operands, shapes, dtypes, names).
uint64_t structure_hash(const Graph& g) {
  uint64_t h = fnv1a64("graph", 5);
  auto mix = [&](const void* p, size_t n) { h = fnv1a64(p, n, h); };
  auto mix_i = [&](int64_t v) { mix(&v, sizeof v); };
  for (const auto& v : g.values()) {
    mix_i(static_cast<int64_t>(v.kind));
    mix_i(static_cast<int64_t>(v.dtype));
    mix_i(v.alias);
    for (int64_t d : v.shape) mix_i(d);
    mix_i(-1);
    if (v.kind != Graph::Kind::Temp) mix(v.name.data(), v.name.size());
  }
  for (const auto& n : g.nodes()) {
    mix_i(static_cast<int64_t>(n.op));
    for (ValueId v : n.in) mix_i(v);
    mix_i(n.out);
    for (int64_t v : n.i) mix_i(v);
    for (double v : n.f) mix(&v, sizeof v);
    mix_i(-2);
  }
  for (const auto& [name, v] : g.outputs()) {
    mix(name.data(), name.size());
    mix_i(v);
  }
  return h;
}

// Which weights the graph holds (in this process): plans carry pre-packed copies, so a graph
// with the same structure but other weights needs its own plan.
uint64_t weights_hash(const Graph& g) {
  uint64_t h = fnv1a64("weights", 7);
  for (const auto& v : g.values())
    if (v.kind == Graph::Kind::Constant) {
      // Weights are identified by address (they live as long as the model); small constants
      // that model code may rebuild with every graph (scalars, tiny tables) by content, so a
      // rebuilt graph still matches its plan (the plan keeps its own reference to the data).
      if (v.constant.nbytes() <= 256) {
        h = fnv1a64(v.constant.raw(), v.constant.nbytes(), h);
        h = fnv1a64(v.constant.shape().data(), v.constant.shape().size() * sizeof(int64_t), h);
      } else {
        const void* p = v.constant.raw();
        h = fnv1a64(&p, sizeof p, h);
      }
    }
  return h;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

CompiledModel::CompiledModel(CompileSettings settings, std::string model_identity)
    : settings_(std::move(settings)),
      identity_(std::move(model_identity)),
      policy_(policy_for(settings_)),
      backend_(std::make_unique<CpuBackend>(settings_, identity_)),
      plans_(settings_, identity_, backend_->fuses()) {}

PlanSignature CompiledModel::signature_of(const Graph& g) const {
  PlanSignature s;
  s.set("model", identity_.empty() ? "anonymous" : identity_.substr(0, 16));
  for (const char* k : {"model_part", "phase", "batch", "variates", "rows", "patches", "capacity"}) {
    auto it = g.meta().find(k);
    if (it != g.meta().end()) s.set(k, it->second);
  }
  if (g.meta().empty()) {  // a graph without meta: its inputs say what the call is
    std::string ins;
    for (const auto& v : g.values())
      if (v.kind == Graph::Kind::Input) ins += v.name + shape_str(v.shape) + " ";
    s.set("inputs", ins);
  }
  s.set("graph", hex64(structure_hash(g)).substr(0, 12));
  s.set("weights", hex64(weights_hash(g)).substr(0, 12));
  s.set("dtype", policy_.precision == Precision::BF16 ? "bf16" : "fp32");
  s.set("mode", to_string(settings_.mode));
  s.set("backend", to_string(settings_.backend));
  s.set("cpu", backend_->identity());
  return s;
}

CompiledExecutor::CompiledExecutor(std::shared_ptr<CompiledModel> model)
    : Executor(model->policy()), model_(std::move(model)) {
  strict_ = env_bool("FCAST_STRICT_PLANS", false);
}

CompiledExecutor::CompiledExecutor(CompileSettings settings, std::string model_identity)
    : CompiledExecutor(std::make_shared<CompiledModel>(std::move(settings), std::move(model_identity))) {}

CompiledExecutor::~CompiledExecutor() = default;

std::string CompiledExecutor::name() const {
  const CompileSettings& s = model_->settings();
  return cat("compiled(", to_string(s.backend), ", ", to_string(s.mode), ", ", to_string(s.precision), ")");
}

void CompiledExecutor::mark_warm() {
  warm_ = true;
  model_->plans().mark_warm();
}

BoundPlan* CompiledExecutor::bound_for(const Graph& g) {
  if (auto it = by_graph_.find(g.uid()); it != by_graph_.end()) return it->second;
  const PlanSignature sig = model_->signature_of(g);
  const std::string key = sig.key();
  BoundPlan* bp = nullptr;
  if (auto it = bound_.find(key); it != bound_.end()) {
    bp = it->second.get();
  } else {
    const auto t0 = std::chrono::steady_clock::now();
    PlanStore::Lookup l = model_->plans().get(g, sig, strict_);
    stats_.cache_hits += l.cache_hits;
    stats_.cache_misses += l.cache_misses;
    if (!l.plan) {
      ++stats_.fallbacks_to_eager;
      return nullptr;
    }
    if (l.built) ++stats_.plans_built;
    if (l.recompile) {
      ++stats_.recompiles;
      reasons_.push_back(l.reason);
    }
    BindCounters c;
    auto b = model_->backend().bind(g, *l.plan, &c);
    stats_.cache_hits += c.cache_hits;
    stats_.cache_misses += c.cache_misses;
    if (model_->settings().debug)
      std::cerr << "[fcast] plan " << (l.built ? "built" : "bound") << " in " << seconds_since(t0) << " s: "
                << b->plan().steps.size() << " steps, arena " << b->plan().arena_bytes << " bytes ("
                << b->plan().unplanned_bytes << " without reuse); " << key << "\n";
    bp = bound_.emplace(key, std::move(b)).first->second.get();
  }
  // Graphs that model code keeps (decode steps) are looked up by uid from now on. Rebuilt graphs
  // get new uids: the map is only a shortcut, so it is simply cleared when it grows.
  if (by_graph_.size() >= 256) by_graph_.clear();
  by_graph_.emplace(g.uid(), bp);
  return bp;
}

TensorMap CompiledExecutor::run_graph(const Graph& g, const TensorMap& inputs) {
  ++stats_.runs;
  // Hybrid policy: small calls do not pay for compiled execution (see executor_factory.cc).
  if (model_->settings().hybrid_min_batch > 0) {
    auto it = g.meta().find("batch");
    if (it != g.meta().end() && std::stoll(it->second) < model_->settings().hybrid_min_batch)
      return run_eager(g, inputs);
  }
  BoundPlan* b = bound_for(g);
  if (!b) return run_eager(g, inputs);
  RunOptions opt;
  opt.strict = strict_;
  if (profiling_) opt.on_step = [this](const std::string& n, const std::string& impl, double s) { record_op(n, impl, s); };
  return model_->backend().run(*b, g, inputs, opt);
}

std::string CompiledExecutor::describe_plan(const Graph& g) const {
  auto it = bound_.find(model_->signature_of(g).key());
  return it == bound_.end() ? "" : it->second->describe();
}

}  // namespace fcast
