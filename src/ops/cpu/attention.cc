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
#include <omp.h>

#include <algorithm>
#include <cmath>

#include "ops/cpu/kernels.h"
#include "ops/cpu/vec.h"

namespace fcast::cpu {

namespace {

using vec::vf;
using vec::vi;
constexpr int L = vec::kLanes;

constexpr int kKeys = 64;          // keys per block
constexpr int kTaskQueries = 64;   // queries per task (4 query vectors)
constexpr int kQV = kTaskQueries / L;
constexpr int kMaxDV = 8;          // head dim up to 128

struct Task {
  int64_t n, h, i0, i1;
  int64_t heads = 1;  // decode tasks cover heads [h, h + heads)
};

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
template <int DV>
FCAST_INLINE void run_decode(const ref::AttentionArgs& a, const Task& t) {
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
  const float* kbase = a.k + t.n * a.k_nstride + t.h * Dh;
  const float* vbase = a.v + t.n * a.v_nstride + t.h * Dh;
  const int32_t qg = a.q_group ? a.q_group[t.n * a.Sq + t.i0] : 0;
  for (int64_t j0 = a.kv_start; j0 < jend; j0 += kKeys) {
    const int jn = static_cast<int>(std::min<int64_t>(kKeys, jend - j0));
    for (int jb = 0; jb < jn; ++jb) {
      const float* kr = kbase + (j0 + jb) * a.k_tstride;
      const bool other = a.q_group && a.k_group[t.n * a.kv_len + j0 + jb] != qg;
      for (int g = 0; g < G; ++g) {
        vf acc = q[g][0] * vec::load(kr + g * Dh);
        for (int d = 1; d < DV; ++d) acc += q[g][d] * vec::load(kr + g * Dh + d * L);
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
      const float* vr = vbase + (j0 + jb) * a.v_tstride;
      for (int g = 0; g < G; ++g) {
        const vf w = vec::splat(s[g][jb]);
        for (int d = 0; d < DV; ++d) o[g][d] += w * vec::load(vr + g * Dh + d * L);
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

// o[q][:] += sum_jb st[jb][q0 + q] * v[j0 + jb][:] for QP query rows starting at q0.
template <int DV, int QP>
FCAST_INLINE void pv_tile(const float* st, const float* vbase, int64_t vstride, int64_t j0, int jn, int q0, float* o) {
  constexpr int Dh = DV * L;
  vf acc[QP][DV];
  for (int q = 0; q < QP; ++q)
    for (int d = 0; d < DV; ++d) acc[q][d] = vec::load(o + (q0 + q) * Dh + d * L);
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

template <int DV>
FCAST_INLINE void run_queries(const ref::AttentionArgs& a, const Task& t) {
  constexpr int Dh = DV * L;
  constexpr int QP = DV <= 4 ? 4 : 2;  // P.V query rows per register tile
  alignas(64) float qt[Dh * kTaskQueries];     // scaled queries, transposed [d][query]
  alignas(64) float st[kKeys * kTaskQueries];  // scores, then weights [key][query]
  alignas(64) float o[kTaskQueries * Dh];      // unnormalised outputs [query][d]
  vf m[kQV], l[kQV];
  const int nq = static_cast<int>(t.i1 - t.i0);
  const int nqv = (nq + L - 1) / L;
  const int nqv2 = (nqv + 1) / 2 * 2;  // score tiles take query vectors in pairs
  for (int q = 0; q < nqv2 * L; ++q) {
    const float* src = a.q + t.n * a.q_nstride + (t.i0 + std::min(q, nq - 1)) * a.q_tstride + t.h * Dh;
    for (int d = 0; d < Dh; ++d) qt[d * kTaskQueries + q] = q < nq ? src[d] * a.scale : 0.0f;
  }
  for (int i = 0; i < nq * Dh; ++i) o[i] = 0.0f;
  for (int v = 0; v < kQV; ++v) {
    m[v] = vec::splat(-INFINITY);
    l[v] = vec::splat(0.0f);
  }
  const vi lane = iota();
  const int64_t jend = key_end(a, t.i1 - 1);  // the task's last query sees the most keys
  const float* kbase = a.k + t.n * a.k_nstride + t.h * Dh;
  const float* vbase = a.v + t.n * a.v_nstride + t.h * Dh;
  for (int64_t j0 = a.kv_start; j0 < jend; j0 += kKeys) {
    const int jn = static_cast<int>(std::min<int64_t>(kKeys, jend - j0));
    // Query vectors that see no key of this block (causal) are skipped.
    int qv_lo = 0;
    while (qv_lo < nqv && key_end(a, t.i0 + std::min(nq - 1, (qv_lo + 1) * L - 1)) <= j0) ++qv_lo;
    const int qv_pair_lo = qv_lo / 2 * 2;
    for (int jb0 = 0; jb0 < jn; jb0 += 8)
      for (int qv = qv_pair_lo; qv < nqv2; qv += 2) score_tile<DV>(qt, kbase, a.k_tstride, j0, jb0, jn, qv, st);
    for (int qv = qv_lo; qv < nqv; ++qv) {
      // Mask: keys past the block's end, past each query's causal end, or of another group.
      const vi qi = lane + static_cast<int32_t>(t.i0 + qv * L);  // query index per lane
      vf bm = vec::splat(-INFINITY);
      for (int jb = 0; jb < jn; ++jb) {
        vf x = vec::load(st + jb * kTaskQueries + qv * L);
        if (a.causal) {
          const vi visible = qi >= static_cast<int32_t>(j0 + jb - a.q_pos0);
          x = visible ? x : vec::splat(-INFINITY);
        }
        if (a.q_group) {
          const int32_t kg = a.k_group[t.n * a.kv_len + j0 + jb];
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
      for (int r = 0; r < L && qv * L + r < nq; ++r) {
        float* oq = o + (qv * L + r) * Dh;
        const vf c = vec::splat(corr[r]);
        for (int d = 0; d < DV; ++d) vec::store(oq + d * L, vec::load(oq + d * L) * c);
      }
    }
    const int q_lo = qv_lo * L;
    int q0 = q_lo;
    for (; q0 + QP <= nq; q0 += QP) pv_tile<DV, QP>(st, vbase, a.v_tstride, j0, jn, q0, o);
    for (; q0 < nq; ++q0) pv_tile<DV, 1>(st, vbase, a.v_tstride, j0, jn, q0, o);
  }
  const int64_t D = a.H * Dh;
  for (int q = 0; q < nq; ++q) {
    float* dst = a.out + (t.n * a.Sq + t.i0 + q) * D + t.h * Dh;
    const float lq = l[q / L][q % L];
    const vf inv = vec::splat(lq > 0 ? 1.0f / lq : 0.0f);
    for (int d = 0; d < DV; ++d) vec::store(dst + d * L, vec::load(o + q * Dh + d * L) * inv);
  }
}

template <int DV>
FCAST_INLINE void run_task(const ref::AttentionArgs& a, const Task& t) {
  if (t.i1 - t.i0 == 1)
    run_decode<DV>(a, t);
  else
    run_queries<DV>(a, t);
}

// One clone per ISA level for each supported head dim (16 * DV).
FCAST_CPU_CLONES void run_task_dispatch(const ref::AttentionArgs& a, const Task& t) {
  switch (a.Dh / L) {
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
  if (a.Dh % L != 0 || a.Dh > kMaxDV * L || a.Dh == 0) {
    attention_generic(a, key_block);
    return;
  }
  const bool parallel = a.N * a.H * a.Sq * std::max<int64_t>(a.kv_len, 1) * a.Dh > 32768;
  if (a.Sq == 1) {
    // Decode: a task per (row, group of heads); the groups are as large as keeps every thread
    // busy (whole rows stream best), at most 16 heads.
    int64_t G = a.H;
    const int64_t want = omp_get_max_threads();
    while ((G > 16 || a.N * (a.H / G) < want) && G % 2 == 0) G /= 2;
    if (G > 16) G = 1;
    const int64_t groups = a.H / G, tasks = a.N * groups;
#pragma omp parallel for schedule(static) if (parallel)
    for (int64_t task = 0; task < tasks; ++task) {
      Task t{task / groups, (task % groups) * G, 0, 1};
      t.heads = G;
      run_task_dispatch(a, t);
    }
    return;
  }
  const int64_t blocks = (a.Sq + kTaskQueries - 1) / kTaskQueries;
  const int64_t tasks = a.N * a.H * blocks;
  // Round-robin (chunk 1) keeps causal prefills balanced: later query blocks see more keys.
#pragma omp parallel for schedule(static, 1) if (parallel)
  for (int64_t task = 0; task < tasks; ++task) {
    const int64_t b = task % blocks, nh = task / blocks;
    const int64_t i0 = b * kTaskQueries;
    run_task_dispatch(a, Task{nh / a.H, nh % a.H, i0, std::min(a.Sq, i0 + kTaskQueries)});
  }
}

}  // namespace fcast::cpu
