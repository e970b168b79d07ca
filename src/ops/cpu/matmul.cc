#include <dnnl.hpp>

#include <iostream>
#include <vector>

#include "ops/cpu/kernels.h"

namespace fcast::cpu {

namespace {

using dt = dnnl::memory::data_type;
using tag = dnnl::memory::format_tag;

// oneDNN picks its own JIT ISA, so FCAST_CPU_ISA caps it as well; this must happen before the
// first primitive exists (oneDNN latches the ISA then), hence before the engine is made.
// "avx512" keeps AVX512_BF16 but not AMX (see CpuFeatures); "baseline" is SSE4.1, the lowest
// level oneDNN 2.x can be capped at.
void cap_onednn_isa() {
  const CpuFeatures& f = cpu_features();
  if (!f.lowered) return;
  const dnnl_cpu_isa_t cap = f.isa == Isa::Avx512 ? dnnl_cpu_isa_avx512_core_bf16
                             : f.isa == Isa::Avx2 ? dnnl_cpu_isa_avx2
                                                  : dnnl_cpu_isa_sse41;
  if (dnnl_set_max_cpu_isa(cap) != dnnl_success)
    std::cerr << "fcast: could not cap oneDNN at FCAST_CPU_ISA=" << isa_name(f.isa)
              << " (oneDNN was used before); its matmuls may use a higher ISA\n";
}

dnnl::engine& engine() {
  static dnnl::engine e = [] {
    cap_onednn_isa();
    return dnnl::engine(dnnl::engine::kind::cpu, 0);
  }();
  return e;
}
dnnl::stream& stream() {
  static dnnl::stream s(engine());
  return s;
}

size_t align64(size_t b) { return (b + 63) / 64 * 64; }

}  // namespace

struct MatmulKernel::State {
  // oneDNN 2.x has no bf16 matmul below AVX-512 (an AVX2 host, or FCAST_CPU_ISA=avx2/baseline):
  // there the bf16 kernel rounds x and w to bf16 and multiplies them as fp32. The products of
  // two bf16 values are exact in fp32, so this is bf16 arithmetic with fp32 accumulation, as
  // the native kernel does (only the summation order may differ).
  bool emulated_bf16 = false;
  dnnl::matmul::primitive_desc pd;
  dnnl::matmul prim;
  dnnl::memory::desc src_md, w_md, b_md, dst_md, sp_md;
  // Bound memory objects (reduce-overhead): created once, pointers swapped when they change.
  bool bound_ready = false;
  dnnl::memory src_m, w_m, b_m, dst_m, sp_m;
  std::unordered_map<int, dnnl::memory> args;
};

MatmulKernel::MatmulKernel(const MatmulDesc& d) : d_(d), s_(std::make_unique<State>()) {
  // Creates the primitive (throws dnnl::error when oneDNN has none for these operands).
  auto build = [&](State& st, bool bf16_operands) {
    const dt in_t = bf16_operands ? dt::bf16 : dt::f32;
    st.src_md = dnnl::memory::desc({d.M, d.K}, in_t, tag::ab);
    st.w_md = d.packed ? dnnl::memory::desc({d.K, d.N}, in_t, tag::any) : dnnl::memory::desc({d.K, d.N}, in_t, tag::ba);
    st.b_md = dnnl::memory::desc({1, d.N}, dt::f32, tag::ab);
    st.dst_md = dnnl::memory::desc({d.M, d.N}, dt::f32, tag::ab);
    dnnl::primitive_attr attr;
    attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
    if (d.silu) {
      dnnl::post_ops po;
      po.append_eltwise(1.0f, dnnl::algorithm::eltwise_swish, 1.0f, 0.0f);
      attr.set_post_ops(po);
    }
    dnnl::matmul::desc md = d.bias ? dnnl::matmul::desc(st.src_md, st.w_md, st.b_md, st.dst_md)
                                   : dnnl::matmul::desc(st.src_md, st.w_md, st.dst_md);
    st.pd = dnnl::matmul::primitive_desc(md, attr, engine());
    st.w_md = st.pd.weights_desc();
    st.sp_md = st.pd.scratchpad_desc();
    st.prim = dnnl::matmul(st.pd);
  };
  try {
    build(*s_, d.bf16);
  } catch (const dnnl::error& e) {
    if (!d.bf16) fail("oneDNN could not build an fp32 matmul ", d.M, "x", d.K, "x", d.N, ": ", e.what());
    try {
      s_ = std::make_unique<State>();
      s_->emulated_bf16 = true;
      build(*s_, false);
    } catch (const dnnl::error& e2) {
      fail("oneDNN could not build a bf16 matmul ", d.M, "x", d.K, "x", d.N, " (nor its fp32 emulation): ", e.what(),
           "; ", e2.what());
    }
  }
}

MatmulKernel::~MatmulKernel() = default;

size_t MatmulKernel::scratch_bytes() const {
  // The bf16 copy of x (2 bytes an element), or its bf16-rounded fp32 copy when emulated.
  const size_t x_copy = !d_.bf16 ? 0 : static_cast<size_t>(d_.M * d_.K) * (s_->emulated_bf16 ? 4 : 2);
  return align64(s_->sp_md.get_size()) + align64(x_copy);
}

std::string MatmulKernel::weights_layout() const {
  const dnnl_memory_desc_t& m = s_->w_md.data;
  std::string s = cat(d_.K, "x", d_.N, ":dt", static_cast<int>(m.data_type), ":fk", static_cast<int>(m.format_kind));
  if (m.format_kind == dnnl_blocked) {
    const dnnl_blocking_desc_t& bd = m.format_desc.blocking;
    for (int i = 0; i < m.ndims; ++i) s += cat(":s", bd.strides[i], "p", m.padded_dims[i]);
    for (int i = 0; i < bd.inner_nblks; ++i) s += cat(":b", bd.inner_blks[i], "i", bd.inner_idxs[i]);
  }
  return cat(s, ":x", m.extra.flags, ":n", s_->w_md.get_size());
}

size_t MatmulKernel::packed_bytes() const { return s_->w_md.get_size(); }

void MatmulKernel::pack_weights(const float* w, void* dst) const {
  // The user's weights [N, K] row-major are the {K, N} matrix in "ba" order.
  std::vector<float> rounded;
  if (s_->emulated_bf16) {
    rounded.resize(static_cast<size_t>(d_.N * d_.K));
    for (size_t i = 0; i < rounded.size(); ++i) rounded[i] = bf16_to_f32(fcast::f32_to_bf16(w[i]));
    w = rounded.data();
  }
  dnnl::memory user({{d_.K, d_.N}, dt::f32, tag::ba}, engine(), const_cast<float*>(w));
  dnnl::memory packed(s_->w_md, engine(), dst);
  dnnl::reorder(user, packed).execute(stream(), user, packed);
  stream().wait();
}

void MatmulKernel::run(const float* x, const void* w_packed, const float* b, float* y, void* scratch, bool bound) {
  char* sp = static_cast<char*>(scratch);
  const void* src = x;
  if (d_.bf16 && s_->emulated_bf16) {
    float* xr = reinterpret_cast<float*>(sp + align64(s_->sp_md.get_size()));
    const int64_t n = d_.M * d_.K;
#pragma omp parallel for simd schedule(static) if (n > 65536)
    for (int64_t i = 0; i < n; ++i) xr[i] = bf16_to_f32(fcast::f32_to_bf16(x[i]));
    src = xr;
  } else if (d_.bf16) {
    uint16_t* xb = reinterpret_cast<uint16_t*>(sp + align64(s_->sp_md.get_size()));
    f32_to_bf16(x, xb, d_.M * d_.K);
    src = xb;
  }
  auto& eng = engine();
  if (bound) {
    State& s = *s_;
    if (!s.bound_ready) {
      s.src_m = dnnl::memory(s.src_md, eng, const_cast<void*>(src));
      s.w_m = dnnl::memory(s.w_md, eng, const_cast<void*>(w_packed));
      s.dst_m = dnnl::memory(s.dst_md, eng, y);
      s.sp_m = dnnl::memory(s.sp_md, eng, sp);
      s.args = {{DNNL_ARG_SRC, s.src_m}, {DNNL_ARG_WEIGHTS, s.w_m}, {DNNL_ARG_DST, s.dst_m}, {DNNL_ARG_SCRATCHPAD, s.sp_m}};
      if (d_.bias) {
        s.b_m = dnnl::memory(s.b_md, eng, const_cast<float*>(b));
        s.args[DNNL_ARG_BIAS] = s.b_m;
      }
      s.bound_ready = true;
    } else {
      // Only pointers that changed since the last call are swapped (inputs bound per call).
      if (s.src_m.get_data_handle() != src) s.src_m.set_data_handle(const_cast<void*>(src));
      if (s.dst_m.get_data_handle() != y) s.dst_m.set_data_handle(y);
      if (s.w_m.get_data_handle() != w_packed) s.w_m.set_data_handle(const_cast<void*>(w_packed));
      if (s.sp_m.get_data_handle() != sp) s.sp_m.set_data_handle(sp);
    }
    s.prim.execute(stream(), s.args);
  } else {
    std::unordered_map<int, dnnl::memory> args{
        {DNNL_ARG_SRC, dnnl::memory(s_->src_md, eng, const_cast<void*>(src))},
        {DNNL_ARG_WEIGHTS, dnnl::memory(s_->w_md, eng, const_cast<void*>(w_packed))},
        {DNNL_ARG_DST, dnnl::memory(s_->dst_md, eng, y)},
        {DNNL_ARG_SCRATCHPAD, dnnl::memory(s_->sp_md, eng, sp)}};
    if (d_.bias) args[DNNL_ARG_BIAS] = dnnl::memory(s_->b_md, eng, const_cast<float*>(b));
    s_->prim.execute(stream(), args);
  }
  stream().wait();
}

std::string MatmulKernel::impl() const {
  const char* dtype = !d_.bf16 ? "f32" : s_->emulated_bf16 ? "bf16emu" : "bf16";
  return cat("onednn-", dtype, d_.packed ? "-packed:" : "-plain:", s_->pd.impl_info_str());
}

}  // namespace fcast::cpu
