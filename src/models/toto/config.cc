#include "models/toto/config.h"

#include <cmath>
#include <limits>

#include "core/error.h"
#include "io/safetensors.h"

namespace fcast::toto {

namespace {
const char* kScalerPatch = "<class 'model.scaler.CausalPatchStdMeanScaler'>";
const char* kScalerStd = "<class 'model.scaler.StdMeanScaler'>";
const char* kScalerCausal = "<class 'model.scaler.CausalStdMeanScaler'>";
const char* kMixture = "<class 'model.distribution.MixtureOfStudentTsOutput'>";
const char* kStudentT = "<class 'model.distribution.StudentTOutput'>";

template <class T>
T get(const nlohmann::json& j, const char* key, const std::string& src) {
  if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
    FCAST_CHECK(j.contains(key), src, ": key '", key, "' is missing");
    const nlohmann::json& v = j.at(key);
    FCAST_CHECK(v.is_number_integer(), src, ": key '", key, "' must be an integer, got ", v.dump());
    // JSON integers above 2^63 - 1 parse as unsigned; get<int64_t> would wrap them to negatives.
    FCAST_CHECK(!v.is_number_unsigned() || v.get<uint64_t>() <= static_cast<uint64_t>(std::numeric_limits<T>::max()),
                src, ": key '", key, "' = ", v.dump(), " does not fit a 64-bit signed integer");
  }
  try {
    return j.at(key).get<T>();
  } catch (const std::exception& e) {
    fail(src, ": key '", key, "' is missing or has the wrong type (", e.what(), ")");
  }
}
}  // namespace

TotoConfig TotoConfig::from_json(const nlohmann::json& j, const std::string& src) {
  FCAST_CHECK(j.is_object(), src, ": config must be a JSON object");
  static const std::vector<std::string> known = {
      "patch_size", "stride", "embed_dim", "num_layers", "num_heads", "mlp_hidden_dim", "dropout",
      "spacewise_every_n_layers", "spacewise_first", "scaler_cls", "output_distribution_classes",
      "output_distribution_kwargs", "use_memory_efficient_attention", "stabilize_with_global",
      "scale_factor_exponent"};
  for (auto it = j.begin(); it != j.end(); ++it)
    FCAST_CHECK(std::find(known.begin(), known.end(), it.key()) != known.end(), src, ": unknown config key '",
                it.key(), "' (the Toto 1.0 constructor accepts no other keys)");
  TotoConfig c;
  c.patch_size = get<int64_t>(j, "patch_size", src);
  c.stride = get<int64_t>(j, "stride", src);
  c.embed_dim = get<int64_t>(j, "embed_dim", src);
  c.num_layers = get<int64_t>(j, "num_layers", src);
  c.num_heads = get<int64_t>(j, "num_heads", src);
  c.mlp_hidden_dim = get<int64_t>(j, "mlp_hidden_dim", src);
  c.dropout = j.contains("dropout") ? get<double>(j, "dropout", src) : 0.1;
  c.spacewise_every_n_layers = get<int64_t>(j, "spacewise_every_n_layers", src);
  c.spacewise_first = j.contains("spacewise_first") ? get<bool>(j, "spacewise_first", src) : true;
  c.scaler_cls = get<std::string>(j, "scaler_cls", src);
  auto classes = get<std::vector<std::string>>(j, "output_distribution_classes", src);
  FCAST_CHECK(!classes.empty(), src, ": output_distribution_classes is empty");
  c.output_distribution = classes[0];
  if (j.contains("output_distribution_kwargs") && !j["output_distribution_kwargs"].is_null()) {
    const auto& kw = j["output_distribution_kwargs"];
    FCAST_CHECK(kw.is_object(), src, ": output_distribution_kwargs must be an object");
    if (kw.contains("k_components")) c.k_components = get<int64_t>(kw, "k_components", src);
  } else {
    c.k_components = 0;
  }
  c.use_memory_efficient_attention =
      j.contains("use_memory_efficient_attention") ? get<bool>(j, "use_memory_efficient_attention", src) : true;
  c.stabilize_with_global = j.contains("stabilize_with_global") ? get<bool>(j, "stabilize_with_global", src) : true;
  c.scale_factor_exponent =
      j.contains("scale_factor_exponent") ? get<double>(j, "scale_factor_exponent", src) : 10.0;
  c.validate(src);
  return c;
}

TotoConfig TotoConfig::from_file(const std::string& path) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(read_file(path));
  } catch (const nlohmann::json::exception& e) {
    fail(path, ": not valid JSON (", e.what(), ")");
  }
  return from_json(j, path);
}

namespace {
void check_range(int64_t v, const char* key, int64_t hi, const std::string& src) {
  FCAST_CHECK(v >= 1 && v <= hi, src, ": ", key, " = ", v, " must be positive and at most ", hi,
              " (fcast's cap; the published checkpoint is far below it)");
}
}  // namespace

void TotoConfig::validate(const std::string& src) const {
  check_range(patch_size, "patch_size", kMaxTotoPatch, src);
  check_range(embed_dim, "embed_dim", kMaxTotoWidth, src);
  check_range(num_layers, "num_layers", kMaxTotoLayers, src);
  check_range(num_heads, "num_heads", kMaxTotoWidth, src);
  check_range(mlp_hidden_dim, "mlp_hidden_dim", kMaxTotoWidth, src);
  FCAST_CHECK(stride == patch_size, src, ": stride (", stride, ") must equal patch_size (", patch_size,
              "); Toto's unembed, scaler and KV cache assume non-overlapping patches");
  FCAST_CHECK(embed_dim % num_heads == 0, src, ": embed_dim ", embed_dim, " is not divisible by num_heads ", num_heads);
  FCAST_CHECK(head_dim() % 2 == 0, src, ": head dimension ", head_dim(), " must be even for rotary embeddings");
  FCAST_CHECK(spacewise_every_n_layers == -1 || (spacewise_every_n_layers > 0 && num_layers % spacewise_every_n_layers == 0),
              src, ": num_layers (", num_layers, ") must be a multiple of spacewise_every_n_layers (",
              spacewise_every_n_layers, "), or that must be -1");
  FCAST_CHECK(scaler_cls == kScalerPatch, src, ": scaler_cls '", scaler_cls,
              "' is not supported; fcast implements ", kScalerPatch, " (the released scaler)",
              (scaler_cls == kScalerStd || scaler_cls == kScalerCausal) ? " only" : "");
  FCAST_CHECK(output_distribution == kMixture || output_distribution == kStudentT, src,
              ": unknown output distribution '", output_distribution, "'; expected ", kMixture, " or ", kStudentT);
  if (mixture()) {
    FCAST_CHECK(k_components > 0, src, ": the mixture output needs output_distribution_kwargs.k_components > 0");
    check_range(k_components, "output_distribution_kwargs.k_components", kMaxTotoComponents, src);
  }
  FCAST_CHECK(dropout >= 0.0 && dropout < 1.0, src, ": dropout = ", dropout, " must lie in [0, 1)");
  // The scaler clamps the causal scale to [g * 10^-e, g * 10^e]: e <= 0 makes
  // the lower bound reach or pass the upper one, so every scale would be forced to g or worse.
  FCAST_CHECK(std::isfinite(scale_factor_exponent) && scale_factor_exponent > 0.0, src,
              ": scale_factor_exponent = ", scale_factor_exponent,
              " must be a finite number > 0 (the scaler clamps scales to [g 10^-e, g 10^e]; published: 10)");
}

bool TotoConfig::mixture() const { return output_distribution == kMixture; }

std::vector<bool> TotoConfig::space_layers() const {
  std::vector<bool> out(num_layers, false);
  if (spacewise_every_n_layers == -1) return out;
  const int64_t n = spacewise_every_n_layers;
  for (int64_t i = 0; i < num_layers; ++i) {
    const int64_t pos = i % n;
    out[i] = spacewise_first ? pos == 0 : pos == n - 1;
  }
  return out;
}

nlohmann::ordered_json TotoConfig::to_json() const {
  nlohmann::ordered_json j;
  j["patch_size"] = patch_size;
  j["stride"] = stride;
  j["embed_dim"] = embed_dim;
  j["num_layers"] = num_layers;
  j["num_heads"] = num_heads;
  j["mlp_hidden_dim"] = mlp_hidden_dim;
  j["dropout"] = dropout;
  j["spacewise_every_n_layers"] = spacewise_every_n_layers;
  j["spacewise_first"] = spacewise_first;
  j["scaler_cls"] = scaler_cls;
  j["output_distribution_classes"] = {output_distribution};
  if (mixture()) j["output_distribution_kwargs"] = {{"k_components", k_components}};
  j["use_memory_efficient_attention"] = use_memory_efficient_attention;
  j["stabilize_with_global"] = stabilize_with_global;
  j["scale_factor_exponent"] = scale_factor_exponent;
  return j;
}

std::vector<std::string> toto_preset_names() { return {"toto-open-base-1.0", "tiny"}; }

TotoConfig toto_preset(const std::string& name) {
  TotoConfig c;  // defaults are the published Toto-Open-Base-1.0 shape
  if (name == "toto-open-base-1.0" || name == "base") return c;
  if (name == "tiny") {
    c.patch_size = c.stride = 16;
    c.embed_dim = 64;
    c.num_layers = 3;
    c.num_heads = 4;
    c.mlp_hidden_dim = 96;
    c.spacewise_every_n_layers = 3;
    c.k_components = 3;
    return c;
  }
  std::string all;
  for (auto& n : toto_preset_names()) all += (all.empty() ? "" : ", ") + n;
  fail("unknown Toto preset '", name, "'; valid presets: ", all);
}

}  // namespace fcast::toto
