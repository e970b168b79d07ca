#include "peak.h"

#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <chrono>

#include "ops/cpu/kernels.h"

namespace fcast::bench {

namespace {

// Independent accumulator chains: at least FMA latency x FMA pipes on current x86 cores
// (4-6 cycles x 2 pipes), so the loop is throughput-bound, not latency-bound, while all
// accumulators and both operands stay in registers (AVX2 has 16 ymm, AVX-512 32 zmm).
constexpr int kChains = 16, kChainsAvx2 = 12;

volatile float g_sink;  // keeps the accumulators live

// acc = acc * a + b stays bounded (a < 1), so no overflow or denormals whatever the count.
__attribute__((target("avx2,fma"))) double fma_avx2(int64_t iters) {
  __m256 acc[kChainsAvx2];
  const __m256 a = _mm256_set1_ps(0.999f), b = _mm256_set1_ps(1e-3f);
  for (int i = 0; i < kChainsAvx2; ++i) acc[i] = _mm256_set1_ps(static_cast<float>(i));
  for (int64_t it = 0; it < iters; ++it)
    for (int i = 0; i < kChainsAvx2; ++i) acc[i] = _mm256_fmadd_ps(acc[i], a, b);
  __m256 s = acc[0];
  for (int i = 1; i < kChainsAvx2; ++i) s = _mm256_add_ps(s, acc[i]);
  g_sink = _mm256_cvtss_f32(s);
  return 2.0 * 8 * kChainsAvx2 * static_cast<double>(iters);
}

__attribute__((target("avx512f"))) double fma_avx512(int64_t iters) {
  __m512 acc[kChains];
  const __m512 a = _mm512_set1_ps(0.999f), b = _mm512_set1_ps(1e-3f);
  for (int i = 0; i < kChains; ++i) acc[i] = _mm512_set1_ps(static_cast<float>(i));
  for (int64_t it = 0; it < iters; ++it)
    for (int i = 0; i < kChains; ++i) acc[i] = _mm512_fmadd_ps(acc[i], a, b);
  __m512 s = acc[0];
  for (int i = 1; i < kChains; ++i) s = _mm512_add_ps(s, acc[i]);
  g_sink = _mm512_cvtss_f32(s);
  return 2.0 * 16 * kChains * static_cast<double>(iters);
}

// vdpbf16ps: each fp32 lane accumulates two bf16 products, 16 lanes -> 64 flops per instruction.
__attribute__((target("avx512f,avx512bf16"))) double dot_bf16(int64_t iters) {
  __m512 acc[kChains];
  const __m512bh a = _mm512_cvtne2ps_pbh(_mm512_set1_ps(1e-3f), _mm512_set1_ps(2e-3f));
  const __m512bh b = _mm512_cvtne2ps_pbh(_mm512_set1_ps(3e-3f), _mm512_set1_ps(1e-3f));
  for (int i = 0; i < kChains; ++i) acc[i] = _mm512_set1_ps(static_cast<float>(i));
  for (int64_t it = 0; it < iters; ++it)
    for (int i = 0; i < kChains; ++i) acc[i] = _mm512_dpbf16_ps(acc[i], a, b);
  __m512 s = acc[0];
  for (int i = 1; i < kChains; ++i) s = _mm512_add_ps(s, acc[i]);
  g_sink = _mm512_cvtss_f32(s);
  return 64.0 * kChains * static_cast<double>(iters);
}

double run_one(PeakIsa isa, int64_t iters) {
  switch (isa) {
    case PeakIsa::kAvx2Fma: return fma_avx2(iters);
    case PeakIsa::kAvx512Fma: return fma_avx512(iters);
    case PeakIsa::kAvx512Bf16: return dot_bf16(iters);
  }
  return 0;
}

double now_s() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

}  // namespace

const char* peak_isa_name(PeakIsa isa) {
  switch (isa) {
    case PeakIsa::kAvx2Fma: return "avx2_fma";
    case PeakIsa::kAvx512Fma: return "avx512_fma";
    case PeakIsa::kAvx512Bf16: return "avx512_bf16";
  }
  return "?";
}

bool peak_isa_available(PeakIsa isa) {
  const cpu::CpuFeatures& f = cpu::cpu_features();
  switch (isa) {
    case PeakIsa::kAvx2Fma: return f.avx2 && __builtin_cpu_supports("fma");
    case PeakIsa::kAvx512Fma: return f.avx512f;
    case PeakIsa::kAvx512Bf16: return f.avx512f && f.avx512_bf16;
  }
  return false;
}

bool peak_isa_is_bf16(PeakIsa isa) { return isa == PeakIsa::kAvx512Bf16; }

double run_peak_loop(PeakIsa isa, int64_t iters, int threads) {
  double flops = 0;
#pragma omp parallel num_threads(threads) reduction(+ : flops)
  flops += run_one(isa, iters);
  return flops;
}

double measure_peak_gflops(PeakIsa isa, int threads, double seconds) {
  // Repetitions of about 1 ms: short enough that some run between the scheduler's time slices
  // when other processes share the cores. Calibrated on one thread (the fastest of a few tries).
  constexpr double kRep = 1e-3;
  int64_t iters = 256;
  double t = 0;
  for (;; iters *= 4) {
    t = 1e30;
    for (int i = 0; i < 3; ++i) {
      const double t0 = now_s();
      run_one(isa, iters);
      t = std::min(t, now_s() - t0);
    }
    if (t > kRep / 8) break;
  }
  iters = std::max<int64_t>(1, static_cast<int64_t>(static_cast<double>(iters) * kRep / t));
  const int reps = std::max(1, static_cast<int>(seconds / kRep));
  // Every thread runs its repetitions at the same time and keeps its best rate; the machine peak
  // is their sum. Other load only ever slows a repetition down, so the best ones show what the
  // cores sustain when free (a busy machine then shows as a low peak_frac, not a low peak).
  double total = 0;
#pragma omp parallel num_threads(threads) reduction(+ : total)
  {
    double best = 0;
    for (int r = 0; r < reps; ++r) {
      const double t0 = now_s();
      const double flops = run_one(isa, iters);
      best = std::max(best, flops / (now_s() - t0));
    }
    total += best;
  }
  return total * 1e-9;
}

}  // namespace fcast::bench
