// The fusion pass's rules, checked on the plan's steps directly: a value that is used twice, or
// that is a graph output, is not absorbed into an epilogue or a rotary chain (it must exist in
// memory); a fused group never reads a value that is computed after its position in the plan;
// fusion off gives one reference step per node.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>

#include "graph/plan.h"
#include "runtime/executor_factory.h"

namespace {

using namespace fcast;

Tensor randn(Shape s, uint64_t seed) {
  std::mt19937_64 r(seed);
  std::normal_distribution<float> d(0.0f, 0.5f);
  Tensor t = Tensor::empty(DType::F32, s);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = d(r);
  return t;
}

std::vector<std::string> step_names(const Graph& g, bool fuse = true) {
  std::vector<std::string> n;
  for (const PlanStep& s : compile_plan(g, PlanSignature{}, CompileOptions{fuse}).steps) n.push_back(s.name);
  return n;
}
using Names = std::vector<std::string>;

struct Lin {
  Graph g;
  ValueId x, y;
  Lin() {
    x = g.input("x", DType::F32, {3, 17});
    y = g.linear(x, g.constant("w", randn({9, 17}, 1)), g.constant("b", randn({9}, 2)));
  }
};

TEST(FusionRules, EpilogueChainFusesWhenEachValueHasOneUse) {
  Lin l;
  l.g.output("y", l.g.add_scalar(l.g.clamp_min(l.g.softplus(l.y), 0.1f), 1.0f));
  EXPECT_EQ(step_names(l.g), (Names{"linear+bias+softplus+clamp_min+add_scalar"}));
}

TEST(FusionRules, ValueUsedTwiceBlocksTheEpilogue) {
  Lin l;
  l.g.output("a", l.g.silu(l.y));
  l.g.output("b", l.g.scale(l.y, 2.0f));
  EXPECT_EQ(step_names(l.g), (Names{"linear+bias", "silu", "scale"}));
}

TEST(FusionRules, GraphOutputBlocksTheEpilogue) {
  Lin l;
  l.g.output("y", l.y);
  l.g.output("s", l.g.silu(l.y));
  EXPECT_EQ(step_names(l.g), (Names{"linear+bias", "silu"}));
}

TEST(FusionRules, ChainStopsAtAMidChainValueThatIsUsedTwiceOrIsAnOutput) {
  {
    Lin l;
    ValueId sp = l.g.softplus(l.y);
    l.g.output("a", l.g.clamp_min(sp, 0.0f));
    l.g.output("b", l.g.scale(sp, 3.0f));
    EXPECT_EQ(step_names(l.g), (Names{"linear+bias+softplus", "clamp_min", "scale"}));
  }
  {
    Lin l;
    ValueId sp = l.g.softplus(l.y);
    l.g.output("sp", sp);
    l.g.output("c", l.g.clamp_min(sp, 0.0f));
    EXPECT_EQ(step_names(l.g), (Names{"linear+bias+softplus", "clamp_min"}));
  }
}

TEST(FusionRules, OneSwiGLUPerMatmul) {
  Graph g;
  ValueId x = g.input("x", DType::F32, {3, 17});
  ValueId y = g.linear(x, g.constant("w", randn({12, 17}, 3)));
  g.output("y", g.swiglu(g.swiglu(y)));
  EXPECT_EQ(step_names(g), (Names{"linear+swiglu", "swiglu"}));
}

TEST(FusionRules, RotaryChainStopsAtASharedOrOutputValue) {
  auto build = [](int variant) {
    Graph g;
    ValueId qkv = g.input("qkv", DType::F32, {2, 5, 3 * 8});
    ValueId pos0 = g.input("pos0", DType::I64, {1});
    ValueId cache = g.input("cache", DType::F32, {2, 9, 8});
    ValueId k = g.unpack_heads(qkv, 1, 2);
    if (variant == 1) g.output("k", k);  // the unpacked rows are an output
    ValueId r = g.rotary_xpos(k, pos0, 2, true);
    if (variant == 2) g.output("r", r);  // the rotated rows are an output
    if (variant == 3) g.output("r2", g.scale(r, 1.0f));  // ... or read twice
    g.output("c", g.kv_write(cache, r, pos0));
    return step_names(g);
  };
  EXPECT_EQ(build(0), (Names{"unpack_heads+rotary_xpos+kv_write"}));
  EXPECT_EQ(build(1), (Names{"unpack_heads", "rotary_xpos+kv_write"}));
  EXPECT_EQ(build(2), (Names{"unpack_heads+rotary_xpos", "kv_write"}));
  EXPECT_EQ(build(3), (Names{"unpack_heads+rotary_xpos", "scale", "kv_write"}));
}

// add -> rmsnorm fuses even when the sum is read again: the fused step writes the sum too.
TEST(FusionRules, AddRmsnormKeepsTheSum) {
  Graph g;
  ValueId a = g.input("a", DType::F32, {3, 17}), b = g.input("b", DType::F32, {3, 17});
  ValueId h = g.add(a, b);
  ValueId y = g.rmsnorm(h, g.constant("w", randn({17}, 4)), 1e-5f);
  g.output("o", g.add(h, y));
  const Plan p = compile_plan(g, PlanSignature{}, CompileOptions{true});
  ASSERT_EQ(p.steps.size(), 2u);
  EXPECT_EQ(p.steps[0].name, "add+rmsnorm");
  EXPECT_EQ(p.steps[0].out, h);
  EXPECT_EQ(p.steps[0].out2, y);
  EXPECT_EQ(p.steps[1].name, "add");
}

TEST(FusionRules, FusionOffIsOneReferenceStepPerNodeButReshape) {
  Lin l;
  l.g.output("y", l.g.reshape(l.g.silu(l.y), {27}));
  const Plan p = compile_plan(l.g, PlanSignature{}, CompileOptions{false});
  ASSERT_EQ(p.steps.size(), 2u);
  for (const PlanStep& s : p.steps) EXPECT_EQ(s.kind, StepKind::Reference);
  EXPECT_EQ(step_names(l.g, false), (Names{"linear", "silu"}));
}

// Every step reads only values that exist at its position: graph inputs and constants, or values
// written by an earlier step. A group that absorbs a later node must not pull that node's other
// operands ahead of the nodes computing them.
void expect_reads_after_writes(const Graph& g, const std::string& what) {
  const Plan p = compile_plan(g, PlanSignature{}, CompileOptions{true});
  std::vector<bool> ready(g.values().size(), false);
  for (size_t v = 0; v < g.values().size(); ++v) ready[v] = g.values()[v].kind != Graph::Kind::Temp;
  for (const PlanStep& s : p.steps) {
    for (ValueId v : s.in) {
      if (v == kNone) continue;
      EXPECT_TRUE(ready[storage_root(g, v)]) << what << ": step '" << s.name << "' reads value " << g.value(v).name
                                             << " #" << v << " before it is written";
    }
    for (ValueId v : {s.out, s.out2, s.tmp})
      if (v != kNone) ready[storage_root(g, v)] = ready[v] = true;
    // Views (Reshape) of written values are ready as well.
    for (size_t v = 0; v < g.values().size(); ++v)
      if (ready[storage_root(g, static_cast<ValueId>(v))]) ready[v] = true;
  }
}

TEST(FusionRules, NormWeightComputedAfterTheAddIsNotReadEarly) {
  Graph g;
  ValueId a = g.input("a", DType::F32, {3, 17}), b = g.input("b", DType::F32, {3, 17});
  ValueId h = g.add(a, b);
  ValueId w = g.scale(g.input("w", DType::F32, {17}), 2.0f);  // after the add in node order
  g.output("y", g.rmsnorm(h, w, 1e-5f));
  expect_reads_after_writes(g, "add, scale(w), rmsnorm(add, w)");

  // And the numbers: inductor equals eager up to the norm's tolerance.
  TensorMap in{{"a", randn({3, 17}, 5)}, {"b", randn({3, 17}, 6)}, {"w", randn({17}, 7)}};
  const Tensor e = make_executor_from_spec("eager", "fusion-rules")->run(g, in).at("y");
  const Tensor c = make_executor_from_spec("inductor", "fusion-rules")->run(g, in).at("y");
  for (int64_t i = 0; i < e.numel(); ++i)
    ASSERT_NEAR(c.data<float>()[i], e.data<float>()[i], 1e-5 * (1 + std::fabs(e.data<float>()[i]))) << i;
}

TEST(FusionRules, RotaryChainOperandsComputedLaterAreNotReadEarly) {
  Graph g;
  ValueId qkv = g.input("qkv", DType::F32, {2, 5, 3 * 8});
  ValueId k = g.unpack_heads(qkv, 1, 2);
  // The write position and the cache come from nodes after the unpack.
  ValueId cache = g.scale(g.input("cache", DType::F32, {2, 9, 8}), 1.0f);
  ValueId pos0 = g.input("pos0", DType::I64, {1});
  ValueId r = g.rotary_xpos(k, pos0, 2, true);
  g.output("c", g.kv_write(cache, r, pos0));
  expect_reads_after_writes(g, "unpack, scale(cache), rotary, kv_write(cache)");
}

// The fused rotary step has one position for the rotation and the write: a KV write at another
// position than the rotary's must stay a step of its own.
TEST(FusionRules, KVWriteAtAnotherPositionThanTheRotaryDoesNotFuse) {
  Graph g;
  ValueId x = g.input("x", DType::F32, {2, 5, 8});
  ValueId r = g.rotary_xpos(x, g.input("pos_rot", DType::I64, {1}), 2, true);
  g.output("c", g.kv_write(g.input("cache", DType::F32, {2, 12, 8}), r, g.input("pos_write", DType::I64, {1})));
  EXPECT_EQ(step_names(g), (Names{"rotary_xpos", "kv_write"}));

  auto i64 = [](int64_t v) { return Tensor::from_vector<int64_t>({v}, {1}); };
  TensorMap in{{"x", randn({2, 5, 8}, 8)}, {"pos_rot", i64(1)}, {"pos_write", i64(6)}, {"cache", randn({2, 12, 8}, 9)}};
  auto run = [&](const char* spec) {
    TensorMap c = in;
    c["cache"] = in.at("cache").clone();
    return make_executor_from_spec(spec, "fusion-rules")->run(g, c).at("c");
  };
  const Tensor e = run("eager"), c = run("inductor");
  ASSERT_EQ(0, std::memcmp(e.raw(), c.raw(), e.nbytes())) << "inductor differs from eager";
}

}  // namespace
