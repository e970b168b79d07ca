// Kronos configurations: the constructor keyword arguments that the published config.json
// files hold, parsed and validated.
//
//   KronosTokenizerConfig tc = KronosTokenizerConfig::from_file("Kronos-Tokenizer-base/config.json");
//   KronosPredictorConfig pc = kronos_predictor_preset("kronos-small");
//   check_kronos_pair(pc, tc, "model dir", "tokenizer dir");   // vocabularies must agree
//
// Only inference-relevant keys change the computation; the training-only keys (dropouts,
// beta/gamma0/gamma/zeta, group_size) are kept so a written config.json round-trips.
#pragma once
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace fcast::kronos {

// Absolute caps on the size-like keys, far above every published shape (Kronos-base: 12 layers,
// d_model 832, ff_dim 2048). They keep shape products inside int64 and refuse a mistyped config
// before anything is allocated; the loaders then bound the layer counts by the blocks the
// checkpoint actually holds. Integers must be JSON integers that fit int64; reals must be finite.
inline constexpr int64_t kMaxKronosLayers = 1024;               // n_layers, n_enc_layers, n_dec_layers
inline constexpr int64_t kMaxKronosWidth = int64_t{1} << 20;    // d_model, ff_dim, n_heads

struct KronosTokenizerConfig {
  int64_t d_in = 6;            // must be 6 (open, high, low, close, volume, amount)
  int64_t d_model = 256;
  int64_t n_heads = 4;
  int64_t ff_dim = 512;
  int64_t n_enc_layers = 4;    // reference quirk: n_enc_layers - 1 encoder blocks
  int64_t n_dec_layers = 4;    // reference quirk: n_dec_layers - 1 decoder blocks
  int64_t s1_bits = 10;
  int64_t s2_bits = 10;        // must equal s1_bits (decode reads k/2 bits per half)
  int64_t group_size = 4;      // training only, but sizes the tokenizer.bsq.group_basis buffer
  double beta = 0.05, gamma0 = 1.0, gamma = 1.1, zeta = 0.05;             // training only
  double ffn_dropout_p = 0.0, attn_dropout_p = 0.0, resid_dropout_p = 0.0;  // training only

  static KronosTokenizerConfig from_json(const nlohmann::json& j, const std::string& source);
  static KronosTokenizerConfig from_file(const std::string& path);
  nlohmann::ordered_json to_json() const;  // sorted keys, like the Hub mixin
  void validate(const std::string& source) const;

  int64_t codebook_dim() const { return s1_bits + s2_bits; }
  int64_t enc_blocks() const { return n_enc_layers - 1; }
  int64_t dec_blocks() const { return n_dec_layers - 1; }
  int64_t head_dim() const { return d_model / n_heads; }
};

struct KronosPredictorConfig {
  int64_t s1_bits = 10;
  int64_t s2_bits = 10;
  int64_t n_layers = 8;
  int64_t d_model = 512;
  int64_t n_heads = 8;
  int64_t ff_dim = 1024;
  bool learn_te = true;        // false: fixed tables stored as time_emb.<x>_embed.emb.weight
  double ffn_dropout_p = 0.25, attn_dropout_p = 0.1, resid_dropout_p = 0.25, token_dropout_p = 0.1;  // training only

  static KronosPredictorConfig from_json(const nlohmann::json& j, const std::string& source);
  static KronosPredictorConfig from_file(const std::string& path);
  nlohmann::ordered_json to_json() const;
  void validate(const std::string& source) const;

  int64_t vocab_s1() const { return int64_t{1} << s1_bits; }
  int64_t vocab_s2() const { return int64_t{1} << s2_bits; }
  int64_t head_dim() const { return d_model / n_heads; }
  static constexpr int64_t kDepHeads = 4;  // the dependency layer always has 4 heads
  int64_t dep_head_dim() const { return d_model / kDepHeads; }
};

// The predictor's token vocabularies must be the tokenizer's.
void check_kronos_pair(const KronosPredictorConfig& p, const KronosTokenizerConfig& t, const std::string& predictor_src,
                       const std::string& tokenizer_src);

// Presets. Predictors: "kronos-mini", "kronos-small", "kronos-base" (published shapes) and
// "kronos-tiny" (the golden tiny shape). Tokenizers: "kronos-tokenizer-base",
// "kronos-tokenizer-2k", "kronos-tokenizer-tiny". Names are case-insensitive and may carry the
// "NeoQuasar/" prefix.
bool is_kronos_tokenizer_preset(const std::string& name);
bool is_kronos_predictor_preset(const std::string& name);
KronosTokenizerConfig kronos_tokenizer_preset(const std::string& name);
KronosPredictorConfig kronos_predictor_preset(const std::string& name);
// The tokenizer published alongside a predictor preset (mini -> 2k, small/base -> base, tiny -> tiny).
std::string kronos_matching_tokenizer(const std::string& predictor_preset);
std::vector<std::string> kronos_preset_names();  // predictors first, then tokenizers
// The default max_context published for a predictor preset (README: mini 2048, others 512).
int64_t kronos_default_max_context(const std::string& predictor_preset);

}  // namespace fcast::kronos
