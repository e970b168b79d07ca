#include "runtime/eager_executor.h"

#include <chrono>
#include <cmath>

#include "ops/reference/kernels.h"
#include "runtime/executor.h"

namespace fcast {

int64_t scalar_i64(const Tensor& t) {
  FCAST_ASSERT(t.dtype() == DType::I64 && t.numel() == 1);
  return t.data<int64_t>()[0];
}

Tensor make_scalar_i64(int64_t v) { return Tensor::from_vector<int64_t>({v}, {1}); }

namespace {

// floor(x / 2) for negative x too (padding tokens of a bucketed prefill have negative positions).
int64_t floor_div2(int64_t x) { return x >= 0 ? x / 2 : -((-x + 1) / 2); }

int64_t rows_of(const Shape& s) {
  int64_t r = 1;
  for (size_t i = 0; i + 1 < s.size(); ++i) r *= s[i];
  return r;
}

}  // namespace

void run_reference_node(const Graph& g, const Graph::Node& n, const std::vector<const Tensor*>& in, Tensor& out) {
  auto f32 = [&](size_t k) { return in[k]->data<float>(); };
  const Shape& os = out.shape();
  const int64_t total = out.numel();
  switch (n.op) {
    case Op::Linear: {
      const Tensor& w = *in[1];
      const int64_t K = w.dim(1), N = w.dim(0);
      ref::linear(f32(0), K, w.data<float>(), in[2] ? f32(2) : nullptr, out.data<float>(), rows_of(os), K, N);
      break;
    }
    case Op::RMSNorm:
      ref::rmsnorm(f32(0), f32(1), out.data<float>(), rows_of(os), os.back(), static_cast<float>(n.f[0]));
      break;
    case Op::Add: ref::add(f32(0), f32(1), out.data<float>(), total); break;
    case Op::Mul: ref::mul(f32(0), f32(1), out.data<float>(), total); break;
    case Op::Scale: ref::scale(f32(0), static_cast<float>(n.f[0]), out.data<float>(), total); break;
    case Op::AddScalar: ref::add_scalar(f32(0), static_cast<float>(n.f[0]), out.data<float>(), total); break;
    case Op::ClampMin: ref::clamp_min(f32(0), static_cast<float>(n.f[0]), out.data<float>(), total); break;
    case Op::Silu: ref::silu(f32(0), out.data<float>(), total); break;
    case Op::Softplus: ref::softplus(f32(0), out.data<float>(), total); break;
    case Op::Softmax: ref::softmax(f32(0), out.data<float>(), rows_of(os), os.back()); break;
    case Op::SwiGLU: ref::swiglu(f32(0), out.data<float>(), rows_of(os), os.back()); break;
    case Op::SiluMul: ref::silu_mul(f32(0), f32(1), out.data<float>(), total); break;
    case Op::TakeCols: {
      const int64_t C = in[0]->shape().back();
      ref::gather_rows(f32(0), 0, C, n.i[0], out.data<float>(), 1, rows_of(os), n.i[1]);
      break;
    }
    case Op::UnpackHeads: {
      // Toto's wQKV output features are (qkv, head_dim, head) with the head index fastest.
      const int64_t H = n.i[1], D = os.back(), Dh = D / H, which = n.i[0];
      const int64_t R = rows_of(os);
      const float* src = f32(0);
      float* dst = out.data<float>();
      for (int64_t r = 0; r < R; ++r)
        for (int64_t h = 0; h < H; ++h)
          for (int64_t d = 0; d < Dh; ++d) dst[r * D + h * Dh + d] = src[r * 3 * D + which * D + d * H + h];
      break;
    }
    case Op::RotaryPartial: {
      const int64_t N = os[0], S = os[1], D = os[2], H = n.i[0];
      ref::rotary_partial(f32(0), D, out.data<float>(), N, S, H, D / H, n.i[2], scalar_i64(*in[1]),
                          static_cast<float>(n.f[0]), n.i[1] != 0);
      break;
    }
    case Op::RotaryXPos: {
      // Positions count from the valid start, so a left-padded call gives real tokens the
      // positions (and xPos centre) they would have without padding.
      const int64_t start = in.size() > 2 && in[2] ? scalar_i64(*in[2]) : 0;
      const int64_t pos0 = scalar_i64(*in[1]) - start;
      const int64_t N = os[0], S = os[1], D = os[2], H = n.i[0];
      const int64_t centre = floor_div2(pos0 + S - 1);  // floor(max position in this call / 2)
      ref::rotary_xpos(f32(0), D, out.data<float>(), N, S, H, D / H, pos0, centre, n.i[1] != 0);
      break;
    }
    case Op::RotaryNeox: {
      const int64_t N = os[0], S = os[1], D = os[2], H = n.i[0];
      const int64_t start = in.size() > 3 && in[3] ? scalar_i64(*in[3]) : 0;
      ref::rotary_neox(f32(0), D, out.data<float>(), N, S, H, D / H, scalar_i64(*in[2]) - start, f32(1));
      break;
    }
    case Op::KVWrite: {
      const int64_t pos0 = scalar_i64(*in[2]);
      const Shape& cs = in[0]->shape();
      const Shape& xs = in[1]->shape();
      FCAST_CHECK(pos0 >= 0 && pos0 + xs[1] <= cs[1], "KV cache overflow: writing ", xs[1], " entries at ", pos0,
                  " into a cache of capacity ", cs[1]);
      const float* x = f32(1);
      if (out.dtype() == DType::BF16) {  // a bf16 cache (bf16 compiled plans) holds rounded rows
        uint16_t* c = out.data<uint16_t>();
        for (int64_t r = 0; r < xs[0]; ++r)
          for (int64_t s = 0; s < xs[1]; ++s)
            for (int64_t d = 0; d < xs[2]; ++d)
              c[(r * cs[1] + pos0 + s) * cs[2] + d] = f32_to_bf16(x[(r * xs[1] + s) * xs[2] + d]);
        break;
      }
      float* c = out.data<float>();
      for (int64_t r = 0; r < xs[0]; ++r)
        for (int64_t s = 0; s < xs[1]; ++s)
          std::copy(x + (r * xs[1] + s) * xs[2], x + (r * xs[1] + s + 1) * xs[2], c + (r * cs[1] + pos0 + s) * cs[2]);
      break;
    }
    case Op::Attention: {
      const Shape& qs = in[0]->shape();
      const Shape& ks = in[1]->shape();
      ref::AttentionArgs a;
      a.N = qs[0];
      a.Sq = qs[1];
      a.H = n.i[0];
      a.Dh = qs[2] / a.H;
      a.q = f32(0);
      a.q_nstride = qs[1] * qs[2];
      a.q_tstride = qs[2];
      // A bf16 cache (a compiled bf16 plan's, run here after a fallback) is widened first.
      const Tensor k = in[1]->dtype() == DType::BF16 ? in[1]->to(DType::F32) : *in[1];
      const Tensor v = in[2]->dtype() == DType::BF16 ? in[2]->to(DType::F32) : *in[2];
      a.k = k.data<float>();
      a.v = v.data<float>();
      a.k_nstride = a.v_nstride = ks[1] * ks[2];
      a.k_tstride = a.v_tstride = ks[2];
      const bool cached = n.i[2] != 0;
      a.q_pos0 = in[3] ? scalar_i64(*in[3]) : 0;
      a.kv_len = cached ? a.q_pos0 + a.Sq : ks[1];
      FCAST_CHECK(a.kv_len <= ks[1], "attention: ", a.kv_len, " keys requested from a cache of ", ks[1]);
      a.causal = n.i[1] != 0;
      a.kv_start = in.size() > 5 && in[5] ? scalar_i64(*in[5]) : 0;
      FCAST_CHECK(a.kv_start >= 0 && a.kv_start <= a.kv_len, "attention: valid start ", a.kv_start, " outside [0, ",
                  a.kv_len, "]");
      if (in.size() > 6 && in[6]) {  // separate key ids, one per key (cache slot)
        FCAST_CHECK(in[4] && in[6]->dim(1) >= a.kv_len, "attention: key group ids cover ", in[6]->dim(1), " of ",
                    a.kv_len, " keys");
        a.q_group = in[4]->data<int32_t>();
        a.k_group = in[6]->data<int32_t>();
        a.k_group_nstride = in[6]->dim(1);
      } else if (in[4]) {
        FCAST_CHECK(!cached && qs[1] == ks[1], "grouped attention needs equal query and key lengths");
        a.q_group = a.k_group = in[4]->data<int32_t>();
      }
      a.scale = 1.0f / std::sqrt(static_cast<float>(a.Dh));
      a.out = out.data<float>();
      ref::attention(a);
      break;
    }
    case Op::Permute0213: {
      const Shape& s = in[0]->shape();
      const float* x = f32(0);
      float* y = out.data<float>();
      for (int64_t a = 0; a < s[0]; ++a)
        for (int64_t b = 0; b < s[1]; ++b)
          for (int64_t c = 0; c < s[2]; ++c)
            std::copy(x + ((a * s[1] + b) * s[2] + c) * s[3], x + ((a * s[1] + b) * s[2] + c + 1) * s[3],
                      y + ((a * s[2] + c) * s[1] + b) * s[3]);
      break;
    }
    case Op::Embedding: {
      const Tensor& t = *in[0];
      ref::embedding(t.data<float>(), t.dim(0), t.dim(1), in[1]->data<int64_t>(), in[1]->numel(),
                     static_cast<float>(n.f[0]), out.data<float>());
      break;
    }
    case Op::StampIndex: {
      const int64_t C = in[0]->shape().back(), col = n.i[0], size = n.i[1];
      const float* s = f32(0);
      int64_t* y = out.data<int64_t>();
      for (int64_t r = 0; r < total; ++r) {
        const float v = s[r * C + col];
        FCAST_CHECK(std::isfinite(v), "time feature ", col, " is not finite");
        const int64_t idx = static_cast<int64_t>(v);  // truncation, as the reference's .long()
        FCAST_CHECK(idx >= 0 && idx < size, "time feature ", col, " value ", idx, " outside [0, ", size, ")");
        y[r] = idx;
      }
      break;
    }
    case Op::Concat: {
      const int64_t ca = in[0]->shape().back(), cb = in[1]->shape().back(), R = rows_of(os);
      float* y = out.data<float>();
      for (int64_t r = 0; r < R; ++r) {
        std::copy(f32(0) + r * ca, f32(0) + (r + 1) * ca, y + r * (ca + cb));
        std::copy(f32(1) + r * cb, f32(1) + (r + 1) * cb, y + r * (ca + cb) + ca);
      }
      break;
    }
    case Op::BsqIndices: {
      const int64_t k = in[0]->shape().back(), s1b = n.i[0], R = rows_of(os);
      const float* z = f32(0);
      int64_t* y = out.data<int64_t>();
      for (int64_t r = 0; r < R; ++r) {
        const float* zr = z + r * k;
        float ss = 0;
        for (int64_t j = 0; j < k; ++j) ss += zr[j] * zr[j];
        const float norm = std::max(std::sqrt(ss), 1e-12f);
        int64_t s1 = 0, s2 = 0;
        for (int64_t j = 0; j < k; ++j) {
          const int64_t bit = (zr[j] / norm) > 0.0f ? 1 : 0;
          if (j < s1b) s1 |= bit << j;
          else s2 |= bit << (j - s1b);
        }
        y[r * 2] = s1;
        y[r * 2 + 1] = s2;
      }
      break;
    }
    case Op::BsqBits: {
      const int64_t b = n.i[0], R = rows_of(os);
      const float q = 1.0f / std::sqrt(static_cast<float>(2 * b));
      const int64_t* ids = in[0]->data<int64_t>();
      float* y = out.data<float>();
      for (int64_t r = 0; r < R; ++r)
        for (int64_t h = 0; h < 2; ++h)
          for (int64_t j = 0; j < b; ++j) y[r * 2 * b + h * b + j] = ((ids[r * 2 + h] >> j) & 1) ? q : -q;
      break;
    }
    case Op::SliceTime: {
      const Shape& s = in[0]->shape();
      ref::gather_rows(f32(0), s[1] * s[2], s[2], n.i[0] * s[2], out.data<float>(), s[0], n.i[1], s[2]);
      break;
    }
    case Op::Reshape: break;  // alias, nothing to compute
  }
  (void)g;
}

TensorMap run_eager(const Graph& g, const TensorMap& inputs,
                    const std::function<void(const Graph::Node&, double)>& on_node) {
  const auto& values = g.values();
  std::vector<Tensor> slot(values.size());
  std::vector<int> last_use(values.size(), -1);
  const auto& nodes = g.nodes();
  for (size_t k = 0; k < nodes.size(); ++k)
    for (ValueId v : nodes[k].in)
      if (v != kNone) last_use[v] = static_cast<int>(k);
  for (const auto& [name, v] : g.outputs()) last_use[v] = static_cast<int>(nodes.size());
  for (size_t v = 0; v < values.size(); ++v) {
    const auto& val = values[v];
    if (val.kind == Graph::Kind::Constant) {
      slot[v] = val.constant;
    } else if (val.kind == Graph::Kind::Input) {
      auto it = inputs.find(val.name);
      FCAST_CHECK(it != inputs.end(), "graph input '", val.name, "' was not provided");
      FCAST_CHECK(it->second.dtype() == val.dtype && it->second.shape() == val.shape, "graph input '", val.name,
                  "' expects ", dtype_name(val.dtype), shape_str(val.shape), ", got ", dtype_name(it->second.dtype()),
                  shape_str(it->second.shape()));
      slot[v] = it->second;
    }
  }
  std::vector<const Tensor*> in;
  for (size_t k = 0; k < nodes.size(); ++k) {
    const auto& n = nodes[k];
    const auto& ov = values[n.out];
    in.clear();
    for (ValueId v : n.in) in.push_back(v == kNone ? nullptr : &slot[v]);
    if (ov.alias != kNone)
      slot[n.out] = slot[ov.alias].reshape(ov.shape);
    else
      slot[n.out] = Tensor::empty(ov.dtype, ov.shape);
    const auto t0 = std::chrono::steady_clock::now();
    run_reference_node(g, n, in, slot[n.out]);
    if (on_node) on_node(n, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    for (ValueId v : n.in)  // release temporaries after their last use
      if (v != kNone && last_use[v] == static_cast<int>(k) && values[v].kind == Graph::Kind::Temp) slot[v] = Tensor();
  }
  TensorMap out;
  for (const auto& [name, v] : g.outputs()) out[name] = slot[v];
  return out;
}

}  // namespace fcast

namespace fcast {

void Executor::record_op(const std::string& op, const std::string& impl, double seconds) {
  for (auto& p : profile_)
    if (p.op == op && p.impl == impl) {
      p.seconds += seconds;
      ++p.calls;
      return;
    }
  profile_.push_back(OpProfile{op, impl, seconds, 1});
}

TensorMap Executor::run(const Graph& g, const TensorMap& inputs) {
  TensorMap out = run_graph(g, inputs);
  if (observer_) observer_(g, out);
  return out;
}

TensorMap EagerExecutor::run_graph(const Graph& g, const TensorMap& inputs) {
  ++stats_.runs;
  if (!profiling_) return run_eager(g, inputs);
  return run_eager(g, inputs, [this](const Graph::Node& n, double s) { record_op(op_name(n.op), "reference", s); });
}

}  // namespace fcast
