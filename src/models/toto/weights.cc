#include "models/toto/weights.h"

#include <sys/stat.h>

#include <cmath>
#include <filesystem>
#include <map>
#include <set>

#include "core/checked.h"
#include "core/error.h"
#include "core/hash.h"
#include "core/rng.h"

namespace fcast::toto {

namespace fs = std::filesystem;

std::vector<std::pair<std::string, Shape>> toto_tensor_table(const TotoConfig& c) {
  const int64_t D = c.embed_dim, P = c.patch_size, F = c.mlp_hidden_dim, K = c.components();
  // Checked: the config's caps keep these far inside int64, but the table must never hold a
  // wrapped size whatever config it is given.
  const int64_t D3 = checked_mul(3, D, "3 * embed_dim"), F2 = checked_mul(2, F, "2 * mlp_hidden_dim");
  const int64_t PD = checked_mul(P, D, "patch_size * embed_dim");
  std::vector<std::pair<std::string, Shape>> t;
  t.push_back({"model.patch_embed.projection.weight", {D, P}});
  t.push_back({"model.patch_embed.projection.bias", {D}});
  for (int64_t i = 0; i < c.num_layers; ++i) {
    const std::string p = cat("model.transformer.layers.", i, ".");
    t.push_back({p + "norm1.scale", {D}});
    t.push_back({p + "norm2.scale", {D}});
    t.push_back({p + "attention.wQKV.weight", {D3, D}});
    t.push_back({p + "attention.wQKV.bias", {D3}});
    t.push_back({p + "attention.wO.weight", {D, D}});
    t.push_back({p + "attention.wO.bias", {D}});
    t.push_back({p + "mlp.0.w12.weight", {F2, D}});
    t.push_back({p + "mlp.0.w12.bias", {F2}});
    t.push_back({p + "mlp.0.w3.weight", {D, F}});
    t.push_back({p + "mlp.0.w3.bias", {D}});
  }
  t.push_back({"model.unembed.weight", {PD, D}});
  t.push_back({"model.unembed.bias", {PD}});
  for (const char* h : {"df", "loc_proj", "scale_proj", "mixture_weights"}) {
    if (std::string(h) == "mixture_weights" && !c.mixture()) continue;
    t.push_back({cat("model.output_distribution.", h, ".weight"), {K, D}});
    t.push_back({cat("model.output_distribution.", h, ".bias"), {K}});
  }
  return t;
}

namespace {

// Maps the plain-PyTorch SwiGLU names to the fused ones; other names unchanged.
std::string canonical_name(const std::string& n) {
  auto pos = n.find(".mlp.");
  if (pos == std::string::npos) return n;
  const std::string head = n.substr(0, pos + 5), tail = n.substr(pos + 5);
  if (tail == "0.weight") return head + "0.w12.weight";
  if (tail == "0.bias") return head + "0.w12.bias";
  if (tail == "2.weight") return head + "0.w3.weight";
  if (tail == "2.bias") return head + "0.w3.bias";
  return n;
}

bool ends_with(const std::string& s, const std::string& suf) {
  return s.size() >= suf.size() && s.compare(s.size() - suf.size(), suf.size(), suf) == 0;
}

// The layer count of config.json against the layers the file holds, before a name list sized
// by the config is built: a mistyped num_layers (999999999) must cost nothing.
void check_layer_count(const TotoConfig& c, const SafetensorsFile& file, const std::string& cfg_path) {
  const std::string prefix = "model.transformer.layers.";
  std::set<std::string> layers;
  for (const TensorInfo& info : file.tensors()) {
    if (info.name.rfind(prefix, 0) != 0) continue;
    const size_t end = info.name.find('.', prefix.size());
    layers.insert(info.name.substr(prefix.size(), end == std::string::npos ? end : end - prefix.size()));
  }
  // More layers in the file than in the config: the per-tensor check names the first extra one.
  FCAST_CHECK(c.num_layers <= static_cast<int64_t>(layers.size()), cfg_path, ": num_layers = ", c.num_layers, " but ",
              file.path(), " holds ", layers.size(), " layer(s) (", prefix,
              "<i>.*); config.json does not belong to this checkpoint");
}

}  // namespace

TotoWeights load_toto(const std::string& dir) {
  FCAST_CHECK(fs::is_directory(dir), "model directory '", dir,
              "' does not exist. Download Datadog/Toto-Open-Base-1.0 (config.json + model.safetensors) into a "
              "folder, or write a random-weight checkpoint with: fcast init-model toto --preset toto-open-base-1.0 "
              "--out DIR");
  const std::string cfg_path = (fs::path(dir) / "config.json").string();
  const std::string st_path = (fs::path(dir) / "model.safetensors").string();
  FCAST_CHECK(fs::exists(cfg_path), dir, ": config.json is missing");
  FCAST_CHECK(fs::exists(st_path), dir, ": model.safetensors is missing");
  TotoWeights w;
  w.config = TotoConfig::from_file(cfg_path);
  w.directory = dir;
  SafetensorsFile file = SafetensorsFile::open(st_path);
  w.weight_file_bytes = file.file_size();
  check_layer_count(w.config, file, cfg_path);

  std::map<std::string, Shape> expected;
  for (auto& [n, s] : toto_tensor_table(w.config)) expected[n] = s;
  std::map<std::string, Tensor> got;
  for (const TensorInfo& info : file.tensors()) {
    if (ends_with(info.name, "rotary_emb.freqs")) continue;  // stale RoPE frequencies: recomputed
    const std::string name = canonical_name(info.name);
    auto it = expected.find(name);
    FCAST_CHECK(it != expected.end(), st_path, ": unexpected tensor '", info.name,
                "' (not part of a Toto 1.0 model with this config.json)");
    FCAST_CHECK(!got.count(name), st_path, ": tensor '", name, "' appears under both SwiGLU naming schemes");
    FCAST_CHECK(info.shape == it->second, st_path, ": tensor '", info.name, "' has shape ", shape_str(info.shape),
                ", expected ", shape_str(it->second), " for this config.json");
    FCAST_CHECK(dtype_is_float(info.dtype), st_path, ": tensor '", info.name, "' has dtype ", dtype_name(info.dtype),
                "; weights must be F32, BF16, F16 or F64");
    Tensor t = file.get(info.name);
    if (info.dtype != DType::F32) t = t.to(DType::F32);
    const float* p = t.data<float>();
    for (int64_t k = 0; k < t.numel(); ++k)
      FCAST_CHECK(std::isfinite(p[k]), st_path, ": tensor '", info.name, "' holds a non-finite value at flat index ", k);
    // Checked: a mapped tensor's pages leave the resident set and come back from the file when
    // read, so loading never holds the whole file (the compiled path may only read packed copies).
    t.release_pages();
    got[name] = t;
  }
  for (auto& [n, s] : expected) FCAST_CHECK(got.count(n), st_path, ": missing tensor '", n, "'");

  w.patch_w = got["model.patch_embed.projection.weight"];
  w.patch_b = got["model.patch_embed.projection.bias"];
  for (int64_t i = 0; i < w.config.num_layers; ++i) {
    const std::string p = cat("model.transformer.layers.", i, ".");
    TotoLayerWeights L;
    L.norm1 = got[p + "norm1.scale"];
    L.norm2 = got[p + "norm2.scale"];
    L.wqkv = got[p + "attention.wQKV.weight"];
    L.bqkv = got[p + "attention.wQKV.bias"];
    L.wo = got[p + "attention.wO.weight"];
    L.bo = got[p + "attention.wO.bias"];
    L.w12 = got[p + "mlp.0.w12.weight"];
    L.b12 = got[p + "mlp.0.w12.bias"];
    L.w3 = got[p + "mlp.0.w3.weight"];
    L.b3 = got[p + "mlp.0.w3.bias"];
    w.layers.push_back(L);
  }
  w.unembed_w = got["model.unembed.weight"];
  w.unembed_b = got["model.unembed.bias"];
  w.df_w = got["model.output_distribution.df.weight"];
  w.df_b = got["model.output_distribution.df.bias"];
  w.loc_w = got["model.output_distribution.loc_proj.weight"];
  w.loc_b = got["model.output_distribution.loc_proj.bias"];
  w.scale_w = got["model.output_distribution.scale_proj.weight"];
  w.scale_b = got["model.output_distribution.scale_proj.bias"];
  if (w.config.mixture()) {
    w.mix_w = got["model.output_distribution.mixture_weights.weight"];
    w.mix_b = got["model.output_distribution.mixture_weights.bias"];
  }
  std::string table = w.config.to_json().dump();
  for (const TensorInfo& info : file.tensors()) table += cat("|", info.name, ":", dtype_name(info.dtype), shape_str(info.shape));
  w.identity = hex64(fnv1a64(table));
  return w;
}

void write_random_toto(const TotoConfig& c, uint64_t seed, const std::string& dir) {
  c.validate("preset");
  fs::create_directories(dir);
  Rng rng(seed);
  std::vector<std::pair<std::string, Tensor>> tensors;
  for (auto& [name, shape] : toto_tensor_table(c)) {
    Tensor t = Tensor::empty(DType::F32, shape);
    float* p = t.data<float>();
    const int64_t n = t.numel();
    if (ends_with(name, ".scale")) {  // RMSNorm scales around 1
      for (int64_t k = 0; k < n; ++k) p[k] = static_cast<float>(1.0 + 0.1 * rng.normal());
    } else if (shape.size() == 1) {  // biases
      const double shift = name.find(".df.") != std::string::npos ? 1.0 : 0.0;
      for (int64_t k = 0; k < n; ++k) p[k] = static_cast<float>(shift + 0.02 * rng.normal());
    } else {  // N(0, 1/fan_in) linear weights
      const double sd = 1.0 / std::sqrt(static_cast<double>(shape[1]));
      for (int64_t k = 0; k < n; ++k) p[k] = static_cast<float>(sd * rng.normal());
    }
    tensors.emplace_back(name, t);
  }
  // The published file very likely carries the stale RoPE frequencies; loaders must ignore them.
  Tensor freqs = Tensor::empty(DType::F32, {c.head_dim() / 2});
  for (int64_t i = 0; i < c.head_dim() / 2; ++i)
    freqs.data<float>()[i] = 1.0f / std::pow(10000.0f, static_cast<float>(2 * i) / static_cast<float>(c.head_dim()));
  tensors.emplace_back("model.transformer.rotary_emb.freqs", freqs);
  std::sort(tensors.begin(), tensors.end(), [](auto& a, auto& b) { return a.first < b.first; });
  write_safetensors((fs::path(dir) / "model.safetensors").string(), tensors);
  write_file_atomic((fs::path(dir) / "config.json").string(), c.to_json().dump(2) + "\n");
}

}  // namespace fcast::toto
