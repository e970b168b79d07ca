// Plan (de)serialisation against damaged input: a real plan (Toto-like block: fused matmuls,
// add+rmsnorm, unpack+rotary+kv_write, attention) round-trips; every truncation of it is
// rejected; randomly garbled copies never crash the parser, and any copy it accepts is either
// rejected by the compiled executor's guards (through the persistent plan cache, the only way a
// stored plan reaches an executor) or runs to eager's result.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <random>

#include "graph/passes/memory_plan.h"
#include "graph/plan.h"
#include "runtime/compiled_executor.h"
#include "runtime/plan_cache.h"

namespace {

using namespace fcast;
namespace fs = std::filesystem;

Tensor randn(Shape s, std::mt19937_64& r) {
  std::normal_distribution<float> d(0.0f, 0.5f);
  Tensor t = Tensor::empty(DType::F32, s);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = d(r);
  return t;
}

struct Block {
  Graph g;
  TensorMap inputs;
};
Block block() {
  std::mt19937_64 r(11);
  Block b;
  Graph& g = b.g;
  const int64_t N = 2, S = 5, H = 2, D = 16, cap = 9;
  ValueId x = g.input("x", DType::F32, {N, S, D});
  ValueId pos0 = g.input("pos0", DType::I64, {1});
  ValueId kc = g.input("kc", DType::F32, {N, cap, D}), vc = g.input("vc", DType::F32, {N, cap, D});
  ValueId qkv = g.linear(g.rmsnorm(x, g.constant("n1", randn({D}, r)), 1e-5f), g.constant("wqkv", randn({3 * D, D}, r)),
                         g.constant("bqkv", randn({3 * D}, r)));
  ValueId q = g.rotary_xpos(g.unpack_heads(qkv, 0, H), pos0, H, false);
  ValueId k = g.kv_write(kc, g.rotary_xpos(g.unpack_heads(qkv, 1, H), pos0, H, true), pos0);
  ValueId v = g.kv_write(vc, g.unpack_heads(qkv, 2, H), pos0);
  ValueId a = g.attention(q, k, v, H, true, pos0, kNone, true);
  ValueId h = g.add(x, g.linear(a, g.constant("wo", randn({D, D}, r))));
  ValueId y = g.rmsnorm(h, g.constant("n2", randn({D}, r)), 1e-5f);
  ValueId f = g.linear(g.linear(y, g.constant("w1", randn({4 * D, D}, r))), g.constant("w2", randn({D, 4 * D}, r)));
  g.output("y", g.softmax(g.add(h, f)));
  b.inputs = {{"x", randn({N, S, D}, r)},
              {"pos0", Tensor::from_vector<int64_t>({2}, {1})},
              {"kc", randn({N, cap, D}, r)},
              {"vc", randn({N, cap, D}, r)}};
  return b;
}

TEST(PlanSerialize, RoundTrips) {
  const Block b = block();
  PlanSignature sig;
  sig.set("model", "test");
  sig.set("odd name; with=signs", "value with spaces 1:2");
  const Plan p = compile_plan(b.g, sig, CompileOptions{true});
  const std::string blob = p.serialize();
  const auto q = Plan::deserialize(blob);
  ASSERT_TRUE(q.has_value());
  EXPECT_EQ(q->serialize(), blob);
  EXPECT_EQ(q->signature, sig);
  EXPECT_EQ(q->steps.size(), p.steps.size());
}

TEST(PlanSerialize, EveryTruncationIsRejected) {
  const Block b = block();
  const std::string blob = compile_plan(b.g, PlanSignature{}, CompileOptions{true}).serialize();
  for (size_t n = 0; n < blob.size(); ++n)
    EXPECT_FALSE(Plan::deserialize(blob.substr(0, n)).has_value()) << "truncated to " << n << " of " << blob.size();
}

// Garbled copies: the parser never crashes or throws, and never allocates for counts the text
// cannot hold (a count is bounded by what is left of the blob).
TEST(PlanSerialize, GarbledCopiesNeverCrashTheParser) {
  const Block b = block();
  const std::string blob = compile_plan(b.g, PlanSignature{}, CompileOptions{true}).serialize();
  std::mt19937_64 r(3);
  const std::string alphabet = "0123456789- :.e\n\x01\xff";
  int parsed = 0;
  for (int t = 0; t < 4000; ++t) {
    std::string s = blob;
    const int edits = 1 + static_cast<int>(r() % 3);
    for (int e = 0; e < edits; ++e) {
      const size_t at = r() % s.size();
      switch (r() % 4) {
        case 0: s[at] = alphabet[r() % alphabet.size()]; break;
        case 1: s.erase(at, 1 + r() % 8); break;
        case 2: s.insert(at, std::to_string(r() % 100000000000ull)); break;
        case 3: s[at] = static_cast<char>(r()); break;
      }
      if (s.empty()) s.assign(1, 'x');  // not s = "x": g++ 12 gives a false -Wrestrict there
    }
    try {
      parsed += Plan::deserialize(s).has_value();
    } catch (const std::exception& e) {
      ADD_FAILURE() << "deserialize threw " << e.what() << " on copy " << t;
    }
  }
  RecordProperty("garbled_copies_parsed", parsed);
}

// A stored plan reaches an executor only through the plan cache. Each garbled copy that still
// parses is stored under the block's real key; the executor must then either reject it (and
// rebuild) or compute exactly what a fresh plan computes.
TEST(PlanSerialize, GarbledPlansThatParseAreRejectedOrHarmless) {
  const Block b = block();
  const fs::path dir = fs::temp_directory_path() / cat("fcast-plan-serialize-", getpid());
  fs::remove_all(dir);
  CompileSettings s;
  s.backend = CompileBackend::AotEager;  // reference kernels: results comparable bit for bit
  s.persistent_cache = true;
  s.models_dir = dir.string();  // plans live here (kernel_cache_dir holds autotune and packed entries)
  s.kernel_cache_dir = (dir / "kernels").string();
  auto copy = [](const TensorMap& m) {
    TensorMap c;
    for (const auto& [k, v] : m) c[k] = v.clone();
    return c;
  };
  const std::string identity = "plan-serialize";
  CompiledExecutor fresh(s, identity);
  const Tensor want = fresh.run(b.g, copy(b.inputs)).at("y");
  PlanSignature persisted = fresh.signature_of(b.g);
  persisted.fields.erase(std::remove_if(persisted.fields.begin(), persisted.fields.end(),
                                        [](const auto& f) { return f.first == "weights"; }),
                         persisted.fields.end());
  Plan good = compile_plan(b.g, persisted, CompileOptions{false});
  const std::string blob = good.serialize();
  ASSERT_TRUE(Plan::deserialize(blob).has_value());
  {  // the undamaged plan is found under this key and used (the path below is really exercised)
    PlanCache(dir.string()).store({"plan", identity, persisted.key()}, blob);
    CompiledExecutor ex(s, identity);
    const Tensor got = ex.run(b.g, copy(b.inputs)).at("y");
    ASSERT_EQ(ex.stats().cache_hits, 1);
    ASSERT_EQ(0, std::memcmp(got.raw(), want.raw(), want.nbytes()));
  }

  std::mt19937_64 r(5);
  int tried = 0, accepted = 0, accepted_different = 0;
  for (int t = 0; t < 3000 && tried < 150; ++t) {
    // (a digit changed is the damage most likely to parse; an arena offset is one)
    std::string g = blob;
    // A digit changed: the damage most likely to still parse.
    const size_t at = r() % g.size();
    if (!std::isdigit(static_cast<unsigned char>(g[at]))) continue;
    g[at] = static_cast<char>('0' + r() % 10);
    if (g == blob) continue;
    const auto parsed = Plan::deserialize(g);
    if (!parsed) continue;
    ++tried;
    PlanCache(dir.string()).store({"plan", identity, persisted.key()}, g);
    CompiledExecutor ex(s, identity);
    Tensor got;
    try {
      got = ex.run(b.g, copy(b.inputs)).at("y");
    } catch (const Error&) {
      continue;  // rejected with an error: acceptable (nothing wrong was computed)
    }
    const bool hit = ex.stats().cache_hits > 0;
    accepted += hit;
    if (hit && std::memcmp(got.raw(), want.raw(), want.nbytes()) != 0) {
      ++accepted_different;
      ADD_FAILURE() << "a garbled plan (byte " << at << ") passed the guards and changed the result";
    }
  }
  fs::remove_all(dir);
  // With the plan's own checksum no garbled copy parses at all (tried == 0); the loop still
  // holds any copy that does parse to the guards-or-harmless rule.
  RecordProperty("garbled_plans_parsed", tried);
  EXPECT_EQ(accepted_different, 0) << accepted << " of " << tried << " parsed garbled plans passed the guards";
}

// A plan whose checksum is right but whose content does not fit the graph (written by a buggy
// or foreign build): an arena slot past the arena's end, a step kind at the wrong op, a
// temporary without a slot, steps that differ from what lowering builds, live temporaries
// sharing bytes. The plan store must treat each as a miss and rebuild; the undamaged plan is a
// hit. Both backends: aot_eager (reference steps) and inductor (fused steps).
class PlanFit : public ::testing::TestWithParam<CompileBackend> {};

TEST_P(PlanFit, WellFormedPlansThatDoNotFitTheGraphAreMisses) {
  const bool fuse = GetParam() == CompileBackend::Inductor;
  const Block b = block();
  const fs::path dir = fs::temp_directory_path() / cat("fcast-plan-fit-", getpid(), fuse ? "-fused" : "");
  fs::remove_all(dir);
  CompileSettings s;
  s.backend = GetParam();
  s.mode = CompileMode::Default;  // no autotuning: every run picks the same kernels (bit-equal results)
  s.persistent_cache = true;
  s.models_dir = dir.string();
  s.kernel_cache_dir = (dir / "kernels").string();
  const std::string identity = "plan-fit";
  auto copy = [](const TensorMap& m) {
    TensorMap c;
    for (const auto& [k, v] : m) c[k] = v.clone();
    return c;
  };
  Tensor want;
  PlanSignature persisted;
  {
    CompiledExecutor fresh(s, identity);
    want = fresh.run(b.g, copy(b.inputs)).at("y");
    persisted = fresh.signature_of(b.g);
  }
  persisted.fields.erase(std::remove_if(persisted.fields.begin(), persisted.fields.end(),
                                        [](const auto& f) { return f.first == "weights"; }),
                         persisted.fields.end());
  const Plan good = compile_plan(b.g, persisted, CompileOptions{fuse});
  ASSERT_TRUE(memory_plan_valid(b.g, good));
  std::vector<std::pair<std::string, Plan>> bad;
  {
    Plan p = good;
    for (auto& o : p.offset)
      if (o >= 0) o = p.arena_bytes;  // every slot starts at the arena's end
    bad.emplace_back("slots past the arena", p);
  }
  {
    Plan p = good;
    for (auto& o : p.offset)
      if (o >= 0) o = 0;  // every temporary on the first slot, inside the arena but overlapping
    bad.emplace_back("live temporaries sharing bytes", p);
  }
  {
    Plan p = good;
    for (auto& st : p.steps) st.kind = StepKind::Attention;  // no step of this block starts at an attention
    bad.emplace_back("step kinds at the wrong ops", p);
  }
  {
    Plan p = good;
    for (auto& o : p.offset) o = -1;  // temporaries without a slot
    bad.emplace_back("temporaries without slots", p);
  }
  {
    // Found by fuzz_plan (a heap overflow under ASan): a step reading another value than its
    // own operand, here the block's last result (of another shape).
    Plan p = good;
    bool changed = false;
    for (auto& st : p.steps)
      if (!changed && !st.in.empty() && st.in[0] != good.steps.back().out) {
        st.in[0] = good.steps.back().out;
        changed = true;
      }
    ASSERT_TRUE(changed);
    bad.emplace_back("a step reading another value than its operand", p);
  }
  {
    Plan p = good;
    p.steps.front().out = p.steps.back().out;
    bad.emplace_back("a step writing another value than its result", p);
  }
  {
    Plan p = good;
    p.steps.pop_back();
    bad.emplace_back("a step missing", p);
  }
  if (fuse) {
    // Found by fuzz_plan: a fused plan whose steps index the graph correctly but compute
    // something else (the guards used to check only indices and step kinds).
    Plan p = good;
    bool changed = false;
    for (auto& st : p.steps)
      if (!changed && st.kind == StepKind::Matmul) {
        st.epilogue.push_back({Epilogue::Scale, 2.0f});
        changed = true;
      }
    ASSERT_TRUE(changed) << "the block has a fused matmul";
    bad.emplace_back("a fused matmul with an epilogue added", p);
    Plan q = good;
    changed = false;
    for (auto& st : q.steps)
      if (!changed && st.kind == StepKind::AddRMSNorm && !st.f.empty()) {
        st.f.front() = 0.5;  // another norm epsilon
        changed = true;
      }
    ASSERT_TRUE(changed) << "the block has an add+rmsnorm";
    bad.emplace_back("a fused add+rmsnorm's epsilon changed", q);
  }
  // Plan hits alone: inductor also loads packed weights from the cache (counted in cache_hits).
  auto plan_hits = [](const CompiledExecutor& ex) { return ex.stats().cache_hits - ex.packed_cache_hits(); };
  for (const auto& [what, p] : bad) {
    const std::string blob = p.serialize();
    ASSERT_TRUE(Plan::deserialize(blob).has_value()) << what << ": the damage must survive the checksum";
    PlanCache(dir.string()).store({"plan", identity, persisted.key()}, blob);
    CompiledExecutor ex(s, identity);
    const Tensor got = ex.run(b.g, copy(b.inputs)).at("y");
    EXPECT_EQ(plan_hits(ex), 0) << what << ": the plan was used";
    EXPECT_EQ(ex.stats().plans_built, 1) << what;
    EXPECT_EQ(0, std::memcmp(got.raw(), want.raw(), want.nbytes())) << what;
  }
  {  // the undamaged plan is a hit (the guards do not reject everything)
    PlanCache(dir.string()).store({"plan", identity, persisted.key()}, good.serialize());
    CompiledExecutor ex(s, identity);
    const Tensor got = ex.run(b.g, copy(b.inputs)).at("y");
    EXPECT_EQ(plan_hits(ex), 1);
    EXPECT_EQ(0, std::memcmp(got.raw(), want.raw(), want.nbytes()));
  }
  fs::remove_all(dir);
}

INSTANTIATE_TEST_SUITE_P(Backends, PlanFit, ::testing::Values(CompileBackend::AotEager, CompileBackend::Inductor),
                         [](const auto& i) { return std::string(i.param == CompileBackend::Inductor ? "Inductor" : "AotEager"); });

}  // namespace
