#include "models/toto2/weights.h"

#include <cmath>
#include <filesystem>
#include <map>
#include <set>

#include "core/error.h"
#include "core/hash.h"
#include "core/rng.h"
#include "io/file.h"
#include "io/json.h"
#include "io/safetensors.h"

namespace fcast::toto2 {

namespace fs = std::filesystem;

std::vector<std::pair<std::string, Shape>> toto2_tensor_table(const Toto2Config& c) {
  const int64_t D = c.d_model, P = c.patch_size, H = c.num_heads, G = c.groups(), dk = c.dk(), dv = c.dv(),
                F = c.ff(), PQ = P * c.num_output_patches * kQuantiles;
  const int64_t qkv = H * dk + G * dk + G * dv;
  std::vector<std::pair<std::string, Shape>> t;
  t.push_back({"patch_proj.linear1.weight", {4 * D, 2 * P}});
  t.push_back({"patch_proj.linear1.bias", {4 * D}});
  t.push_back({"patch_proj.linear2.weight", {D, 4 * D}});
  t.push_back({"patch_proj.linear2.bias", {D}});
  t.push_back({"patch_proj.skip_proj.weight", {D, 2 * P}});
  t.push_back({"patch_proj.skip_proj.bias", {D}});
  for (int64_t i = 0; i < c.num_layers; ++i) {
    const std::string p = cat("transformer.layers.", i, ".");
    t.push_back({p + "attn_tau", {}});
    t.push_back({p + "mlp_tau", {}});
    t.push_back({p + "attn.in_proj.weight", {qkv, D}});
    if (c.attn_bias) t.push_back({p + "attn.in_proj.bias", {qkv}});
    t.push_back({p + "attn.out_proj.weight", {D, H * dv}});
    if (c.attn_bias) t.push_back({p + "attn.out_proj.bias", {D}});
    if (c.qk_norm && c.qk_norm_weight()) {
      t.push_back({p + "attn.q_norm.weight", {dk}});
      t.push_back({p + "attn.k_norm.weight", {dk}});
    }
    if (c.per_dim_scale) t.push_back({p + "attn._pds.per_dim_scale", {dk}});
    t.push_back({p + "ffn.fc1.weight", {2 * F, D}});
    if (c.mlp_bias) t.push_back({p + "ffn.fc1.bias", {2 * F}});
    t.push_back({p + "ffn.fc2.weight", {D, F}});
    if (c.mlp_bias) t.push_back({p + "ffn.fc2.bias", {D}});
    if (c.norm_include_weight) {
      t.push_back({p + "norm1.weight", {D}});
      t.push_back({p + "norm2.weight", {D}});
    }
  }
  if (c.norm_include_weight) t.push_back({"transformer.out_norm.weight", {D}});
  const std::string h = "output_head.param_projection.proj.";
  t.push_back({h + "linear1.weight", {4 * D, D}});
  t.push_back({h + "linear1.bias", {4 * D}});
  t.push_back({h + "linear2.weight", {PQ, 4 * D}});
  t.push_back({h + "linear2.bias", {PQ}});
  t.push_back({h + "skip_proj.weight", {PQ, D}});
  t.push_back({h + "skip_proj.bias", {PQ}});
  return t;
}

namespace {

// The tensors of a checkpoint folder: one file, or the shards of an index.
class TensorSource {
 public:
  explicit TensorSource(const std::string& dir) {
    const fs::path single = fs::path(dir) / "model.safetensors", index = fs::path(dir) / "model.safetensors.index.json";
    std::error_code ec;
    if (fs::exists(single, ec)) {
      add(SafetensorsFile::open(single.string()));
    } else if (fs::exists(index, ec)) {
      const nlohmann::json j = read_json_file(index.string());
      FCAST_CHECK(j.is_object() && j.contains("weight_map") && j["weight_map"].is_object(), index.string(),
                  ": no 'weight_map' object");
      std::map<std::string, size_t> shard_of;
      for (const auto& [name, file] : j["weight_map"].items()) {
        FCAST_CHECK(file.is_string(), index.string(), ": weight_map['", name, "'] is not a file name");
        const std::string f = file.get<std::string>();
        FCAST_CHECK(f.find('/') == std::string::npos && f.find("..") == std::string::npos, index.string(),
                    ": shard name '", f, "' must be a file name in the folder");
        if (!opened_.count(f)) {
          opened_[f] = files_.size();
          add(SafetensorsFile::open((fs::path(dir) / f).string()));
        }
        const SafetensorsFile& sf = files_[opened_[f]];
        FCAST_CHECK(sf.has(name), index.string(), ": the index puts '", name, "' in ", f, ", which does not hold it");
      }
    } else {
      fail(dir, ": no model.safetensors (or model.safetensors.index.json) in the folder");
    }
  }
  const std::vector<SafetensorsFile>& files() const { return files_; }
  uint64_t bytes() const { return bytes_; }
  const SafetensorsFile& file_of(const std::string& name) const { return files_[where_.at(name)]; }
  bool has(const std::string& name) const { return where_.count(name) != 0; }

 private:
  void add(SafetensorsFile f) {
    bytes_ += f.file_size();
    for (const TensorInfo& i : f.tensors()) {
      FCAST_CHECK(!where_.count(i.name), f.path(), ": tensor '", i.name, "' also appears in ",
                  files_[where_[i.name]].path());
      where_[i.name] = files_.size();
    }
    files_.push_back(std::move(f));
  }
  std::vector<SafetensorsFile> files_;
  std::map<std::string, size_t> opened_;
  std::map<std::string, size_t> where_;
  uint64_t bytes_ = 0;
};

// A float32 copy of a tensor (F32, BF16 or F16 in the file), checked finite.
Tensor read_f32(const TensorSource& src, const std::string& name) {
  const SafetensorsFile& f = src.file_of(name);
  Tensor t = f.get(name);
  FCAST_CHECK(dtype_is_float(t.dtype()) && t.dtype() != DType::F64, f.path(), ": tensor '", name, "' has dtype ",
              dtype_name(t.dtype()), " (expected F32, BF16 or F16)");
  Tensor c = t.dtype() == DType::F32 ? t.clone() : t.to(DType::F32);
  const float* x = c.data<float>();
  for (int64_t i = 0; i < c.numel(); ++i)
    FCAST_CHECK(std::isfinite(x[i]), f.path(), ": tensor '", name, "' holds a non-finite value at flat index ", i);
  return c;
}

Tensor ones(int64_t n) {
  Tensor t = Tensor::empty(DType::F32, {n});
  std::fill(t.data<float>(), t.data<float>() + n, 1.0f);
  return t;
}

void scale_inplace(Tensor& t, float s) {
  float* x = t.data<float>();
  for (int64_t i = 0; i < t.numel(); ++i) x[i] *= s;
}

// softplus as PyTorch computes it (x beyond 20 returned as is).
float softplus(float x) { return x > 20.0f ? x : std::log1p(std::exp(x)); }

ResidualMlp fold_mlp(const TensorSource& src, const std::string& p, bool readout) {
  const float a = static_cast<float>(1.0 / std::sqrt(2.0));
  const float c_s = static_cast<float>(std::exp(0.8 * std::log(std::sqrt(2.0 / (1.0 - 1.0 / M_PI))) + 0.2 * std::log(2.0)));
  ResidualMlp m;
  m.w1 = read_f32(src, p + "linear1.weight");
  m.b1 = read_f32(src, p + "linear1.bias");
  m.w2 = read_f32(src, p + "linear2.weight");
  m.b2 = read_f32(src, p + "linear2.bias");
  m.ws = read_f32(src, p + "skip_proj.weight");
  m.bs = read_f32(src, p + "skip_proj.bias");
  auto k = [readout](const Tensor& w, bool is_readout) {
    const double fan_in = static_cast<double>(w.dim(1));
    return static_cast<float>(is_readout && readout ? 1.0 / fan_in : 1.0 / std::sqrt(fan_in));
  };
  const float k1 = k(m.w1, false), k2 = k(m.w2, true), ks = k(m.ws, true);
  scale_inplace(m.w1, k1);
  scale_inplace(m.b1, k1);
  scale_inplace(m.w2, k2 * a * c_s);  // the unit-scaled silu's constant multiplies the hidden values
  scale_inplace(m.b2, k2 * a);
  scale_inplace(m.ws, ks * a);
  scale_inplace(m.bs, ks * a);
  return m;
}

float scalar_of(const TensorSource& src, const std::string& name, const Toto2Config& c, int64_t j) {
  if (!src.has(name)) return static_cast<float>(c.tau(j));
  const Tensor t = read_f32(src, name);
  FCAST_CHECK(t.numel() == 1, src.file_of(name).path(), ": '", name, "' must be a scalar");
  return t.data<float>()[0];
}

LayerWeights fold_layer(const TensorSource& src, const Toto2Config& c, int64_t i) {
  const std::string p = cat("transformer.layers.", i, ".");
  const int64_t D = c.d_model, H = c.num_heads, G = c.groups(), dk = c.dk(), dv = c.dv(), F = c.ff(), rep = H / G;
  LayerWeights L;
  L.variate = c.variate_layers()[static_cast<size_t>(i)];
  L.norm1 = c.norm_include_weight ? read_f32(src, p + "norm1.weight") : ones(D);
  L.norm2 = c.norm_include_weight ? read_f32(src, p + "norm2.weight") : ones(D);

  // q scale per dimension: the learned per-dim scale (softplus(p) / ln 2, in the reference's
  // operation order) times 1/sqrt(dk), which turns the kernels' 1/sqrt(dk) into the model's 1/dk.
  std::vector<float> qscale(static_cast<size_t>(dk), 1.0f);
  if (c.per_dim_scale) {
    const Tensor pds = read_f32(src, p + "attn._pds.per_dim_scale");
    const float c1 = static_cast<float>(1.0 / 0.52103), c2 = static_cast<float>(std::log(2.0)), c3 = 0.52103f;
    for (int64_t d = 0; d < dk; ++d) qscale[d] = c3 * ((c1 * softplus(pds.data<float>()[d])) / c2);
  }
  const float inv_sqrt_dk = static_cast<float>(1.0 / std::sqrt(static_cast<double>(dk)));
  for (float& s : qscale) s *= inv_sqrt_dk;
  if (c.qk_norm) {
    L.q_norm = c.qk_norm_weight() ? read_f32(src, p + "attn.q_norm.weight") : ones(dk);
    L.k_norm = c.qk_norm_weight() ? read_f32(src, p + "attn.k_norm.weight") : ones(dk);
    for (int64_t d = 0; d < dk; ++d) L.q_norm.data<float>()[d] *= qscale[d];
  }

  const Tensor win = read_f32(src, p + "attn.in_proj.weight");
  const Tensor bin = c.attn_bias ? read_f32(src, p + "attn.in_proj.bias") : Tensor();
  const float kin = static_cast<float>(1.0 / std::sqrt(static_cast<double>(D)));
  L.wqkv = Tensor::zeros(DType::F32, {3 * H * dk, D});
  if (c.attn_bias) L.bqkv = Tensor::zeros(DType::F32, {3 * H * dk});
  auto copy_row = [&](int64_t dst, int64_t src_row, float s) {
    const float* a = win.data<float>() + src_row * D;
    float* o = L.wqkv.data<float>() + dst * D;
    for (int64_t x = 0; x < D; ++x) o[x] = a[x] * s;
    if (c.attn_bias) L.bqkv.data<float>()[dst] = bin.data<float>()[src_row] * s;
  };
  for (int64_t h = 0; h < H; ++h) {
    const int64_t g = h / rep;
    for (int64_t d = 0; d < dk; ++d) {
      copy_row(h * dk + d, h * dk + d, c.qk_norm ? kin : kin * qscale[d]);   // q (the norm takes the scales)
      copy_row(H * dk + h * dk + d, H * dk + g * dk + d, kin);              // k, repeated per query head
      if (d < dv) copy_row(2 * H * dk + h * dk + d, H * dk + G * dk + g * dv + d, kin);  // v, zero-padded
    }
  }

  const float tau_a = scalar_of(src, p + "attn_tau", c, 2 * i), tau_m = scalar_of(src, p + "mlp_tau", c, 2 * i + 1);
  const float den_a = std::sqrt(1.0f + tau_a * tau_a), den_m = std::sqrt(1.0f + tau_m * tau_m);
  const float beta_a = tau_a / den_a, beta_m = tau_m / den_m;
  L.alpha_attn = 1.0f / den_a;
  L.alpha_mlp = 1.0f / den_m;

  const Tensor wo = read_f32(src, p + "attn.out_proj.weight");
  const float ko = static_cast<float>(1.0 / std::sqrt(static_cast<double>(H * dv))) * beta_a;
  L.wo = Tensor::zeros(DType::F32, {D, H * dk});
  for (int64_t r = 0; r < D; ++r)
    for (int64_t h = 0; h < H; ++h)
      for (int64_t d = 0; d < dv; ++d)
        L.wo.data<float>()[r * H * dk + h * dk + d] = wo.data<float>()[r * H * dv + h * dv + d] * ko;
  if (c.attn_bias) {
    L.bo = read_f32(src, p + "attn.out_proj.bias");
    scale_inplace(L.bo, ko);
  }

  // SwiGLU: the reference multiplies the first half by silu(second half); the kernel takes the
  // silu half first, so the halves swap.
  const Tensor w1 = read_f32(src, p + "ffn.fc1.weight");
  const float k1 = static_cast<float>(1.0 / std::sqrt(static_cast<double>(D)));
  L.w12 = Tensor::empty(DType::F32, {2 * F, D});
  for (int64_t r = 0; r < 2 * F; ++r) {
    const int64_t from = r < F ? r + F : r - F;
    for (int64_t x = 0; x < D; ++x) L.w12.data<float>()[r * D + x] = w1.data<float>()[from * D + x] * k1;
  }
  if (c.mlp_bias) {
    const Tensor b1 = read_f32(src, p + "ffn.fc1.bias");
    L.b12 = Tensor::empty(DType::F32, {2 * F});
    for (int64_t r = 0; r < 2 * F; ++r) L.b12.data<float>()[r] = b1.data<float>()[r < F ? r + F : r - F] * k1;
  }
  const float k3 = static_cast<float>(1.0 / std::sqrt(static_cast<double>(F))) * beta_m;
  L.w3 = read_f32(src, p + "ffn.fc2.weight");
  scale_inplace(L.w3, k3);
  if (c.mlp_bias) {
    L.b3 = read_f32(src, p + "ffn.fc2.bias");
    scale_inplace(L.b3, k3);
  }
  return L;
}

}  // namespace

Toto2Weights load_toto2(const std::string& dir) {
  std::error_code ec;
  FCAST_CHECK(fs::is_directory(dir, ec), dir, ": not a folder (a Toto 2.0 checkpoint folder holds config.json and "
              "model.safetensors)");
  const std::string cfg_path = (fs::path(dir) / "config.json").string();
  FCAST_CHECK(fs::exists(cfg_path, ec), dir, ": no config.json in the folder");
  Toto2Weights w;
  w.config = Toto2Config::from_file(cfg_path);
  const Toto2Config& c = w.config;
  const TensorSource src(dir);
  const auto table = toto2_tensor_table(c);
  std::set<std::string> expected;
  std::string ident = c.to_json().dump();
  for (const auto& [name, shape] : table) {
    expected.insert(name);
    const bool tau = name.size() > 4 && (name.compare(name.size() - 4, 4, "_tau") == 0);
    if (!src.has(name)) {
      if (tau) continue;  // tau buffers: computed from the config when absent
      fail(dir, ": tensor '", name, "' is missing (config.json implies it: ", cfg_path, ")");
    }
    const TensorInfo& info = src.file_of(name).info(name);
    const bool ok = info.shape == shape || (tau && shape_numel(info.shape) == 1);
    FCAST_CHECK(ok, src.file_of(name).path(), ": tensor '", name, "' has shape ", shape_str(info.shape), ", config.json implies ",
                shape_str(shape));
    ident += cat(name, dtype_name(info.dtype), shape_str(info.shape), ";");
  }
  for (const SafetensorsFile& f : src.files())
    for (const TensorInfo& i : f.tensors())
      FCAST_CHECK(expected.count(i.name), f.path(), ": unexpected tensor '", i.name,
                  "' (the config does not use it; a Toto 1.0 file has 'model.'-prefixed names)");

  w.patch = fold_mlp(src, "patch_proj.", false);
  w.head = fold_mlp(src, "output_head.param_projection.proj.", true);
  for (int64_t i = 0; i < c.num_layers; ++i) w.layers.push_back(fold_layer(src, c, i));
  w.out_norm = c.norm_include_weight ? read_f32(src, "transformer.out_norm.weight") : ones(c.d_model);
  w.directory = dir;
  w.weight_file_bytes = src.bytes();
  w.identity = hex64(fnv1a64(ident));
  return w;
}

void write_random_toto2(const Toto2Config& c, uint64_t seed, const std::string& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  FCAST_CHECK(!ec, "cannot create ", dir, ": ", ec.message());
  Rng rng(seed);
  std::vector<std::pair<std::string, Tensor>> tensors;
  for (const auto& [name, shape] : toto2_tensor_table(c)) {
    Tensor t = Tensor::empty(DType::F32, shape);
    float* x = t.data<float>();
    const int64_t n = t.numel();
    auto ends = [&](const char* s) {
      const std::string suf(s);
      return name.size() >= suf.size() && name.compare(name.size() - suf.size(), suf.size(), suf) == 0;
    };
    const bool readout = name.rfind("output_head.", 0) == 0 && (name.find("linear2") != std::string::npos ||
                                                                 name.find("skip_proj") != std::string::npos);
    const double fan_in = shape.size() == 2 ? static_cast<double>(shape[1]) : 1.0;
    if (ends("attn_tau") || ends("mlp_tau")) {
      const int64_t layer = std::stoll(name.substr(19, name.find('.', 19) - 19));
      x[0] = static_cast<float>(c.tau(2 * layer + (ends("mlp_tau") ? 1 : 0)));
    } else if (ends("norm.weight") || ends("norm1.weight") || ends("norm2.weight")) {
      for (int64_t i = 0; i < n; ++i) x[i] = static_cast<float>(0.8 + 0.4 * rng.uniform());
    } else if (ends("per_dim_scale")) {
      for (int64_t i = 0; i < n; ++i) x[i] = static_cast<float>(0.5 * rng.normal());
    } else if (ends(".weight")) {
      // u-muP layers divide by sqrt(fan_in) (readouts by fan_in) themselves: unit weights keep
      // activations O(1); readouts get sqrt(fan_in) / 2 so head outputs stay O(1) too.
      const double s = readout ? std::sqrt(fan_in) / 2.0 : 1.0;
      for (int64_t i = 0; i < n; ++i) x[i] = static_cast<float>(s * rng.normal());
    } else {  // biases
      const double s = readout ? 0.0 : 0.5;
      for (int64_t i = 0; i < n; ++i) x[i] = static_cast<float>(s * rng.normal());
    }
    tensors.emplace_back(name, std::move(t));
  }
  write_safetensors((fs::path(dir) / "model.safetensors").string(), tensors, {{"format", "pt"}});
  write_file_atomic((fs::path(dir) / "config.json").string(), c.to_json().dump(1) + "\n");
}

}  // namespace fcast::toto2
