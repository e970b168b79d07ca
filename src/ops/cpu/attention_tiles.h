// The tiles of the optimised attention kernel (attention.cc), shared by the translation units that
// instantiate them: attention.cc (fp32 and portable bf16, one clone per ISA level) and
// attention_bf16.cc (compiled for AVX512_BF16: vdpbf16ps). Everything here has internal linkage,
// so each unit keeps its own copies, built for its own ISA.
//
// Attention with online softmax over key blocks: the score matrix is never materialised.
//
// Fast path (head dim a multiple of 16, at most 128). A task is one (batch row, head) and a run
// of up to kTaskQueries queries:
//  * Several queries: the task's queries are packed once, transposed and pre-scaled, as
//    qt[d][query], so a score tile for 8 keys x 32 queries is 16 register accumulators fed by
//    one vector load of qt and one broadcast of a key element per 2 FMAs; no key is ever
//    repacked. Scores live as st[key][query], so the running max, exp, sum and the causal mask
//    are all 16-query vector operations. P.V then accumulates 4 (or 2) query rows x the head
//    dim in registers with each value row loaded once.
//  * One query (decode): dot products straight from the cache rows, one key at a time.
// Other head dims use the plain per-query loop (attention_generic).
//
// bf16 (compiled bf16 plans, several queries only): the same tiles with both products on bf16
// operands and fp32 accumulation, two elements per multiply-add (vdpbf16ps where the CPU has
// AVX512_BF16, else the same arithmetic in fp32 FMAs). Each key block is rounded to bf16 once
// per task; Q is rounded after scaling, the softmax weights after the exp; max, exp and sums
// stay fp32. Decode keeps fp32: it reads the fp32 cache once either way, so bf16 would only add
// rounding.
#pragma once
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "ops/cpu/kernels.h"
#include "ops/cpu/vec.h"

namespace fcast::cpu::attn {

struct Task {
  int64_t n, h, i0, i1;
  int64_t heads = 1;  // decode tasks cover heads [h, h + heads)
};

// bf16 tasks on CPUs with AVX512_BF16 (attention_bf16.cc).
void run_task_bf16_native(const ref::AttentionArgs& a, const Task& t);

namespace {

using vec::vf;
using vec::vi;
using vec::vu;
constexpr int L = vec::kLanes;

constexpr int kKeys = 64;          // keys per block
constexpr int kTaskQueries = 64;   // queries per task (4 query vectors)
constexpr int kQV = kTaskQueries / L;
constexpr int kMaxDV = 8;          // head dim up to 128

// How the two products of the multi-query path multiply.
enum class Dot {
  F32,         // fp32 operands
  Bf16,        // bf16 operands, pairs emulated with fp32 FMAs (any CPU)
  Bf16Native,  // bf16 operands through vdpbf16ps (AVX512_BF16)
};

// acc + a . b over bf16 pairs, the high (odd) element first as vdpbf16ps does. The products of
// two bf16 values are exact in fp32, so the emulation rounds exactly like the instruction, except
// that the instruction flushes denormals to zero.
template <Dot P>
FCAST_INLINE vf dot2(vf acc, vu a, vu b) {
  if constexpr (P == Dot::Bf16Native) {
#ifdef __AVX512BF16__
    return reinterpret_cast<vf>(_mm512_dpbf16_ps(reinterpret_cast<__m512>(acc), reinterpret_cast<__m512bh>(a),
                                                 reinterpret_cast<__m512bh>(b)));
#else
    static_assert(P != Dot::Bf16Native, "Dot::Bf16Native is built only in attention_bf16.cc");
#endif
  } else {
    acc += vec::bf16_hi(a) * vec::bf16_hi(b);
    return acc + vec::bf16_lo(a) * vec::bf16_lo(b);
  }
}

// Last visible key (exclusive) of query i.
FCAST_INLINE int64_t key_end(const ref::AttentionArgs& a, int64_t i) {
  return a.causal ? std::min(a.kv_len, a.q_pos0 + i + 1) : a.kv_len;
}

FCAST_INLINE vi iota() {
  vi v;
  for (int i = 0; i < L; ++i) v[i] = i;
  return v;
}

// ---- one query (decode) ----

// Heads [t.h, t.h + t.heads) of one query: the task walks the cache rows once, reading the
// group's heads as one contiguous slice of each row (a head alone is a short strided slice,
// which streams poorly), with one running max / sum per head.
// 16 keys' or values' elements as fp32, from an fp32 or a bf16 cache.
FCAST_INLINE vf load_kv(const float* p) { return vec::load(p); }
FCAST_INLINE vf load_kv(const uint16_t* p) { return vec::load_bf16(p); }

template <int DV, typename KV>
FCAST_INLINE void run_decode(const ref::AttentionArgs& a, const Task& t, const KV* kall, const KV* vall) {
  constexpr int Dh = DV * L;
  constexpr int kMaxHeads = 16;
  alignas(64) float s[kMaxHeads][kKeys];
  vf q[kMaxHeads][DV], o[kMaxHeads][DV];
  float m[kMaxHeads], l[kMaxHeads];
  const int G = static_cast<int>(t.heads);
  const float* src = a.q + t.n * a.q_nstride + t.i0 * a.q_tstride + t.h * Dh;
  for (int g = 0; g < G; ++g) {
    for (int d = 0; d < DV; ++d) {
      q[g][d] = vec::load(src + g * Dh + d * L) * vec::splat(a.scale);
      o[g][d] = vec::splat(0.0f);
    }
    m[g] = -INFINITY;
    l[g] = 0.0f;
  }
  const int64_t jend = key_end(a, t.i0);
  const KV* kbase = kall + t.n * a.k_nstride + t.h * Dh;
  const KV* vbase = vall + t.n * a.v_nstride + t.h * Dh;
  const int32_t qg = a.q_group ? a.q_group[t.n * a.Sq + t.i0] : 0;
  for (int64_t j0 = a.kv_start; j0 < jend; j0 += kKeys) {
    const int jn = static_cast<int>(std::min<int64_t>(kKeys, jend - j0));
    for (int jb = 0; jb < jn; ++jb) {
      const KV* kr = kbase + (j0 + jb) * a.k_tstride;
      const bool other = a.q_group && a.k_group[t.n * (a.k_group_nstride > 0 ? a.k_group_nstride : a.kv_len) + j0 + jb] != qg;
      for (int g = 0; g < G; ++g) {
        vf acc = q[g][0] * load_kv(kr + g * Dh);
        for (int d = 1; d < DV; ++d) acc += q[g][d] * load_kv(kr + g * Dh + d * L);
        s[g][jb] = other ? -INFINITY : vec::hsum(acc);
      }
    }
    for (int g = 0; g < G; ++g) {
      for (int jb = jn; jb < kKeys; ++jb) s[g][jb] = -INFINITY;
      vf mx = vec::load(s[g]);
      for (int c = 1; c < kKeys / L; ++c) {
        const vf x = vec::load(s[g] + c * L);
        mx = x > mx ? x : mx;
      }
      const float bm = vec::hmax(mx);
      const float mn = std::max(m[g], bm);
      const float base = mn == -INFINITY ? 0.0f : mn;  // nothing visible yet: weights 0
      const float corr = std::exp(m[g] - base);        // m = -inf: 0
      vf sum = vec::splat(0.0f);
      for (int c = 0; c < kKeys / L; ++c) {
        const vf p = vec::exp(vec::load(s[g] + c * L) - vec::splat(base));
        vec::store(s[g] + c * L, p);
        sum += p;
      }
      l[g] = l[g] * corr + vec::hsum(sum);
      m[g] = mn;
      for (int d = 0; d < DV; ++d) o[g][d] *= vec::splat(corr);
    }
    for (int jb = 0; jb < jn; ++jb) {
      const KV* vr = vbase + (j0 + jb) * a.v_tstride;
      for (int g = 0; g < G; ++g) {
        const vf w = vec::splat(s[g][jb]);
        for (int d = 0; d < DV; ++d) o[g][d] += w * load_kv(vr + g * Dh + d * L);
      }
    }
  }
  float* dst = a.out + (t.n * a.Sq + t.i0) * (a.H * Dh) + t.h * Dh;
  for (int g = 0; g < G; ++g) {
    const vf inv = vec::splat(l[g] > 0 ? 1.0f / l[g] : 0.0f);
    for (int d = 0; d < DV; ++d) vec::store(dst + g * Dh + d * L, o[g][d] * inv);
  }
}

// ---- several queries ----

// st[jb][qv lanes] = sum_d qt[d][qv lanes] * k[j0 + jb][d] for jb in [jb0, jb0 + 8) and two query
// vectors qv0, qv0 + 1 (16 accumulators). Rows past the block's end read row j0 (masked later).
template <int DV>
FCAST_INLINE void score_tile(const float* qt, const float* kbase, int64_t kstride, int64_t j0, int jb0, int jn,
                             int qv0, float* st) {
  constexpr int Dh = DV * L;
  constexpr int R = 8;
  const float* kr[R];
  for (int r = 0; r < R; ++r) kr[r] = kbase + (j0 + (jb0 + r < jn ? jb0 + r : 0)) * kstride;
  vf acc[R][2];
  for (int r = 0; r < R; ++r) acc[r][0] = acc[r][1] = vec::splat(0.0f);
  for (int d = 0; d < Dh; ++d) {
    const vf q0 = vec::load(qt + d * kTaskQueries + qv0 * L);
    const vf q1 = vec::load(qt + d * kTaskQueries + (qv0 + 1) * L);
    for (int r = 0; r < R; ++r) {
      const vf kv = vec::splat(kr[r][d]);
      acc[r][0] += q0 * kv;
      acc[r][1] += q1 * kv;
    }
  }
  for (int r = 0; r < R; ++r) {
    vec::store(st + (jb0 + r) * kTaskQueries + qv0 * L, acc[r][0]);
    vec::store(st + (jb0 + r) * kTaskQueries + (qv0 + 1) * L, acc[r][1]);
  }
}

// o[q][:] = o[q][:] * corr[q0 + q] + sum_jb st[jb][q0 + q] * v[j0 + jb][:] for QP query rows
// starting at q0 (corr rescales the running sum to the block's new maximum).
template <int DV, int QP>
FCAST_INLINE void pv_tile(const float* st, const float* vbase, int64_t vstride, int64_t j0, int jn, int q0,
                          const float* corr, float* o) {
  constexpr int Dh = DV * L;
  vf acc[QP][DV];
  for (int q = 0; q < QP; ++q)
    for (int d = 0; d < DV; ++d) acc[q][d] = vec::load(o + (q0 + q) * Dh + d * L) * vec::splat(corr[q0 + q]);
  for (int jb = 0; jb < jn; ++jb) {
    const float* vr = vbase + (j0 + jb) * vstride;
    vf v[DV];
    for (int d = 0; d < DV; ++d) v[d] = vec::load(vr + d * L);
    for (int q = 0; q < QP; ++q) {
      const vf w = vec::splat(st[jb * kTaskQueries + q0 + q]);
      for (int d = 0; d < DV; ++d) acc[q][d] += w * v[d];
    }
  }
  for (int q = 0; q < QP; ++q)
    for (int d = 0; d < DV; ++d) vec::store(o + (q0 + q) * Dh + d * L, acc[q][d]);
}

// bf16 counterparts. qp[p][query] pairs the scaled query's elements (2p, 2p + 1); kb[key] is a
// key row in bf16 (read as uint32, element pairs); vp[kp][d] pairs keys (2kp, 2kp + 1) of value
// element d; pp[kp][query] pairs the weights of keys (2kp, 2kp + 1).
template <int DV, Dot P>
FCAST_INLINE void score_tile_bf16(const uint32_t* qp, const uint32_t* kb, int jb0, int jn, int qv0, float* st) {
  constexpr int Dh = DV * L;
  constexpr int R = 8;
  const uint32_t* kr[R];
  for (int r = 0; r < R; ++r) kr[r] = kb + (jb0 + r < jn ? jb0 + r : 0) * (Dh / 2);
  vf acc[R][2];
  for (int r = 0; r < R; ++r) acc[r][0] = acc[r][1] = vec::splat(0.0f);
  for (int p = 0; p < Dh / 2; ++p) {
    const vu q0 = vec::load(qp + p * kTaskQueries + qv0 * L);
    const vu q1 = vec::load(qp + p * kTaskQueries + (qv0 + 1) * L);
    for (int r = 0; r < R; ++r) {
      const vu kv = vec::splatu(kr[r][p]);
      acc[r][0] = dot2<P>(acc[r][0], q0, kv);
      acc[r][1] = dot2<P>(acc[r][1], q1, kv);
    }
  }
  for (int r = 0; r < R; ++r) {
    vec::store(st + (jb0 + r) * kTaskQueries + qv0 * L, acc[r][0]);
    vec::store(st + (jb0 + r) * kTaskQueries + (qv0 + 1) * L, acc[r][1]);
  }
}

template <int DV, int QP, Dot P>
FCAST_INLINE void pv_tile_bf16(const uint32_t* pp, const uint32_t* vp, int npairs, int q0, const float* corr,
                               float* o) {
  constexpr int Dh = DV * L;
  vf acc[QP][DV];
  for (int q = 0; q < QP; ++q)
    for (int d = 0; d < DV; ++d) acc[q][d] = vec::load(o + (q0 + q) * Dh + d * L) * vec::splat(corr[q0 + q]);
  for (int kp = 0; kp < npairs; ++kp) {
    vu v[DV];
    for (int d = 0; d < DV; ++d) v[d] = vec::load(vp + kp * Dh + d * L);
    for (int q = 0; q < QP; ++q) {
      const vu w = vec::splatu(pp[kp * kTaskQueries + q0 + q]);
      for (int d = 0; d < DV; ++d) acc[q][d] = dot2<P>(acc[q][d], v[d], w);
    }
  }
  for (int q = 0; q < QP; ++q)
    for (int d = 0; d < DV; ++d) vec::store(o + (q0 + q) * Dh + d * L, acc[q][d]);
}

// Keys [j0, j0 + jn) to kb, their values to vp (an odd block's last pair gets a zero value row).
// (A bf16 cache is copied as it is: rounding is exact on bf16 values.)
template <int DV, typename KV>
FCAST_INLINE void round_kv_block(const KV* kbase, int64_t kstride, const KV* vbase, int64_t vstride, int64_t j0, int jn,
                                 uint32_t* kb, uint32_t* vp) {
  constexpr int Dh = DV * L;
  for (int jb = 0; jb < jn; ++jb) {
    const KV* kr = kbase + (j0 + jb) * kstride;
    if constexpr (sizeof(KV) == 2) {
      std::memcpy(kb + jb * (Dh / 2), kr, Dh * sizeof(KV));
    } else {
      for (int d = 0; d < DV; ++d) {
        const vec::vh h = vec::bf16_pack(vec::load(kr + d * L));
        std::memcpy(kb + jb * (Dh / 2) + d * (L / 2), &h, sizeof h);
      }
    }
  }
  for (int kp = 0; kp < (jn + 1) / 2; ++kp) {
    const KV* v0 = vbase + (j0 + 2 * kp) * vstride;
    const KV* v1 = v0 + vstride;
    const bool has1 = 2 * kp + 1 < jn;
    for (int d = 0; d < DV; ++d)
      vec::store(vp + kp * Dh + d * L, vec::bf16_pair(load_kv(v0 + d * L), has1 ? load_kv(v1 + d * L) : vec::splat(0.0f)));
  }
}

template <int DV, Dot P, typename KV>
FCAST_INLINE void run_queries(const ref::AttentionArgs& a, const Task& t, const KV* kall, const KV* vall) {
  static_assert(P != Dot::F32 || sizeof(KV) == 4, "fp32 products read fp32 keys and values");
  constexpr int Dh = DV * L;
  constexpr int QP = DV <= 4 ? 4 : 2;  // P.V query rows per register tile
  constexpr bool kBf16 = P != Dot::F32;
  constexpr int kB = kBf16 ? 1 : 0;  // bf16 buffers are empty in fp32 tasks
  alignas(64) float qt[(1 - kB) * Dh * kTaskQueries + 1];  // scaled queries, transposed [d][query]
  alignas(64) float st[kKeys * kTaskQueries];              // scores, then weights [key][query]
  alignas(64) float o[kTaskQueries * Dh];                  // unnormalised outputs [query][d]
  alignas(64) float cr[kTaskQueries];                      // per query: rescale of o for the block
  alignas(64) uint32_t qp[kB * Dh / 2 * kTaskQueries + 1];
  alignas(64) uint32_t kb[kB * kKeys * Dh / 2 + 1];
  alignas(64) uint32_t vp[kB * kKeys / 2 * Dh + 1];
  alignas(64) uint32_t pp[kB * kKeys / 2 * kTaskQueries + 1];
  vf m[kQV], l[kQV];
  const int nq = static_cast<int>(t.i1 - t.i0);
  const int nqv = (nq + L - 1) / L;
  const int nqv2 = (nqv + 1) / 2 * 2;  // score tiles take query vectors in pairs
  for (int q = 0; q < nqv2 * L; ++q) {
    const float* src = a.q + t.n * a.q_nstride + (t.i0 + std::min(q, nq - 1)) * a.q_tstride + t.h * Dh;
    if constexpr (kBf16) {
      // A scaled row in bf16 is already in pairs: element pairs (2p, 2p + 1) go to qp[p][q].
      uint32_t row[Dh / 2];
      for (int c = 0; c < DV; ++c) {
        const vec::vh h = vec::bf16_pack(vec::load(src + c * L) * vec::splat(q < nq ? a.scale : 0.0f));
        std::memcpy(row + c * (L / 2), &h, sizeof h);
      }
      for (int p = 0; p < Dh / 2; ++p) qp[p * kTaskQueries + q] = row[p];
    } else {
      for (int d = 0; d < Dh; ++d) qt[d * kTaskQueries + q] = q < nq ? src[d] * a.scale : 0.0f;
    }
  }
  for (int i = 0; i < nq * Dh; ++i) o[i] = 0.0f;
  for (int v = 0; v < kQV; ++v) {
    m[v] = vec::splat(-INFINITY);
    l[v] = vec::splat(0.0f);
  }
  const vi lane = iota();
  const int64_t jend = key_end(a, t.i1 - 1);  // the task's last query sees the most keys
  const KV* kbase = kall + t.n * a.k_nstride + t.h * Dh;
  const KV* vbase = vall + t.n * a.v_nstride + t.h * Dh;
  for (int64_t j0 = a.kv_start; j0 < jend; j0 += kKeys) {
    const int jn = static_cast<int>(std::min<int64_t>(kKeys, jend - j0));
    // Query vectors that see no key of this block (causal) are skipped.
    int qv_lo = 0;
    while (qv_lo < nqv && key_end(a, t.i0 + std::min(nq - 1, (qv_lo + 1) * L - 1)) <= j0) ++qv_lo;
    const int qv_pair_lo = qv_lo / 2 * 2;
    if constexpr (kBf16) {
      round_kv_block<DV, KV>(kbase, a.k_tstride, vbase, a.v_tstride, j0, jn, kb, vp);
      for (int jb0 = 0; jb0 < jn; jb0 += 8)
        for (int qv = qv_pair_lo; qv < nqv2; qv += 2) score_tile_bf16<DV, P>(qp, kb, jb0, jn, qv, st);
    } else if constexpr (sizeof(KV) == 4) {
      for (int jb0 = 0; jb0 < jn; jb0 += 8)
        for (int qv = qv_pair_lo; qv < nqv2; qv += 2) score_tile<DV>(qt, kbase, a.k_tstride, j0, jb0, jn, qv, st);
    }
    for (int qv = qv_lo; qv < nqv; ++qv) {
      // Mask: keys past the block's end, past each query's causal end, or of another group.
      const vi qi = lane + static_cast<int32_t>(t.i0 + qv * L);  // query index per lane
      // Causal: no mask where the vector's first query already sees the block's last key.
      const bool masked = a.causal && j0 + jn - 1 - a.q_pos0 > t.i0 + qv * L;
      vf bm = vec::splat(-INFINITY);
      for (int jb = 0; jb < jn; ++jb) {
        vf x = vec::load(st + jb * kTaskQueries + qv * L);
        if (masked) {
          const vi visible = qi >= static_cast<int32_t>(j0 + jb - a.q_pos0);
          x = visible ? x : vec::splat(-INFINITY);
        }
        if (a.q_group) {
          const int32_t kg = a.k_group[t.n * (a.k_group_nstride > 0 ? a.k_group_nstride : a.kv_len) + j0 + jb];
          for (int r = 0; r < L; ++r) {
            const int64_t i = t.i0 + qv * L + r;
            if (i < t.i1 && a.q_group[t.n * a.Sq + i] != kg) x[r] = -INFINITY;
          }
        }
        vec::store(st + jb * kTaskQueries + qv * L, x);
        bm = x > bm ? x : bm;
      }
      const vf mn = bm > m[qv] ? bm : m[qv];
      const vf none = mn == vec::splat(-INFINITY) ? vec::splat(1.0f) : vec::splat(0.0f);
      const vf base = none != vec::splat(0.0f) ? vec::splat(0.0f) : mn;  // no visible key yet: p = 0
      const vf corr = vec::exp(m[qv] - base);                           // m = -inf: 0
      vf sum = vec::splat(0.0f);
      for (int jb = 0; jb < jn; ++jb) {
        const vf p = vec::exp(vec::load(st + jb * kTaskQueries + qv * L) - base);
        vec::store(st + jb * kTaskQueries + qv * L, p);
        sum += p;
      }
      l[qv] = l[qv] * corr + sum;
      m[qv] = mn;
      vec::store(cr + qv * L, corr);
      if constexpr (kBf16) {
        for (int kp = 0; kp < (jn + 1) / 2; ++kp) {
          const vf w0 = vec::load(st + 2 * kp * kTaskQueries + qv * L);
          const vf w1 = 2 * kp + 1 < jn ? vec::load(st + (2 * kp + 1) * kTaskQueries + qv * L) : vec::splat(0.0f);
          vec::store(pp + kp * kTaskQueries + qv * L, vec::bf16_pair(w0, w1));
        }
      }
    }
    const int q_lo = qv_lo * L;
    int q0 = q_lo;
    if constexpr (kBf16) {
      const int np = (jn + 1) / 2;
      for (; q0 + QP <= nq; q0 += QP) pv_tile_bf16<DV, QP, P>(pp, vp, np, q0, cr, o);
      for (; q0 < nq; ++q0) pv_tile_bf16<DV, 1, P>(pp, vp, np, q0, cr, o);
    } else if constexpr (sizeof(KV) == 4) {
      for (; q0 + QP <= nq; q0 += QP) pv_tile<DV, QP>(st, vbase, a.v_tstride, j0, jn, q0, cr, o);
      for (; q0 < nq; ++q0) pv_tile<DV, 1>(st, vbase, a.v_tstride, j0, jn, q0, cr, o);
    }
  }
  const int64_t D = a.H * Dh;
  for (int q = 0; q < nq; ++q) {
    float* dst = a.out + (t.n * a.Sq + t.i0 + q) * D + t.h * Dh;
    const float lq = l[q / L][q % L];
    const vf inv = vec::splat(lq > 0 ? 1.0f / lq : 0.0f);
    for (int d = 0; d < DV; ++d) vec::store(dst + d * L, vec::load(o + q * Dh + d * L) * inv);
  }
}

// fp32 or bf16 (a.k16 / a.v16) keys and values. Decode multiplies in fp32 either way; several
// queries with a bf16 cache take the bf16 products (the caller checks).
template <int DV, Dot P>
FCAST_INLINE void run_task(const ref::AttentionArgs& a, const Task& t) {
  if (a.k16) {
    if (t.i1 - t.i0 == 1)
      run_decode<DV>(a, t, a.k16, a.v16);
    else if constexpr (P != Dot::F32)
      run_queries<DV, P>(a, t, a.k16, a.v16);
  } else {
    if (t.i1 - t.i0 == 1)
      run_decode<DV>(a, t, a.k, a.v);
    else
      run_queries<DV, P>(a, t, a.k, a.v);
  }
}

template <Dot P>
FCAST_INLINE void run_task_dh(const ref::AttentionArgs& a, const Task& t) {
  switch (a.Dh / L) {
    case 1: run_task<1, P>(a, t); break;
    case 2: run_task<2, P>(a, t); break;
    case 3: run_task<3, P>(a, t); break;
    case 4: run_task<4, P>(a, t); break;
    case 5: run_task<5, P>(a, t); break;
    case 6: run_task<6, P>(a, t); break;
    case 7: run_task<7, P>(a, t); break;
    case 8: run_task<8, P>(a, t); break;
  }
}

}  // namespace
}  // namespace fcast::cpu::attn
