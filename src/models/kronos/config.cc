#include "models/kronos/config.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <limits>

#include "core/error.h"
#include "io/safetensors.h"

namespace fcast::kronos {

namespace {

const std::vector<std::string> kTokenizerKeys = {
    "d_in", "d_model", "n_heads", "ff_dim", "n_enc_layers", "n_dec_layers", "ffn_dropout_p", "attn_dropout_p",
    "resid_dropout_p", "s1_bits", "s2_bits", "beta", "gamma0", "gamma", "zeta", "group_size"};
const std::vector<std::string> kPredictorKeys = {
    "s1_bits", "s2_bits", "n_layers", "d_model", "n_heads", "ff_dim", "ffn_dropout_p", "attn_dropout_p",
    "resid_dropout_p", "token_dropout_p", "learn_te"};

bool contains(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

int64_t get_int(const nlohmann::json& j, const char* key, const std::string& src) {
  FCAST_CHECK(j.contains(key), src, ": required key '", key, "' is missing");
  const auto& v = j.at(key);
  FCAST_CHECK(v.is_number_integer(), src, ": key '", key, "' must be an integer, got ", v.dump());
  // JSON integers above 2^63 - 1 parse as unsigned; get<int64_t> would wrap them to negatives.
  FCAST_CHECK(!v.is_number_unsigned() || v.get<uint64_t>() <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max()),
              src, ": key '", key, "' = ", v.dump(), " does not fit a 64-bit signed integer");
  return v.get<int64_t>();
}

void check_range(int64_t v, const char* key, int64_t lo, int64_t hi, const std::string& src) {
  FCAST_CHECK(v >= lo && v <= hi, src, ": ", key, " = ", v, " must lie in [", lo, ", ", hi,
              "] (fcast's cap; the published checkpoints are far below it)");
}

double get_real(const nlohmann::json& j, const char* key, double dflt, const std::string& src) {
  if (!j.contains(key)) return dflt;
  const auto& v = j.at(key);
  FCAST_CHECK(v.is_number(), src, ": key '", key, "' must be a number, got ", v.dump());
  const double x = v.get<double>();
  FCAST_CHECK(std::isfinite(x), src, ": key '", key, "' must be a finite number, got ", v.dump());
  return x;
}

nlohmann::json parse_json_file(const std::string& path) {
  try {
    return nlohmann::json::parse(read_file(path));
  } catch (const nlohmann::json::exception& e) {
    fail(path, ": not valid JSON (", e.what(), ")");
  }
}

void check_keys(const nlohmann::json& j, const std::vector<std::string>& known, const std::vector<std::string>& other,
                const char* what, const char* other_what, const std::string& src) {
  FCAST_CHECK(j.is_object(), src, ": a Kronos ", what, " config must be a JSON object");
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (contains(known, it.key())) continue;
    if (contains(other, it.key()))
      fail(src, ": key '", it.key(), "' belongs to a Kronos ", other_what, " config, not a ", what,
           " config; did you swap the model and tokenizer directories?");
    fail(src, ": unknown ", what, " config key '", it.key(), "' (the reference constructor accepts only: ",
         [&] {
           std::string s;
           for (auto& k : known) s += (s.empty() ? "" : ", ") + k;
           return s;
         }(),
         ")");
  }
}

void check_dropout(double p, const char* key, const std::string& src) {
  FCAST_CHECK(p >= 0.0 && p < 1.0, src, ": ", key, " = ", p, " must lie in [0, 1)");
}

std::string preset_key(std::string name) {
  std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
  const std::string prefix = "neoquasar/";
  if (name.rfind(prefix, 0) == 0) name = name.substr(prefix.size());
  return name;
}

}  // namespace

// ------------------------------------------------------------------ tokenizer

KronosTokenizerConfig KronosTokenizerConfig::from_json(const nlohmann::json& j, const std::string& src) {
  check_keys(j, kTokenizerKeys, kPredictorKeys, "tokenizer", "predictor", src);
  KronosTokenizerConfig c;
  c.d_in = get_int(j, "d_in", src);
  c.d_model = get_int(j, "d_model", src);
  c.n_heads = get_int(j, "n_heads", src);
  c.ff_dim = get_int(j, "ff_dim", src);
  c.n_enc_layers = get_int(j, "n_enc_layers", src);
  c.n_dec_layers = get_int(j, "n_dec_layers", src);
  c.s1_bits = get_int(j, "s1_bits", src);
  c.s2_bits = get_int(j, "s2_bits", src);
  c.group_size = j.contains("group_size") ? get_int(j, "group_size", src) : 4;
  c.beta = get_real(j, "beta", 0.05, src);
  c.gamma0 = get_real(j, "gamma0", 1.0, src);
  c.gamma = get_real(j, "gamma", 1.1, src);
  c.zeta = get_real(j, "zeta", 0.05, src);
  c.ffn_dropout_p = get_real(j, "ffn_dropout_p", 0.0, src);
  c.attn_dropout_p = get_real(j, "attn_dropout_p", 0.0, src);
  c.resid_dropout_p = get_real(j, "resid_dropout_p", 0.0, src);
  c.validate(src);
  return c;
}

KronosTokenizerConfig KronosTokenizerConfig::from_file(const std::string& path) {
  return from_json(parse_json_file(path), path);
}

void KronosTokenizerConfig::validate(const std::string& src) const {
  FCAST_CHECK(d_in == 6, src, ": d_in = ", d_in, "; Kronos tokenizers take exactly 6 features ",
              "(open, high, low, close, volume, amount)");
  FCAST_CHECK(d_model > 0 && n_heads > 0 && ff_dim > 0, src, ": d_model, n_heads and ff_dim must be positive (got ",
              d_model, ", ", n_heads, ", ", ff_dim, ")");
  check_range(d_model, "d_model", 1, kMaxKronosWidth, src);
  check_range(n_heads, "n_heads", 1, kMaxKronosWidth, src);
  check_range(ff_dim, "ff_dim", 1, kMaxKronosWidth, src);
  FCAST_CHECK(d_model % n_heads == 0, src, ": d_model ", d_model, " is not divisible by n_heads ", n_heads);
  FCAST_CHECK(head_dim() % 2 == 0, src, ": head dimension ", head_dim(), " must be even for rotary embeddings");
  FCAST_CHECK(n_enc_layers >= 1 && n_dec_layers >= 1, src, ": n_enc_layers and n_dec_layers must be >= 1 (the model ",
              "has n - 1 blocks each); got ", n_enc_layers, " and ", n_dec_layers);
  check_range(n_enc_layers, "n_enc_layers", 1, kMaxKronosLayers + 1, src);
  check_range(n_dec_layers, "n_dec_layers", 1, kMaxKronosLayers + 1, src);
  FCAST_CHECK(s1_bits >= 1 && s2_bits >= 1 && s1_bits <= 30 && s2_bits <= 30, src, ": s1_bits and s2_bits must lie in ",
              "[1, 30]; got ", s1_bits, " and ", s2_bits);
  FCAST_CHECK(s1_bits == s2_bits, src, ": s1_bits (", s1_bits, ") != s2_bits (", s2_bits,
              "). The reference decoder reads (s1_bits + s2_bits) / 2 bits per token half, so only equal halves ",
              "decode correctly; every published tokenizer uses 10 / 10");
  FCAST_CHECK(group_size >= 1 && group_size <= 62, src, ": group_size ", group_size, " must lie in [1, 62]");
  check_dropout(ffn_dropout_p, "ffn_dropout_p", src);
  check_dropout(attn_dropout_p, "attn_dropout_p", src);
  check_dropout(resid_dropout_p, "resid_dropout_p", src);
  for (auto [v, key] : {std::pair{beta, "beta"}, {gamma0, "gamma0"}, {gamma, "gamma"}, {zeta, "zeta"}})
    FCAST_CHECK(std::isfinite(v), src, ": ", key, " = ", v, " must be a finite number");
}

nlohmann::ordered_json KronosTokenizerConfig::to_json() const {
  nlohmann::ordered_json j;  // keys in sorted order, as json.dumps(sort_keys=True)
  j["attn_dropout_p"] = attn_dropout_p;
  j["beta"] = beta;
  j["d_in"] = d_in;
  j["d_model"] = d_model;
  j["ff_dim"] = ff_dim;
  j["ffn_dropout_p"] = ffn_dropout_p;
  j["gamma"] = gamma;
  j["gamma0"] = gamma0;
  j["group_size"] = group_size;
  j["n_dec_layers"] = n_dec_layers;
  j["n_enc_layers"] = n_enc_layers;
  j["n_heads"] = n_heads;
  j["resid_dropout_p"] = resid_dropout_p;
  j["s1_bits"] = s1_bits;
  j["s2_bits"] = s2_bits;
  j["zeta"] = zeta;
  return j;
}

// ------------------------------------------------------------------ predictor

KronosPredictorConfig KronosPredictorConfig::from_json(const nlohmann::json& j, const std::string& src) {
  check_keys(j, kPredictorKeys, kTokenizerKeys, "predictor", "tokenizer", src);
  KronosPredictorConfig c;
  c.s1_bits = get_int(j, "s1_bits", src);
  c.s2_bits = get_int(j, "s2_bits", src);
  c.n_layers = get_int(j, "n_layers", src);
  c.d_model = get_int(j, "d_model", src);
  c.n_heads = get_int(j, "n_heads", src);
  c.ff_dim = get_int(j, "ff_dim", src);
  FCAST_CHECK(j.contains("learn_te"), src, ": required key 'learn_te' is missing");
  FCAST_CHECK(j.at("learn_te").is_boolean(), src, ": key 'learn_te' must be true or false, got ", j.at("learn_te").dump());
  c.learn_te = j.at("learn_te").get<bool>();
  c.ffn_dropout_p = get_real(j, "ffn_dropout_p", 0.0, src);
  c.attn_dropout_p = get_real(j, "attn_dropout_p", 0.0, src);
  c.resid_dropout_p = get_real(j, "resid_dropout_p", 0.0, src);
  c.token_dropout_p = get_real(j, "token_dropout_p", 0.0, src);
  c.validate(src);
  return c;
}

KronosPredictorConfig KronosPredictorConfig::from_file(const std::string& path) {
  return from_json(parse_json_file(path), path);
}

void KronosPredictorConfig::validate(const std::string& src) const {
  FCAST_CHECK(d_model > 0 && n_heads > 0 && ff_dim > 0 && n_layers >= 1, src,
              ": d_model, n_heads, ff_dim and n_layers must be positive (got ", d_model, ", ", n_heads, ", ", ff_dim,
              ", ", n_layers, ")");
  check_range(d_model, "d_model", 1, kMaxKronosWidth, src);
  check_range(n_heads, "n_heads", 1, kMaxKronosWidth, src);
  check_range(ff_dim, "ff_dim", 1, kMaxKronosWidth, src);
  check_range(n_layers, "n_layers", 1, kMaxKronosLayers, src);
  FCAST_CHECK(d_model % n_heads == 0, src, ": d_model ", d_model, " is not divisible by n_heads ", n_heads);
  FCAST_CHECK(head_dim() % 2 == 0, src, ": head dimension ", head_dim(), " must be even for rotary embeddings");
  FCAST_CHECK(d_model % kDepHeads == 0 && dep_head_dim() % 2 == 0, src, ": d_model ", d_model,
              " must be divisible by 8: the dependency layer always has 4 heads with an even head dimension");
  FCAST_CHECK(s1_bits >= 1 && s2_bits >= 1 && s1_bits <= 30 && s2_bits <= 30, src,
              ": s1_bits and s2_bits must lie in [1, 30]; got ", s1_bits, " and ", s2_bits);
  check_dropout(ffn_dropout_p, "ffn_dropout_p", src);
  check_dropout(attn_dropout_p, "attn_dropout_p", src);
  check_dropout(resid_dropout_p, "resid_dropout_p", src);
  check_dropout(token_dropout_p, "token_dropout_p", src);
}

nlohmann::ordered_json KronosPredictorConfig::to_json() const {
  nlohmann::ordered_json j;
  j["attn_dropout_p"] = attn_dropout_p;
  j["d_model"] = d_model;
  j["ff_dim"] = ff_dim;
  j["ffn_dropout_p"] = ffn_dropout_p;
  j["learn_te"] = learn_te;
  j["n_heads"] = n_heads;
  j["n_layers"] = n_layers;
  j["resid_dropout_p"] = resid_dropout_p;
  j["s1_bits"] = s1_bits;
  j["s2_bits"] = s2_bits;
  j["token_dropout_p"] = token_dropout_p;
  return j;
}

void check_kronos_pair(const KronosPredictorConfig& p, const KronosTokenizerConfig& t, const std::string& psrc,
                       const std::string& tsrc) {
  FCAST_CHECK(p.s1_bits == t.s1_bits && p.s2_bits == t.s2_bits, "predictor ", psrc, " uses s1_bits/s2_bits ", p.s1_bits,
              "/", p.s2_bits, " but tokenizer ", tsrc, " uses ", t.s1_bits, "/", t.s2_bits,
              "; pair each predictor with its own tokenizer (Kronos-small/base with Kronos-Tokenizer-base, ",
              "Kronos-mini with Kronos-Tokenizer-2k)");
}

// ------------------------------------------------------------------ presets

std::vector<std::string> kronos_preset_names() {
  return {"kronos-mini", "kronos-small", "kronos-base", "kronos-tiny",
          "kronos-tokenizer-base", "kronos-tokenizer-2k", "kronos-tokenizer-tiny"};
}

bool is_kronos_tokenizer_preset(const std::string& name) {
  const std::string k = preset_key(name);
  return k == "kronos-tokenizer-base" || k == "kronos-tokenizer-2k" || k == "kronos-tokenizer-tiny";
}

bool is_kronos_predictor_preset(const std::string& name) {
  const std::string k = preset_key(name);
  return k == "kronos-mini" || k == "kronos-small" || k == "kronos-base" || k == "kronos-tiny";
}

namespace {
[[noreturn]] void unknown_preset(const std::string& name) {
  std::string all;
  for (auto& n : kronos_preset_names()) all += (all.empty() ? "" : ", ") + n;
  fail("unknown Kronos preset '", name, "'; valid presets: ", all);
}
}  // namespace

KronosTokenizerConfig kronos_tokenizer_preset(const std::string& name) {
  const std::string k = preset_key(name);
  KronosTokenizerConfig c;  // defaults are Kronos-Tokenizer-base
  if (k == "kronos-tokenizer-base") return c;
  if (k == "kronos-tokenizer-2k") {
    c.group_size = 5;  // the only difference
    return c;
  }
  if (k == "kronos-tokenizer-tiny") {  // the golden "tiny" tokenizer shape
    c.d_model = 32;
    c.n_heads = 2;
    c.ff_dim = 64;
    c.n_enc_layers = c.n_dec_layers = 3;
    c.s1_bits = c.s2_bits = 4;
    return c;
  }
  if (is_kronos_predictor_preset(name))
    fail("'", name, "' is a predictor preset; the matching tokenizer preset is '", kronos_matching_tokenizer(name), "'");
  unknown_preset(name);
}

KronosPredictorConfig kronos_predictor_preset(const std::string& name) {
  const std::string k = preset_key(name);
  KronosPredictorConfig c;
  c.s1_bits = c.s2_bits = 10;
  c.learn_te = true;
  if (k == "kronos-mini") {
    c.d_model = 256, c.n_layers = 4, c.n_heads = 4, c.ff_dim = 512;
    c.attn_dropout_p = 0.0, c.ffn_dropout_p = 0.2, c.resid_dropout_p = 0.2, c.token_dropout_p = 0.0;
    return c;
  }
  if (k == "kronos-small") {
    c.d_model = 512, c.n_layers = 8, c.n_heads = 8, c.ff_dim = 1024;
    c.attn_dropout_p = 0.1, c.ffn_dropout_p = 0.25, c.resid_dropout_p = 0.25, c.token_dropout_p = 0.1;
    return c;
  }
  if (k == "kronos-base") {
    c.d_model = 832, c.n_layers = 12, c.n_heads = 16, c.ff_dim = 2048;
    c.attn_dropout_p = 0.0, c.ffn_dropout_p = 0.2, c.resid_dropout_p = 0.2, c.token_dropout_p = 0.0;
    return c;
  }
  if (k == "kronos-tiny") {
    c.s1_bits = c.s2_bits = 4;
    c.d_model = 32, c.n_layers = 2, c.n_heads = 2, c.ff_dim = 64;
    return c;
  }
  if (is_kronos_tokenizer_preset(name)) fail("'", name, "' is a tokenizer preset, not a predictor preset");
  unknown_preset(name);
}

std::string kronos_matching_tokenizer(const std::string& predictor_preset) {
  const std::string k = preset_key(predictor_preset);
  if (k == "kronos-mini") return "kronos-tokenizer-2k";
  if (k == "kronos-small" || k == "kronos-base") return "kronos-tokenizer-base";
  if (k == "kronos-tiny") return "kronos-tokenizer-tiny";
  unknown_preset(predictor_preset);
}

int64_t kronos_default_max_context(const std::string& predictor_preset) {
  return preset_key(predictor_preset) == "kronos-mini" ? 2048 : 512;
}

}  // namespace fcast::kronos
