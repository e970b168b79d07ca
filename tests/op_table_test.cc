// The op x backend x ISA table. Every graph op and every fused plan step, built as a
// small graph with awkward shapes and random inputs, runs through eager, aot_eager, inductor
// fp32 and inductor bf16; each result is compared with eager under ONE tolerance table (below).
// The ISA is the process's: ctest runs this file once per FCAST_CPU_ISA level (CMakeLists.txt),
// so the AVX2 and portable kernel variants and the capped oneDNN paths are tested on an AVX-512
// host too. Each inductor case also asserts that the fused step it is about was formed and
// names its implementation, otherwise a fusion regression would silently test the reference.
//
// Also here: the FCAST_CPU_ISA override itself (parsing, clamping, the features text, which
// kernel variant the dispatcher ran).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <functional>
#include <map>
#include <optional>
#include <cstring>
#include <memory>
#include <random>
#include <set>

#include "core/error.h"
#include "graph/plan.h"
#include "ops/cpu/kernels.h"
#include "ops/reference/kernels.h"
#include "runtime/compiled_executor.h"
#include "runtime/executor_factory.h"
#include "runtime/plan_cache.h"

namespace {

using namespace fcast;

// ---------------------------------------------------------------------------------------------
// Tolerances. Metric: max_i |x_i - eager_i| / (max_i |eager_i| + 1) over each output (NaN only
// where eager has NaN). aot_eager is always compared bit for bit: it runs the reference kernels
// through a plan and an arena, so any difference is a planner or executor bug.
struct Tol {
  const char* family;
  double fp32;  // inductor fp32
  double bf16;  // inductor bf16
  const char* why;
};
constexpr Tol kTolerances[] = {
    {"reference", 0, 0,
     "ops without a fast kernel run the reference kernel in every backend: bit-equal"},
    {"matmul", 2e-5, 2e-2,
     "fp32: oneDNN sums K in its own blocked order (with FMA) vs the reference's 8 fixed partial "
     "sums, a few ulp of sqrt(K) terms; bf16: x and w rounded to bf16 (2^-9 relative each) with "
     "fp32 accumulation, about 1e-3 of the output scale, epilogues (softmax, softplus) propagate it"},
    {"norm", 1e-6, 1e-6,
     "same double-precision sum of squares, only the simd reduction order differs; bf16 plans keep "
     "norms in fp32"},
    {"softmax", 2e-6, 2e-6,
     "16-lane exp polynomial (3e-7 relative) instead of std::exp; sum in double as the reference"},
    {"silu", 2e-6, 2e-6, "16-lane exp polynomial (3e-7 relative) and a division, FMA contraction allowed"},
    {"rotary", 0, 0,
     "rotary.cc uses the reference's tables and operations without FMA contraction, and the same "
     "round-to-nearest-even for bf16 caches: bit-equal"},
    {"attention", 2e-5, 2e-2,
     "fp32: online softmax over key blocks (rescaled partial sums, exp polynomial, FMA) vs the "
     "reference's two-pass softmax; bf16 (several queries, head dim a multiple of 16): Q, K, V and "
     "the softmax weights rounded to bf16 (2^-9 relative) with fp32 accumulation"},
};
const Tol& tolerance(const std::string& family) {
  for (const Tol& t : kTolerances)
    if (family == t.family) return t;
  throw Error("op table: no tolerance for family " + family);
}

// ---------------------------------------------------------------------------------------------
// Cases.
struct Built {
  Graph g;
  TensorMap inputs;
};
struct Case {
  std::string family;  // tolerance row
  std::string what;    // ops and exact shapes, printed on failure
  std::string step;    // the step the inductor plan must contain (its name, as describe_plan prints it)
  std::function<void(Built&, std::mt19937_64&)> build;
  bool bf16_cache_prefill = false;  // a bf16 cache read by several queries: only bf16 plans take it
};

Tensor randn(Shape s, std::mt19937_64& rng, float scale = 1.0f) {
  Tensor t = Tensor::empty(DType::F32, s);
  std::normal_distribution<float> d(0.0f, scale);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = d(rng);
  return t;
}
Tensor randn_bf16(Shape s, std::mt19937_64& rng) { return randn(std::move(s), rng).to(DType::BF16); }
Tensor i64(int64_t v) { return Tensor::from_vector<int64_t>({v}, {1}); }
std::string str(const Shape& s) { return shape_str(s); }

ValueId in(Built& b, const std::string& name, const Tensor& t) {
  b.inputs[name] = t;
  return b.g.input(name, t.dtype(), t.shape());
}

// Matmul with an epilogue chain, given as the ops applied after the linear.
enum class Ep { Silu, Softplus, ClampMin, AddScalar, Scale, SwiGLU, Softmax };
const char* ep_name(Ep e) {
  switch (e) {
    case Ep::Silu: return "silu";
    case Ep::Softplus: return "softplus";
    case Ep::ClampMin: return "clamp_min";
    case Ep::AddScalar: return "add_scalar";
    case Ep::Scale: return "scale";
    case Ep::SwiGLU: return "swiglu";
    case Ep::Softmax: return "softmax";
  }
  return "?";
}
ValueId apply(Graph& g, ValueId y, Ep e) {
  switch (e) {
    case Ep::Silu: return g.silu(y);
    case Ep::Softplus: return g.softplus(y);
    case Ep::ClampMin: return g.clamp_min(y, 0.125f);
    case Ep::AddScalar: return g.add_scalar(y, 0.5f);
    case Ep::Scale: return g.scale(y, 0.75f);
    case Ep::SwiGLU: return g.swiglu(y);
    case Ep::Softmax: return g.softmax(y);
  }
  return y;
}

void matmul_cases(std::vector<Case>& out) {
  const std::vector<std::pair<bool, std::vector<Ep>>> chains = {
      {false, {}},
      {true, {}},
      {false, {Ep::Silu}},
      {true, {Ep::Silu}},
      {true, {Ep::Softplus}},
      {true, {Ep::Softplus, Ep::ClampMin, Ep::AddScalar}},
      {false, {Ep::Scale}},
      {true, {Ep::ClampMin}},
      {true, {Ep::AddScalar}},
      {true, {Ep::SwiGLU}},
      {true, {Ep::SwiGLU, Ep::Scale}},
      {true, {Ep::Softmax}},
  };
  // x shapes (any rank: rows are everything but the last axis), K, N; N even where SwiGLU halves it.
  const std::vector<std::tuple<Shape, int64_t, int64_t>> shapes = {
      {{1, 1}, 1, 1}, {{3, 17}, 17, 33}, {{17, 65}, 65, 127}, {{2, 3, 127}, 127, 17}, {{33, 3}, 3, 65}};
  for (const auto& [bias, chain] : chains)
    for (auto [xs, K, N] : shapes) {
      const bool swiglu = !chain.empty() && chain[0] == Ep::SwiGLU;
      if (swiglu) N += N % 2;
      std::string step = bias ? "linear+bias" : "linear";
      for (Ep e : chain) step += std::string("+") + ep_name(e);
      Case c;
      c.family = "matmul";
      c.step = step;
      c.what = cat(step, " x", str(xs), " w[", N, ", ", K, "]");
      c.build = [=, xs = xs, K = K, N = N](Built& b, std::mt19937_64& rng) {
        ValueId x = in(b, "x", randn(xs, rng));
        ValueId w = b.g.constant("w", randn({N, K}, rng, 1.0f / std::sqrt(static_cast<float>(K))));
        ValueId y = b.g.linear(x, w, bias ? b.g.constant("b", randn({N}, rng, 0.5f)) : kNone);
        for (Ep e : chain) y = apply(b.g, y, e);
        b.g.output("y", y);
      };
      out.push_back(std::move(c));
    }
}

void norm_cases(std::vector<Case>& out) {
  const std::vector<Shape> shapes = {{1, 1}, {3, 17}, {17, 65}, {2, 127}, {2, 3, 33}};
  for (const Shape& s : shapes) {
    const int64_t D = s.back();
    out.push_back({"norm", cat("add+rmsnorm ", str(s)), "add+rmsnorm", [=](Built& b, std::mt19937_64& rng) {
                     ValueId h = b.g.add(in(b, "a", randn(s, rng)), in(b, "b", randn(s, rng)));
                     b.g.output("y", b.g.rmsnorm(h, b.g.constant("w", randn({D}, rng)), 1e-5f));
                   }});
    // The sum is needed again (a residual stream): both results come from the fused step.
    out.push_back({"norm", cat("add+rmsnorm (sum also an output) ", str(s)), "add+rmsnorm",
                   [=](Built& b, std::mt19937_64& rng) {
                     ValueId h = b.g.add(in(b, "a", randn(s, rng)), in(b, "b", randn(s, rng)));
                     ValueId y = b.g.rmsnorm(h, b.g.constant("w", randn({D}, rng)), 1e-6f);
                     b.g.output("y", y);
                     b.g.output("h", h);
                   }});
    out.push_back({"norm", cat("rmsnorm ", str(s)), "rmsnorm", [=](Built& b, std::mt19937_64& rng) {
                     b.g.output("y", b.g.rmsnorm(in(b, "x", randn(s, rng, 3.0f)), b.g.constant("w", randn({D}, rng)), 1e-5f));
                   }});
    out.push_back({"softmax", cat("softmax ", str(s)), "softmax", [=](Built& b, std::mt19937_64& rng) {
                     Tensor x = randn(s, rng, 4.0f);
                     // A fully masked row (all -inf) where there are several rows.
                     if (x.numel() > D)
                       for (int64_t d = 0; d < D; ++d) x.data<float>()[D + d] = -INFINITY;
                     b.g.output("y", b.g.softmax(in(b, "x", x)));
                   }});
  }
  for (const Shape& s : std::vector<Shape>{{1}, {17}, {3, 65}, {33, 127}, {2, 1, 31}})
    out.push_back({"silu", cat("silu_mul ", str(s)), "silu_mul", [=](Built& b, std::mt19937_64& rng) {
                     b.g.output("y", b.g.silu_mul(in(b, "a", randn(s, rng, 4.0f)), in(b, "b", randn(s, rng))));
                   }});
}

// Rotary steps: (unpack) + (xPos / NeoX / none) + (KV write into an F32 or BF16 cache).
void rotary_cases(std::vector<Case>& out) {
  struct Dims {
    int64_t N, S, H, Dh;
  };
  const std::vector<Dims> dims = {{1, 1, 1, 2}, {3, 17, 2, 6}, {2, 33, 3, 16}, {1, 5, 2, 52}};
  enum Rot { None, XPos, Neox };
  for (const Dims& d : dims)
    for (bool unpack : {true, false})
      for (Rot rot : {None, XPos, Neox})
        for (int cache : {0, 1, 2}) {  // 0: no KV write, 1: F32 cache, 2: BF16 cache
          if (rot == Neox && unpack) continue;  // no model unpacks before NeoX (Kronos has separate q/k/v)
          if (!unpack && rot == None && cache == 0) continue;  // nothing to run
          for (int which : {0, 1, 2}) {
            if (!unpack && which > 0) continue;
            // Rotary is for q and k, caches for k and v.
            if (unpack && ((rot != None && which == 2) || (cache && which == 0))) continue;
            for (bool with_start : {false, true}) {
              if (rot == None && with_start) continue;
              const int64_t D = d.H * d.Dh, pos0 = with_start ? 7 : 4, start = 3, cap = pos0 + d.S + 3;
              std::string step;
              if (unpack) step = "unpack_heads";
              if (rot != None) step += std::string(step.empty() ? "" : "+") + (rot == XPos ? "rotary_xpos" : "rotary_neox");
              if (cache) step += step.empty() ? "kv_write" : "+kv_write";
              Case c;
              c.family = "rotary";
              c.step = step;
              c.what = cat(step, unpack ? cat(" qkv[", d.N, ", ", d.S, ", ", 3 * D, "] which ", which) : cat(" x[", d.N, ", ", d.S, ", ", D, "]"),
                           " heads ", d.H, " head_dim ", d.Dh, " pos0 ", pos0, with_start ? cat(" start ", start) : "",
                           cache == 1 ? cat(" F32 cache cap ", cap) : cache == 2 ? cat(" BF16 cache cap ", cap) : "");
              c.build = [=](Built& b, std::mt19937_64& rng) {
                ValueId x = unpack ? b.g.unpack_heads(in(b, "qkv", randn({d.N, d.S, 3 * D}, rng)), which, d.H)
                                   : in(b, "x", randn({d.N, d.S, D}, rng));
                ValueId p0 = rot != None || cache ? in(b, "pos0", i64(pos0)) : kNone;
                ValueId st = with_start ? in(b, "start", i64(start)) : kNone;
                if (rot == XPos) x = b.g.rotary_xpos(x, p0, d.H, which == 1, st);
                if (rot == Neox) {
                  std::vector<float> f(d.Dh / 2);
                  for (size_t m = 0; m < f.size(); ++m) f[m] = std::pow(10000.0f, -2.0f * m / d.Dh);
                  x = b.g.rotary_neox(x, b.g.constant("inv_freq", Tensor::from_vector(f, {d.Dh / 2})), p0, d.H, st);
                }
                if (cache) {
                  Tensor c0 = cache == 1 ? randn({d.N, cap, D}, rng) : randn_bf16({d.N, cap, D}, rng);
                  x = b.g.kv_write(in(b, "cache", c0), x, p0);
                }
                b.g.output("y", x);
              };
              out.push_back(std::move(c));
            }
          }
        }
}

void attention_cases(std::vector<Case>& out) {
  // Uncached (prefill / encoder): causal or not, every head dim the fast path has (and 52, which
  // takes the generic loop), odd lengths, group masks, a valid start.
  for (int64_t Dh : {16, 32, 52, 64, 128})
    for (auto [N, S, H, causal] : std::vector<std::tuple<int64_t, int64_t, int64_t, bool>>{
             {1, 1, 1, true}, {2, 17, 2, true}, {1, 65, 3, false}, {2, 33, 1, false}}) {
      const int64_t D = H * Dh;
      out.push_back({"attention", cat("attention q,k,v[", N, ", ", S, ", ", D, "] heads ", H, " head_dim ", Dh,
                                      causal ? " causal" : " full"),
                     "attention", [=](Built& b, std::mt19937_64& rng) {
                       ValueId q = in(b, "q", randn({N, S, D}, rng)), k = in(b, "k", randn({N, S, D}, rng));
                       b.g.output("y", b.g.attention(q, k, in(b, "v", randn({N, S, D}, rng)), H, causal));
                     }});
    }
  for (int64_t Dh : {32, 52, 64})
    for (bool causal : {true, false}) {
      const int64_t N = 2, S = 33, H = 2, D = H * Dh;
      out.push_back({"attention", cat("attention (group mask, start 5) q,k,v[", N, ", ", S, ", ", D, "] heads ", H,
                                      " head_dim ", Dh, causal ? " causal" : " full"),
                     "attention", [=](Built& b, std::mt19937_64& rng) {
                       std::vector<int32_t> grp(N * S);
                       for (int64_t i = 0; i < N * S; ++i) grp[i] = static_cast<int32_t>((i % S) / 7 + i / S);
                       ValueId q = in(b, "q", randn({N, S, D}, rng)), k = in(b, "k", randn({N, S, D}, rng));
                       ValueId v = in(b, "v", randn({N, S, D}, rng));
                       ValueId gr = in(b, "group", Tensor::from_vector(grp, {N, S}));
                       ValueId p0 = in(b, "pos0", i64(0));
                       b.g.output("y", b.g.attention(q, k, v, H, causal, p0, gr, false, in(b, "start", i64(5))));
                     }});
    }
  // Cached (decode and chunked prefill): the new rows are written at pos0 first; F32 and BF16
  // caches; with and without a valid start.
  for (int64_t Dh : {16, 52, 64, 128})
    for (int64_t Sq : {1, 17})
      for (int64_t pos0 : {0, 9})
        for (bool bf16_cache : {false, true})
          for (bool with_start : {false, true}) {
            if (bf16_cache && Dh % 16) continue;  // bf16 caches exist only where the kernel reads them
            if (with_start && pos0 == 0) continue;
            const int64_t N = 2, H = 2, D = H * Dh, cap = pos0 + Sq + 5;
            Case c;
            c.family = "attention";
            c.step = "attention";
            c.bf16_cache_prefill = bf16_cache && Sq > 1;
            c.what = cat("kv_write+attention (cached) q[", N, ", ", Sq, ", ", D, "] ", bf16_cache ? "BF16" : "F32",
                         " caches[", N, ", ", cap, ", ", D, "] heads ", H, " head_dim ", Dh, " pos0 ", pos0,
                         with_start ? " start 3" : "");
            c.build = [=](Built& b, std::mt19937_64& rng) {
              auto cache = [&](const std::string& name) {
                return in(b, name, bf16_cache ? randn_bf16({N, cap, D}, rng) : randn({N, cap, D}, rng));
              };
              ValueId p0 = in(b, "pos0", i64(pos0));
              ValueId kc = b.g.kv_write(cache("kc"), in(b, "k", randn({N, Sq, D}, rng)), p0);
              ValueId vc = b.g.kv_write(cache("vc"), in(b, "v", randn({N, Sq, D}, rng)), p0);
              ValueId st = with_start ? in(b, "start", i64(3)) : kNone;
              b.g.output("y", b.g.attention(in(b, "q", randn({N, Sq, D}, rng)), kc, vc, H, true, p0, kNone, true, st));
            };
            out.push_back(std::move(c));
          }
  // Separate key group ids per cache slot (Toto 2.0's block decoding: cached keys of fully
  // unobserved patches carry -1 and are hidden), F32 and BF16 caches.
  for (int64_t Dh : {16, 64})
    for (bool bf16_cache : {false, true}) {
      const int64_t N = 3, H = 2, D = H * Dh, Sq = 6, pos0 = 8, cap = 20;
      Case c;
      c.family = "attention";
      c.step = "attention";
      c.bf16_cache_prefill = bf16_cache;
      c.what = cat("kv_write+attention (cached, key groups) q[", N, ", ", Sq, ", ", D, "] ", bf16_cache ? "BF16" : "F32",
                   " caches[", N, ", ", cap, ", ", D, "] heads ", H, " pos0 ", pos0);
      c.build = [=](Built& b, std::mt19937_64& rng) {
        auto cache = [&](const std::string& name) {
          return in(b, name, bf16_cache ? randn_bf16({N, cap, D}, rng) : randn({N, cap, D}, rng));
        };
        std::vector<int32_t> qg(N * Sq), kg(N * cap);
        for (int64_t n = 0; n < N; ++n) {
          for (int64_t i = 0; i < Sq; ++i) qg[n * Sq + i] = static_cast<int32_t>(n);
          for (int64_t j = 0; j < cap; ++j) kg[n * cap + j] = (j % 3 == 1 && j < pos0) ? -1 : static_cast<int32_t>(n);
        }
        ValueId p0 = in(b, "pos0", i64(pos0));
        ValueId kc = b.g.kv_write(cache("kc"), in(b, "k", randn({N, Sq, D}, rng)), p0);
        ValueId vc = b.g.kv_write(cache("vc"), in(b, "v", randn({N, Sq, D}, rng)), p0);
        b.g.output("y", b.g.attention(in(b, "q", randn({N, Sq, D}, rng)), kc, vc, H, true, p0,
                                      in(b, "qgroup", Tensor::from_vector(qg, {N, Sq})), true, kNone,
                                      in(b, "kgroup", Tensor::from_vector(kg, {N, cap}))));
      };
      out.push_back(std::move(c));
    }
}

// Ops without a fused step: they run the reference kernel in every backend.
void reference_cases(std::vector<Case>& out) {
  auto add = [&](const std::string& what, const std::string& step, std::function<void(Built&, std::mt19937_64&)> f) {
    out.push_back({"reference", what, step, std::move(f)});
  };
  add("add [17, 5] (no norm after it)", "add", [](Built& b, std::mt19937_64& r) {
    b.g.output("y", b.g.add(in(b, "a", randn({17, 5}, r)), in(b, "b", randn({17, 5}, r))));
  });
  add("mul [3, 17]", "mul", [](Built& b, std::mt19937_64& r) {
    b.g.output("y", b.g.mul(in(b, "a", randn({3, 17}, r)), in(b, "b", randn({3, 17}, r))));
  });
  for (Ep e : {Ep::Silu, Ep::Softplus, Ep::ClampMin, Ep::AddScalar, Ep::Scale, Ep::SwiGLU})
    add(cat(ep_name(e), " [5, 34] (not after a linear)"), ep_name(e), [e](Built& b, std::mt19937_64& r) {
      b.g.output("y", apply(b.g, in(b, "x", randn({5, 34}, r, 8.0f)), e));
    });
  add("take_cols [3, 17] offset 5 width 7", "take_cols", [](Built& b, std::mt19937_64& r) {
    b.g.output("y", b.g.take_cols(in(b, "x", randn({3, 17}, r)), 5, 7));
  });
  add("permute0213 [2, 3, 5, 7]", "permute0213", [](Built& b, std::mt19937_64& r) {
    b.g.output("y", b.g.permute0213(in(b, "x", randn({2, 3, 5, 7}, r))));
  });
  add("embedding table [11, 6] ids [3, 4] x1.5", "embedding", [](Built& b, std::mt19937_64& r) {
    std::vector<int64_t> ids(12);
    for (size_t i = 0; i < ids.size(); ++i) ids[i] = static_cast<int64_t>((i * 7) % 11);
    b.g.output("y", b.g.embedding(b.g.constant("table", randn({11, 6}, r)), in(b, "ids", Tensor::from_vector(ids, {3, 4})), 1.5f));
  });
  add("stamp_index [3, 5] column 2 size 13", "stamp_index", [](Built& b, std::mt19937_64& r) {
    std::vector<float> st(15);
    for (size_t i = 0; i < st.size(); ++i) st[i] = static_cast<float>((i * 5) % 13);
    b.g.output("y", b.g.stamp_index(in(b, "stamp", Tensor::from_vector(st, {3, 5})), 2, 13));
  });
  add("concat [3, 5] + [3, 7]", "concat", [](Built& b, std::mt19937_64& r) {
    b.g.output("y", b.g.concat(in(b, "a", randn({3, 5}, r)), in(b, "b", randn({3, 7}, r))));
  });
  add("bsq_indices [2, 3, 9] s1_bits 4", "bsq_indices", [](Built& b, std::mt19937_64& r) {
    b.g.output("y", b.g.bsq_indices(in(b, "z", randn({2, 3, 9}, r)), 4));
  });
  add("bsq_bits ids [2, 3, 2] 4 bits per half", "bsq_bits", [](Built& b, std::mt19937_64& r) {
    std::vector<int64_t> ids(12);
    for (size_t i = 0; i < ids.size(); ++i) ids[i] = static_cast<int64_t>((i * 5) % 16);
    b.g.output("y", b.g.bsq_bits(in(b, "ids", Tensor::from_vector(ids, {2, 3, 2})), 4));
  });
  add("scale then reshape [3, 17] -> [51]", "scale", [](Built& b, std::mt19937_64& r) {
    b.g.output("y", b.g.reshape(b.g.scale(in(b, "x", randn({3, 17}, r)), 2.0f), {51}));
  });
  add("slice_time [2, 9, 5] start 2 count 4", "slice_time", [](Built& b, std::mt19937_64& r) {
    b.g.output("y", b.g.slice_time(in(b, "x", randn({2, 9, 5}, r)), 2, 4));
  });
  for (bool key : {false, true})
    for (float xpos : {0.0f, 256.0f})
      add(cat("rotary_partial [2, 7, 3x16] rotating 8 dims, pos0 5, ", key ? "key" : "query", xpos > 0 ? ", xPos" : ""),
          "rotary_partial", [key, xpos](Built& b, std::mt19937_64& r) {
            b.g.output("y", b.g.rotary_partial(in(b, "x", randn({2, 7, 48}, r)), in(b, "pos0", i64(5)), 3, key, 8, xpos));
          });
}

std::vector<Case> all_cases() {
  std::vector<Case> c;
  matmul_cases(c);
  norm_cases(c);
  rotary_cases(c);
  attention_cases(c);
  reference_cases(c);
  return c;
}

// ---------------------------------------------------------------------------------------------
// Running and comparing.
TensorMap fresh_copy(const TensorMap& m) {  // caches are written in place: every backend gets its own
  TensorMap c;
  for (const auto& [k, v] : m) c[k] = v.clone();
  return c;
}
Tensor as_f32(const Tensor& t) { return t.dtype() == DType::F32 ? t : t.to(DType::F32); }

// max |a - b| / (max |b| + 1); infinity where a has a NaN (or inf) that b does not.
double scaled_error(const Tensor& a32, const Tensor& b32) {
  const Tensor a = as_f32(a32), b = as_f32(b32);
  double w = 0, m = 0;
  for (int64_t i = 0; i < a.numel(); ++i) {
    const double x = a.data<float>()[i], y = b.data<float>()[i];
    if (std::isnan(y) || std::isinf(y)) {
      if (!(std::isnan(x) && std::isnan(y)) && x != y) return INFINITY;
      continue;
    }
    if (!std::isfinite(x)) return INFINITY;
    w = std::max(w, std::fabs(x - y));
    m = std::max(m, std::fabs(y));
  }
  return w / (m + 1);
}

std::string isa_label() { return cpu::isa_name(cpu::active_isa()); }

struct Backends {
  std::shared_ptr<Executor> eager = make_executor_from_spec("eager", "op-table");
  std::shared_ptr<Executor> aot = make_executor_from_spec("aot_eager", "op-table");
  std::shared_ptr<Executor> fp32 = make_executor_from_spec("inductor", "op-table");
  std::shared_ptr<Executor> bf16 = make_executor_from_spec("inductor:bf16", "op-table");
};

// The line describe_plan prints for `step`, or "" when the plan has no such step.
std::string plan_line(const std::string& plan, const std::string& step) {
  const std::string needle = "  " + step + " [";
  size_t p = plan.find(needle);
  if (p == std::string::npos) return "";
  return plan.substr(p + 2, plan.find('\n', p) - p - 2);
}

// What an implementation label may name under the active ISA (the oneDNN cap and the bf16
// attention choice follow FCAST_CPU_ISA).
void check_impl(const std::string& line, const std::string& where) {
  const cpu::Isa isa = cpu::active_isa();
  if (isa < cpu::Isa::Avx512) {
    EXPECT_EQ(line.find("avx512"), std::string::npos) << where << ": " << line;
  }
  if (isa < cpu::Isa::Avx2) {
    EXPECT_EQ(line.find("avx2"), std::string::npos) << where << ": " << line;
  }
  if (cpu::cpu_features().lowered) {
    EXPECT_EQ(line.find("amx"), std::string::npos) << where << ": " << line;
  }
  if (line.find("cpu-flash-bf16") != std::string::npos) {
    const char* want = cpu::cpu_features().avx512_bf16 ? ":avx512_bf16" : ":portable";
    EXPECT_NE(line.find(want), std::string::npos) << where << ": " << line;
  }
}

std::optional<cpu::Isa> requested_isa() {
  const char* v = std::getenv("FCAST_CPU_ISA");
  return cpu::parse_isa(v ? v : "");
}

void run_family(const std::string& family) {
  if (const auto want = requested_isa(); want && *want > cpu::host_cpu_features().isa)
    GTEST_SKIP() << "FCAST_CPU_ISA=" << cpu::isa_name(*want) << " is above this host's level ("
                 << cpu::isa_name(cpu::host_cpu_features().isa) << "): nothing to test at that level here";
  static Backends ex;  // shared: each case's graph is a new plan signature
  const Tol& tol = tolerance(family);
  int ran = 0;
  uint64_t seed = 1;
  for (const Case& c : all_cases()) {
    ++seed;
    if (c.family != family) continue;
    ++ran;
    std::mt19937_64 rng(seed);
    Built b;
    c.build(b, rng);
    const TensorMap want = ex.eager->run(b.g, fresh_copy(b.inputs));
    struct B {
      const char* name;
      Executor* e;
      double tol;
    };
    std::vector<B> backends = {{"aot_eager", ex.aot.get(), 0.0}, {"inductor", ex.fp32.get(), tol.fp32},
                               {"inductor:bf16", ex.bf16.get(), tol.bf16}};
    for (const B& be : backends) {
      if (c.bf16_cache_prefill && std::string(be.name) == "inductor") continue;  // fp32 plans never get bf16 caches
      const std::string where = cat(c.what, " | backend ", be.name, " | ISA ", isa_label());
      TensorMap got;
      try {
        got = be.e->run(b.g, fresh_copy(b.inputs));
      } catch (const std::exception& e) {
        ADD_FAILURE() << where << ": threw " << e.what();
        continue;
      }
      for (const auto& [name, w] : want) {
        auto it = got.find(name);
        if (it == got.end()) {
          ADD_FAILURE() << where << ": no output " << name;
          continue;
        }
        ASSERT_EQ(it->second.shape(), w.shape()) << where << " output " << name;
        if (be.tol == 0) {
          const Tensor a = it->second, e = w;
          EXPECT_TRUE(a.dtype() == e.dtype() && std::memcmp(a.raw(), e.raw(), a.nbytes()) == 0)
              << where << " output " << name << ": not bit-equal to eager (scaled error " << scaled_error(a, e) << ")";
        } else {
          const double err = scaled_error(it->second, w);
          EXPECT_LE(err, be.tol) << where << " output " << name << ": scaled error " << err << " > " << be.tol << " ("
                                 << tol.why << ")";
        }
      }
      auto* ce = dynamic_cast<CompiledExecutor*>(be.e);
      ASSERT_NE(ce, nullptr) << where;
      const std::string plan = ce->describe_plan(b.g);
      ASSERT_FALSE(plan.empty()) << where << ": no plan was built (ran eager?)";
      if (std::string(be.name) == "aot_eager") continue;  // one reference step per node by design
      const std::string line = plan_line(plan, c.step);
      EXPECT_FALSE(line.empty()) << where << ": the plan has no step '" << c.step << "':\n" << plan;
      if (family == "reference") {
        EXPECT_NE(line.find("[reference]"), std::string::npos) << where << ": " << line;
      } else {
        EXPECT_EQ(line.find("[reference]"), std::string::npos) << where << ": fused step runs the reference: " << line;
      }
      check_impl(line, where);
    }
  }
  EXPECT_GT(ran, 0) << "no cases in family " << family;
}

TEST(OpTable, Matmul) { run_family("matmul"); }
TEST(OpTable, NormsAndSoftmax) {
  run_family("norm");
  run_family("softmax");
}
TEST(OpTable, SiluMul) { run_family("silu"); }
TEST(OpTable, Rotary) { run_family("rotary"); }
TEST(OpTable, Attention) { run_family("attention"); }
TEST(OpTable, ReferenceOps) { run_family("reference"); }

// The table covers every graph op and every step kind (an op or kind added later without a case
// fails here as long as it is added before the last enumerator named below).
TEST(OpTable, CoversEveryOpAndStepKind) {
  std::set<int> ops, kinds;
  std::mt19937_64 rng(7);
  for (const Case& c : all_cases()) {
    Built b;
    c.build(b, rng);
    for (const auto& n : b.g.nodes()) ops.insert(static_cast<int>(n.op));
    for (const PlanStep& s : compile_plan(b.g, PlanSignature{}, CompileOptions{true}).steps)
      kinds.insert(static_cast<int>(s.kind));
    tolerance(c.family);  // every family has a tolerance row
  }
  for (int o = 0; o <= static_cast<int>(Op::RotaryPartial); ++o)
    EXPECT_TRUE(ops.count(o)) << "no op-table case for op " << op_name(static_cast<Op>(o));
  for (int k = 0; k <= static_cast<int>(StepKind::SiluMul); ++k)
    EXPECT_TRUE(kinds.count(k)) << "no op-table case forms step kind " << step_kind_name(static_cast<StepKind>(k));
}

// ---------------------------------------------------------------------------------------------
// The FCAST_CPU_ISA override.

TEST(IsaOverride, ParsesTheThreeLevelsAndRejectsAnythingElse) {
  EXPECT_FALSE(cpu::parse_isa("").has_value());
  EXPECT_EQ(cpu::parse_isa("avx512"), cpu::Isa::Avx512);
  EXPECT_EQ(cpu::parse_isa("avx2"), cpu::Isa::Avx2);
  EXPECT_EQ(cpu::parse_isa("baseline"), cpu::Isa::Baseline);
  for (const char* bad : {"AVX2", "avx", "sse", "avx512bf16", " avx2", "native"}) {
    try {
      cpu::parse_isa(bad);
      ADD_FAILURE() << "'" << bad << "' was accepted";
    } catch (const Error& e) {
      const std::string m = e.what();
      EXPECT_NE(m.find("FCAST_CPU_ISA"), std::string::npos) << m;
      EXPECT_NE(m.find("avx512, avx2 or baseline"), std::string::npos) << m;
    }
  }
}

TEST(IsaOverride, LoweringRemovesFeaturesAboveTheLevelAndNeverRaises) {
  const cpu::CpuFeatures& host = cpu::host_cpu_features();
  const cpu::CpuFeatures base = cpu::limit_features(host, cpu::Isa::Baseline);
  EXPECT_EQ(base.text(), "x86_64:baseline");
  EXPECT_EQ(base.isa, cpu::Isa::Baseline);
  const cpu::CpuFeatures v3 = cpu::limit_features(host, cpu::Isa::Avx2);
  EXPECT_EQ(v3.text().find("avx512"), std::string::npos) << v3.text();
  EXPECT_EQ(v3.text().find("amx"), std::string::npos) << v3.text();
  EXPECT_FALSE(v3.avx512_bf16);
  EXPECT_EQ(v3.isa, std::min(host.isa, cpu::Isa::Avx2));
  if (host.isa >= cpu::Isa::Avx2) {
    EXPECT_NE(v3.text().find("avx2"), std::string::npos) << v3.text();
  }
  // avx512 keeps the host's AVX-512 extensions (BF16 included) but never AMX.
  const cpu::CpuFeatures v4 = cpu::limit_features(host, cpu::Isa::Avx512);
  EXPECT_EQ(v4.isa, host.isa);
  EXPECT_EQ(v4.avx512_bf16, host.avx512_bf16);
  EXPECT_FALSE(v4.amx_bf16 || v4.amx_tile || v4.amx_int8);
  // A synthetic AVX2-only host cannot be raised to AVX-512.
  cpu::CpuFeatures avx2_host = v3;
  avx2_host.isa = cpu::Isa::Avx2;
  EXPECT_EQ(cpu::limit_features(avx2_host, cpu::Isa::Avx512).isa, cpu::Isa::Avx2);
  EXPECT_EQ(cpu::limit_features(avx2_host, cpu::Isa::Avx512).text(), avx2_host.text());
}

TEST(IsaOverride, ProcessFeaturesFollowTheVariable) {
  const auto want = requested_isa();
  const cpu::CpuFeatures& host = cpu::host_cpu_features();
  // One detector: the persistent cache's identity is the kernels' view.
  EXPECT_EQ(PlanCache::cpu_features(), cpu::cpu_features().text());
  if (!want) {
    EXPECT_EQ(cpu::cpu_features().text(), host.text());
    EXPECT_EQ(cpu::active_isa(), host.isa);
    return;
  }
  EXPECT_EQ(cpu::cpu_features().text(), cpu::limit_features(host, *want).text());
  if (*want > host.isa) GTEST_SKIP() << "FCAST_CPU_ISA=" << cpu::isa_name(*want) << " is above this host ("
                                     << cpu::isa_name(host.isa) << "): clamped";
  EXPECT_EQ(cpu::active_isa(), *want);
}

// The dispatchers run the variant of the active level (on this thread: the sizes are below the
// kernels' parallel thresholds).
TEST(IsaOverride, DispatchersRunTheActiveVariant) {
  const auto want = requested_isa();
  if (want && *want > cpu::host_cpu_features().isa) GTEST_SKIP() << "requested level above this host";
  const cpu::Isa expect = want ? *want : cpu::host_cpu_features().isa;
  std::vector<float> a(37, 0.5f), b(37, 2.0f), y(37);
  cpu::detail::last_variant = expect == cpu::Isa::Baseline ? cpu::Isa::Avx512 : cpu::Isa::Baseline;
  cpu::softmax(a.data(), y.data(), 1, 37);
  EXPECT_EQ(cpu::last_variant(), expect) << "cpu::softmax";
  cpu::detail::last_variant = expect == cpu::Isa::Baseline ? cpu::Isa::Avx512 : cpu::Isa::Baseline;
  cpu::silu_mul(a.data(), b.data(), y.data(), 37);
  EXPECT_EQ(cpu::last_variant(), expect) << "cpu::silu_mul";
  cpu::detail::last_variant = expect == cpu::Isa::Baseline ? cpu::Isa::Avx512 : cpu::Isa::Baseline;
  EXPECT_FLOAT_EQ(ref::dot(a.data(), b.data(), 37), 37.0f);
  EXPECT_EQ(cpu::last_variant(), expect) << "ref::dot";
  EXPECT_EQ(cpu::attention_bf16_native(), expect == cpu::Isa::Avx512 && cpu::host_cpu_features().avx512_bf16);
}

}  // namespace
