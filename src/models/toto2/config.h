// Toto 2.0 configuration: the keys of the published config.json (Datadog/Toto-2.0-*).
//
// Toto 2.0 files are told from Toto 1.0 files by their keys: 2.0 has `d_model` (1.0 has
// `embed_dim`). Unknown keys are ignored, as the reference loader does; `null` or 0 in the
// derivable keys (d_ff, qk_dim, v_dim, num_groups) means "derive".
#pragma once
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace fcast::toto2 {

// Caps on the size-like keys, far above every released shape (2.5B); they keep shape products
// inside int64 and refuse a mistyped config before anything is allocated.
inline constexpr int64_t kMaxLayers = 1024;
inline constexpr int64_t kMaxWidth = int64_t{1} << 20;
inline constexpr int64_t kMaxPatch = int64_t{1} << 12;
inline constexpr int64_t kQuantiles = 9;  // levels 0.1 .. 0.9, fixed by the model
inline constexpr int64_t kMaxPositions = 8192;  // patches the reference's rotary table covers

struct Toto2Config {
  int64_t patch_size = 32;
  int64_t d_model = 256;
  int64_t num_heads = 4;
  int64_t num_layers = 4;
  int64_t layer_group_size = 4;
  int64_t num_variate_layers_per_group = 1;
  bool variate_layer_first = false;
  double dropout_p = 0.0;
  double norm_eps = 5e-5;
  bool attn_bias = false;
  bool mlp_bias = false;
  int64_t num_output_patches = 1;
  bool pre_norm = true;
  int64_t d_ff = 0;        // 0: ((int(4 D 2/3) + 7) / 8) * 8
  int64_t qk_dim = 0;      // 0: D / H
  int64_t v_dim = 0;       // 0: qk_dim
  int64_t num_groups = 0;  // 0: H (no grouped-query attention)
  double residual_mult = 1.0;
  double residual_attn_ratio = 1.0;  // required in the file
  bool qk_norm = true;
  bool norm_include_weight = false;
  int qk_norm_include_weight = -1;   // -1: as norm_include_weight
  bool per_dim_scale = false;
  bool use_xpos = false;

  // Parses, derives and validates; `source` names the file in errors.
  static Toto2Config from_json(const nlohmann::json& j, const std::string& source);
  static Toto2Config from_file(const std::string& path);
  nlohmann::ordered_json to_json() const;  // every field, derived values filled in
  void derive_and_validate(const std::string& source);

  int64_t ff() const { return d_ff; }
  int64_t dk() const { return qk_dim; }
  int64_t dv() const { return v_dim; }
  int64_t groups() const { return num_groups; }
  bool qk_norm_weight() const { return qk_norm_include_weight < 0 ? norm_include_weight : qk_norm_include_weight != 0; }
  int64_t rotary_dims() const { return qk_dim / 2; }  // int(dk * 0.5); validated even
  std::vector<bool> variate_layers() const;                 // true = attends across variates
  // The residual tau of branch j (attention of layer i: j = 2i, its MLP: 2i + 1), computed as the
  // reference's constructor does (the file's stored values take precedence).
  double tau(int64_t j) const;
  int64_t parameter_count() const;  // weights and biases, tau scalars excluded
};

// Named shapes for `fcast init-model toto2 --preset`: "4m" (the released Toto-2.0-4m config),
// "300m-assumed" (a ~300M-parameter shape for benchmarks: the released 313m config is not known
// here), "tiny" (tests).
Toto2Config toto2_preset(const std::string& name);
std::vector<std::string> toto2_preset_names();
std::string toto2_preset_help(const std::string& name);

}  // namespace fcast::toto2
