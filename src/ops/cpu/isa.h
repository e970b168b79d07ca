// Kernel variants per ISA level, chosen at run time from cpu::cpu_features() (which honours the
// FCAST_CPU_ISA override). GCC target_clones cannot be used for this: its ifunc resolver picks
// from the real CPU at load time, so a lower level could never be run on a newer host.
//
//   FCAST_INLINE void scale_impl(float* x, int64_t n) { ... }   // the one body
//   FCAST_ISA_VARIANTS(void, scale, (float* x, int64_t n), (x, n))
//
// defines scale_avx512 (arch=x86-64-v4), scale_avx2 (arch=x86-64-v3), scale_baseline (the
// command line's target) and the dispatcher `scale`. Every variant inlines the same body, so a
// variant performs exactly what the matching target_clones clone did (same flags per file).
#pragma once

namespace fcast::cpu {

// Ordered: a level includes everything below it.
enum class Isa : int {
  Baseline = 0,  // x86-64 (SSE2), the build's default target
  Avx2 = 1,      // x86-64-v3: AVX2, FMA, BMI1/2, F16C, LZCNT, MOVBE, with OS YMM state
  Avx512 = 2,    // x86-64-v4: AVX-512 F/BW/CD/DQ/VL, with OS ZMM state
};

Isa active_isa();                 // the variant level in use: the host's, lowered by FCAST_CPU_ISA
const char* isa_name(Isa isa);    // "baseline", "avx2", "avx512" (the FCAST_CPU_ISA spellings)

namespace detail {
// Written by every dispatcher (a plain thread-local store, no contention), so tests can ask which
// variant actually ran on their thread.
inline thread_local Isa last_variant = Isa::Baseline;
}  // namespace detail
inline Isa last_variant() { return detail::last_variant; }

}  // namespace fcast::cpu

#define FCAST_ISA_VARIANTS_T(T512, T2, ret, name, params, args)                              \
  __attribute__((target(T512), noinline)) static ret name##_avx512 params { return name##_impl args; } \
  __attribute__((target(T2), noinline)) static ret name##_avx2 params { return name##_impl args; }     \
  __attribute__((noinline)) static ret name##_baseline params { return name##_impl args; }           \
  ret name params {                                                                          \
    const ::fcast::cpu::Isa isa_ = ::fcast::cpu::active_isa();                               \
    ::fcast::cpu::detail::last_variant = isa_;                                               \
    switch (isa_) {                                                                          \
      case ::fcast::cpu::Isa::Avx512: return name##_avx512 args;                             \
      case ::fcast::cpu::Isa::Avx2: return name##_avx2 args;                                 \
      default: return name##_baseline args;                                                  \
    }                                                                                        \
  }

// The optimised kernels' levels (the strings the former target_clones used).
#define FCAST_ISA_VARIANTS(ret, name, params, args) \
  FCAST_ISA_VARIANTS_T("arch=x86-64-v4", "arch=x86-64-v3", ret, name, params, args)
