// Toto 1.0 weights from a Hugging Face directory (config.json + model.safetensors), with the
// published tensor names. F32 tensors are zero-copy views of the mmap;
// BF16/F16 tensors are widened to F32 once at load.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "io/safetensors.h"
#include "models/toto/config.h"

namespace fcast::toto {

struct TotoLayerWeights {
  Tensor norm1, norm2;          // [D]
  Tensor wqkv, bqkv;            // [3D, D], [3D]  (published (qkv, head_dim, head) row layout)
  Tensor wo, bo;                // [D, D], [D]
  Tensor w12, b12;              // [2F, D], [2F]  (gate first)
  Tensor w3, b3;                // [D, F], [D]
};

struct TotoWeights {
  TotoConfig config;
  Tensor patch_w, patch_b;      // [D, P], [D]
  std::vector<TotoLayerWeights> layers;
  Tensor unembed_w, unembed_b;  // [P*D, D], [P*D]
  Tensor df_w, df_b, loc_w, loc_b, scale_w, scale_b;  // [K, D], [K]
  Tensor mix_w, mix_b;          // [K, D], [K]; undefined for the single Student-T head
  std::string directory;
  uint64_t weight_file_bytes = 0;
  std::string identity;         // hash of config + tensor table (name, dtype, shape)
};

// Loads and validates: every published tensor present with the right shape, no unknown
// tensors (stale `*rotary_emb.freqs` are ignored), finite values. Errors name the tensor.
TotoWeights load_toto(const std::string& dir);

// The expected tensor table for a config: (canonical name, shape) in a stable order.
std::vector<std::pair<std::string, Shape>> toto_tensor_table(const TotoConfig& c);

// Writes a random-weight checkpoint in the published layout (config.json + model.safetensors,
// fused SwiGLU names, plus the stale rotary tensor the published file carries).
void write_random_toto(const TotoConfig& c, uint64_t seed, const std::string& dir);

}  // namespace fcast::toto
