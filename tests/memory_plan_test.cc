// The memory planner, as a property over many seeded random graphs: two temporaries that are
// live at the same time never share arena bytes; every temporary a step touches has an aligned
// place inside the arena; aliases (Reshape views, KVWrite into a temporary cache) keep their
// storage root alive. Liveness is recomputed here from the node order (fusion off: one step per
// node) and from the steps' operands (fusion on). The same graphs then run through aot_eager
// (must equal eager bit for bit: a wrong overlap would clobber a live value) and inductor.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>

#include "graph/plan.h"
#include "runtime/executor_factory.h"

namespace {

using namespace fcast;

Tensor randn(Shape s, std::mt19937_64& r, float scale = 1.0f) {
  std::normal_distribution<float> d(0.0f, scale);
  Tensor t = Tensor::empty(DType::F32, s);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = d(r);
  return t;
}

struct RandomGraph {
  Graph g;
  TensorMap inputs;
  std::string recipe;  // printed on failure
};

// A random DAG of 2-d values [R, C] (C varies), built from ops with and without fused kernels,
// views and a KV write into a temporary cache.
RandomGraph random_graph(uint64_t seed) {
  std::mt19937_64 r(seed);
  auto pick = [&](int n) { return static_cast<int>(r() % static_cast<uint64_t>(n)); };
  RandomGraph rg;
  Graph& g = rg.g;
  const int64_t R = 1 + pick(5);
  std::vector<ValueId> pool;
  for (int i = 0; i < 2; ++i) {
    const int64_t C = 1 + pick(40);
    const std::string name = cat("in", i);
    rg.inputs[name] = randn({R, C}, r);
    pool.push_back(g.input(name, DType::F32, {R, C}));
  }
  auto any = [&] { return pool[pick(static_cast<int>(pool.size()))]; };
  auto width = [&](ValueId v) { return g.shape(v).back(); };
  const int nops = 3 + pick(14);
  int consts = 0;
  for (int k = 0; k < nops; ++k) {
    const ValueId a = any();
    ValueId out = kNone;
    switch (pick(12)) {
      case 0: case 1: {  // binary op on a same-shape partner (or itself)
        ValueId b = a;
        for (ValueId v : pool)
          if (g.shape(v) == g.shape(a) && v != a && pick(2)) b = v;
        out = pick(2) ? g.add(a, b) : g.mul(a, b);
        rg.recipe += "binary ";
        break;
      }
      case 2: out = g.scale(a, 0.5f); rg.recipe += "scale "; break;
      case 3: out = g.silu(a); rg.recipe += "silu "; break;
      case 4: out = g.softmax(a); rg.recipe += "softmax "; break;
      case 5: out = g.rmsnorm(a, g.constant(cat("nw", consts++), randn({width(a)}, r)), 1e-5f); rg.recipe += "rmsnorm "; break;
      case 6: case 7: {
        const int64_t N = 1 + pick(48);
        const ValueId w = g.constant(cat("w", consts++), randn({N, width(a)}, r, 0.3f));
        const ValueId b = pick(2) ? g.constant(cat("b", consts++), randn({N}, r)) : kNone;
        out = g.linear(a, w, b);
        rg.recipe += cat("linear(", N, ") ");
        break;
      }
      case 8:
        if (width(a) % 2 == 0) {
          out = g.swiglu(a);
          rg.recipe += "swiglu ";
        }
        break;
      case 9: {  // a view with the rows folded differently, then back as [R, C]
        const int64_t C = width(a);
        out = g.reshape(g.scale(g.reshape(a, {R * C}), 2.0f), {R, C});
        rg.recipe += "reshape-scale-reshape ";
        break;
      }
      case 10: {  // KV write into a temporary cache, read back through a view
        const int64_t C = width(a), cap = 3 + pick(4), pos0 = pick(static_cast<int>(cap));
        const std::string cname = cat("cache", k), pname = cat("pos", k);
        rg.inputs[cname] = randn({R, cap, C}, r);
        rg.inputs[pname] = Tensor::from_vector<int64_t>({pos0}, {1});
        ValueId cache = g.scale(g.input(cname, DType::F32, {R, cap, C}), 1.0f);
        ValueId kc = g.kv_write(cache, g.reshape(a, {R, 1, C}), g.input(pname, DType::I64, {1}));
        out = g.reshape(kc, {R, cap * C});
        rg.recipe += cat("kv_write(cap ", cap, ") ");
        break;
      }
      case 11: {
        const int64_t C = width(a);
        if (C > 1) {
          out = g.take_cols(a, pick(static_cast<int>(C - 1)), 1);
          rg.recipe += "take_cols ";
        }
        break;
      }
    }
    if (out != kNone) pool.push_back(out);
  }
  g.output("last", pool.back());
  for (size_t i = 2; i + 1 < pool.size(); ++i)
    if (pick(4) == 0) g.output(cat("o", i), pool[i]);
  return rg;
}

// Liveness per storage root in step positions; -1 when no step touches it.
struct Live {
  std::vector<int64_t> first, last;
};

// Fusion off: from the node order alone (one step per node, Reshape nodes have none).
Live liveness_from_nodes(const Graph& g, int64_t nsteps) {
  Live l{std::vector<int64_t>(g.values().size(), -1), std::vector<int64_t>(g.values().size(), -1)};
  int64_t step = 0;
  for (const auto& n : g.nodes()) {
    if (n.op == Op::Reshape) continue;
    std::vector<ValueId> vs = n.in;
    vs.push_back(n.out);
    for (ValueId v : vs) {
      if (v == kNone) continue;
      const ValueId root = storage_root(g, v);
      if (l.first[root] < 0) l.first[root] = step;
      l.last[root] = step;
    }
    ++step;
  }
  EXPECT_EQ(step, nsteps);
  for (const auto& [name, v] : g.outputs()) {
    const ValueId root = storage_root(g, v);
    if (l.first[root] >= 0) l.last[root] = nsteps;
  }
  return l;
}

// Fusion on: from the steps' operands and results.
Live liveness_from_steps(const Graph& g, const Plan& p) {
  Live l{std::vector<int64_t>(g.values().size(), -1), std::vector<int64_t>(g.values().size(), -1)};
  const int64_t nsteps = static_cast<int64_t>(p.steps.size());
  for (int64_t k = 0; k < nsteps; ++k) {
    std::vector<ValueId> vs = p.steps[k].in;
    vs.insert(vs.end(), {p.steps[k].out, p.steps[k].out2, p.steps[k].tmp});
    for (ValueId v : vs) {
      if (v == kNone) continue;
      const ValueId root = storage_root(g, v);
      if (l.first[root] < 0) l.first[root] = k;
      l.last[root] = k;
    }
  }
  for (const auto& [name, v] : g.outputs()) {
    const ValueId root = storage_root(g, v);
    if (l.first[root] >= 0) l.last[root] = nsteps;
  }
  return l;
}

void check_plan(const Graph& g, const Plan& p, const Live& l, const std::string& what) {
  const auto& values = g.values();
  ASSERT_EQ(p.offset.size(), values.size()) << what;
  std::vector<ValueId> temps;
  for (size_t v = 0; v < values.size(); ++v) {
    if (values[v].kind != Graph::Kind::Temp || values[v].alias != kNone || l.first[v] < 0) continue;
    const int64_t bytes = static_cast<int64_t>(shape_numel(values[v].shape) * dtype_size(values[v].dtype));
    ASSERT_GE(p.offset[v], 0) << what << ": temporary #" << v << " is touched by a step but has no place";
    EXPECT_EQ(p.offset[v] % 64, 0) << what << ": #" << v;
    EXPECT_LE(p.offset[v] + bytes, p.arena_bytes) << what << ": #" << v << " ends past the arena";
    temps.push_back(static_cast<ValueId>(v));
  }
  for (size_t i = 0; i < temps.size(); ++i)
    for (size_t j = i + 1; j < temps.size(); ++j) {
      const ValueId a = temps[i], b = temps[j];
      const bool live_together = !(l.last[a] < l.first[b] || l.last[b] < l.first[a]);
      if (!live_together) continue;
      const int64_t ab = static_cast<int64_t>(shape_numel(values[a].shape) * dtype_size(values[a].dtype));
      const int64_t bb = static_cast<int64_t>(shape_numel(values[b].shape) * dtype_size(values[b].dtype));
      const bool disjoint = p.offset[a] + ab <= p.offset[b] || p.offset[b] + bb <= p.offset[a];
      EXPECT_TRUE(disjoint) << what << ": #" << a << " [" << l.first[a] << ", " << l.last[a] << "] at "
                            << p.offset[a] << "+" << ab << " and #" << b << " [" << l.first[b] << ", "
                            << l.last[b] << "] at " << p.offset[b] << "+" << bb << " are live together";
    }
}

TEST(MemoryPlan, LiveTemporariesNeverShareBytesOverRandomGraphs) {
  for (uint64_t seed = 1; seed <= 400; ++seed) {
    const RandomGraph rg = random_graph(seed);
    const std::string what = cat("seed ", seed, " (", rg.recipe, ")");
    const Plan off = compile_plan(rg.g, PlanSignature{}, CompileOptions{false});
    check_plan(rg.g, off, liveness_from_nodes(rg.g, static_cast<int64_t>(off.steps.size())), what + " fusion off");
    const Plan on = compile_plan(rg.g, PlanSignature{}, CompileOptions{true});
    check_plan(rg.g, on, liveness_from_steps(rg.g, on), what + " fusion on");
    if (HasFatalFailure()) return;
  }
}

TEST(MemoryPlan, RandomGraphsRunBitEqualUnderAotEagerAndCloseUnderInductor) {
  auto eager = make_executor_from_spec("eager", "memory-plan");
  auto aot = make_executor_from_spec("aot_eager", "memory-plan");
  auto ind = make_executor_from_spec("inductor", "memory-plan");
  auto copy = [](const TensorMap& m) {
    TensorMap c;
    for (const auto& [k, v] : m) c[k] = v.clone();
    return c;
  };
  for (uint64_t seed = 1; seed <= 60; ++seed) {
    const RandomGraph rg = random_graph(seed);
    const std::string what = cat("seed ", seed, " (", rg.recipe, ")");
    const TensorMap want = eager->run(rg.g, copy(rg.inputs));
    const TensorMap a = aot->run(rg.g, copy(rg.inputs));
    const TensorMap c = ind->run(rg.g, copy(rg.inputs));
    for (const auto& [name, w] : want) {
      ASSERT_TRUE(a.count(name) && c.count(name)) << what << " " << name;
      EXPECT_EQ(0, std::memcmp(a.at(name).raw(), w.raw(), w.nbytes())) << what << ": aot_eager output " << name;
      // Inductor: fused kernels (oneDNN sums, exp polynomial) within 1e-4 of the output scale.
      double err = 0, m = 0;
      for (int64_t i = 0; i < w.numel(); ++i) {
        err = std::max(err, static_cast<double>(std::fabs(c.at(name).data<float>()[i] - w.data<float>()[i])));
        m = std::max(m, static_cast<double>(std::fabs(w.data<float>()[i])));
      }
      EXPECT_LE(err / (m + 1), 1e-4) << what << ": inductor output " << name;
    }
  }
}

// The planner reuses memory: a chain of equal-size temporaries needs two slots, not one per value
// (the property above alone would also hold for a planner that never shares).
TEST(MemoryPlan, ChainReusesSlots) {
  Graph g;
  ValueId x = g.input("x", DType::F32, {16, 64});
  for (int i = 0; i < 8; ++i) x = g.scale(x, 1.5f);
  g.output("y", x);
  const Plan p = compile_plan(g, PlanSignature{}, CompileOptions{true});
  EXPECT_EQ(p.unplanned_bytes, 8 * 16 * 64 * 4);
  EXPECT_EQ(p.arena_bytes, 2 * 16 * 64 * 4);
}

}  // namespace
