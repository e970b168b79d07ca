// Kronos weights from Hugging Face directories (config.json + model.safetensors) with the
// published state_dict names.
//
//   KronosTokenizerWeights tw = load_kronos_tokenizer("Kronos-Tokenizer-base");
//   KronosPredictorWeights pw = load_kronos_predictor("Kronos-small");
//   write_random_kronos_predictor(kronos_predictor_preset("kronos-small"), /*seed=*/7, "out/small");
//
// Loading checks every published tensor: present, right dtype and shape, finite; unknown
// tensors are errors naming the tensor. The persistent buffers (`*.rotary.inv_freq`,
// I64 `tokenizer.bsq.basis` / `group_basis`) may be present or absent; a present inv_freq is
// used as is (it overrides the computed one in the reference), an absent one is
// recomputed in fp32 exactly as the reference does. F32 tensors are zero-copy views of the
// mapping; BF16/F16/F64 are widened to F32 once.
#pragma once
#include <string>
#include <vector>

#include "core/tensor.h"
#include "models/kronos/config.h"

namespace fcast::kronos {

// One pre-norm transformer block (tokenizer encoder/decoder and predictor backbone).
struct KronosBlockWeights {
  Tensor norm1, norm2;              // [d]
  Tensor wq, bq, wk, bk, wv, bv;    // [d, d], [d]
  Tensor wo, bo;                    // [d, d], [d]
  Tensor inv_freq;                  // [head_dim / 2]
  Tensor w1, w3;                    // [F, d]  (gate branch, linear branch)
  Tensor w2;                        // [d, F]
};

struct KronosTokenizerWeights {
  KronosTokenizerConfig config;
  Tensor embed_w, embed_b;                // [d, 6], [d]
  std::vector<KronosBlockWeights> encoder, decoder;
  Tensor quant_w, quant_b;                // [k, d], [k]
  Tensor post_quant_w, post_quant_b;      // [d, k], [d]
  Tensor head_w, head_b;                  // [6, d], [6]
  std::string directory;
  int64_t inv_freq_from_file = 0;         // how many blocks used the file's inv_freq
  std::string identity;                   // hash of config + tensor table
};

struct KronosPredictorWeights {
  KronosPredictorConfig config;
  Tensor emb_s1, emb_s2;                  // [V1, d], [V2, d]
  Tensor fusion_w, fusion_b;              // [d, 2d], [d]
  Tensor minute, hour, weekday, day, month;  // [60|24|7|32|13, d]
  std::vector<KronosBlockWeights> layers;
  Tensor norm;                            // [d]
  Tensor dep_wq, dep_bq, dep_wk, dep_bk, dep_wv, dep_bv, dep_wo, dep_bo;  // [d, d], [d]
  Tensor dep_inv_freq;                    // [(d / 4) / 2]
  Tensor dep_norm;                        // [d]
  Tensor proj_s1_w, proj_s1_b;            // [V1, d], [V1]
  Tensor proj_s2_w, proj_s2_b;            // [V2, d], [V2]
  std::string directory;
  int64_t inv_freq_from_file = 0;
  std::string identity;
};

struct KronosTensorSpec {
  std::string name;
  DType dtype = DType::F32;
  Shape shape;
  bool optional = false;  // persistent buffers: may be absent from a file
};

// The state_dict of a config, in the reference's state_dict order.
std::vector<KronosTensorSpec> kronos_tokenizer_tensor_table(const KronosTokenizerConfig& c);
std::vector<KronosTensorSpec> kronos_predictor_tensor_table(const KronosPredictorConfig& c);

KronosTokenizerWeights load_kronos_tokenizer(const std::string& dir);
KronosPredictorWeights load_kronos_predictor(const std::string& dir);

// inv_freq[m] = 1 / 10000^(2m / head_dim), in fp32 as the reference computes it.
Tensor kronos_inv_freq(int64_t head_dim);

// Random-weight checkpoints in the published layout: config.json (sorted keys, indent 2) and
// model.safetensors holding the full state_dict including the persistent buffers, I64 tensors
// first and then F32, each sorted by name (safetensors 0.6 layout, no __metadata__).
void write_random_kronos_tokenizer(const KronosTokenizerConfig& c, uint64_t seed, const std::string& dir);
void write_random_kronos_predictor(const KronosPredictorConfig& c, uint64_t seed, const std::string& dir);

}  // namespace fcast::kronos
