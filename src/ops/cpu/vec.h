// Portable 16-lane float vectors (GCC vector extensions) for the optimised kernels. Each kernel
// that uses them is compiled once per ISA level (FCAST_ISA_VARIANTS in isa.h: AVX-512, AVX2+FMA,
// baseline) and picked at run time from cpu_features(); on narrower ISAs a 16-lane vector is
// lowered to 2 (AVX2) or 4 (SSE) registers, so the same source stays correct everywhere.
// Every helper is always inlined: the vector-ABI notes GCC gives for 64-byte vectors passed by
// value on pre-AVX-512 targets do not apply (the kernel sources build with -Wno-psabi).
#pragma once
#include <cstdint>
#include <cstring>

#define FCAST_INLINE inline __attribute__((always_inline))

namespace fcast::cpu::vec {

typedef float vf __attribute__((vector_size(64)));
typedef int32_t vi __attribute__((vector_size(64)));
typedef uint32_t vu __attribute__((vector_size(64)));
typedef uint16_t vh __attribute__((vector_size(32)));  // 16 bf16 values
constexpr int kLanes = 16;

// 16 lanes from / to memory, any alignment: vf for floats, vu for uint32 (bf16 pairs).
template <typename T> struct Lanes;
template <> struct Lanes<float> { using type = vf; };
template <> struct Lanes<uint32_t> { using type = vu; };
template <typename T>
FCAST_INLINE typename Lanes<T>::type load(const T* p) {
  typename Lanes<T>::type v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
template <typename T>
FCAST_INLINE void store(T* p, typename Lanes<T>::type v) { std::memcpy(p, &v, sizeof v); }
FCAST_INLINE vf splat(float x) { return vf{} + x; }
FCAST_INLINE vu splatu(uint32_t x) { return vu{} + x; }
FCAST_INLINE float hsum(vf v) {
  // Pairwise halving: 8 + 4 + 2 + 1 adds.
  float r[16];
  std::memcpy(r, &v, sizeof v);
  for (int w = 8; w >= 1; w /= 2)
    for (int i = 0; i < w; ++i) r[i] += r[i + w];
  return r[0];
}
FCAST_INLINE float hmax(vf v) {
  float r[16];
  std::memcpy(r, &v, sizeof v);
  for (int w = 8; w >= 1; w /= 2)
    for (int i = 0; i < w; ++i) r[i] = r[i] > r[i + w] ? r[i] : r[i + w];
  return r[0];
}

template <typename To, typename From>
FCAST_INLINE To bits(From v) {
  static_assert(sizeof(To) == sizeof(From));
  To r;
  std::memcpy(&r, &v, sizeof r);
  return r;
}

// ---- bf16 ----
// A bf16 value is the upper half of an fp32. Dot products on bf16 (vdpbf16ps) take their
// operands as pairs: 32-bit lane i holds element 2i in its low half and 2i + 1 in its high half.

// Each lane rounded to bf16 (nearest, ties to even), still in the upper 16 bits of the lane.
FCAST_INLINE vu bf16_round(vf x) {
  const vu b = bits<vu>(x);
  const vu nan = (b & 0x7fffffffu) > 0x7f800000u;
  return nan ? (b | 0x00400000u) : b + 0x7fffu + ((b >> 16) & 1u);  // NaN stays a (quiet) NaN
}
// Lane i = bf16(lo[i]) | bf16(hi[i]) << 16.
FCAST_INLINE vu bf16_pair(vf lo, vf hi) { return (bf16_round(lo) >> 16) | (bf16_round(hi) & 0xffff0000u); }
// The 16 lanes as consecutive bf16 values.
FCAST_INLINE vh bf16_pack(vf x) { return __builtin_convertvector(bf16_round(x) >> 16, vh); }
// The two halves of a pair vector as fp32 (exact).
FCAST_INLINE vf bf16_lo(vu p) { return bits<vf>(p << 16); }
FCAST_INLINE vf bf16_hi(vu p) { return bits<vf>(p & 0xffff0000u); }
// 16 consecutive bf16 values as fp32 (exact).
FCAST_INLINE vf load_bf16(const uint16_t* p) {
  vh h;
  std::memcpy(&h, p, sizeof h);
  return bits<vf>(__builtin_convertvector(h, vu) << 16);
}
FCAST_INLINE void store_bf16(uint16_t* p, vf x) {
  const vh h = bf16_pack(x);
  std::memcpy(p, &h, sizeof h);
}

// e^x for every lane, relative error below 3e-7 where the result is a normal float; 0 below
// ln(FLT_MIN) = -87.33 (and for -inf), +inf above ln(FLT_MAX) = 88.72; NaN propagates.
FCAST_INLINE vf exp(vf x) {
  const vf magic = splat(12582912.0f);  // 1.5 * 2^23: adding it rounds to the nearest integer
  vf xc = x < splat(-87.33f) ? splat(-87.33f) : x;
  xc = xc > splat(88.7228f) ? splat(88.7228f) : xc;
  const vf t = xc * splat(1.44269504088896341f) + magic;
  const vf n = t - magic;
  // r = x - n ln2 in two steps (ln2 split so that n * ln2_hi is exact).
  vf r = xc - n * splat(0.693359375f);
  r = r - n * splat(-2.12194440e-4f);
  // e^r on |r| <= ln2 / 2: Taylor terms to r^7 (truncation error below 1.5e-8 relative).
  vf p = splat(1.0f / 5040);
  p = p * r + splat(1.0f / 720);
  p = p * r + splat(1.0f / 120);
  p = p * r + splat(1.0f / 24);
  p = p * r + splat(1.0f / 6);
  p = p * r + splat(0.5f);
  p = p * r + splat(1.0f);
  p = p * r + splat(1.0f);
  // 2^n from the exponent bits; n = 128 (x > 88.38) does not fit, so those lanes use 2^127 * 2.
  const vi ni = bits<vi>(t) - bits<vi>(magic);
  const vi over = ni > 127;  // -1 where n = 128
  vf y = p * bits<vf>((ni + 127 + over) << 23);
  y = over ? y * splat(2.0f) : y;
  y = x < splat(-87.33f) ? splat(0.0f) : y;
  y = x > splat(88.7228f) ? splat(__builtin_inff()) : y;
  return x != x ? x : y;
}

}  // namespace fcast::cpu::vec
