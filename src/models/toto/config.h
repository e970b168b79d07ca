// Toto 1.0 configuration: the published config.json keys.
#pragma once
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace fcast::toto {

// Absolute caps on the size-like keys, far above every published shape (Toto-Open-Base-1.0: 12
// layers, width 768, MLP 3072, patch 64, 24 components). They keep every shape product inside
// int64 and refuse a mistyped config before anything is allocated; the loader then bounds the
// layer count by the layers the checkpoint actually holds.
inline constexpr int64_t kMaxTotoLayers = 1024;
inline constexpr int64_t kMaxTotoWidth = int64_t{1} << 20;  // embed_dim, mlp_hidden_dim, num_heads
inline constexpr int64_t kMaxTotoPatch = int64_t{1} << 16;  // patch_size
inline constexpr int64_t kMaxTotoComponents = int64_t{1} << 16;

struct TotoConfig {
  int64_t patch_size = 64;
  int64_t stride = 64;
  int64_t embed_dim = 768;
  int64_t num_layers = 12;
  int64_t num_heads = 12;
  int64_t mlp_hidden_dim = 3072;
  double dropout = 0.1;
  int64_t spacewise_every_n_layers = 12;
  bool spacewise_first = false;
  std::string scaler_cls = "<class 'model.scaler.CausalPatchStdMeanScaler'>";
  std::string output_distribution = "<class 'model.distribution.MixtureOfStudentTsOutput'>";
  int64_t k_components = 24;
  bool use_memory_efficient_attention = true;
  bool stabilize_with_global = true;
  double scale_factor_exponent = 10.0;

  // Parses and validates; `source` names the file in error messages. Integers must be JSON
  // integers that fit int64; every size lies within the caps above; dropout in [0, 1);
  // scale_factor_exponent finite and > 0 (the scaler clamps to [g 10^-e, g 10^e]).
  static TotoConfig from_json(const nlohmann::json& j, const std::string& source);
  static TotoConfig from_file(const std::string& path);
  nlohmann::ordered_json to_json() const;
  void validate(const std::string& source) const;

  int64_t head_dim() const { return embed_dim / num_heads; }
  bool mixture() const;  // Student-T mixture (true) or a single Student-T
  int64_t components() const { return mixture() ? k_components : 1; }
  std::vector<bool> space_layers() const;  // true = space-wise layer
};

// Named shapes: "toto-open-base-1.0" (the published checkpoint) and "tiny" (for tests).
TotoConfig toto_preset(const std::string& name);
std::vector<std::string> toto_preset_names();

}  // namespace fcast::toto
