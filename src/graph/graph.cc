#include "graph/graph.h"

#include <atomic>

namespace fcast {

const char* op_name(Op op) {
  switch (op) {
    case Op::Linear: return "linear";
    case Op::RMSNorm: return "rmsnorm";
    case Op::Add: return "add";
    case Op::Mul: return "mul";
    case Op::Scale: return "scale";
    case Op::AddScalar: return "add_scalar";
    case Op::ClampMin: return "clamp_min";
    case Op::Silu: return "silu";
    case Op::Softplus: return "softplus";
    case Op::Softmax: return "softmax";
    case Op::SwiGLU: return "swiglu";
    case Op::SiluMul: return "silu_mul";
    case Op::TakeCols: return "take_cols";
    case Op::UnpackHeads: return "unpack_heads";
    case Op::RotaryXPos: return "rotary_xpos";
    case Op::RotaryPartial: return "rotary_partial";
    case Op::RotaryNeox: return "rotary_neox";
    case Op::KVWrite: return "kv_write";
    case Op::Attention: return "attention";
    case Op::Permute0213: return "permute0213";
    case Op::Embedding: return "embedding";
    case Op::StampIndex: return "stamp_index";
    case Op::Concat: return "concat";
    case Op::BsqIndices: return "bsq_indices";
    case Op::BsqBits: return "bsq_bits";
    case Op::Reshape: return "reshape";
    case Op::SliceTime: return "slice_time";
  }
  return "?";
}

uint64_t Graph::next_uid() {
  static std::atomic<uint64_t> counter{1};
  return counter.fetch_add(1, std::memory_order_relaxed);
}

ValueId Graph::add_value(Value v) {
  uid_ = next_uid();
  values_.push_back(std::move(v));
  return static_cast<ValueId>(values_.size() - 1);
}

ValueId Graph::input(const std::string& name, DType dtype, Shape shape) {
  FCAST_CHECK(!inputs_by_name_.count(name), "graph input '", name, "' declared twice");
  Value v;
  v.name = name;
  v.dtype = dtype;
  v.shape = std::move(shape);
  v.kind = Kind::Input;
  ValueId id = add_value(std::move(v));
  inputs_by_name_[name] = id;
  return id;
}

ValueId Graph::constant(const std::string& name, const Tensor& t) {
  Value v;
  v.name = name;
  v.dtype = t.dtype();
  v.shape = t.shape();
  v.kind = Kind::Constant;
  v.constant = t;
  return add_value(std::move(v));
}

void Graph::output(const std::string& name, ValueId v) {
  uid_ = next_uid();
  outputs_.emplace_back(name, v);
}

ValueId Graph::add_node(Op op, std::vector<ValueId> in, Shape shape, DType dtype, std::vector<int64_t> i,
                        std::vector<double> f, ValueId alias) {
  uid_ = next_uid();
  Value v;
  v.shape = std::move(shape);
  v.dtype = dtype;
  v.alias = alias;
  ValueId out = add_value(std::move(v));
  nodes_.push_back(Node{op, std::move(in), out, std::move(i), std::move(f), {}});
  return out;
}

namespace {
Shape with_last(Shape s, int64_t last) {
  s.back() = last;
  return s;
}
}  // namespace

ValueId Graph::linear(ValueId x, ValueId w, ValueId b) {
  const Shape& xs = shape(x);
  const Shape& ws = shape(w);
  FCAST_CHECK(ws.size() == 2 && !xs.empty() && xs.back() == ws[1], "linear: input ", shape_str(xs),
              " does not match weight ", shape_str(ws));
  if (b != kNone) FCAST_CHECK(shape(b) == Shape{ws[0]}, "linear: bias ", shape_str(shape(b)), " vs weight ", shape_str(ws));
  return add_node(Op::Linear, {x, w, b}, with_last(xs, ws[0]), DType::F32);
}

ValueId Graph::rmsnorm(ValueId x, ValueId w, float eps) {
  FCAST_CHECK(shape(w) == Shape{shape(x).back()}, "rmsnorm: weight ", shape_str(shape(w)), " vs input ",
              shape_str(shape(x)));
  return add_node(Op::RMSNorm, {x, w}, shape(x), DType::F32, {}, {eps});
}

ValueId Graph::add(ValueId a, ValueId b) {
  FCAST_CHECK(shape(a) == shape(b), "add: shapes ", shape_str(shape(a)), " and ",
              shape_str(shape(b)));
  return add_node(Op::Add, {a, b}, shape(a), DType::F32);
}
ValueId Graph::mul(ValueId a, ValueId b) {
  FCAST_CHECK(shape(a) == shape(b), "mul: shapes ", shape_str(shape(a)), " and ", shape_str(shape(b)));
  return add_node(Op::Mul, {a, b}, shape(a), DType::F32);
}
ValueId Graph::scale(ValueId x, float s) { return add_node(Op::Scale, {x}, shape(x), DType::F32, {}, {s}); }
ValueId Graph::add_scalar(ValueId x, float s) { return add_node(Op::AddScalar, {x}, shape(x), DType::F32, {}, {s}); }
ValueId Graph::clamp_min(ValueId x, float lo) { return add_node(Op::ClampMin, {x}, shape(x), DType::F32, {}, {lo}); }
ValueId Graph::silu(ValueId x) { return add_node(Op::Silu, {x}, shape(x), DType::F32); }
ValueId Graph::softplus(ValueId x) { return add_node(Op::Softplus, {x}, shape(x), DType::F32); }
ValueId Graph::softmax(ValueId x) { return add_node(Op::Softmax, {x}, shape(x), DType::F32); }

ValueId Graph::swiglu(ValueId g) {
  FCAST_CHECK(shape(g).back() % 2 == 0, "swiglu: odd width ", shape_str(shape(g)));
  return add_node(Op::SwiGLU, {g}, with_last(shape(g), shape(g).back() / 2), DType::F32);
}
ValueId Graph::silu_mul(ValueId a, ValueId b) {
  FCAST_CHECK(shape(a) == shape(b), "silu_mul: shapes ", shape_str(shape(a)), " and ", shape_str(shape(b)));
  return add_node(Op::SiluMul, {a, b}, shape(a), DType::F32);
}

ValueId Graph::take_cols(ValueId x, int64_t offset, int64_t width) {
  FCAST_CHECK(offset >= 0 && offset + width <= shape(x).back(), "take_cols out of range");
  return add_node(Op::TakeCols, {x}, with_last(shape(x), width), DType::F32, {offset, width});
}

ValueId Graph::unpack_heads(ValueId qkv, int which, int64_t heads) {
  const Shape& s = shape(qkv);
  FCAST_CHECK(s.size() == 3 && s[2] % 3 == 0 && (s[2] / 3) % heads == 0, "unpack_heads: bad shape ", shape_str(s));
  return add_node(Op::UnpackHeads, {qkv}, {s[0], s[1], s[2] / 3}, DType::F32, {which, heads});
}

ValueId Graph::rotary_xpos(ValueId x, ValueId pos0, int64_t heads, bool is_key, ValueId start) {
  FCAST_CHECK(shape(x).size() == 3 && shape(x)[2] % heads == 0 && (shape(x)[2] / heads) % 2 == 0,
              "rotary_xpos: bad shape ", shape_str(shape(x)));
  return add_node(Op::RotaryXPos, {x, pos0, start}, shape(x), DType::F32, {heads, is_key ? 1 : 0});
}

ValueId Graph::rotary_neox(ValueId x, ValueId inv_freq, ValueId pos0, int64_t heads, ValueId start) {
  FCAST_CHECK(shape(x).size() == 3 && shape(x)[2] % heads == 0, "rotary_neox: bad shape ", shape_str(shape(x)));
  FCAST_CHECK(shape_numel(shape(inv_freq)) * 2 == shape(x)[2] / heads, "rotary_neox: inv_freq has ",
              shape_numel(shape(inv_freq)), " entries, head dim is ", shape(x)[2] / heads);
  return add_node(Op::RotaryNeox, {x, inv_freq, pos0, start}, shape(x), DType::F32, {heads});
}

ValueId Graph::kv_write(ValueId cache, ValueId x, ValueId pos0) {
  const Shape& c = shape(cache);
  const Shape& s = shape(x);
  FCAST_CHECK(c.size() == 3 && s.size() == 3 && c[0] == s[0] && c[2] == s[2] && s[1] <= c[1], "kv_write: cache ",
              shape_str(c), " cannot take ", shape_str(s));
  const DType cd = value(cache).dtype;
  FCAST_CHECK((cd == DType::F32 || cd == DType::BF16) && value(x).dtype == DType::F32, "kv_write: an F32 or BF16 cache ",
              "takes F32 rows, got cache ", dtype_name(cd), " and rows ", dtype_name(value(x).dtype));
  return add_node(Op::KVWrite, {cache, x, pos0}, c, cd, {}, {}, cache);
}

ValueId Graph::rotary_partial(ValueId x, ValueId pos0, int64_t heads, bool is_key, int64_t rot_dims, float xpos_base) {
  const Shape& s = shape(x);
  FCAST_CHECK(s.size() == 3 && heads > 0 && s[2] % heads == 0 && rot_dims >= 0 && rot_dims % 2 == 0 &&
                  rot_dims <= s[2] / heads && xpos_base >= 0,
              "rotary_partial: bad shape ", shape_str(s), " for ", heads, " heads rotating ", rot_dims, " dims");
  return add_node(Op::RotaryPartial, {x, pos0}, s, DType::F32, {heads, is_key ? 1 : 0, rot_dims}, {xpos_base});
}

ValueId Graph::attention(ValueId q, ValueId k, ValueId v, int64_t heads, bool causal, ValueId pos0, ValueId group,
                         bool cached, ValueId start, ValueId key_group) {
  const Shape& qs = shape(q);
  const Shape& ks = shape(k);
  FCAST_CHECK(qs.size() == 3 && ks.size() == 3 && qs[0] == ks[0] && qs[2] == ks[2] && shape(v) == ks &&
                  qs[2] % heads == 0,
              "attention: q ", shape_str(qs), " k ", shape_str(ks), " v ", shape_str(shape(v)));
  FCAST_CHECK(!cached || pos0 != kNone, "attention over a cache needs the write position");
  const DType kd = value(k).dtype;
  FCAST_CHECK(value(q).dtype == DType::F32 && value(v).dtype == kd && (kd == DType::F32 || (kd == DType::BF16 && cached)),
              "attention: q must be F32, k and v F32 (or a BF16 cache), got ", dtype_name(value(q).dtype), ", ",
              dtype_name(kd), ", ", dtype_name(value(v).dtype));
  if (group != kNone && key_group == kNone)
    FCAST_CHECK(value(group).dtype == DType::I32 && shape(group) == (Shape{qs[0], qs[1]}) && qs[1] == ks[1],
                "attention: group ids must be I32 [", qs[0], ", ", qs[1], "] for equal query/key lengths, got ",
                dtype_name(value(group).dtype), shape_str(shape(group)));
  if (key_group != kNone)
    FCAST_CHECK(group != kNone && value(group).dtype == DType::I32 && shape(group) == (Shape{qs[0], qs[1]}) &&
                    value(key_group).dtype == DType::I32 && shape(key_group) == (Shape{ks[0], ks[1]}),
                "attention: query group ids must be I32 [", qs[0], ", ", qs[1], "] and key group ids I32 [", ks[0], ", ",
                ks[1], "], got ", shape_str(shape(group == kNone ? key_group : group)), " and ",
                shape_str(shape(key_group)));
  std::vector<ValueId> ins = {q, k, v, pos0, group, start};
  if (key_group != kNone) ins.push_back(key_group);
  return add_node(Op::Attention, ins, qs, DType::F32, {heads, causal ? 1 : 0, cached ? 1 : 0});
}

ValueId Graph::permute0213(ValueId x) {
  const Shape& s = shape(x);
  FCAST_CHECK(s.size() == 4, "permute0213 needs a 4-d input, got ", shape_str(s));
  return add_node(Op::Permute0213, {x}, {s[0], s[2], s[1], s[3]}, DType::F32);
}

ValueId Graph::embedding(ValueId table, ValueId ids, float mult) {
  FCAST_CHECK(shape(table).size() == 2 && value(ids).dtype == DType::I64, "embedding: bad inputs");
  Shape s = shape(ids);
  s.push_back(shape(table)[1]);
  return add_node(Op::Embedding, {table, ids}, s, DType::F32, {}, {mult});
}

ValueId Graph::stamp_index(ValueId stamp, int64_t column, int64_t size) {
  Shape s = shape(stamp);
  FCAST_CHECK(!s.empty() && column < s.back(), "stamp_index: column ", column, " of ", shape_str(s));
  s.pop_back();
  return add_node(Op::StampIndex, {stamp}, s, DType::I64, {column, size});
}

ValueId Graph::concat(ValueId a, ValueId b) {
  Shape sa = shape(a), sb = shape(b);
  FCAST_CHECK(sa.size() == sb.size() && std::equal(sa.begin(), sa.end() - 1, sb.begin()), "concat: shapes ",
              shape_str(sa), " and ", shape_str(sb));
  return add_node(Op::Concat, {a, b}, with_last(sa, sa.back() + sb.back()), DType::F32);
}

ValueId Graph::bsq_indices(ValueId z, int64_t s1_bits) {
  Shape s = shape(z);
  FCAST_CHECK(s.back() > s1_bits && s.back() - s1_bits <= 62, "bsq_indices: width ", s.back(), " s1_bits ", s1_bits);
  return add_node(Op::BsqIndices, {z}, with_last(s, 2), DType::I64, {s1_bits});
}

ValueId Graph::bsq_bits(ValueId ids, int64_t bits_per_half) {
  FCAST_CHECK(shape(ids).back() == 2 && value(ids).dtype == DType::I64, "bsq_bits: needs I64 [..., 2] ids");
  return add_node(Op::BsqBits, {ids}, with_last(shape(ids), 2 * bits_per_half), DType::F32, {bits_per_half});
}

ValueId Graph::reshape(ValueId x, Shape s) {
  FCAST_CHECK(shape_numel(s) == shape_numel(shape(x)), "reshape ", shape_str(shape(x)), " to ", shape_str(s));
  return add_node(Op::Reshape, {x}, s, value(x).dtype, {}, {}, x);
}

}  // namespace fcast

namespace fcast {
ValueId Graph::slice_time(ValueId x, int64_t start, int64_t count) {
  const Shape& s = shape(x);
  FCAST_CHECK(s.size() == 3 && start >= 0 && count >= 0 && start + count <= s[1], "slice_time: [", start, ", ",
              start + count, ") of ", shape_str(s));
  return add_node(Op::SliceTime, {x}, {s[0], count, s[2]}, DType::F32, {start, count});
}
}  // namespace fcast
