// Optimised CPU kernels used by compiled plans (backend "inductor"). Each has a reference
// counterpart in ops/reference and a test against it on awkward shapes
// (tests/compiled_kernels_test.cc). Matmuls go through oneDNN (AMX / AVX-512 / AVX2 chosen by
// oneDNN at run time); the rest are OpenMP loops written for the compiler's vectoriser.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "ops/cpu/isa.h"
#include "ops/reference/kernels.h"

namespace fcast::cpu {

// ---- cpu_features.cc ----
// What the kernels may use: reported by CPUID *and* enabled by the OS (XCR0; AMX also needs
// Linux's per-process tile permission). FCAST_CPU_ISA=avx512|avx2|baseline lowers it (never
// raises it: a request above the host is clamped with one line on stderr; a bad value throws).
struct CpuFeatures {
  bool avx = false, fma = false, f16c = false, avx2 = false;
  bool avx512f = false, avx512bw = false, avx512vl = false, avx512_vnni = false, avx512_bf16 = false;
  bool amx_tile = false, amx_bf16 = false, amx_int8 = false;
  Isa isa = Isa::Baseline;  // the kernel variant level
  bool lowered = false;     // FCAST_CPU_ISA asked for a level (oneDNN is then capped to match)
  std::string other;        // non-x86 hosts: the whole text
  // "x86_64:avx,fma,f16c,avx2,avx512f,...": part of the persistent-cache identity.
  std::string text() const;
};
const CpuFeatures& cpu_features();       // the host's, lowered by FCAST_CPU_ISA (computed once)
const CpuFeatures& host_cpu_features();  // the host's, ignoring FCAST_CPU_ISA
// FCAST_CPU_ISA's grammar: "" -> nothing asked; a bad value throws fcast::Error naming the
// variable and the valid values.
std::optional<Isa> parse_isa(const std::string& value);
// `host` lowered to `cap` (features above it removed; AMX always removed).
CpuFeatures limit_features(const CpuFeatures& host, Isa cap);

// ---- matmul.cc ----
struct MatmulDesc {
  int64_t M = 0, K = 0, N = 0;
  bool bias = false;
  bool silu = false;    // silu as a oneDNN post-op
  bool bf16 = false;    // bf16 weights and inputs, fp32 accumulation and output
  bool packed = true;   // weights in oneDNN's preferred (blocked) layout; false: plain [N, K]
};

// y[M, N] = x[M, K] . w[N, K]^T (+ b) (then silu), with x and y row-major fp32.
class MatmulKernel {
 public:
  explicit MatmulKernel(const MatmulDesc& d);  // throws fcast::Error when oneDNN cannot build it
  ~MatmulKernel();
  MatmulKernel(const MatmulKernel&) = delete;
  MatmulKernel& operator=(const MatmulKernel&) = delete;

  const MatmulDesc& desc() const { return d_; }
  size_t scratch_bytes() const;        // oneDNN scratchpad + bf16 copy of x
  std::string weights_layout() const;  // identifies the packed layout (keys the packed-weight cache)
  size_t packed_bytes() const;
  // Writes fp32 weights [N, K] into `dst` (packed_bytes() long) in the layout this kernel reads.
  void pack_weights(const float* w, void* dst) const;
  // `bound`: keep oneDNN memory objects between calls and only swap changed pointers
  // (reduce-overhead); otherwise they are created per call.
  void run(const float* x, const void* w_packed, const float* b, float* y, void* scratch, bool bound);
  std::string impl() const;  // e.g. "onednn-f32:brg:avx512_core_amx"

 private:
  struct State;
  MatmulDesc d_;
  std::unique_ptr<State> s_;
};

// ---- elementwise.cc ----
// Applies an epilogue chain to y[M, N] in place; a SwiGLU writes its [M, N/2] result to `out`
// and the rest of the chain continues there. Returns the final buffer.
// The kernels' own vocabulary (independent of the plan format, graph/plan.h; the backend maps it).
enum class EpilogueKind : uint8_t { Silu, Softplus, ClampMin, AddScalar, Scale, SwiGLU, Softmax };
struct EpilogueStep {
  EpilogueKind op;
  float arg = 0;
};
float* apply_epilogue(float* y, int64_t M, int64_t N, const std::vector<EpilogueStep>& ops, size_t first, float* out);
void f32_to_bf16(const float* x, uint16_t* y, int64_t n);
// y = silu(a) * b elementwise (y may alias a or b).
void silu_mul(const float* a, const float* b, float* y, int64_t n);

// ---- norm.cc ----
void rmsnorm(const float* x, const float* w, float* y, int64_t M, int64_t D, float eps);
// h = a + b; y = rmsnorm(h) * w, one pass per row.
void add_rmsnorm(const float* a, const float* b, const float* w, float* h, float* y, int64_t M, int64_t D, float eps);
void softmax(float* x, float* y, int64_t M, int64_t D);

// ---- rotary.cc ----
struct RotaryArgs {
  int mode = 0;               // 0: copy, 1: Toto rotary + xPos, 2: NeoX rotary
  bool is_key = false;
  int64_t N = 0, S = 0, H = 0, D = 0;
  const float* src = nullptr;
  bool packed = false;        // src is Toto's qkv [N, S, 3D] in (qkv, head_dim, head) order
  int64_t which = 0;          // 0 q, 1 k, 2 v (packed only)
  int64_t pos0 = 0, start = 0;
  const float* inv_freq = nullptr;
  float* dst = nullptr;       // [N, S, D], or a cache [N, cap, D] written at rows [pos0, pos0 + S)
  uint16_t* dst16 = nullptr;  // instead of dst: a bf16 cache (values rounded to nearest even)
  int64_t dst_cap = 0;        // 0: dst is contiguous [N, S, D]
  float* table = nullptr;     // scratch: rotary_table_floats(S, D / H) floats
};
int64_t rotary_table_floats(int64_t S, int64_t Dh);
void rotary(const RotaryArgs& a);

// ---- attention.cc ----
// Attention with online softmax over key blocks: the score matrix is never materialised.
// Same semantics as ref::attention (causal, cache length, groups, valid start).
enum class AttentionMath {
  F32,
  // bf16 plans: with several queries, Q.K and P.V multiply bf16 operands (Q scaled, then rounded;
  // K, V and the softmax weights rounded) with fp32 accumulation, through vdpbf16ps where the CPU
  // has AVX512_BF16. One query (decode) and head dims that are not a multiple of 16 stay fp32.
  BF16,
  BF16Portable,  // BF16 arithmetic without vdpbf16ps on any CPU (tests compare the two)
};
void attention(const ref::AttentionArgs& a, int64_t key_block = 128, AttentionMath math = AttentionMath::F32);
bool attention_bf16_native();  // whether AttentionMath::BF16 uses vdpbf16ps on this CPU
// Whether attention reads bf16 KV caches (a.k16 / a.v16) at this head dim: in decode (fp32
// products on the widened values) and with several queries under AttentionMath::BF16.
bool attention_reads_bf16_cache(int64_t head_dim);

}  // namespace fcast::cpu
