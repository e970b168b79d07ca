// Reference kernels: plain, readable fp32 loops (fp64 where the models need it). They are the
// ground truth every optimised path is tested against. Every output element is computed by
// the same sequence of operations whatever the batch size or thread count, so results are
// bit-reproducible and independent of how rows are batched.
#pragma once
#include <cstdint>

namespace fcast::ref {

// ---- linear.cc ----
// Dot product with 8 fixed partial sums (deterministic order, vectorisable without fast-math).
float dot(const float* a, const float* b, int64_t n);
// y[m, n] = b[n] + sum_k x[m, k] * w[n, k];  x rows are x_stride apart, y rows are N apart.
void linear(const float* x, int64_t x_stride, const float* w, const float* b, float* y, int64_t M, int64_t K,
            int64_t N);

// ---- elementwise.cc ----
void rmsnorm(const float* x, const float* w, float* y, int64_t M, int64_t D, float eps);
void add(const float* a, const float* b, float* y, int64_t n);
void mul(const float* a, const float* b, float* y, int64_t n);
void scale(const float* a, float s, float* y, int64_t n);
void add_scalar(const float* a, float s, float* y, int64_t n);
void clamp_min(const float* a, float lo, float* y, int64_t n);
float silu(float x);
float softplus(float x);  // PyTorch: x when x > 20, else log1p(exp(x))
void silu(const float* a, float* y, int64_t n);
void softplus(const float* a, float* y, int64_t n);
// g: [M, 2F] with the gate in the first half; y[m, f] = silu(g[m, f]) * g[m, F + f]
void swiglu(const float* g, float* y, int64_t M, int64_t F);
// y = silu(a) * b elementwise
void silu_mul(const float* a, const float* b, float* y, int64_t n);
void softmax(const float* x, float* y, int64_t M, int64_t D);  // along the last axis, max-subtracted

// ---- rotary.cc ----
// Toto: interleaved RoPE (pairs 2i, 2i+1) with the half-split xPos scale.
// x: [N, S, H*Dh] with token rows x_stride apart; y: contiguous [N, S, H*Dh].
// Position of token s is pos0 + s; the xPos centre is `centre`; keys use the reciprocal scale.
// The per-call tables of rotary_xpos, [S, Dh] each: cos and sin of the interleaved angle and
// the half-split xPos scale (reciprocal for keys). Shared with the optimised kernels.
void xpos_tables(int64_t S, int64_t Dh, int64_t pos0, int64_t centre, bool is_key, float* cs, float* sn, float* sc);
void rotary_xpos(const float* x, int64_t x_stride, float* y, int64_t N, int64_t S, int64_t H, int64_t Dh,
                 int64_t pos0, int64_t centre, bool is_key);
// Toto 2.0's rotary: interleaved pairs (2i, 2i+1) on the first `rot` dims of each head (the rest
// pass through), angle (pos0 + s) / 10000^(2i / rot) in float32; with xpos_base > 0 the rotated
// dims are then scaled by b_i^((pos - c) / xpos_base) (keys: its inverse), b_i = (2i + 0.4 rot) /
// (1.4 rot), c = floor((pos0 + S) / 2).
void rotary_partial(const float* x, int64_t x_stride, float* y, int64_t N, int64_t S, int64_t H, int64_t Dh,
                    int64_t rot, int64_t pos0, float xpos_base, bool is_key);
// Kronos: rotate-half (NeoX) RoPE with the given inverse frequencies [Dh/2].
void rotary_neox(const float* x, int64_t x_stride, float* y, int64_t N, int64_t S, int64_t H, int64_t Dh,
                 int64_t pos0, const float* inv_freq);
// Copies token rows: y[n, s, :] = x[n*x_nstride + s*x_stride + offset .. + D]
void gather_rows(const float* x, int64_t x_nstride, int64_t x_stride, int64_t offset, float* y, int64_t N, int64_t S,
                 int64_t D);

// ---- attention.cc ----
struct AttentionArgs {
  int64_t N = 0, Sq = 0, H = 0, Dh = 0;
  const float* q = nullptr;  int64_t q_nstride = 0, q_tstride = 0;   // q(n,i,h,d) = q[n*q_nstride + i*q_tstride + h*Dh + d]
  const float* k = nullptr;  int64_t k_nstride = 0, k_tstride = 0;
  const float* v = nullptr;  int64_t v_nstride = 0, v_tstride = 0;
  // bf16 KV caches (cpu::attention only, instead of k and v; same strides in elements).
  // ref::attention takes fp32 keys and values.
  const uint16_t* k16 = nullptr;
  const uint16_t* v16 = nullptr;
  int64_t kv_len = 0;        // keys/values [kv_start, kv_len) are attended
  int64_t kv_start = 0;      // first valid key (left padding of a bucketed prefill is invisible)
  bool causal = false;       // key j visible to query i iff j <= q_pos0 + i
  int64_t q_pos0 = 0;
  const int32_t* q_group = nullptr;  // optional [N, Sq]; key j visible iff k_group[n, j] == q_group[n, i]
  const int32_t* k_group = nullptr;  // [N, k_group_nstride]: one id per key (cache slot)
  int64_t k_group_nstride = 0;       // 0: kv_len (k_group is q_group's array, equal lengths)
  float scale = 1.0f;
  float* out = nullptr;      // [N, Sq, H*Dh] contiguous
};
void attention(const AttentionArgs& a);

// ---- scaler.cc ----
// Toto's CausalPatchStdMeanScaler over rows of length T (float64 statistics).
// prefix_length < 0 means "all steps". Outputs are [rows, T] float32.
void causal_patch_scaler(const float* x, const uint8_t* mask, int64_t rows, int64_t T, int64_t patch,
                         int64_t prefix_length, bool stabilize_with_global, double scale_factor_exponent,
                         float* scaled, float* loc, float* scale);

// ---- embedding.cc ----
// y[i, :] = table[ids[i], :] * mult; ids are checked against [0, V).
void embedding(const float* table, int64_t V, int64_t D, const int64_t* ids, int64_t n, float mult, float* y);

}  // namespace fcast::ref
