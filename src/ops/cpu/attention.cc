// Attention with online softmax over key blocks: the score matrix is never materialised.
//
// Fast path (head dim a multiple of 16, at most 128): one task is one (batch row, head) and a
// run of up to kTaskQueries queries. Per block of kKeys keys the task packs K^T once, then
// computes 4-query x 64-key score tiles in registers (the packed K^T is reused by every query
// of the task), updates each query's running max and sum, and accumulates P.V for 4 queries at
// a time with the value rows loaded once. A single query (decode) skips the packing and takes
// dot products straight from the cache rows. Other head dims use the plain per-query loop.
#include <algorithm>
#include <cmath>

#include "ops/cpu/kernels.h"
#include "ops/cpu/vec.h"

namespace fcast::cpu {

namespace {

using vec::vf;

constexpr int kQ = 4;              // queries per register tile
constexpr int kKeys = 64;          // keys per block (4 vectors of scores per query)
constexpr int kKV = kKeys / vec::kLanes;
constexpr int kTaskQueries = 32;   // queries sharing one packed K^T block
constexpr int kMaxDV = 8;          // head dim up to 128

struct Task {
  int64_t n, h, i0, i1;
};

// Last visible key (exclusive) of query i.
FCAST_INLINE int64_t key_end(const ref::AttentionArgs& a, int64_t i) {
  return a.causal ? std::min(a.kv_len, a.q_pos0 + i + 1) : a.kv_len;
}

// Online-softmax update of one query with the scores s[0, jn) of a key block: masks (causal
// end, groups) to -inf, rescales the running state, and leaves the weights p in s.
// Returns false when no key of the block is visible (s is then all zeros).
FCAST_INLINE bool softmax_update(const ref::AttentionArgs& a, int64_t n, int64_t i, int64_t j0, int64_t jn, float* s,
                                 float& m, float& l, float& corr) {
  const int64_t vis = std::min<int64_t>(jn, key_end(a, i) - j0);
  for (int64_t jb = std::max<int64_t>(vis, 0); jb < kKeys; ++jb) s[jb] = -INFINITY;
  if (a.q_group) {
    const int32_t g = a.q_group[n * a.Sq + i];
    for (int64_t jb = 0; jb < vis; ++jb)
      if (a.k_group[n * a.kv_len + j0 + jb] != g) s[jb] = -INFINITY;
  }
  vf mx = vec::splat(-INFINITY);
  for (int t = 0; t < kKV; ++t) {
    const vf x = vec::load(s + t * vec::kLanes);
    mx = x > mx ? x : mx;
  }
  const float bm = vec::hmax(mx);
  corr = 1.0f;
  if (bm == -INFINITY) {
    for (int64_t jb = 0; jb < kKeys; ++jb) s[jb] = 0.0f;
    return false;
  }
  const float mn = std::max(m, bm);
  corr = m == -INFINITY ? 0.0f : std::exp(m - mn);
  vf sum = vec::splat(0.0f);
  for (int t = 0; t < kKV; ++t) {
    const vf p = vec::exp(vec::load(s + t * vec::kLanes) - vec::splat(mn));  // exp(-inf) = 0
    vec::store(s + t * vec::kLanes, p);
    sum += p;
  }
  l = l * corr + vec::hsum(sum);
  m = mn;
  return true;
}

// o[q] += sum_jb p[q][jb] * v[j0 + jb] for QN query rows (rows q >= qn have zero weights and
// are not stored back).
template <int DV, int QN>
FCAST_INLINE void accumulate_pv(const ref::AttentionArgs& a, int64_t n, int64_t h, int64_t j0, int64_t jn,
                                const float* p, int qn, float* o) {
  vf acc[QN][DV];
  for (int q = 0; q < QN; ++q)
    for (int d = 0; d < DV; ++d) acc[q][d] = q < qn ? vec::load(o + (q * DV + d) * vec::kLanes) : vec::splat(0.0f);
  const float* vbase = a.v + n * a.v_nstride + h * a.Dh;
  for (int64_t jb = 0; jb < jn; ++jb) {
    const float* vr = vbase + (j0 + jb) * a.v_tstride;
    vf v[DV];
    for (int d = 0; d < DV; ++d) v[d] = vec::load(vr + d * vec::kLanes);
    for (int q = 0; q < QN; ++q) {
      const vf w = vec::splat(p[q * kKeys + jb]);
      for (int d = 0; d < DV; ++d) acc[q][d] += w * v[d];
    }
  }
  for (int q = 0; q < qn; ++q)
    for (int d = 0; d < DV; ++d) vec::store(o + (q * DV + d) * vec::kLanes, acc[q][d]);
}

template <int DV>
FCAST_INLINE void run_task(const ref::AttentionArgs& a, const Task& t) {
  constexpr int Dh = DV * vec::kLanes;
  alignas(64) float kt[Dh * kKeys];             // packed K^T block [Dh][kKeys]
  alignas(64) float qs[kTaskQueries * Dh];      // scaled queries
  alignas(64) float o[kTaskQueries * Dh];       // unnormalised outputs
  alignas(64) float s[kQ * kKeys];              // scores, then weights, of one query tile
  float m[kTaskQueries], l[kTaskQueries];
  const int64_t nq = t.i1 - t.i0;
  for (int64_t q = 0; q < nq; ++q) {
    const float* src = a.q + t.n * a.q_nstride + (t.i0 + q) * a.q_tstride + t.h * Dh;
    for (int d = 0; d < DV; ++d)
      vec::store(qs + q * Dh + d * vec::kLanes, vec::load(src + d * vec::kLanes) * vec::splat(a.scale));
    for (int d = 0; d < DV; ++d) vec::store(o + q * Dh + d * vec::kLanes, vec::splat(0.0f));
    m[q] = -INFINITY;
    l[q] = 0.0f;
  }
  const int64_t jend = key_end(a, t.i1 - 1);  // the task's last query sees the most keys
  const float* kbase = a.k + t.n * a.k_nstride + t.h * Dh;
  for (int64_t j0 = a.kv_start; j0 < jend; j0 += kKeys) {
    const int64_t jn = std::min<int64_t>(kKeys, jend - j0);
    if (nq == 1) {
      // Decode: one query, dot products straight from the key rows.
      for (int64_t jb = 0; jb < jn; ++jb) {
        const float* kr = kbase + (j0 + jb) * a.k_tstride;
        vf acc = vec::splat(0.0f);
        for (int d = 0; d < DV; ++d) acc += vec::load(qs + d * vec::kLanes) * vec::load(kr + d * vec::kLanes);
        s[jb] = vec::hsum(acc);
      }
      float corr;
      if (!softmax_update(a, t.n, t.i0, j0, jn, s, m[0], l[0], corr)) continue;
      for (int d = 0; d < DV; ++d)
        vec::store(o + d * vec::kLanes, vec::load(o + d * vec::kLanes) * vec::splat(corr));
      accumulate_pv<DV, 1>(a, t.n, t.h, j0, jn, s, 1, o);
      continue;
    }
    for (int64_t jb = 0; jb < kKeys; ++jb) {
      const float* kr = kbase + (j0 + jb) * a.k_tstride;
      for (int d = 0; d < Dh; ++d) kt[d * kKeys + jb] = jb < jn ? kr[d] : 0.0f;
    }
    for (int64_t q0 = 0; q0 < nq; q0 += kQ) {
      const int qn = static_cast<int>(std::min<int64_t>(kQ, nq - q0));
      if (key_end(a, t.i0 + q0 + qn - 1) <= j0) continue;  // causal: no query of the tile sees this block
      vf acc[kQ][kKV];
      for (int q = 0; q < kQ; ++q)
        for (int c = 0; c < kKV; ++c) acc[q][c] = vec::splat(0.0f);
      for (int d = 0; d < Dh; ++d) {
        vf kv[kKV];
        for (int c = 0; c < kKV; ++c) kv[c] = vec::load(kt + d * kKeys + c * vec::kLanes);
        for (int q = 0; q < kQ; ++q) {
          const vf qv = vec::splat(qs[(q0 + std::min(q, qn - 1)) * Dh + d]);
          for (int c = 0; c < kKV; ++c) acc[q][c] += qv * kv[c];
        }
      }
      for (int q = 0; q < kQ; ++q)
        for (int c = 0; c < kKV; ++c) vec::store(s + q * kKeys + c * vec::kLanes, acc[q][c]);
      for (int q = 0; q < kQ; ++q) {
        float* sq = s + q * kKeys;
        float corr = 1.0f;
        if (q >= qn || !softmax_update(a, t.n, t.i0 + q0 + q, j0, jn, sq, m[q0 + q], l[q0 + q], corr)) {
          for (int64_t jb = 0; jb < kKeys; ++jb) sq[jb] = 0.0f;
          continue;
        }
        float* oq = o + (q0 + q) * Dh;
        for (int d = 0; d < DV; ++d)
          vec::store(oq + d * vec::kLanes, vec::load(oq + d * vec::kLanes) * vec::splat(corr));
      }
      accumulate_pv<DV, kQ>(a, t.n, t.h, j0, jn, s, qn, o + q0 * Dh);
    }
  }
  const int64_t D = a.H * Dh;
  for (int64_t q = 0; q < nq; ++q) {
    float* dst = a.out + (t.n * a.Sq + t.i0 + q) * D + t.h * Dh;
    const vf inv = vec::splat(l[q] > 0 ? 1.0f / l[q] : 0.0f);
    for (int d = 0; d < DV; ++d) vec::store(dst + d * vec::kLanes, vec::load(o + q * Dh + d * vec::kLanes) * inv);
  }
}

// One clone per ISA level for each supported head dim (16 * DV).
FCAST_CPU_CLONES void run_task_dispatch(const ref::AttentionArgs& a, const Task& t) {
  switch (a.Dh / vec::kLanes) {
    case 1: run_task<1>(a, t); break;
    case 2: run_task<2>(a, t); break;
    case 3: run_task<3>(a, t); break;
    case 4: run_task<4>(a, t); break;
    case 5: run_task<5>(a, t); break;
    case 6: run_task<6>(a, t); break;
    case 7: run_task<7>(a, t); break;
    case 8: run_task<8>(a, t); break;
  }
}

// Any head dim: one query row at a time against key blocks (scalar dot products).
void attention_generic(const ref::AttentionArgs& a, int64_t key_block) {
  const int64_t D = a.H * a.Dh, Dh = a.Dh;
  const int64_t B = std::clamp<int64_t>(key_block, 8, 1024);
  const bool parallel = a.N * a.H * a.Sq * std::max<int64_t>(a.kv_len, 1) * a.Dh > 32768;
#pragma omp parallel for schedule(static) collapse(3) if (parallel)
  for (int64_t n = 0; n < a.N; ++n)
    for (int64_t h = 0; h < a.H; ++h)
      for (int64_t i = 0; i < a.Sq; ++i) {
        float sc[1024];
        float acc[512];  // Dh <= 512 is checked when the plan is bound
        const float* q = a.q + n * a.q_nstride + i * a.q_tstride + h * Dh;
        const int64_t last = key_end(a, i);
        float m = -INFINITY, l = 0;
        for (int64_t d = 0; d < Dh; ++d) acc[d] = 0;
        for (int64_t j0 = a.kv_start; j0 < last; j0 += B) {
          const int64_t jn = std::min(B, last - j0);
          float bm = -INFINITY;
          for (int64_t jb = 0; jb < jn; ++jb) {
            const int64_t j = j0 + jb;
            float s = -INFINITY;
            if (!a.q_group || a.q_group[n * a.Sq + i] == a.k_group[n * a.kv_len + j]) {
              const float* k = a.k + n * a.k_nstride + j * a.k_tstride + h * Dh;
              float dot = 0;
#pragma omp simd reduction(+ : dot)
              for (int64_t d = 0; d < Dh; ++d) dot += q[d] * k[d];
              s = dot * a.scale;
            }
            sc[jb] = s;
            bm = std::max(bm, s);
          }
          if (bm == -INFINITY) continue;
          const float mn = std::max(m, bm);
          const float corr = m == -INFINITY ? 0.0f : std::exp(m - mn);
          l *= corr;
#pragma omp simd
          for (int64_t d = 0; d < Dh; ++d) acc[d] *= corr;
          for (int64_t jb = 0; jb < jn; ++jb) {
            if (sc[jb] == -INFINITY) continue;
            const float p = std::exp(sc[jb] - mn);
            l += p;
            const float* v = a.v + n * a.v_nstride + (j0 + jb) * a.v_tstride + h * Dh;
#pragma omp simd
            for (int64_t d = 0; d < Dh; ++d) acc[d] += p * v[d];
          }
          m = mn;
        }
        float* o = a.out + (n * a.Sq + i) * D + h * Dh;
        const float inv = l > 0 ? 1.0f / l : 0.0f;
        for (int64_t d = 0; d < Dh; ++d) o[d] = acc[d] * inv;
      }
}

}  // namespace

void attention(const ref::AttentionArgs& a, int64_t key_block) {
  if (a.Dh % vec::kLanes != 0 || a.Dh > kMaxDV * vec::kLanes || a.Dh == 0) {
    attention_generic(a, key_block);
    return;
  }
  const int64_t blocks = (a.Sq + kTaskQueries - 1) / kTaskQueries;
  const int64_t tasks = a.N * a.H * blocks;
  const bool parallel = a.N * a.H * a.Sq * std::max<int64_t>(a.kv_len, 1) * a.Dh > 32768;
  // Round-robin (chunk 1) keeps causal prefills balanced: later query blocks see more keys.
#pragma omp parallel for schedule(static, 1) if (parallel)
  for (int64_t task = 0; task < tasks; ++task) {
    const int64_t b = task % blocks, nh = task / blocks;
    const int64_t i0 = b * kTaskQueries;
    run_task_dispatch(a, Task{nh / a.H, nh % a.H, i0, std::min(a.Sq, i0 + kTaskQueries)});
  }
}

}  // namespace fcast::cpu
