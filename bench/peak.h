// Measured machine peak for the kernel benchmarks: tight loops of independent FMA chains
// (fp32 AVX2+FMA, fp32 AVX-512, bf16 AVX512_BF16 dot products) that keep every FMA pipe busy,
// so a kernel's rate can be read as a fraction of what this CPU really sustains.
#pragma once
#include <cstdint>

namespace fcast::bench {

enum class PeakIsa { kAvx2Fma, kAvx512Fma, kAvx512Bf16 };
inline constexpr PeakIsa kPeakIsas[] = {PeakIsa::kAvx2Fma, PeakIsa::kAvx512Fma, PeakIsa::kAvx512Bf16};

const char* peak_isa_name(PeakIsa isa);  // "avx2_fma", "avx512_fma", "avx512_bf16"
bool peak_isa_available(PeakIsa isa);    // the CPU has the instructions (checked at run time)
bool peak_isa_is_bf16(PeakIsa isa);

// Runs `iters` rounds of the FMA loop on each of `threads` OpenMP threads (one copy per
// thread); returns the number of floating-point operations done (FMA = 2, bf16 pair = 2).
double run_peak_loop(PeakIsa isa, int64_t iters, int threads);
// GFLOP/s of the loop on `threads` threads at once: the sum of each thread's best rate over
// short repetitions lasting `seconds` in all (robust to other load on the machine).
double measure_peak_gflops(PeakIsa isa, int threads, double seconds);

}  // namespace fcast::bench
