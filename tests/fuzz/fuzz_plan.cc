// libFuzzer target: plan deserialisation and the guards a loaded plan passes before it runs.
// The input is a plan's text without its trailing checksum; the harness appends the right
// checksum (so the fuzzer explores the parser, not the hash), parses it with Plan::deserialize
// and, when it parses, stores it in a persistent plan cache under the real key of a small
// Toto-like block (fused matmul epilogues, add+rmsnorm, rotary + KV writes, cached attention,
// softmax) and runs that block through the aot_eager and inductor executors.
// Property: a plan that passes the executor's guards computes what a freshly built plan
// computes (aot_eager: bit for bit; inductor: within 1e-4 of the largest value); otherwise
// it must be rejected (a rebuild, or an fcast::Error).
//
// Seeds: FCAST_FUZZ_WRITE_SEEDS=DIR ./fuzz_plan writes the block's fused and unfused plans
// into DIR and exits (scripts/fuzz --seeds).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <memory>
#include <optional>
#include <random>

#include "core/hash.h"
#include "fuzz_util.h"
#include "graph/plan.h"
#include "runtime/compiled_executor.h"
#include "runtime/plan_cache.h"

using namespace fcast;

namespace {

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

// One decoder block of 2 series x 3 new steps after 2 cached ones (cache capacity 7).
Block make_block() {
  std::mt19937_64 r(7);
  Block b;
  Graph& g = b.g;
  const int64_t N = 2, S = 3, H = 2, D = 16, cap = 7;
  const ValueId x = g.input("x", DType::F32, {N, S, D});
  const ValueId pos0 = g.input("pos0", DType::I64, {1});
  const ValueId kc = g.input("kc", DType::F32, {N, cap, D}), vc = g.input("vc", DType::F32, {N, cap, D});
  const ValueId qkv = g.linear(g.rmsnorm(x, g.constant("n1", randn({D}, r)), 1e-5f),
                               g.constant("wqkv", randn({3 * D, D}, r)), g.constant("bqkv", randn({3 * D}, r)));
  const ValueId q = g.rotary_xpos(g.unpack_heads(qkv, 0, H), pos0, H, false);
  const ValueId k = g.kv_write(kc, g.rotary_xpos(g.unpack_heads(qkv, 1, H), pos0, H, true), pos0);
  const ValueId v = g.kv_write(vc, g.unpack_heads(qkv, 2, H), pos0);
  const ValueId a = g.attention(q, k, v, H, true, pos0, kNone, true);
  const ValueId h = g.add(x, g.linear(a, g.constant("wo", randn({D, D}, r))));
  const ValueId y = g.rmsnorm(h, g.constant("n2", randn({D}, r)), 1e-5f);
  const ValueId f = g.linear(g.silu(g.linear(y, g.constant("w1", randn({2 * D, D}, r)), g.constant("b1", randn({2 * D}, r)))),
                             g.constant("w2", randn({D, 2 * D}, r)));
  g.output("y", g.softmax(g.add(h, f)));
  b.inputs = {{"x", randn({N, S, D}, r)},
              {"pos0", Tensor::from_vector<int64_t>({2}, {1})},
              {"kc", randn({N, cap, D}, r)},
              {"vc", randn({N, cap, D}, r)}};
  return b;
}

TensorMap copy(const TensorMap& m) {
  TensorMap c;
  for (const auto& [k, v] : m) c[k] = v.clone();
  return c;
}

struct Target {
  const char* name;
  CompileSettings settings;
  std::string key;  // the persistent-cache key of the block's plan
  Tensor want;      // a fresh plan's result
  std::string body;  // the fresh plan's text without its checksum (a seed)
};

std::string without_checksum(const std::string& blob) { return blob.substr(0, blob.rfind(' ')); }

struct State {
  Block block = make_block();
  std::vector<Target> targets;
};

State& state() {
  static State* s = [] {
    auto* st = new State;
    const std::string root = fuzz::scratch_dir();
    for (CompileBackend backend : {CompileBackend::AotEager, CompileBackend::Inductor}) {
      Target t;
      t.name = backend == CompileBackend::AotEager ? "aot_eager" : "inductor";
      t.settings.backend = backend;
      t.settings.mode = CompileMode::Default;
      t.settings.persistent_cache = true;
      t.settings.models_dir = root + "/" + t.name;
      t.settings.kernel_cache_dir = root + "/" + t.name + "/kernels";
      CompiledExecutor fresh(t.settings, "fuzz-plan");
      t.want = fresh.run(st->block.g, copy(st->block.inputs)).at("y");
      // The persistent key leaves out the weights' field (as the plan store does).
      PlanSignature sig = fresh.signature_of(st->block.g);
      sig.fields.erase(std::remove_if(sig.fields.begin(), sig.fields.end(),
                                      [](const auto& f) { return f.first == "weights"; }),
                       sig.fields.end());
      t.key = sig.key();
      const Plan plan = compile_plan(st->block.g, sig, CompileOptions{backend == CompileBackend::Inductor});
      t.body = without_checksum(plan.serialize());
      st->targets.push_back(std::move(t));
    }
    return st;
  }();
  return *s;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  std::cerr.rdbuf(nullptr);  // the plan cache logs one line per rejected entry
  State& s = state();
  if (const char* dir = std::getenv("FCAST_FUZZ_WRITE_SEEDS")) {
    for (const Target& t : s.targets) {
      const std::string path = std::string(dir) + "/" + t.name + ".plan";
      std::ofstream(path, std::ios::binary) << t.body;
      std::printf("wrote %s\n", path.c_str());
    }
    std::exit(0);
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string body(reinterpret_cast<const char*>(data), size);
  const std::string blob = body + " " + hex64(fnv1a64(body));
  std::optional<Plan> parsed;
  fuzz::expect_clean_error([&] { parsed = Plan::deserialize(blob); });
  if (!parsed) return 0;
  State& s = state();
  for (const Target& t : s.targets) {
    PlanCache(t.settings.models_dir).store({"plan", "fuzz-plan", t.key}, blob);
    Tensor got;
    bool rejected = false;
    try {
      CompiledExecutor ex(t.settings, "fuzz-plan");
      got = ex.run(s.block.g, copy(s.block.inputs)).at("y");
    } catch (const Error& e) {
      if (std::string(e.what()).rfind("internal error", 0) == 0)
        fuzz::finding(std::string(t.name) + ": FCAST_ASSERT reached by a loaded plan: " + e.what());
      rejected = true;
    } catch (const std::exception& e) {
      fuzz::finding(std::string(t.name) + ": a loaded plan threw an exception that is not fcast::Error: " + e.what());
    }
    if (rejected) continue;
    const float* a = got.data<float>();
    const float* w = t.want.data<float>();
    if (got.numel() != t.want.numel()) fuzz::finding(std::string(t.name) + ": a loaded plan changed the output's shape");
    double worst = 0, scale = 0;
    for (int64_t i = 0; i < got.numel(); ++i) {
      worst = std::max(worst, std::fabs(static_cast<double>(a[i]) - w[i]));
      if (std::isnan(a[i])) worst = INFINITY;
      scale = std::max(scale, std::fabs(static_cast<double>(w[i])));
    }
    const bool exact = t.settings.backend == CompileBackend::AotEager;
    if (exact ? std::memcmp(a, w, t.want.nbytes()) != 0 : worst > 1e-4 * (scale + 1))
      fuzz::finding(std::string(t.name) + ": a loaded plan passed the guards and changed the result (max |diff| " +
                    std::to_string(worst) + ")");
  }
  return 0;
}
