// The model graph: values (inputs bound per run, constants such as weights, temporaries) and
// nodes (one op each). Model code only builds graphs; executors (runtime/) run them.
//
//   Graph g;
//   ValueId x = g.input("x", DType::F32, {4, 64});
//   ValueId y = g.linear(x, g.constant("w", w), g.constant("b", b));
//   g.output("y", y);
//   auto out = run_eager(g, {{"x", x_tensor}});
//
// Per-step values (KV write position, attended length) are graph *inputs* (I64 scalars), never
// attributes, so one graph serves every decode step of the same shape.
#pragma once
#include <map>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace fcast {

using ValueId = int;
constexpr ValueId kNone = -1;

enum class Op {
  Linear,       // x[..., K], w[N, K], b[N]? -> [..., N]
  RMSNorm,      // x[..., D], w[D]; f0 = eps
  Add,          // a, b (same shape)
  Mul,          // a, b (same shape)
  Scale,        // x; f0 = factor
  AddScalar,    // x; f0 = constant
  ClampMin,     // x; f0 = lower bound
  Silu,         // x
  Softplus,     // x
  Softmax,      // x, along the last axis
  SwiGLU,       // g[..., 2F] (gate first) -> [..., F]
  SiluMul,      // a, b -> silu(a) * b
  TakeCols,     // x[..., C]; i0 = offset, i1 = width -> [..., width]
  UnpackHeads,  // qkv[N, S, 3D] in Toto's (qkv, head_dim, head) layout; i0 = which, i1 = H -> [N, S, D] (head-major)
  RotaryXPos,   // x[N, S, D], pos0, start?; i0 = H, i1 = is_key. Token s sits at position pos0 + s - start.
  RotaryNeox,   // x[N, S, D], inv_freq[Dh/2], pos0, start?; i0 = H
  KVWrite,      // cache[N, cap, D], x[N, S, D], pos0 -> cache (written in place at [pos0, pos0+S))
  Attention,    // q[N, Sq, D], k[N, Sk, D], v, pos0?, group?[N, S], start?, key_group?[N, Sk]; i0 = H, i1 = causal, i2 = cached.
                //   Keys before `start` (left padding of a bucketed prefill) are invisible.
  Permute0213,  // x[A, B, C, D] -> [A, C, B, D]
  Embedding,    // table[V, D], ids I64[...]; f0 = multiplier -> [..., D]
  StampIndex,   // stamp F32[..., 5]; i0 = column, i1 = table size -> I64[...]
  Concat,       // a[..., Ca], b[..., Cb] -> [..., Ca + Cb]
  BsqIndices,   // z[..., k]; i0 = s1_bits -> I64[..., 2] (s1, s2), LSB first
  BsqBits,      // ids I64[..., 2]; i0 = bits per half -> F32[..., 2 * bits] = (2 bit - 1) / sqrt(k)
  Reshape,      // view with a new shape
  SliceTime,    // x[N, S, D]; i0 = start, i1 = count -> [N, count, D]
  RotaryPartial,  // x[N, S, D], pos0; i0 = H, i1 = is_key, i2 = rotated dims w; f0 = xPos scale base (0: none).
                  //   Interleaved pairs on the first w dims of each head, position pos0 + s; the xPos
                  //   centre is floor((pos0 + S) / 2) (Toto 2.0).
};
const char* op_name(Op op);

class Graph {
 public:
  enum class Kind { Input, Constant, Temp };
  struct Value {
    std::string name;
    Shape shape;
    DType dtype = DType::F32;
    Kind kind = Kind::Temp;
    Tensor constant;     // for Kind::Constant
    ValueId alias = kNone;  // output shares storage with this value (KVWrite, Reshape)
  };
  struct Node {
    Op op;
    std::vector<ValueId> in;  // kNone for absent optional inputs
    ValueId out;
    std::vector<int64_t> i;
    std::vector<double> f;
    std::string label;
  };

  ValueId input(const std::string& name, DType dtype, Shape shape);
  ValueId constant(const std::string& name, const Tensor& t);
  void output(const std::string& name, ValueId v);

  const std::vector<Value>& values() const { return values_; }
  const std::vector<Node>& nodes() const { return nodes_; }
  const std::vector<std::pair<std::string, ValueId>>& outputs() const { return outputs_; }
  const Value& value(ValueId v) const { return values_.at(v); }
  // Named facts about the call the graph describes (model, phase, batch, variates, ...), set by
  // model code; the compiled executor's plan signature is built from them.
  void set_meta(const std::string& key, const std::string& value) {
    uid_ = next_uid();
    meta_[key] = value;
  }
  const std::map<std::string, std::string>& meta() const { return meta_; }
  const Shape& shape(ValueId v) const { return values_.at(v).shape; }
  // Identifies this graph's current content within the process: every change gives it a new
  // value and copies share it, so executors may key per-graph work (signatures, bound plans)
  // by it and a graph that model code keeps and reuses is never hashed again.
  uint64_t uid() const { return uid_; }

  // ---- builders (shape-checked) ----
  ValueId linear(ValueId x, ValueId w, ValueId b = kNone);
  ValueId rmsnorm(ValueId x, ValueId w, float eps);
  ValueId add(ValueId a, ValueId b);
  ValueId mul(ValueId a, ValueId b);
  ValueId scale(ValueId x, float s);
  ValueId add_scalar(ValueId x, float s);
  ValueId clamp_min(ValueId x, float lo);
  ValueId silu(ValueId x);
  ValueId softplus(ValueId x);
  ValueId softmax(ValueId x);
  ValueId swiglu(ValueId g);
  ValueId silu_mul(ValueId a, ValueId b);
  ValueId take_cols(ValueId x, int64_t offset, int64_t width);
  ValueId unpack_heads(ValueId qkv, int which, int64_t heads);
  // `start` (optional I64[1]) is the valid start of a left-padded sequence: positions (and the
  // xPos centre) count from it, so padded and unpadded calls give real tokens the same numbers.
  ValueId rotary_xpos(ValueId x, ValueId pos0, int64_t heads, bool is_key, ValueId start = kNone);
  ValueId rotary_neox(ValueId x, ValueId inv_freq, ValueId pos0, int64_t heads, ValueId start = kNone);
  ValueId kv_write(ValueId cache, ValueId x, ValueId pos0);
  // `group` [N, Sq] (I32): query i sees key j only where their group ids are equal; the key ids
  // are `group` itself (equal query and key lengths) or `key_group` [N, keys or cache slots].
  ValueId attention(ValueId q, ValueId k, ValueId v, int64_t heads, bool causal, ValueId pos0 = kNone,
                    ValueId group = kNone, bool cached = false, ValueId start = kNone, ValueId key_group = kNone);
  ValueId rotary_partial(ValueId x, ValueId pos0, int64_t heads, bool is_key, int64_t rot_dims, float xpos_base);
  ValueId permute0213(ValueId x);
  ValueId embedding(ValueId table, ValueId ids, float mult = 1.0f);
  ValueId stamp_index(ValueId stamp, int64_t column, int64_t size);
  ValueId concat(ValueId a, ValueId b);
  ValueId bsq_indices(ValueId z, int64_t s1_bits);
  ValueId bsq_bits(ValueId ids, int64_t bits_per_half);
  ValueId reshape(ValueId x, Shape shape);
  ValueId slice_time(ValueId x, int64_t start, int64_t count);

 private:
  ValueId add_value(Value v);
  ValueId add_node(Op op, std::vector<ValueId> in, Shape shape, DType dtype, std::vector<int64_t> i = {},
                   std::vector<double> f = {}, ValueId alias = kNone);

  std::vector<Value> values_;
  std::vector<Node> nodes_;
  std::vector<std::pair<std::string, ValueId>> outputs_;
  std::map<std::string, ValueId> inputs_by_name_;
  std::map<std::string, std::string> meta_;
  uint64_t uid_ = next_uid();
  static uint64_t next_uid();
};

}  // namespace fcast
