// Toto 2.0 weights from a Hugging Face folder (config.json + model.safetensors, or a sharded
// model.safetensors.index.json), with the published tensor names (no `model.` prefix).
//
// Loading is strict, as the reference's is: every tensor the config implies must be present
// with its shape, and nothing else. The file's tensors are then folded once into the forms the
// graph runs (docs/TOTO2.md, "How fcast computes it"): the u-muP constants (1/sqrt(fan_in),
// 1/fan_in), the residual-MLP factors, the residual betas, the per-dimension q scale and the
// 1/dk attention scale go into the weights; grouped key/value heads are repeated per query head
// and value heads padded to the key width (zeros), so the attention kernels see H equal heads.
// Folding changes results by float32 round-off only (about 1e-7 relative).
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "models/toto2/config.h"

namespace fcast::toto2 {

struct ResidualMlp {      // out = silu(x W1' + b1') W2' + b2' + x Ws' + bs' (constants folded in)
  Tensor w1, b1, w2, b2, ws, bs;
};

struct LayerWeights {
  bool variate = false;   // attends across variates (else along time, causal, with rotary)
  Tensor norm1, norm2;    // [D] (ones without learned weights)
  Tensor wqkv, bqkv;      // [3 H dk, D]: q | k | v per query head (bqkv undefined without attn_bias)
  Tensor q_norm, k_norm;  // [dk] when qk_norm (q_norm carries the per-dim and 1/sqrt(dk) scales)
  Tensor wo, bo;          // [D, H dk] (beta_attn folded), bo undefined without attn_bias
  Tensor w12, b12;        // [2F, D]: the silu half first (b12 undefined without mlp_bias)
  Tensor w3, b3;          // [D, F] (beta_mlp folded)
  float alpha_attn = 1, alpha_mlp = 1;  // residual multipliers of the stream
};

struct Toto2Weights {
  Toto2Config config;
  ResidualMlp patch, head;
  std::vector<LayerWeights> layers;
  Tensor out_norm;        // [D]
  std::string directory;
  uint64_t weight_file_bytes = 0;
  std::string identity;   // hash of config + tensor table
};

// The published tensor table of a config: (name, shape) in a stable order.
std::vector<std::pair<std::string, Shape>> toto2_tensor_table(const Toto2Config& c);

// Loads, validates (errors name the file and tensor) and folds.
Toto2Weights load_toto2(const std::string& dir);

// Writes a random-weight checkpoint in the published layout (every config field in config.json,
// tau scalars from the constructor's formula). Random weights: forecasts mean nothing.
void write_random_toto2(const Toto2Config& c, uint64_t seed, const std::string& dir);

}  // namespace fcast::toto2
