// KronosTokenizer: a causal transformer autoencoder with a binary spherical
// quantiser. Encoding turns normalised OHLCVA rows into (s1, s2) token pairs; decoding turns
// token pairs back into normalised rows. Both are graphs run by an Executor.
//
//   KronosTokenizer tok(load_kronos_tokenizer("Kronos-Tokenizer-base"));
//   KronosTokens t = tok.encode(x);            // x F32 [B, T, 6] -> s1, s2 I64 [B, T]
//   Tensor xhat = tok.decode(t.s1, t.s2);      // F32 [B, T, 6]
#pragma once
#include <memory>

#include "graph/graph.h"
#include "models/kronos/weights.h"
#include "runtime/executor.h"

namespace fcast::kronos {

struct KronosTokens {
  Tensor s1, s2;       // I64 [B, T]: coarse and fine ids, LSB-first halves of the code
  Tensor hidden;       // F32 [B, T, d]: after embed + encoder blocks (only with intermediates)
  Tensor quant_in;     // F32 [B, T, k]: quant_embed output before BSQ (only with intermediates)
};

class KronosTokenizer {
 public:
  explicit KronosTokenizer(KronosTokenizerWeights w, std::shared_ptr<Executor> exec = nullptr);
  // The weights shared with other sessions (no copy).
  KronosTokenizer(std::shared_ptr<const KronosTokenizerWeights> w, std::shared_ptr<Executor> exec);
  const std::shared_ptr<const KronosTokenizerWeights>& shared_weights() const { return w_; }

  const KronosTokenizerConfig& config() const { return w_->config; }
  const KronosTokenizerWeights& weights() const { return *w_; }
  void set_executor(std::shared_ptr<Executor> e) { exec_ = std::move(e); }

  // encode(half=True). Inputs must be finite. padded_len > 0 runs the bucketed graph, left-padded
  // to padded_len positions when that exceeds T (masked, RoPE counted from the valid start: the
  // same ids; not with intermediates). 0: the plain graph.
  KronosTokens encode(const Tensor& x, bool intermediates = false, int64_t padded_len = 0);
  // encode(half=False): one id s1 + (s2 << s1_bits) per row.
  Tensor encode_full(const Tensor& x);
  // decode(half=True): ids I64 [B, T] each -> F32 [B, T, 6] (normalised space). padded_len > T
  // left-pads the call as encode does (same results).
  Tensor decode(const Tensor& s1, const Tensor& s2, int64_t padded_len = 0);
  // decode(half=False): bit j of idx for j < k.
  Tensor decode_full(const Tensor& index);
  // indices_to_bits(half=True): ±1/sqrt(k) [B, T, k].
  Tensor bits(const Tensor& s1, const Tensor& s2);

  // Graphs (exposed for tests and other executors). Encode: input "x" [B, T, 6]; outputs "ids"
  // I64 [B, T, 2] and, with intermediates, "hidden", "quant_in". Decode: input "ids" I64
  // [B, T, 2]; outputs "recon" and "bits".
  // With `padded`, an I64[1] input "start" marks the valid start of a left-padded call.
  Graph build_encode_graph(int64_t B, int64_t T, bool intermediates, bool padded = false) const;
  Graph build_decode_graph(int64_t B, int64_t T, bool padded = false) const;

  // Length a call of n positions is padded to under the executor's context buckets, at most
  // max(cap, n) (cap <= 0: no cap); n when the executor has no buckets.
  int64_t padded_length(int64_t n, int64_t cap = 0) const;
  bool bucketed() const { return !exec_->policy().context_buckets.empty(); }

 private:
  Tensor decode_ids(const Tensor& ids, const char* output, int64_t padded_len = 0);
  std::shared_ptr<const KronosTokenizerWeights> w_;  // shared by every session of the loaded model
  std::shared_ptr<Executor> exec_;
};

}  // namespace fcast::kronos
