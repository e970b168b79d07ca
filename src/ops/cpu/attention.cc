// Attention with online softmax over key blocks: the score matrix is never materialised. The
// tiles and their design are in attention_tiles.h; this file picks an implementation per task
// and splits the work over the threads.
#include <omp.h>

#include <algorithm>
#include <cmath>

#include "ops/cpu/attention_tiles.h"
#include "ops/cpu/kernels.h"

namespace fcast::cpu {

bool attention_bf16_native() { return cpu_features().avx512_bf16; }

namespace {

using attn::kMaxDV;
using attn::kTaskQueries;
using attn::key_end;
using attn::Task;
constexpr int L = vec::kLanes;

// One variant per ISA level for each supported head dim (16 * DV).
FCAST_INLINE void run_task_dispatch_impl(const ref::AttentionArgs& a, const Task& t, bool bf16) {
  if (bf16)
    attn::run_task_dh<attn::Dot::Bf16>(a, t);
  else
    attn::run_task_dh<attn::Dot::F32>(a, t);
}
FCAST_ISA_VARIANTS(void, run_task_dispatch, (const ref::AttentionArgs& a, const Task& t, bool bf16), (a, t, bf16))

// A multi-query task in the given math (BF16: vdpbf16ps where the CPU has it).
void run_task_as(AttentionMath math, const ref::AttentionArgs& a, const Task& t) {
  if (math == AttentionMath::BF16 && attention_bf16_native())
    attn::run_task_bf16_native(a, t);
  else
    run_task_dispatch(a, t, math != AttentionMath::F32);
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
            if (!a.q_group || a.q_group[n * a.Sq + i] == a.k_group[n * (a.k_group_nstride > 0 ? a.k_group_nstride : a.kv_len) + j]) {
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

bool attention_reads_bf16_cache(int64_t head_dim) { return head_dim > 0 && head_dim % L == 0 && head_dim <= kMaxDV * L; }

void attention(const ref::AttentionArgs& a, int64_t key_block, AttentionMath math) {
  if (a.k16 || a.v16)
    FCAST_CHECK(a.k16 && a.v16 && attention_reads_bf16_cache(a.Dh) && (a.Sq == 1 || math != AttentionMath::F32),
                "attention: a bf16 KV cache needs head dim a multiple of 16 up to 128 (got ", a.Dh,
                ") and bf16 products for several queries");
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
      run_task_dispatch(a, t, false);
    }
    return;
  }
  const int64_t blocks = (a.Sq + kTaskQueries - 1) / kTaskQueries;
  const int64_t tasks = a.N * a.H * blocks;
  // Causal query blocks cost more the later they are (they see more keys), so each task goes
  // to whichever thread is free (a static round-robin gave one of two threads blocks 1, 3, 5, 7
  // of every head and the other 2, 4, 6, 8: 20 % more work). A head's blocks go out together,
  // latest first, so that its keys and values are still in cache for the next one.
#pragma omp parallel for schedule(dynamic, 1) if (parallel)
  for (int64_t task = 0; task < tasks; ++task) {
    const int64_t b = blocks - 1 - task % blocks, nh = task / blocks;
    const int64_t i0 = b * kTaskQueries;
    run_task_as(math, a, Task{nh / a.H, nh % a.H, i0, std::min(a.Sq, i0 + kTaskQueries)});
  }
}

}  // namespace fcast::cpu
