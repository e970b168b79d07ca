// Kernel micro-benchmarks: each reference kernel (fcast::ref) next to its optimised counterpart
// (fcast::cpu) at the Toto / Kronos shapes, with rates read against the measured peak of this
// machine (bench/peak.h), measured once at start-up and printed in the run's context.
//
//   fcast_kernel_bench [--benchmark_filter=REGEX] [--benchmark_min_time=SECONDS]
//
// Compute-bound kernels (matmul, attention) report GFLOPs (rate) and peak_frac (fraction of the
// measured fp32 FMA peak at the same thread count; bf16 matmuls also peak_frac_bf16, against the
// AVX512_BF16 dot-product peak). Memory-bound kernels (rmsnorm, softmax, rotary) report
// bytes_per_second. The last argument of every benchmark, thr, is the OpenMP thread count.
// Times are wall-clock (UseRealTime): the kernels run on an OpenMP pool, and the CPU column is the
// calling thread's CPU time only. On a shared machine, a multi-thread row whose Time is far above
// its CPU time lost a core to another process; --benchmark_repetitions=5 and the median help there.
#include <benchmark/benchmark.h>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "ops/cpu/kernels.h"
#include "ops/reference/kernels.h"
#include "peak.h"

namespace fcast::bench {

namespace {

// ---- buffers ----

struct FreeDeleter {
  void operator()(void* p) const { std::free(p); }
};
template <class T>
using Aligned = std::unique_ptr<T[], FreeDeleter>;

// 64-byte aligned, uninitialised (each benchmark's warm-up call touches its outputs).
template <class T = float>
Aligned<T> aligned(size_t n) {
  const size_t bytes = std::max<size_t>(64, (n * sizeof(T) + 63) / 64 * 64);
  return Aligned<T>(static_cast<T*>(std::aligned_alloc(64, bytes)));
}

// Read-only inputs in [-1, 1), shared by all benchmarks: one buffer that grows to the largest
// request, so the multi-GB decode KV caches are filled once rather than on every call. Callers
// slice one request into their distinct inputs.
const float* random_floats(size_t n) {
  static Aligned<float> pool;
  static size_t size = 0;
  if (n > size) {
    pool.reset();
    pool = aligned<float>(n);
    size = n;
    float* p = pool.get();
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; ++i) {
      uint64_t h = (i + 1) * 0x9E3779B97F4A7C15ull;  // splitmix64 finaliser
      h = (h ^ (h >> 30)) * 0xBF58476D1CE4E5B9ull;
      h = (h ^ (h >> 27)) * 0x94D049BB133111EBull;
      p[i] = static_cast<float>((h ^ (h >> 31)) >> 40) * 0x1p-23f - 1.0f;
    }
  }
  return pool.get();
}

// ---- measured peaks and reporting ----

struct Peak {
  double fp32 = 0, bf16 = 0;  // GFLOP/s: best fp32 FMA ISA, AVX512_BF16 dot products (0: none)
};
std::map<int, Peak> g_peaks;  // by thread count
int g_all_threads = 1;        // omp_get_max_threads() at start-up

std::vector<int64_t> thread_args() {
  if (g_all_threads > 1) return {1, g_all_threads};
  return {1};
}

double now_s() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

// The timed loop of a compute-bound benchmark doing `flops` per call of `body`; `bytes` > 0 also
// reports bytes_per_second, for shapes that stream their operands (weights at M = 1, KV caches).
template <class F>
void run_flops(benchmark::State& st, double flops, int threads, bool bf16, F&& body, double bytes = 0) {
  body();  // warm-up: first-touch pages, bind oneDNN memory objects, wake the OpenMP pool
  const double t0 = now_s();
  for (auto _ : st) body();
  const double gflops = flops * static_cast<double>(st.iterations()) / (now_s() - t0) * 1e-9;
  st.counters["GFLOPs"] = benchmark::Counter(flops * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  const Peak& p = g_peaks[threads];
  st.counters["peak_frac"] = gflops / p.fp32;
  if (bf16 && p.bf16 > 0) st.counters["peak_frac_bf16"] = gflops / p.bf16;
  if (bytes > 0) st.SetBytesProcessed(static_cast<int64_t>(bytes * static_cast<double>(st.iterations())));
}

// The timed loop of a memory-bound benchmark moving `bytes` (useful reads + writes) per call.
template <class F>
void run_bytes(benchmark::State& st, double bytes, F&& body) {
  body();
  for (auto _ : st) body();
  st.SetBytesProcessed(static_cast<int64_t>(bytes * static_cast<double>(st.iterations())));
}

int threads_arg(benchmark::State& st, int i) {
  const int t = static_cast<int>(st.range(i));
  omp_set_num_threads(t);
  return t;
}

// ---- peak ----

// The peak loop itself, timed like the kernels: peak_frac (peak_frac_bf16 for bf16) reads about 1
// on an idle machine. Far below 1 at thr:2 means another process holds a core, and the run's
// other multi-thread figures are unreliable too (the OpenMP regions wait for a descheduled thread).
void bm_peak(benchmark::State& st, PeakIsa isa) {
  const int t = threads_arg(st, 0);
  const int64_t iters = 1 << 16;  // about 1M FMA instructions per thread per call
  const double flops = run_peak_loop(isa, iters, t);
  run_flops(st, flops, t, peak_isa_is_bf16(isa), [&] { run_peak_loop(isa, iters, t); });
}

// ---- matmul ----

// (K, N) pairs of the published presets: toto-open-base-1.0 (embed 768, MLP 3072 behind a
// SwiGLU, so w12 is 768 -> 2 x 3072) and kronos-small (d_model 512, ff 1024).
struct MatmulShape {
  const char* name;
  int64_t K, N;
};
constexpr MatmulShape kMatmulShapes[] = {
    {"toto.qkv", 768, 2304}, {"toto.w12", 768, 6144}, {"toto.w3", 3072, 768}, {"kronos-small.w1", 512, 1024}};
constexpr int64_t kMatmulM[] = {1, 64, 256, 2048};  // decode step .. long prefill (rows = tokens)

enum class MatmulImpl { kRef, kF32, kBf16 };

// y[M, N] = x[M, K] . w[N, K]^T + b: the reference tiled loops vs oneDNN through MatmulKernel
// with pre-packed weights and bound memory objects (how compiled plans run them). 2*M*K*N flops;
// at M = 1 (decode) the weights are streamed once per call: bytes_per_second counts them.
void bm_matmul(benchmark::State& st, MatmulImpl impl) {
  const int64_t M = st.range(0), K = st.range(1), N = st.range(2);
  const int t = threads_arg(st, 3);
  const float* x = random_floats(M * K + N * K + N);
  const float* w = x + M * K;
  const float* b = w + N * K;
  auto y = aligned<float>(M * N);
  std::string label;
  for (const auto& s : kMatmulShapes)
    if (s.K == K && s.N == N) label = s.name;
  const double flops = 2.0 * M * K * N;
  if (impl == MatmulImpl::kRef) {
    st.SetLabel(label);
    run_flops(st, flops, t, false, [&] { ref::linear(x, K, w, b, y.get(), M, K, N); }, M == 1 ? 4.0 * N * K : 0);
    return;
  }
  // Built after omp_set_num_threads: oneDNN picks its blocking for the thread count it sees.
  cpu::MatmulKernel mk(cpu::MatmulDesc{M, K, N, /*bias=*/true, /*silu=*/false, impl == MatmulImpl::kBf16});
  auto packed = aligned<uint8_t>(mk.packed_bytes());
  auto scratch = aligned<uint8_t>(mk.scratch_bytes());
  mk.pack_weights(w, packed.get());
  st.SetLabel(label + " " + mk.impl());
  run_flops(st, flops, t, impl == MatmulImpl::kBf16,
            [&] { mk.run(x, packed.get(), b, y.get(), scratch.get(), /*bound=*/true); },
            M == 1 ? static_cast<double>(mk.packed_bytes()) : 0);
}

// ---- attention ----

constexpr int64_t kH = 12, kDh = 64, kD = kH * kDh;  // Toto base: 12 heads of 64

// Causal attention, Toto base heads. Prefill (decode = false): N sequences of S tokens attend to
// themselves, S(S+1)/2 query-key pairs per head. Decode: one new token per sequence (N = batch)
// against a KV cache of S tokens, S pairs per head. 4*Dh flops per pair (q.k and p*v). Decode
// reads each cached key and value once per call: bytes_per_second counts the K and V caches.
// bf16 = true: the bf16 plans' kernel (bf16 products, fp32 softmax) over a bf16 KV cache.
void bm_attention(benchmark::State& st, bool opt, bool decode, bool bf16) {
  const int64_t N = st.range(0), S = st.range(1), Sq = decode ? 1 : S;
  const int t = threads_arg(st, 2);
  const float* q = random_floats(N * Sq * kD + 2 * N * S * kD);
  ref::AttentionArgs a;
  a.N = N, a.Sq = Sq, a.H = kH, a.Dh = kDh;
  a.q = q, a.q_nstride = Sq * kD, a.q_tstride = kD;
  a.k = q + N * Sq * kD, a.k_nstride = S * kD, a.k_tstride = kD;
  a.v = a.k + N * S * kD, a.v_nstride = S * kD, a.v_tstride = kD;
  a.kv_len = S;
  a.causal = true;
  a.q_pos0 = S - Sq;
  a.scale = 1.0f / std::sqrt(static_cast<float>(kDh));
  auto out = aligned<float>(N * Sq * kD);
  a.out = out.get();
  std::vector<uint16_t> k16, v16;
  if (bf16) {
    k16.resize(N * S * kD), v16.resize(N * S * kD);
    cpu::f32_to_bf16(a.k, k16.data(), N * S * kD);
    cpu::f32_to_bf16(a.v, v16.data(), N * S * kD);
    a.k16 = k16.data(), a.v16 = v16.data();
  }
  const double pairs = decode ? static_cast<double>(S) : 0.5 * static_cast<double>(S) * static_cast<double>(S + 1);
  const double flops = 4.0 * static_cast<double>(N * kH * kDh) * pairs;
  const double bytes = decode ? (bf16 ? 4.0 : 8.0) * static_cast<double>(N * S * kD) : 0;
  if (opt && bf16)
    run_flops(st, flops, t, true, [&] { cpu::attention(a, 128, cpu::AttentionMath::BF16); }, bytes);
  else if (opt)
    run_flops(st, flops, t, false, [&] { cpu::attention(a, 128); }, bytes);
  else
    run_flops(st, flops, t, false, [&] { ref::attention(a); }, bytes);
}

// ---- memory-bound kernels ----

// Toto's pre-attention / pre-MLP RMSNorm over M token rows of D = 768 (x read, y written).
// add_rmsnorm (fused = true) is the residual add fused with the norm: a, b read, h, y written;
// its reference is ref::add then ref::rmsnorm (same useful bytes, two passes).
void bm_rmsnorm(benchmark::State& st, bool opt, bool fused) {
  const int64_t M = st.range(0), D = st.range(1);
  threads_arg(st, 2);
  const float* a = random_floats(2 * M * D + D);
  const float* b = a + M * D;
  const float* w = b + M * D;
  auto h = aligned<float>(M * D), y = aligned<float>(M * D);
  const float eps = 1e-8f;
  const double bytes = (fused ? 16.0 : 8.0) * static_cast<double>(M * D);
  if (!fused && !opt) run_bytes(st, bytes, [&] { ref::rmsnorm(a, w, y.get(), M, D, eps); });
  if (!fused && opt) run_bytes(st, bytes, [&] { cpu::rmsnorm(a, w, y.get(), M, D, eps); });
  if (fused && !opt)
    run_bytes(st, bytes, [&] {
      ref::add(a, b, h.get(), M * D);
      ref::rmsnorm(h.get(), w, y.get(), M, D, eps);
    });
  if (fused && opt) run_bytes(st, bytes, [&] { cpu::add_rmsnorm(a, b, w, h.get(), y.get(), M, D, eps); });
}

// Row softmax: Toto's mixture weights (D = 24 components, one row per forecast step) and a long
// row (D = 2048, attention-score sized). x read, y written.
void bm_softmax(benchmark::State& st, bool opt) {
  const int64_t M = st.range(0), D = st.range(1);
  threads_arg(st, 2);
  auto x = aligned<float>(M * D), y = aligned<float>(M * D);
  const float* r = random_floats(M * D);
  std::copy(r, r + M * D, x.get());  // cpu::softmax takes a mutable x
  const double bytes = 8.0 * static_cast<double>(M * D);
  if (opt)
    run_bytes(st, bytes, [&] { cpu::softmax(x.get(), y.get(), M, D); });
  else
    run_bytes(st, bytes, [&] { ref::softmax(x.get(), y.get(), M, D); });
}

// Toto's rotary + xPos on the queries of N sequences x S tokens (12 heads of 64), tables
// included. ref::rotary_xpos and cpu::rotary (mode 1) read a contiguous [N, S, D]; "cpu_packed"
// is the compiled plan's fused form, reading q straight out of the packed qkv [N, S, 3D]
// (Toto's (qkv, head_dim, head) order). One read and one write of N*S*D floats.
enum class RotaryImpl { kRef, kCpu, kCpuPacked };
void bm_rotary(benchmark::State& st, RotaryImpl impl) {
  const int64_t N = st.range(0), S = st.range(1);
  threads_arg(st, 2);
  const float* x = random_floats(3 * N * S * kD);
  auto y = aligned<float>(N * S * kD), table = aligned<float>(cpu::rotary_table_floats(S, kDh));
  const double bytes = 8.0 * static_cast<double>(N * S * kD);
  if (impl == RotaryImpl::kRef) {
    const int64_t centre = (S - 1) / 2;
    run_bytes(st, bytes, [&] { ref::rotary_xpos(x, kD, y.get(), N, S, kH, kDh, 0, centre, false); });
    return;
  }
  cpu::RotaryArgs a;
  a.mode = 1;
  a.N = N, a.S = S, a.H = kH, a.D = kD;
  a.src = x;
  a.packed = impl == RotaryImpl::kCpuPacked;
  a.which = 0;
  a.dst = y.get();
  a.table = table.get();
  run_bytes(st, bytes, [&] { cpu::rotary(a); });
}

// ---- registration ----

template <class... A>
benchmark::internal::Benchmark* reg(const std::string& name, void (*fn)(benchmark::State&, A...), A... args) {
  return benchmark::RegisterBenchmark(name.c_str(), fn, args...)->UseRealTime();
}

// Adds {a, b, thr} for every (a, b) shape and thread count.
benchmark::internal::Benchmark* shapes(benchmark::internal::Benchmark* b,
                                       std::initializer_list<std::pair<int64_t, int64_t>> ab,
                                       const std::vector<int64_t>& thr) {
  for (const auto& [x, y] : ab)
    for (int64_t t : thr) b->Args({x, y, t});
  return b;
}

void register_all() {
  const std::vector<int64_t> thr = thread_args();
  for (PeakIsa isa : kPeakIsas)
    if (peak_isa_available(isa))
      reg(std::string("peak/") + peak_isa_name(isa), bm_peak, isa)->ArgName("thr")->ArgsProduct({thr});

  const std::pair<MatmulImpl, const char*> mm[] = {
      {MatmulImpl::kRef, "ref"}, {MatmulImpl::kF32, "onednn_f32"}, {MatmulImpl::kBf16, "onednn_bf16"}};
  for (const auto& [impl, name] : mm) {
    if (impl == MatmulImpl::kBf16 && !cpu::cpu_features().avx512_bf16 && !cpu::cpu_features().amx_bf16) continue;
    auto* b = reg(std::string("matmul/") + name, bm_matmul, impl)->ArgNames({"M", "K", "N", "thr"});
    for (const auto& s : kMatmulShapes)
      for (int64_t M : kMatmulM)
        for (int64_t t : thr) b->Args({M, s.K, s.N, t});
    b->Unit(benchmark::kMillisecond);
  }

  for (bool opt : {false, true}) {
    const std::string impl = opt ? "cpu" : "ref";
    reg("attention/" + impl, bm_attention, opt, false, false)
        ->ArgNames({"N", "S", "thr"})
        ->ArgsProduct({{1, 5}, {512, 2048}, thr})
        ->Unit(benchmark::kMillisecond);
    reg("attention_decode/" + impl, bm_attention, opt, true, false)
        ->ArgNames({"N", "kv", "thr"})
        ->ArgsProduct({{5, 256}, {512, 2048}, thr})
        ->Unit(benchmark::kMillisecond);
  }
  reg("attention/cpu-bf16", bm_attention, true, false, true)
      ->ArgNames({"N", "S", "thr"})
      ->ArgsProduct({{1, 5}, {512, 2048}, thr})
      ->Unit(benchmark::kMillisecond);
  reg("attention_decode/cpu-bf16", bm_attention, true, true, true)
      ->ArgNames({"N", "kv", "thr"})
      ->ArgsProduct({{5, 256}, {512, 2048}, thr})
      ->Unit(benchmark::kMillisecond);

  for (bool fused : {false, true})
    for (bool opt : {false, true})
      reg(std::string(fused ? "add_rmsnorm/" : "rmsnorm/") + (opt ? "cpu" : "ref"), bm_rmsnorm, opt, fused)
          ->ArgNames({"M", "D", "thr"})
          ->ArgsProduct({{256, 8192}, {kD}, thr})
          ->Unit(benchmark::kMicrosecond);
  for (bool opt : {false, true})
    shapes(reg(std::string("softmax/") + (opt ? "cpu" : "ref"), bm_softmax, opt), {{65536, 24}, {1024, 2048}}, thr)
        ->ArgNames({"M", "D", "thr"})
        ->Unit(benchmark::kMicrosecond);
  const std::pair<RotaryImpl, const char*> rot[] = {
      {RotaryImpl::kRef, "ref"}, {RotaryImpl::kCpu, "cpu"}, {RotaryImpl::kCpuPacked, "cpu_packed"}};
  for (const auto& [impl, name] : rot)
    shapes(reg(std::string("rotary/") + name, bm_rotary, impl), {{8, 512}, {256, 1}}, thr)
        ->ArgNames({"N", "S", "thr"})
        ->Unit(benchmark::kMicrosecond);
}

// Measures the peaks (about 0.1 s per ISA and thread count) and records them in the context.
void measure_peaks() {
  for (int64_t t64 : thread_args()) {
    const int t = static_cast<int>(t64);
    Peak& p = g_peaks[t];
    for (PeakIsa isa : kPeakIsas) {
      if (!peak_isa_available(isa)) continue;
      const double g = measure_peak_gflops(isa, t, 0.1);
      double& best = peak_isa_is_bf16(isa) ? p.bf16 : p.fp32;  // fp32: the faster of AVX2 / AVX-512
      best = std::max(best, g);
      char buf[32];
      std::snprintf(buf, sizeof buf, "%.1f", g);
      benchmark::AddCustomContext("peak_gflops." + std::string(peak_isa_name(isa)) + ".thr" + std::to_string(t), buf);
    }
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.1f fp32, %.1f bf16", p.fp32, p.bf16);
    benchmark::AddCustomContext("peak_gflops.thr" + std::to_string(t), buf);
  }
}

}  // namespace

}  // namespace fcast::bench

int main(int argc, char** argv) {
  using namespace fcast::bench;
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  g_all_threads = omp_get_max_threads();
  benchmark::AddCustomContext("fcast.cpu_features", fcast::cpu::cpu_features().text());
  benchmark::AddCustomContext("omp_max_threads", std::to_string(g_all_threads));
  measure_peaks();
  register_all();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
