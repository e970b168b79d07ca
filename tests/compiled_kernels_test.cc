// Every optimised CPU kernel (src/ops/cpu) against its reference on random inputs of awkward
// shapes. Tolerances: fp32 kernels |a - b| <= 2e-5 (|b| + 1) (different summation order only);
// the rotary/unpack/KV-write kernel is bit-identical (same operations); bf16 matmuls are
// compared with the reference run on bf16-rounded inputs at 1e-4 (|b| + 1) (fp32 accumulation).
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "ops/cpu/kernels.h"
#include "ops/reference/kernels.h"
#include "test_util.h"

namespace {

using namespace fcast;

std::vector<float> rnd(int64_t n, uint64_t seed, float lo = -1.0f, float hi = 1.0f) {
  return test::random_floats(n, seed, lo, hi);
}

void expect_close(const std::vector<float>& a, const std::vector<float>& b, double tol, const std::string& what) {
  ASSERT_EQ(a.size(), b.size()) << what;
  for (size_t i = 0; i < a.size(); ++i)
    ASSERT_LE(std::fabs(a[i] - b[i]), tol * (std::fabs(b[i]) + 1)) << what << " at " << i << ": " << a[i] << " vs " << b[i];
}

float bf16_round(float x) { return bf16_to_f32(f32_to_bf16(x)); }

TEST(CompiledKernels, MatmulMatchesReference) {
  const int64_t shapes[][3] = {{1, 13, 5}, {7, 64, 96}, {33, 100, 130}, {2, 768, 1}, {65, 17, 257}};
  for (const auto& sh : shapes)
    for (int variant = 0; variant < 4; ++variant) {
      const int64_t M = sh[0], K = sh[1], N = sh[2];
      const bool packed = variant & 1, silu = variant & 2;
      for (bool bf16 : {false, true}) {
        auto x = rnd(M * K, 1 + M), w = rnd(N * K, 2 + N), b = rnd(N, 3);
        cpu::MatmulKernel k(cpu::MatmulDesc{M, K, N, true, silu, bf16, packed});
        std::vector<uint8_t> wp(k.packed_bytes() + 64), sp(k.scratch_bytes() + 64);
        k.pack_weights(w.data(), wp.data());
        std::vector<float> y(M * N), want(M * N);
        k.run(x.data(), wp.data(), b.data(), y.data(), sp.data(), variant == 3);
        if (bf16)
          for (auto* v : {&x, &w})
            for (auto& e : *v) e = bf16_round(e);
        ref::linear(x.data(), K, w.data(), b.data(), want.data(), M, K, N);
        if (silu) ref::silu(want.data(), want.data(), M * N);
        expect_close(y, want, bf16 ? 1e-4 : 2e-5,
                     cat("matmul ", M, "x", K, "x", N, " packed=", packed, " silu=", silu, " bf16=", bf16));
      }
    }
}

TEST(CompiledKernels, NormsSoftmaxAndEpilogues) {
  for (int64_t D : {1, 7, 64, 130}) {
    const int64_t M = 5;
    auto a = rnd(M * D, 10 + D, -3, 3), b = rnd(M * D, 11 + D, -3, 3), w = rnd(D, 12);
    std::vector<float> h(M * D), y(M * D), h2(M * D), y2(M * D);
    cpu::add_rmsnorm(a.data(), b.data(), w.data(), h.data(), y.data(), M, D, 1e-8f);
    ref::add(a.data(), b.data(), h2.data(), M * D);
    ref::rmsnorm(h2.data(), w.data(), y2.data(), M, D, 1e-8f);
    expect_close(h, h2, 0, cat("add D=", D));
    expect_close(y, y2, 2e-6, cat("add+rmsnorm D=", D));
    cpu::rmsnorm(a.data(), w.data(), y.data(), M, D, 1e-5f);
    ref::rmsnorm(a.data(), w.data(), y2.data(), M, D, 1e-5f);
    expect_close(y, y2, 2e-6, cat("rmsnorm D=", D));
    cpu::softmax(a.data(), y.data(), M, D);
    ref::softmax(a.data(), y2.data(), M, D);
    expect_close(y, y2, 2e-6, cat("softmax D=", D));
  }
  // Toto's head chain: softplus -> clamp_min -> add_scalar; and swiglu -> softmax.
  const int64_t M = 3, N = 10;
  auto x = rnd(M * N, 20, -30, 30);
  std::vector<float> got = x, want(M * N);
  cpu::apply_epilogue(got.data(), M, N,
                      {{cpu::EpilogueKind::Softplus, 0}, {cpu::EpilogueKind::ClampMin, 1.0f}, {cpu::EpilogueKind::AddScalar, 2.0f}}, 0, nullptr);
  ref::softplus(x.data(), want.data(), M * N);
  ref::clamp_min(want.data(), 1.0f, want.data(), M * N);
  ref::add_scalar(want.data(), 2.0f, want.data(), M * N);
  expect_close(got, want, 2e-6, "softplus+clamp_min+add_scalar");
  std::vector<float> g = x, out(M * N / 2), want2(M * N / 2);
  float* r = cpu::apply_epilogue(g.data(), M, N, {{cpu::EpilogueKind::SwiGLU, 0}, {cpu::EpilogueKind::Softmax, 0}}, 0, out.data());
  EXPECT_EQ(r, out.data());
  ref::swiglu(x.data(), want2.data(), M, N / 2);
  ref::softmax(want2.data(), want2.data(), M, N / 2);
  expect_close(out, want2, 2e-6, "swiglu+softmax");
}

// The vectorised silu (polynomial exp, 16 lanes plus a scalar tail): silu_mul, the silu
// epilogue and SwiGLU, over sizes that hit the tail, several vectors, and the threaded split;
// inputs up to +-100 reach exp's clamped ranges.
TEST(CompiledKernels, VectorSiluKernelsMatchReference) {
  for (int64_t n : {int64_t{3}, int64_t{16}, int64_t{1000}, int64_t{70001}}) {
    auto a = rnd(n, 60 + n, -100, 100), b = rnd(n, 61 + n, -3, 3);
    std::vector<float> got(n), want(n);
    cpu::silu_mul(a.data(), b.data(), got.data(), n);
    ref::silu_mul(a.data(), b.data(), want.data(), n);
    expect_close(got, want, 2e-6, cat("silu_mul n=", n));
    got = a;
    cpu::apply_epilogue(got.data(), 1, n, {{cpu::EpilogueKind::Silu, 0}}, 0, nullptr);
    ref::silu(a.data(), want.data(), n);
    expect_close(got, want, 2e-6, cat("silu n=", n));
  }
  const int64_t M = 7, F = 40;
  auto g = rnd(M * 2 * F, 62, -20, 20);
  std::vector<float> work = g, got(M * F), want(M * F);
  cpu::apply_epilogue(work.data(), M, 2 * F, {{cpu::EpilogueKind::SwiGLU, 0}}, 0, got.data());
  ref::swiglu(g.data(), want.data(), M, F);
  expect_close(got, want, 2e-6, "swiglu F=40");
}

TEST(CompiledKernels, RotaryUnpackAndKVWriteAreBitIdentical) {
  const int64_t N = 3, S = 5, H = 2, Dh = 6, D = H * Dh, cap = 9;
  auto qkv = rnd(N * S * 3 * D, 30, -2, 2);
  for (int64_t which : {0, 1, 2})
    for (int64_t start : {0, 2}) {
      // Reference: unpack (Toto layout), then rotary with positions counted from `start`.
      std::vector<float> unpacked(N * S * D), want(N * S * D);
      for (int64_t r = 0; r < N * S; ++r)
        for (int64_t h = 0; h < H; ++h)
          for (int64_t d = 0; d < Dh; ++d) unpacked[r * D + h * Dh + d] = qkv[r * 3 * D + which * D + d * H + h];
      const int64_t pos0 = 3, p0 = pos0 - start;
      const int64_t centre = (p0 + S - 1) >= 0 ? (p0 + S - 1) / 2 : -((-(p0 + S - 1) + 1) / 2);
      ref::rotary_xpos(unpacked.data(), D, want.data(), N, S, H, Dh, p0, centre, which == 1);
      std::vector<float> cache(N * cap * D, 0.0f), table(cpu::rotary_table_floats(S, Dh));
      cpu::RotaryArgs a;
      a.mode = 1;
      a.is_key = which == 1;
      a.N = N, a.S = S, a.H = H, a.D = D;
      a.src = qkv.data();
      a.packed = true;
      a.which = which;
      a.pos0 = pos0;
      a.start = start;
      a.dst = cache.data();
      a.dst_cap = cap;
      a.table = table.data();
      cpu::rotary(a);
      for (int64_t n = 0; n < N; ++n)
        for (int64_t s = 0; s < S; ++s)
          for (int64_t e = 0; e < D; ++e)
            ASSERT_EQ(cache[(n * cap + pos0 + s) * D + e], want[(n * S + s) * D + e]) << which << " " << start;
      // Into a bf16 cache: the same rows, rounded to nearest even; other slots untouched.
      std::vector<uint16_t> cache16(N * cap * D, 0x7fc1);
      a.dst = nullptr;
      a.dst16 = cache16.data();
      cpu::rotary(a);
      for (int64_t n = 0; n < N; ++n)
        for (int64_t s = 0; s < cap; ++s)
          for (int64_t e = 0; e < D; ++e) {
            const uint16_t got16 = cache16[(n * cap + s) * D + e];
            if (s < pos0 || s >= pos0 + S)
              ASSERT_EQ(got16, 0x7fc1);
            else
              ASSERT_EQ(got16, f32_to_bf16(want[(n * S + s - pos0) * D + e])) << which << " " << start;
          }
      a.dst16 = nullptr;
      a.dst = cache.data();
      a.pos0 = cap - S + 1;  // overflow is a clear error
      EXPECT_THROW(cpu::rotary(a), Error);
    }
  // NeoX (Kronos), contiguous source and destination.
  auto x = rnd(N * S * D, 31);
  auto inv = rnd(Dh / 2, 32, 0.01f, 1.0f);
  std::vector<float> got(N * S * D), want(N * S * D), table(cpu::rotary_table_floats(S, Dh));
  ref::rotary_neox(x.data(), D, want.data(), N, S, H, Dh, 4, inv.data());
  cpu::RotaryArgs a;
  a.mode = 2, a.N = N, a.S = S, a.H = H, a.D = D, a.src = x.data(), a.pos0 = 5, a.start = 1;
  a.inv_freq = inv.data(), a.dst = got.data(), a.table = table.data();
  cpu::rotary(a);
  EXPECT_EQ(got, want);
}

TEST(CompiledKernels, AttentionMatchesReference) {
  struct Case {
    int64_t N, Sq, Skv, H, Dh;
    bool causal, cached, groups;
    int64_t pos0, start, block;
  };
  const Case cases[] = {
      {2, 7, 7, 3, 5, true, false, false, 0, 0, 128},     // prefill
      {2, 9, 9, 2, 8, true, false, false, 0, 3, 4},       // left-padded prefill, small blocks
      {3, 1, 40, 2, 16, true, true, false, 30, 2, 8},     // cached decode
      {1, 1, 1000, 1, 64, true, true, false, 999, 5, 128},  // long context: never a full score row
      {4, 5, 5, 2, 4, false, false, true, 0, 0, 128},     // grouped (space-wise)
  };
  for (const Case& c : cases) {
    const int64_t D = c.H * c.Dh;
    auto q = rnd(c.N * c.Sq * D, 40 + c.Sq, -2, 2), k = rnd(c.N * c.Skv * D, 41, -2, 2), v = rnd(c.N * c.Skv * D, 42);
    std::vector<int32_t> grp(c.N * c.Sq);
    for (size_t i = 0; i < grp.size(); ++i) grp[i] = static_cast<int32_t>((i * 7) % 3);
    ref::AttentionArgs a;
    a.N = c.N, a.Sq = c.Sq, a.H = c.H, a.Dh = c.Dh;
    a.q = q.data(), a.q_nstride = c.Sq * D, a.q_tstride = D;
    a.k = k.data(), a.v = v.data(), a.k_nstride = a.v_nstride = c.Skv * D, a.k_tstride = a.v_tstride = D;
    a.q_pos0 = c.pos0;
    a.kv_len = c.cached ? c.pos0 + c.Sq : c.Skv;
    a.kv_start = c.start;
    a.causal = c.causal;
    if (c.groups) a.q_group = a.k_group = grp.data();
    a.scale = 1.0f / std::sqrt(static_cast<float>(c.Dh));
    std::vector<float> got(c.N * c.Sq * D), want(c.N * c.Sq * D);
    a.out = want.data();
    ref::attention(a);
    a.out = got.data();
    cpu::attention(a, c.block);
    expect_close(got, want, 2e-5, cat("attention N=", c.N, " Sq=", c.Sq, " Skv=", c.Skv, " start=", c.start));
  }
}

// The vectorised path (head dims 16..128 in steps of 16): several 32-query tasks, partial
// 4-query tiles, causal chunks that start at pos0 > 0, left padding, groups, interleaved
// (packed qkv) token strides, and long decodes with one query. Scores are scaled before the
// dot product and exp is a polynomial, hence the same 2e-5 tolerance as the scalar path.
struct AttnCase {
  int64_t N, Sq, H, Dh, pos0, start;
  bool causal, groups;
  int64_t token_stride_mult;  // q/k/v rows are this many times H*Dh apart (3: packed qkv)
};

const std::vector<AttnCase>& attention_cases() {
  static const std::vector<AttnCase> cases = {
      {2, 70, 2, 64, 0, 0, true, false, 1},     // 3 tasks per head, last tile of 2 queries
      {1, 37, 3, 16, 11, 5, true, false, 3},    // chunk at pos0 11 of a cache, left padding, packed
      {3, 33, 2, 48, 0, 9, true, false, 1},     // Dh 48, start inside the first key block
      {2, 129, 1, 128, 0, 0, true, false, 1},   // Dh 128, key blocks past 2 * 64
      {2, 19, 2, 32, 0, 0, false, true, 1},     // grouped (space-wise), not causal
      {5, 1, 4, 64, 700, 3, true, false, 1},    // decode over 701 keys
      {1, 1, 2, 80, 64, 64, true, false, 3},    // decode where only the last key is visible
      {1, 5, 1, 16, 0, 7, true, false, 1},      // every query before the first valid key: zeros
      {2, 1, 8, 32, 90, 2, true, true, 3},      // decode in head groups, with groups
      {1, 1, 16, 16, 130, 0, true, false, 1},   // decode, 16 heads split in groups
      {1, 100, 2, 64, 27, 0, false, false, 1},  // not causal over 127 keys: odd last key block
  };
  return cases;
}

// Random q, k, v (and groups) for one case, with `a` pointing at them.
struct AttnData {
  std::vector<float> q, k, v;
  std::vector<int32_t> qg, kg;
  ref::AttentionArgs a;
  explicit AttnData(const AttnCase& c) {
    const int64_t D = c.H * c.Dh, ts = c.token_stride_mult * D;
    const int64_t kv = c.pos0 + c.Sq;  // keys [0, pos0 + Sq) are in the cache
    q = rnd(c.N * c.Sq * ts, 50 + c.Sq, -2, 2), k = rnd(c.N * kv * ts, 51, -2, 2), v = rnd(c.N * kv * ts, 52);
    qg.resize(c.N * c.Sq), kg.resize(c.N * kv);
    for (size_t i = 0; i < qg.size(); ++i) qg[i] = static_cast<int32_t>((i * 5) % 3);
    for (size_t i = 0; i < kg.size(); ++i) kg[i] = static_cast<int32_t>((i * 7) % 3);
    a.N = c.N, a.Sq = c.Sq, a.H = c.H, a.Dh = c.Dh;
    a.q = q.data(), a.q_nstride = c.Sq * ts, a.q_tstride = ts;
    a.k = k.data(), a.v = v.data(), a.k_nstride = a.v_nstride = kv * ts, a.k_tstride = a.v_tstride = ts;
    a.q_pos0 = c.pos0;
    a.kv_len = kv;
    a.kv_start = c.start;
    a.causal = c.causal;
    if (c.groups) a.q_group = qg.data(), a.k_group = kg.data();
    a.scale = 1.0f / std::sqrt(static_cast<float>(c.Dh));
  }
  std::string what(const AttnCase& c) const {
    return cat("attention N=", c.N, " Sq=", c.Sq, " Dh=", c.Dh, " pos0=", c.pos0, " causal=", c.causal);
  }
};

TEST(CompiledKernels, AttentionVectorPathMatchesReference) {
  for (const AttnCase& c : attention_cases()) {
    AttnData d(c);
    ref::AttentionArgs a = d.a;
    std::vector<float> got(c.N * c.Sq * c.H * c.Dh, 7.0f), want(got.size());
    a.out = want.data();
    ref::attention(a);
    a.out = got.data();
    cpu::attention(a);
    expect_close(got, want, 2e-5, d.what(c));
  }
}

// bf16 plans' attention. With several queries both products take bf16 operands: the reference
// gets the same rounded operands (scaled q, k and v rounded to bf16, scale 1), and what remains
// is the rounding of the softmax weights to bf16 (relative 2^-9 each), so |error| <= 2^-9 *
// max|v| ~ 2e-3 (v in [-1, 1]). vdpbf16ps (where the CPU has it) and the portable emulation
// round alike but for denormals: 1e-6. Decode stays fp32: bit-identical to AttentionMath::F32.
TEST(CompiledKernels, AttentionBf16PathMatchesRoundedReference) {
  if (!cpu::attention_bf16_native())
    std::cout << "note: this CPU has no AVX512_BF16; AttentionMath::BF16 runs the portable path\n";
  for (const AttnCase& c : attention_cases()) {
    AttnData d(c);
    ref::AttentionArgs a = d.a;
    const size_t n = static_cast<size_t>(c.N * c.Sq * c.H * c.Dh);
    std::vector<float> native(n, 7.0f), portable(n, 7.0f), fp32(n), want(n);
    a.out = native.data();
    cpu::attention(a, 128, cpu::AttentionMath::BF16);
    a.out = portable.data();
    cpu::attention(a, 128, cpu::AttentionMath::BF16Portable);
    a.out = fp32.data();
    cpu::attention(a);
    expect_close(native, portable, 1e-6, d.what(c) + " native vs portable bf16");
    if (c.Sq == 1) {
      expect_close(portable, fp32, 0, d.what(c) + " decode stays fp32");
      continue;
    }
    std::vector<float> q = d.q, k = d.k, v = d.v;
    for (float& x : q) x = bf16_round(x * a.scale);
    for (float& x : k) x = bf16_round(x);
    for (float& x : v) x = bf16_round(x);
    ref::AttentionArgs r = a;
    r.q = q.data(), r.k = k.data(), r.v = v.data(), r.scale = 1.0f;
    r.out = want.data();
    ref::attention(r);
    expect_close(portable, want, 2.5e-3, d.what(c) + " bf16 vs rounded reference");
    // The bf16 path must really round: its distance from fp32 is far above fp32 noise (unless
    // no query sees a key: all zeros).
    double diff = 0, mag = 0;
    for (size_t i = 0; i < n; ++i) {
      diff = std::max(diff, static_cast<double>(std::fabs(portable[i] - fp32[i])));
      mag = std::max(mag, static_cast<double>(std::fabs(fp32[i])));
    }
    if (mag > 0) {
      EXPECT_GT(diff, 1e-4) << d.what(c);
    }
  }
}

// bf16 KV caches (bf16 plans): attention reading a bf16 cache gives exactly what it gives on an
// fp32 cache holding the same (rounded) values, in decode (fp32 products on widened values) and
// with several queries (bf16 products; rounding a bf16 value again changes nothing).
TEST(CompiledKernels, AttentionOnBf16CacheEqualsRoundedFp32Cache) {
  for (const AttnCase& c : attention_cases()) {
    AttnData d(c);
    std::vector<uint16_t> k16(d.k.size()), v16(d.v.size());
    std::vector<float> kr(d.k.size()), vr(d.v.size());
    for (size_t i = 0; i < d.k.size(); ++i) {
      k16[i] = f32_to_bf16(d.k[i]), v16[i] = f32_to_bf16(d.v[i]);
      kr[i] = bf16_to_f32(k16[i]), vr[i] = bf16_to_f32(v16[i]);
    }
    const size_t n = static_cast<size_t>(c.N * c.Sq * c.H * c.Dh);
    std::vector<float> from16(n, 7.0f), from32(n, 8.0f);
    for (auto math : {cpu::AttentionMath::BF16, cpu::AttentionMath::BF16Portable}) {
      ref::AttentionArgs a = d.a;
      a.k = nullptr, a.v = nullptr, a.k16 = k16.data(), a.v16 = v16.data();
      a.out = from16.data();
      cpu::attention(a, 128, math);
      a.k16 = nullptr, a.v16 = nullptr, a.k = kr.data(), a.v = vr.data();
      a.out = from32.data();
      cpu::attention(a, 128, math);
      expect_close(from16, from32, 0, d.what(c) + " bf16 cache");
    }
    ref::AttentionArgs a = d.a;
    a.k16 = k16.data(), a.v16 = v16.data();
    a.out = from16.data();
    if (c.Sq > 1)  // fp32 products do not read bf16 caches: a clear error, not garbage
      EXPECT_THROW(cpu::attention(a, 128, cpu::AttentionMath::F32), Error) << d.what(c);
    else
      EXPECT_NO_THROW(cpu::attention(a, 128, cpu::AttentionMath::F32));
  }
  // Head dims the vector kernel lacks cannot take a bf16 cache either.
  EXPECT_FALSE(cpu::attention_reads_bf16_cache(24));
  EXPECT_FALSE(cpu::attention_reads_bf16_cache(144));
  EXPECT_TRUE(cpu::attention_reads_bf16_cache(64));
}

}  // namespace
