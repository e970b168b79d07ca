#include "models/kronos/tokenizer.h"

#include <cmath>
#include <cstring>

#include "models/kronos/blocks.h"

namespace fcast::kronos {

KronosTokenizer::KronosTokenizer(KronosTokenizerWeights w, std::shared_ptr<Executor> exec)
    : KronosTokenizer(std::make_shared<const KronosTokenizerWeights>(std::move(w)), std::move(exec)) {}

KronosTokenizer::KronosTokenizer(std::shared_ptr<const KronosTokenizerWeights> w, std::shared_ptr<Executor> exec)
    : w_(std::move(w)), exec_(std::move(exec)) {
  FCAST_CHECK(w_ != nullptr, "KronosTokenizer: no weights");
  if (!exec_) exec_ = std::make_shared<EagerExecutor>();
}

Graph KronosTokenizer::build_encode_graph(int64_t B, int64_t T, bool intermediates, bool padded) const {
  const auto& c = w_->config;
  Graph g;
  ValueId x = g.input("x", DType::F32, {B, T, c.d_in});
  ValueId pos0 = g.constant("pos0", make_scalar_i64(0));
  ValueId start = padded ? g.input("start", DType::I64, {1}) : kNone;
  ValueId z = g.linear(x, g.constant("embed_w", w_->embed_w), g.constant("embed_b", w_->embed_b));
  for (size_t i = 0; i < w_->encoder.size(); ++i) z = build_block(g, z, w_->encoder[i], c.n_heads, pos0, cat("enc", i), nullptr, start);
  if (intermediates) g.output("hidden", z);
  ValueId q = g.linear(z, g.constant("quant_w", w_->quant_w), g.constant("quant_b", w_->quant_b));
  if (intermediates) g.output("quant_in", q);
  // L2 normalisation does not change signs; BsqIndices binarises (z > 0 -> bit 1) LSB first.
  g.output("ids", g.bsq_indices(q, c.s1_bits));
  return g;
}

Graph KronosTokenizer::build_decode_graph(int64_t B, int64_t T, bool padded) const {
  const auto& c = w_->config;
  Graph g;
  ValueId ids = g.input("ids", DType::I64, {B, T, 2});
  ValueId pos0 = g.constant("pos0", make_scalar_i64(0));
  ValueId start = padded ? g.input("start", DType::I64, {1}) : kNone;
  // Reference quirk: both halves are read with k/2 bits (equal to s1_bits, validated).
  ValueId bits = g.bsq_bits(ids, c.codebook_dim() / 2);
  g.output("bits", bits);
  ValueId z = g.linear(bits, g.constant("post_quant_w", w_->post_quant_w), g.constant("post_quant_b", w_->post_quant_b));
  for (size_t i = 0; i < w_->decoder.size(); ++i) z = build_block(g, z, w_->decoder[i], c.n_heads, pos0, cat("dec", i), nullptr, start);
  g.output("recon", g.linear(z, g.constant("head_w", w_->head_w), g.constant("head_b", w_->head_b)));
  return g;
}

namespace {

void check_x(const Tensor& x, int64_t d_in) {
  FCAST_CHECK(x.defined() && x.dtype() == DType::F32 && x.ndim() == 3 && x.dim(2) == d_in,
              "tokenizer input must be F32 [batch, time, ", d_in, "], got ", x.defined() ? dtype_name(x.dtype()) : "none",
              x.defined() ? shape_str(x.shape()) : "");
  FCAST_CHECK(x.dim(0) > 0 && x.dim(1) > 0, "tokenizer input ", shape_str(x.shape()), " is empty");
  const float* p = x.data<float>();
  for (int64_t i = 0; i < x.numel(); ++i)
    FCAST_CHECK(std::isfinite(p[i]), "tokenizer input holds a non-finite value at row ", i / d_in, ", feature ", i % d_in);
}

void check_ids(const Tensor& t, const char* what, int64_t limit) {
  FCAST_CHECK(t.defined() && t.dtype() == DType::I64 && t.ndim() == 2 && t.numel() > 0, what,
              " ids must be non-empty I64 [batch, time]");
  const int64_t* p = t.data<int64_t>();
  for (int64_t i = 0; i < t.numel(); ++i)
    FCAST_CHECK(p[i] >= 0 && p[i] < limit, what, " id ", p[i], " at flat index ", i, " outside [0, ", limit, ")");
}

}  // namespace

namespace {
// Left-pads [B, T, C] rows to [B, T + pad, C] with zeros; rows [pad, T + pad) hold x.
Tensor left_pad_rows(const Tensor& x, int64_t pad) {
  const int64_t B = x.dim(0), T = x.dim(1), C = x.dim(2);
  Tensor out = Tensor::zeros(x.dtype(), {B, T + pad, C});
  const size_t elem = x.nbytes() / static_cast<size_t>(x.numel());
  for (int64_t b = 0; b < B; ++b)
    std::memcpy(static_cast<char*>(out.raw()) + static_cast<size_t>((b * (T + pad) + pad) * C) * elem,
                static_cast<const char*>(x.raw()) + static_cast<size_t>(b * T * C) * elem, static_cast<size_t>(T * C) * elem);
  return out;
}
// The inverse: rows [pad, pad + T) of [B, T + pad, C].
Tensor drop_pad_rows(const Tensor& y, int64_t pad) {
  if (pad == 0) return y;
  const int64_t B = y.dim(0), Tp = y.dim(1), C = y.dim(2), T = Tp - pad;
  Tensor out = Tensor::empty(y.dtype(), {B, T, C});
  const size_t elem = y.nbytes() / static_cast<size_t>(y.numel());
  for (int64_t b = 0; b < B; ++b)
    std::memcpy(static_cast<char*>(out.raw()) + static_cast<size_t>(b * T * C) * elem,
                static_cast<const char*>(y.raw()) + static_cast<size_t>((b * Tp + pad) * C) * elem, static_cast<size_t>(T * C) * elem);
  return out;
}
}  // namespace

int64_t KronosTokenizer::padded_length(int64_t n, int64_t cap) const {
  return bucketed_length(exec_->policy().context_buckets, n, cap);
}

KronosTokens KronosTokenizer::encode(const Tensor& x, bool intermediates, int64_t padded_len) {
  check_x(x, w_->config.d_in);
  const int64_t B = x.dim(0), T = x.dim(1);
  // padded_len > 0 asks for the padded graph (a "start" input) even when no padding is needed,
  // so a call that fills its bucket exactly shares the plan of the shorter ones.
  const bool padded = !intermediates && padded_len > 0;
  const int64_t pad = padded && padded_len > T ? padded_len - T : 0;
  TensorMap in{{"x", pad ? left_pad_rows(x, pad) : x}};
  if (padded) in["start"] = make_scalar_i64(pad);
  TensorMap out = exec_->run(build_encode_graph(B, T + pad, intermediates, padded), in);
  const Tensor ids = drop_pad_rows(out.at("ids"), pad);
  KronosTokens t;
  t.s1 = Tensor::empty(DType::I64, {B, T});
  t.s2 = Tensor::empty(DType::I64, {B, T});
  for (int64_t i = 0; i < B * T; ++i) {
    t.s1.data<int64_t>()[i] = ids.data<int64_t>()[2 * i];
    t.s2.data<int64_t>()[i] = ids.data<int64_t>()[2 * i + 1];
  }
  if (intermediates) {
    t.hidden = out.at("hidden");
    t.quant_in = out.at("quant_in");
  }
  return t;
}

Tensor KronosTokenizer::encode_full(const Tensor& x) {
  KronosTokens t = encode(x);
  Tensor idx = Tensor::empty(DType::I64, t.s1.shape());
  for (int64_t i = 0; i < idx.numel(); ++i)
    idx.data<int64_t>()[i] = t.s1.data<int64_t>()[i] + (t.s2.data<int64_t>()[i] << w_->config.s1_bits);
  return idx;
}

Tensor KronosTokenizer::decode_ids(const Tensor& ids, const char* output, int64_t padded_len) {
  const int64_t B = ids.dim(0), T = ids.dim(1);
  if (padded_len <= 0) return exec_->run(build_decode_graph(B, T), {{"ids", ids}}).at(output);
  const int64_t pad = padded_len > T ? padded_len - T : 0;
  TensorMap in{{"ids", pad ? left_pad_rows(ids, pad) : ids}, {"start", make_scalar_i64(pad)}};  // id 0 is valid
  return drop_pad_rows(exec_->run(build_decode_graph(B, T + pad, true), in).at(output), pad);
}

namespace {
Tensor pack_ids(const Tensor& s1, const Tensor& s2) {
  FCAST_CHECK(s1.shape() == s2.shape(), "s1 ids ", shape_str(s1.shape()), " and s2 ids ", shape_str(s2.shape()),
              " differ in shape");
  Tensor ids = Tensor::empty(DType::I64, {s1.dim(0), s1.dim(1), 2});
  for (int64_t i = 0; i < s1.numel(); ++i) {
    ids.data<int64_t>()[2 * i] = s1.data<int64_t>()[i];
    ids.data<int64_t>()[2 * i + 1] = s2.data<int64_t>()[i];
  }
  return ids;
}
}  // namespace

Tensor KronosTokenizer::decode(const Tensor& s1, const Tensor& s2, int64_t padded_len) {
  const int64_t half = w_->config.codebook_dim() / 2;
  check_ids(s1, "s1", int64_t{1} << half);
  check_ids(s2, "s2", int64_t{1} << half);
  return decode_ids(pack_ids(s1, s2), "recon", padded_len);
}

Tensor KronosTokenizer::bits(const Tensor& s1, const Tensor& s2) {
  const int64_t half = w_->config.codebook_dim() / 2;
  check_ids(s1, "s1", int64_t{1} << half);
  check_ids(s2, "s2", int64_t{1} << half);
  return decode_ids(pack_ids(s1, s2), "bits");
}

Tensor KronosTokenizer::decode_full(const Tensor& index) {
  const int64_t k = w_->config.codebook_dim(), half = k / 2;
  check_ids(index, "composite", int64_t{1} << k);
  // Bits j < k of the composite id are [low half | high half], the same as (s1, s2) halves.
  Tensor s1 = Tensor::empty(DType::I64, index.shape()), s2 = Tensor::empty(DType::I64, index.shape());
  const int64_t mask = (int64_t{1} << half) - 1;
  for (int64_t i = 0; i < index.numel(); ++i) {
    s1.data<int64_t>()[i] = index.data<int64_t>()[i] & mask;
    s2.data<int64_t>()[i] = (index.data<int64_t>()[i] >> half) & mask;
  }
  return decode_ids(pack_ids(s1, s2), "recon");
}

}  // namespace fcast::kronos
