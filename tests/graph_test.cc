// The graph builder's shape checks and the eager executor: input binding errors, temporaries
// released after their last use, in-place KV writes, aliasing reshapes, and a few ops whose
// layout the reference pins down (head unpacking, the xPos centre, cached
// attention) checked against the reference kernels.
#include <gtest/gtest.h>
#include <malloc.h>
#include <sys/resource.h>

#include <cmath>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/rng.h"
#include "core/tensor.h"
#include "graph/graph.h"
#include "ops/reference/kernels.h"
#include "runtime/eager_executor.h"
#include "runtime/executor.h"

namespace {

using fcast::DType;
using fcast::Graph;
using fcast::kNone;
using fcast::Shape;
using fcast::Tensor;
using fcast::ValueId;

Tensor randn(fcast::Rng& rng, Shape s) {
  Tensor t = Tensor::empty(DType::F32, std::move(s));
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = static_cast<float>(rng.normal());
  return t;
}

// Expects f() to throw fcast::Error whose message contains `needle`.
void expect_error(const std::function<void()>& f, const std::string& needle, const std::string& what) {
  try {
    f();
    ADD_FAILURE() << what << ": no error";
  } catch (const fcast::Error& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos)
        << what << ": '" << needle << "' not in: " << e.what();
  }
}

bool same_floats(const Tensor& a, const float* b) {
  return std::memcmp(a.raw(), b, a.nbytes()) == 0;
}

// ---------------------------------------------------------------------------------------
// builder

TEST(GraphBuilder, ShapeChecksThrowOnMismatch) {
  Graph g;
  const ValueId x = g.input("x", DType::F32, {2, 3, 8});
  const ValueId w = g.constant("w", Tensor::zeros(DType::F32, {4, 8}));
  const ValueId w_bad = g.constant("w_bad", Tensor::zeros(DType::F32, {4, 7}));
  const ValueId b_bad = g.constant("b_bad", Tensor::zeros(DType::F32, {5}));
  const ValueId v7 = g.constant("v7", Tensor::zeros(DType::F32, {7}));
  const ValueId y = g.input("y", DType::F32, {2, 3, 7});
  const ValueId pos = g.input("pos0", DType::I64, {1});
  const ValueId ids_f = g.input("ids_f", DType::F32, {2, 3});
  const ValueId x4 = g.input("x4", DType::F32, {1, 2, 3, 4});
  const ValueId cache = g.input("cache", DType::F32, {2, 4, 8});

  expect_error([&] { g.linear(x, w_bad); }, "linear", "linear with K 8 vs weight K 7");
  expect_error([&] { g.linear(x, w, b_bad); }, "bias", "linear with a bias of the wrong size");
  expect_error([&] { g.rmsnorm(x, v7, 1e-8f); }, "rmsnorm", "rmsnorm weight [7] for width 8");
  expect_error([&] { g.add(x, y); }, "add", "add [2,3,8] + [2,3,7]");
  expect_error([&] { g.mul(x, y); }, "mul", "mul [2,3,8] * [2,3,7]");
  expect_error([&] { g.silu_mul(x, y); }, "silu_mul", "silu_mul shape mismatch");
  expect_error([&] { g.swiglu(y); }, "swiglu", "swiglu of an odd width");
  expect_error([&] { g.take_cols(x, 5, 4); }, "take_cols", "take_cols past the end");
  expect_error([&] { g.take_cols(x, -1, 2); }, "take_cols", "take_cols with a negative offset");
  expect_error([&] { g.unpack_heads(x, 0, 2); }, "unpack_heads", "unpack_heads of a width not divisible by 3");
  expect_error([&] { g.unpack_heads(g.input("qkv", DType::F32, {1, 2, 9}), 0, 2); }, "unpack_heads",
               "unpack_heads with heads not dividing D");
  expect_error([&] { g.rotary_xpos(x, pos, 3, false); }, "rotary_xpos", "rotary_xpos with heads not dividing D");
  expect_error([&] { g.rotary_xpos(x, pos, 8, false); }, "rotary_xpos", "rotary_xpos with an odd head dim (1)");
  expect_error([&] { g.rotary_neox(x, v7, pos, 2); }, "rotary_neox", "rotary_neox with 7 frequencies for Dh 4");
  expect_error([&] { g.kv_write(cache, g.input("big", DType::F32, {2, 5, 8}), pos); }, "kv_write",
               "kv_write of more rows than the capacity");
  expect_error([&] { g.kv_write(cache, y, pos); }, "kv_write", "kv_write of a different width");
  expect_error([&] { g.attention(x, y, y, 2, true); }, "attention", "attention q width 8, k width 7");
  expect_error([&] { g.attention(x, x, y, 2, true); }, "attention", "attention v shape differs from k");
  expect_error([&] { g.attention(x, x, x, 3, true); }, "attention", "attention with heads not dividing D");
  expect_error([&] { g.attention(x, cache, cache, 2, true, kNone, kNone, true); }, "write position",
               "cached attention without a position");
  expect_error([&] { g.permute0213(x); }, "permute0213", "permute0213 of a 3-d tensor");
  expect_error([&] { g.embedding(w, ids_f); }, "embedding", "embedding with float ids");
  expect_error([&] { g.concat(x, x4); }, "concat", "concat of different ranks");
  expect_error([&] { g.concat(x, g.input("z", DType::F32, {2, 4, 8})); }, "concat", "concat of different rows");
  expect_error([&] { g.reshape(x, {5, 10}); }, "reshape", "reshape to a different element count");
  expect_error([&] { g.slice_time(x, 2, 2); }, "slice_time", "slice_time past the end");
  expect_error([&] { g.slice_time(x, -1, 1); }, "slice_time", "slice_time with a negative start");
  expect_error([&] { g.stamp_index(x, 8, 10); }, "stamp_index", "stamp_index of a missing column");
  expect_error([&] { g.bsq_bits(ids_f, 3); }, "bsq_bits", "bsq_bits of float ids");
  expect_error([&] { g.input("x", DType::F32, {1}); }, "declared twice", "duplicate input name");
  // The failed builders added nothing.
  EXPECT_TRUE(g.nodes().empty());
}

TEST(GraphBuilder, OutputShapes) {
  Graph g;
  const ValueId x = g.input("x", DType::F32, {2, 3, 8});
  EXPECT_EQ(g.shape(g.linear(x, g.constant("w", Tensor::zeros(DType::F32, {5, 8})))), (Shape{2, 3, 5}));
  EXPECT_EQ(g.shape(g.swiglu(x)), (Shape{2, 3, 4}));
  EXPECT_EQ(g.shape(g.take_cols(x, 2, 3)), (Shape{2, 3, 3}));
  EXPECT_EQ(g.shape(g.slice_time(x, 1, 2)), (Shape{2, 2, 8}));
  EXPECT_EQ(g.shape(g.permute0213(g.reshape(x, {2, 3, 2, 4}))), (Shape{2, 2, 3, 4}));
  const ValueId ids = g.input("ids", DType::I64, {4});
  EXPECT_EQ(g.shape(g.embedding(g.constant("t", Tensor::zeros(DType::F32, {10, 6})), ids)), (Shape{4, 6}));
  EXPECT_EQ(g.value(g.stamp_index(x, 1, 10)).dtype, DType::I64);
}

// ---------------------------------------------------------------------------------------
// input binding

TEST(GraphEager, InputBindingErrors) {
  Graph g;
  const ValueId x = g.input("x", DType::F32, {2, 3});
  g.output("y", g.scale(x, 2.0f));
  expect_error([&] { fcast::run_eager(g, {}); }, "graph input 'x' was not provided", "missing input");
  expect_error([&] { fcast::run_eager(g, {{"X", Tensor::zeros(DType::F32, {2, 3})}}); }, "'x' was not provided",
               "input under another name");
  expect_error([&] { fcast::run_eager(g, {{"x", Tensor::zeros(DType::F32, {3, 2})}}); }, "expects F32[2, 3], got F32[3, 2]",
               "wrong shape");
  expect_error([&] { fcast::run_eager(g, {{"x", Tensor::zeros(DType::F64, {2, 3})}}); }, "expects F32[2, 3], got F64[2, 3]",
               "wrong dtype");
  expect_error([&] { fcast::run_eager(g, {{"x", Tensor::zeros(DType::F32, {6})}}); }, "got F32[6]",
               "same element count, other shape");
  // The executor interface gives the same result as run_eager.
  fcast::EagerExecutor ex;
  EXPECT_EQ(ex.name(), "eager");
  Tensor in = Tensor::from_vector<float>({1, 2, 3, 4, 5, 6}, {2, 3});
  auto out = ex.run(g, {{"x", in}});
  ASSERT_EQ(out.count("y"), 1u);
  for (int i = 0; i < 6; ++i) EXPECT_EQ(out["y"].data<float>()[i], 2.0f * (i + 1));
}

// ---------------------------------------------------------------------------------------
// temporaries

TEST(GraphEager, LongChainIsCorrect) {
  Graph g;
  const ValueId x = g.input("x", DType::F32, {3, 5});
  ValueId v = x;
  for (int i = 0; i < 500; ++i) v = g.add_scalar(g.scale(v, 1.0f), 1.0f);
  g.output("y", v);
  Tensor in = Tensor::zeros(DType::F32, {3, 5});
  for (int i = 0; i < 15; ++i) in.data<float>()[i] = static_cast<float>(i);
  const auto out = fcast::run_eager(g, {{"x", in}});
  for (int i = 0; i < 15; ++i) EXPECT_EQ(out.at("y").data<float>()[i], static_cast<float>(i + 500)) << i;
  for (int i = 0; i < 15; ++i) EXPECT_EQ(in.data<float>()[i], static_cast<float>(i)) << "the input was modified";
}

TEST(GraphEager, TemporaryLivesUntilItsLastUse) {
  // a feeds two later nodes; c is an output that is also consumed afterwards.
  Graph g;
  const ValueId x = g.input("x", DType::F32, {4});
  const ValueId a = g.silu(x);
  const ValueId b = g.scale(a, 2.0f);
  const ValueId c = g.add(a, b);  // 3 silu(x)
  const ValueId d = g.mul(c, a);  // a used again after c
  g.output("c", c);
  g.output("d", g.add_scalar(d, 1.0f));
  Tensor in = Tensor::from_vector<float>({-2, -0.5f, 0.5f, 3}, {4});
  const auto out = fcast::run_eager(g, {{"x", in}});
  for (int i = 0; i < 4; ++i) {
    const float s = fcast::ref::silu(in.data<float>()[i]);
    EXPECT_EQ(out.at("c").data<float>()[i], s + s * 2.0f);
    EXPECT_EQ(out.at("d").data<float>()[i], (s + s * 2.0f) * s + 1.0f);
  }
}

long max_rss_kb() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_maxrss;
}

TEST(GraphEager, TemporariesAreReleased) {
  // 40 steps over 8 MB tensors: 320 MB if temporaries were kept, ~2 tensors if released.
  // The process's peak RSS may only grow by a small multiple of one tensor. A fixed mmap
  // threshold makes glibc map and unmap each large tensor, so the peak RSS tracks the live
  // tensors exactly (with the default dynamic threshold, heap fragmentation from 64-byte
  // aligned_alloc grows the heap by ~150 MB on this chain even though every temporary is freed).
#if defined(__SANITIZE_ADDRESS__)
  GTEST_SKIP() << "AddressSanitizer's allocator quarantines freed memory; RSS says nothing here";
#endif
  mallopt(M_MMAP_THRESHOLD, 1 << 20);
  const int64_t n = 2 << 20;
  Graph g;
  const ValueId x = g.input("x", DType::F32, {n});
  ValueId v = x;
  for (int i = 0; i < 40; ++i) v = g.add_scalar(v, 0.5f);
  g.output("y", v);
  Tensor in = Tensor::zeros(DType::F32, {n});
  const long before = max_rss_kb();
  const auto out = fcast::run_eager(g, {{"x", in}});
  const long grown_mb = (max_rss_kb() - before) / 1024;
  EXPECT_EQ(out.at("y").data<float>()[n - 1], 20.0f);
  EXPECT_LT(grown_mb, 64) << "peak RSS grew by " << grown_mb << " MB over a chain of 8 MB temporaries";
}

// ---------------------------------------------------------------------------------------
// KV write and aliasing

TEST(GraphEager, KVWriteWritesInPlace) {
  fcast::Rng rng(1);
  const int64_t N = 2, cap = 6, S = 3, D = 4;
  Graph g;
  const ValueId cache = g.input("cache", DType::F32, {N, cap, D});
  const ValueId x = g.input("x", DType::F32, {N, S, D});
  const ValueId pos = g.input("pos0", DType::I64, {1});
  g.output("cache_out", g.kv_write(cache, x, pos));
  Tensor c = Tensor::empty(DType::F32, {N, cap, D});
  for (int64_t i = 0; i < c.numel(); ++i) c.data<float>()[i] = -7.0f;
  const Tensor xv = randn(rng, {N, S, D});
  const auto out = fcast::run_eager(g, {{"cache", c}, {"x", xv}, {"pos0", fcast::make_scalar_i64(2)}});
  EXPECT_TRUE(out.at("cache_out").same_storage(c)) << "KVWrite must write into the caller's cache";
  EXPECT_EQ(out.at("cache_out").raw(), c.raw());
  for (int64_t n = 0; n < N; ++n)
    for (int64_t t = 0; t < cap; ++t)
      for (int64_t d = 0; d < D; ++d) {
        const float got = c.data<float>()[(n * cap + t) * D + d];
        if (t >= 2 && t < 2 + S)
          EXPECT_EQ(got, xv.data<float>()[(n * S + t - 2) * D + d]) << "n=" << n << " t=" << t;
        else
          EXPECT_EQ(got, -7.0f) << "row outside [2, 5) touched: n=" << n << " t=" << t;
      }
  // Overflow and a negative position are reported with the numbers involved.
  expect_error([&] { fcast::run_eager(g, {{"cache", c}, {"x", xv}, {"pos0", fcast::make_scalar_i64(4)}}); },
               "KV cache overflow: writing 3 entries at 4 into a cache of capacity 6", "write past the capacity");
  expect_error([&] { fcast::run_eager(g, {{"cache", c}, {"x", xv}, {"pos0", fcast::make_scalar_i64(-1)}}); },
               "KV cache overflow", "negative position");
  // The exact fit is fine.
  EXPECT_NO_THROW(fcast::run_eager(g, {{"cache", c}, {"x", xv}, {"pos0", fcast::make_scalar_i64(3)}}));
}

TEST(GraphEager, CachedAttentionReadsTheWrittenPrefix) {
  // Decode step: write k/v at pos0 into caches, attend to [0, pos0 + S) with causal masking;
  // the rest of the cache is NaN and must not be read.
  fcast::Rng rng(2);
  const int64_t N = 2, cap = 8, S = 2, H = 2, Dh = 3, D = H * Dh, pos0 = 3;
  Graph g;
  const ValueId kc = g.input("k_cache", DType::F32, {N, cap, D});
  const ValueId vc = g.input("v_cache", DType::F32, {N, cap, D});
  const ValueId q = g.input("q", DType::F32, {N, S, D});
  const ValueId k = g.input("k", DType::F32, {N, S, D});
  const ValueId v = g.input("v", DType::F32, {N, S, D});
  const ValueId pos = g.input("pos0", DType::I64, {1});
  const ValueId kw = g.kv_write(kc, k, pos), vw = g.kv_write(vc, v, pos);
  g.output("o", g.attention(q, kw, vw, H, true, pos, kNone, true));
  Tensor kcache = randn(rng, {N, cap, D}), vcache = randn(rng, {N, cap, D});
  for (int64_t n = 0; n < N; ++n)
    for (int64_t t = pos0 + S; t < cap; ++t)
      for (int64_t d = 0; d < D; ++d)
        kcache.data<float>()[(n * cap + t) * D + d] = vcache.data<float>()[(n * cap + t) * D + d] = NAN;
  const Tensor qv = randn(rng, {N, S, D}), kv = randn(rng, {N, S, D}), vv = randn(rng, {N, S, D});
  const auto out = fcast::run_eager(
      g, {{"k_cache", kcache}, {"v_cache", vcache}, {"q", qv}, {"k", kv}, {"v", vv}, {"pos0", fcast::make_scalar_i64(pos0)}});
  std::vector<float> want(N * S * D);
  fcast::ref::AttentionArgs a;
  a.N = N; a.Sq = S; a.H = H; a.Dh = Dh;
  a.q = qv.data<float>(); a.q_nstride = S * D; a.q_tstride = D;
  a.k = kcache.data<float>(); a.k_nstride = cap * D; a.k_tstride = D;
  a.v = vcache.data<float>(); a.v_nstride = cap * D; a.v_tstride = D;
  a.kv_len = pos0 + S; a.causal = true; a.q_pos0 = pos0;
  a.scale = 1.0f / std::sqrt(static_cast<float>(Dh));
  a.out = want.data();
  fcast::ref::attention(a);
  EXPECT_TRUE(same_floats(out.at("o"), want.data()));
  for (float f : want) EXPECT_TRUE(std::isfinite(f));
  // A position that leaves no room is an error, not a read past the cache.
  expect_error([&] {
    fcast::run_eager(g, {{"k_cache", kcache}, {"v_cache", vcache}, {"q", qv}, {"k", kv}, {"v", vv},
                         {"pos0", fcast::make_scalar_i64(cap - 1)}});
  }, "KV cache overflow", "decode past the capacity");
}

TEST(GraphEager, ReshapeAliases) {
  Graph g;
  const ValueId x = g.input("x", DType::F32, {2, 6});
  const ValueId r = g.reshape(x, {3, 4});
  g.output("r", r);
  // A reshape of a temporary whose only later use is the reshape itself: the view must keep
  // the storage alive after the executor drops the temporary.
  const ValueId t = g.scale(x, 3.0f);
  g.output("t_view", g.reshape(t, {12}));
  EXPECT_EQ(g.value(r).alias, x);
  Tensor in = Tensor::from_vector<float>({0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}, {2, 6});
  const auto out = fcast::run_eager(g, {{"x", in}});
  EXPECT_EQ(out.at("r").shape(), (Shape{3, 4}));
  EXPECT_EQ(out.at("r").raw(), in.raw()) << "reshape must be a view, not a copy";
  EXPECT_TRUE(out.at("r").same_storage(in));
  EXPECT_EQ(out.at("t_view").shape(), (Shape{12}));
  for (int i = 0; i < 12; ++i) EXPECT_EQ(out.at("t_view").data<float>()[i], 3.0f * i);
}

// ---------------------------------------------------------------------------------------
// ops whose layout the spec fixes

TEST(GraphEager, UnpackHeadsFollowsTheHeadFastestLayout) {
  // q[h][d] = y[0*D + d*H + h], k: 1*D, v: 2*D; output head-major h*Dh + d.
  fcast::Rng rng(3);
  const int64_t N = 2, S = 3, H = 3, Dh = 4, D = H * Dh;
  Graph g;
  const ValueId qkv = g.input("qkv", DType::F32, {N, S, 3 * D});
  for (int which = 0; which < 3; ++which) g.output(std::to_string(which), g.unpack_heads(qkv, which, H));
  const Tensor y = randn(rng, {N, S, 3 * D});
  const auto out = fcast::run_eager(g, {{"qkv", y}});
  for (int which = 0; which < 3; ++which) {
    const Tensor& o = out.at(std::to_string(which));
    ASSERT_EQ(o.shape(), (Shape{N, S, D}));
    for (int64_t r = 0; r < N * S; ++r)
      for (int64_t h = 0; h < H; ++h)
        for (int64_t d = 0; d < Dh; ++d)
          ASSERT_EQ(o.data<float>()[r * D + h * Dh + d], y.data<float>()[r * 3 * D + which * D + d * H + h])
              << "which=" << which << " row=" << r << " h=" << h << " d=" << d;
  }
}

TEST(GraphEager, RotaryXposCentreIsFromThisCallsPositions) {
  // c = floor(max position in this call / 2), i.e. (pos0 + S - 1) / 2.
  fcast::Rng rng(4);
  const int64_t N = 2, H = 2, Dh = 6, D = H * Dh;
  for (int64_t S : {1, 2, 9})
    for (int64_t pos0 : {0, 1, 6})
      for (bool key : {false, true}) {
        Graph g;
        const ValueId x = g.input("x", DType::F32, {N, S, D});
        g.output("y", g.rotary_xpos(x, g.input("pos0", DType::I64, {1}), H, key));
        const Tensor xv = randn(rng, {N, S, D});
        const auto out = fcast::run_eager(g, {{"x", xv}, {"pos0", fcast::make_scalar_i64(pos0)}});
        std::vector<float> want(N * S * D);
        fcast::ref::rotary_xpos(xv.data<float>(), D, want.data(), N, S, H, Dh, pos0, (pos0 + S - 1) / 2, key);
        EXPECT_TRUE(same_floats(out.at("y"), want.data())) << "S=" << S << " pos0=" << pos0 << " key=" << key;
      }
}

TEST(GraphEager, GroupedAttentionMatchesReference) {
  fcast::Rng rng(5);
  const int64_t N = 2, S = 5, H = 2, Dh = 3, D = H * Dh;
  Graph g;
  const ValueId q = g.input("q", DType::F32, {N, S, D});
  const ValueId grp = g.input("group", DType::I32, {N, S});
  g.output("o", g.attention(q, q, q, H, false, kNone, grp));
  const Tensor qv = randn(rng, {N, S, D});
  const Tensor gv = Tensor::from_vector<int32_t>({0, 0, 1, 1, 2, 5, 5, 5, 5, 5}, {N, S});
  const auto out = fcast::run_eager(g, {{"q", qv}, {"group", gv}});
  std::vector<float> want(N * S * D);
  fcast::ref::AttentionArgs a;
  a.N = N; a.Sq = S; a.H = H; a.Dh = Dh;
  a.q = a.k = a.v = qv.data<float>();
  a.q_nstride = a.k_nstride = a.v_nstride = S * D;
  a.q_tstride = a.k_tstride = a.v_tstride = D;
  a.kv_len = S;
  a.q_group = a.k_group = gv.data<int32_t>();
  a.scale = 1.0f / std::sqrt(static_cast<float>(Dh));
  a.out = want.data();
  fcast::ref::attention(a);
  EXPECT_TRUE(same_floats(out.at("o"), want.data()));
  // The token alone in group 2 sees only itself: its output is its own value.
  for (int64_t d = 0; d < D; ++d) EXPECT_EQ(out.at("o").data<float>()[4 * D + d], qv.data<float>()[4 * D + d]);
}

// DISABLED: fails today. Graph::attention does not check the group input (dtype I32, shape
// [N, S]) and the executor reads q_group[n * Sq + i] for every query, so a [1, 1] group for
// N = 2, S = 5 reads past the end of its buffer instead of raising an error.
TEST(GraphEager, AttentionRejectsAMisShapedGroup) {
  Graph g;
  const ValueId q = g.input("q", DType::F32, {2, 5, 6});
  expect_error([&] {
    const ValueId grp = g.input("group", DType::I32, {1, 1});
    g.output("o", g.attention(q, q, q, 2, false, kNone, grp));
    fcast::run_eager(g, {{"q", Tensor::zeros(DType::F32, {2, 5, 6})},
                         {"group", Tensor::zeros(DType::I32, {1, 1})}});
  }, "group", "group of shape [1, 1] for q [2, 5, 6]");
}

TEST(GraphEager, DataMovementOpsMatchNaiveLoops) {
  fcast::Rng rng(6);
  Graph g;
  const ValueId x = g.input("x", DType::F32, {2, 3, 5});
  const ValueId y = g.input("y", DType::F32, {2, 3, 2});
  g.output("cols", g.take_cols(x, 1, 3));
  g.output("slice", g.slice_time(x, 1, 2));
  g.output("cat", g.concat(x, y));
  g.output("perm", g.permute0213(g.reshape(x, {2, 3, 5, 1})));
  const Tensor xv = randn(rng, {2, 3, 5}), yv = randn(rng, {2, 3, 2});
  const auto out = fcast::run_eager(g, {{"x", xv}, {"y", yv}});
  const float* X = xv.data<float>();
  const float* Y = yv.data<float>();
  for (int a = 0; a < 2; ++a)
    for (int t = 0; t < 3; ++t) {
      for (int c = 0; c < 3; ++c) EXPECT_EQ(out.at("cols").data<float>()[(a * 3 + t) * 3 + c], X[(a * 3 + t) * 5 + 1 + c]);
      for (int c = 0; c < 7; ++c)
        EXPECT_EQ(out.at("cat").data<float>()[(a * 3 + t) * 7 + c], c < 5 ? X[(a * 3 + t) * 5 + c] : Y[(a * 3 + t) * 2 + c - 5]);
      for (int c = 0; c < 5; ++c) EXPECT_EQ(out.at("perm").data<float>()[(a * 5 + c) * 3 + t], X[(a * 3 + t) * 5 + c]);
    }
  for (int a = 0; a < 2; ++a)
    for (int t = 0; t < 2; ++t)
      for (int c = 0; c < 5; ++c)
        EXPECT_EQ(out.at("slice").data<float>()[(a * 2 + t) * 5 + c], X[(a * 3 + 1 + t) * 5 + c]);
}

TEST(GraphEager, EmbeddingAndStampIndexReportBadValues) {
  Graph g;
  const ValueId ids = g.input("ids", DType::I64, {3});
  g.output("e", g.embedding(g.constant("table", Tensor::zeros(DType::F32, {4, 2})), ids));
  expect_error([&] { fcast::run_eager(g, {{"ids", Tensor::from_vector<int64_t>({0, 4, 1}, {3})}}); }, "out of range",
               "embedding id 4 of 4");
  Graph h;
  const ValueId st = h.input("stamp", DType::F32, {2, 5});
  h.output("i", h.stamp_index(st, 1, 24));
  expect_error([&] { fcast::run_eager(h, {{"stamp", Tensor::from_vector<float>({0, 23, 0, 0, 0, 0, 24, 0, 0, 0}, {2, 5})}}); },
               "outside [0, 24)", "hour 24");
  expect_error([&] { fcast::run_eager(h, {{"stamp", Tensor::from_vector<float>({0, NAN, 0, 0, 0, 0, 1, 0, 0, 0}, {2, 5})}}); },
               "not finite", "NaN time feature");
}

}  // namespace
