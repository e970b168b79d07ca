#include "models/kronos/weights.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <set>

#include "core/checked.h"
#include "core/error.h"
#include "core/hash.h"
#include "core/rng.h"
#include "io/safetensors.h"

namespace fcast::kronos {

namespace fs = std::filesystem;

namespace {

const char* kTimeTables[5] = {"minute", "hour", "weekday", "day", "month"};
const int64_t kTimeSizes[5] = {60, 24, 7, 32, 13};

void add_block(std::vector<KronosTensorSpec>& t, const std::string& p, int64_t d, int64_t F, int64_t hd) {
  t.push_back({p + "norm1.weight", DType::F32, {d}});
  for (const char* proj : {"q_proj", "k_proj", "v_proj", "out_proj"}) {
    t.push_back({cat(p, "self_attn.", proj, ".weight"), DType::F32, {d, d}});
    t.push_back({cat(p, "self_attn.", proj, ".bias"), DType::F32, {d}});
  }
  t.push_back({p + "self_attn.rotary.inv_freq", DType::F32, {hd / 2}, true});
  t.push_back({p + "norm2.weight", DType::F32, {d}});
  t.push_back({p + "ffn.w1.weight", DType::F32, {F, d}});
  t.push_back({p + "ffn.w3.weight", DType::F32, {F, d}});
  t.push_back({p + "ffn.w2.weight", DType::F32, {d, F}});
}

bool ends_with(const std::string& s, const std::string& suf) {
  return s.size() >= suf.size() && s.compare(s.size() - suf.size(), suf.size(), suf) == 0;
}

// Reads every tensor of a checkpoint against its table; returns name -> F32 (or I64) tensor.
std::map<std::string, Tensor> read_checked(const SafetensorsFile& file, const std::vector<KronosTensorSpec>& table,
                                           const std::string& hint_for_unknown) {
  const std::string& path = file.path();
  std::map<std::string, const KronosTensorSpec*> expected;
  for (auto& s : table) expected[s.name] = &s;
  std::map<std::string, Tensor> got;
  for (const TensorInfo& info : file.tensors()) {
    auto it = expected.find(info.name);
    if (it == expected.end()) fail(path, ": unexpected tensor '", info.name, "' ", hint_for_unknown);
    const KronosTensorSpec& spec = *it->second;
    FCAST_CHECK(info.shape == spec.shape, path, ": tensor '", info.name, "' has shape ", shape_str(info.shape),
                ", expected ", shape_str(spec.shape), " for this config.json");
    Tensor t = file.get(info.name);
    if (spec.dtype == DType::I64) {
      FCAST_CHECK(info.dtype == DType::I64, path, ": buffer '", info.name, "' has dtype ", dtype_name(info.dtype),
                  ", expected I64");
    } else {
      FCAST_CHECK(dtype_is_float(info.dtype), path, ": tensor '", info.name, "' has dtype ", dtype_name(info.dtype),
                  "; weights must be F32 (BF16, F16 and F64 are widened)");
      if (info.dtype != DType::F32) t = t.to(DType::F32);
      const float* p = t.data<float>();
      for (int64_t k = 0; k < t.numel(); ++k)
        FCAST_CHECK(std::isfinite(p[k]), path, ": tensor '", info.name, "' holds a non-finite value at flat index ", k,
                    "; the checkpoint is corrupt");
      t.release_pages();  // checked; a mapped tensor's pages come back from the file when read
    }
    got[info.name] = t;
  }
  std::string missing;
  int n_missing = 0;
  for (auto& s : table)
    if (!s.optional && !got.count(s.name)) {
      if (n_missing < 8) missing += (missing.empty() ? "'" : ", '") + s.name + "'";
      ++n_missing;
    }
  FCAST_CHECK(n_missing == 0, path, ": ", n_missing, " required tensor(s) missing: ", missing,
              n_missing > 8 ? ", ..." : "", " (is config.json the one that belongs to this checkpoint?)");
  return got;
}

KronosBlockWeights block_from(std::map<std::string, Tensor>& got, const std::string& p, int64_t hd,
                              int64_t& from_file) {
  KronosBlockWeights b;
  b.norm1 = got[p + "norm1.weight"];
  b.wq = got[p + "self_attn.q_proj.weight"];
  b.bq = got[p + "self_attn.q_proj.bias"];
  b.wk = got[p + "self_attn.k_proj.weight"];
  b.bk = got[p + "self_attn.k_proj.bias"];
  b.wv = got[p + "self_attn.v_proj.weight"];
  b.bv = got[p + "self_attn.v_proj.bias"];
  b.wo = got[p + "self_attn.out_proj.weight"];
  b.bo = got[p + "self_attn.out_proj.bias"];
  auto it = got.find(p + "self_attn.rotary.inv_freq");
  if (it != got.end()) {
    b.inv_freq = it->second;
    ++from_file;
  } else {
    b.inv_freq = kronos_inv_freq(hd);
  }
  b.norm2 = got[p + "norm2.weight"];
  b.w1 = got[p + "ffn.w1.weight"];
  b.w3 = got[p + "ffn.w3.weight"];
  b.w2 = got[p + "ffn.w2.weight"];
  return b;
}

void check_dir(const std::string& dir, const char* what, const char* hub_name, const char* preset) {
  FCAST_CHECK(!dir.empty(), "no Kronos ", what, " directory given");
  FCAST_CHECK(fs::is_directory(dir), "Kronos ", what, " directory '", dir, "' does not exist. Download ", hub_name,
              " (config.json + model.safetensors) from the Hugging Face hub on a machine with network access and copy ",
              "the folder here, or write random weights with: fcast init-model kronos --preset ", preset, " --out ", dir);
  FCAST_CHECK(fs::exists(fs::path(dir) / "config.json"), dir, ": config.json is missing (a Kronos ", what,
              " directory holds config.json and model.safetensors)");
  FCAST_CHECK(fs::exists(fs::path(dir) / "model.safetensors"), dir, ": model.safetensors is missing (a Kronos ", what,
              " directory holds config.json and model.safetensors)");
}

// A block count of config.json against the blocks the file holds (distinct `<prefix><i>.`
// names), before a name list sized by the config is built: a mistyped layer count (10^9) must
// cost nothing.
void check_block_count(const SafetensorsFile& file, const std::string& prefix, int64_t want, const std::string& key,
                       int64_t key_value, const std::string& cfg_path) {
  std::set<std::string> blocks;
  for (const TensorInfo& info : file.tensors()) {
    if (info.name.rfind(prefix, 0) != 0) continue;
    const size_t end = info.name.find('.', prefix.size());
    blocks.insert(info.name.substr(prefix.size(), end == std::string::npos ? end : end - prefix.size()));
  }
  // More blocks in the file than in the config: the per-tensor check names the first extra one.
  FCAST_CHECK(want <= static_cast<int64_t>(blocks.size()), cfg_path, ": ", key, " = ", key_value, " means ", want,
              " block(s) but ", file.path(), " holds ", blocks.size(), " (", prefix,
              "<i>.*); config.json does not belong to this checkpoint");
}

std::string identity_of(const nlohmann::ordered_json& cfg, const SafetensorsFile& file) {
  std::string table = cfg.dump();
  for (const TensorInfo& info : file.tensors())
    table += cat("|", info.name, ":", dtype_name(info.dtype), shape_str(info.shape));
  return hex64(fnv1a64(table));
}

}  // namespace

Tensor kronos_inv_freq(int64_t hd) {
  Tensor t = Tensor::empty(DType::F32, {hd / 2});
  for (int64_t m = 0; m < hd / 2; ++m) {
    const float e = static_cast<float>(2 * m) / static_cast<float>(hd);
    t.data<float>()[m] = 1.0f / std::pow(10000.0f, e);
  }
  return t;
}

std::vector<KronosTensorSpec> kronos_tokenizer_tensor_table(const KronosTokenizerConfig& c) {
  const int64_t d = c.d_model, F = c.ff_dim, k = c.codebook_dim(), hd = c.head_dim();
  std::vector<KronosTensorSpec> t;
  t.push_back({"embed.weight", DType::F32, {d, c.d_in}});
  t.push_back({"embed.bias", DType::F32, {d}});
  t.push_back({"head.weight", DType::F32, {c.d_in, d}});
  t.push_back({"head.bias", DType::F32, {c.d_in}});
  for (int64_t i = 0; i < c.enc_blocks(); ++i) add_block(t, cat("encoder.", i, "."), d, F, hd);
  for (int64_t i = 0; i < c.dec_blocks(); ++i) add_block(t, cat("decoder.", i, "."), d, F, hd);
  t.push_back({"quant_embed.weight", DType::F32, {k, d}});
  t.push_back({"quant_embed.bias", DType::F32, {k}});
  t.push_back({"post_quant_embed_pre.weight", DType::F32, {d, c.s1_bits}});  // training only
  t.push_back({"post_quant_embed_pre.bias", DType::F32, {d}});
  t.push_back({"post_quant_embed.weight", DType::F32, {d, k}});
  t.push_back({"post_quant_embed.bias", DType::F32, {d}});
  t.push_back({"tokenizer.bsq.basis", DType::I64, {k}, true});
  t.push_back({"tokenizer.bsq.group_basis", DType::I64, {c.group_size}, true});
  return t;
}

std::vector<KronosTensorSpec> kronos_predictor_tensor_table(const KronosPredictorConfig& c) {
  const int64_t d = c.d_model, F = c.ff_dim;
  std::vector<KronosTensorSpec> t;
  t.push_back({"embedding.emb_s1.weight", DType::F32, {c.vocab_s1(), d}});
  t.push_back({"embedding.emb_s2.weight", DType::F32, {c.vocab_s2(), d}});
  t.push_back({"embedding.fusion_proj.weight", DType::F32, {d, checked_mul(2, d, "2 * d_model")}});
  t.push_back({"embedding.fusion_proj.bias", DType::F32, {d}});
  for (int i = 0; i < 5; ++i)
    t.push_back({cat("time_emb.", kTimeTables[i], c.learn_te ? "_embed.weight" : "_embed.emb.weight"), DType::F32,
                 {kTimeSizes[i], d}});
  for (int64_t i = 0; i < c.n_layers; ++i) add_block(t, cat("transformer.", i, "."), d, F, c.head_dim());
  t.push_back({"norm.weight", DType::F32, {d}});
  for (const char* proj : {"q_proj", "k_proj", "v_proj", "out_proj"}) {
    t.push_back({cat("dep_layer.cross_attn.", proj, ".weight"), DType::F32, {d, d}});
    t.push_back({cat("dep_layer.cross_attn.", proj, ".bias"), DType::F32, {d}});
  }
  t.push_back({"dep_layer.cross_attn.rotary.inv_freq", DType::F32, {c.dep_head_dim() / 2}, true});
  t.push_back({"dep_layer.norm.weight", DType::F32, {d}});
  t.push_back({"head.proj_s1.weight", DType::F32, {c.vocab_s1(), d}});
  t.push_back({"head.proj_s1.bias", DType::F32, {c.vocab_s1()}});
  t.push_back({"head.proj_s2.weight", DType::F32, {c.vocab_s2(), d}});
  t.push_back({"head.proj_s2.bias", DType::F32, {c.vocab_s2()}});
  return t;
}

KronosTokenizerWeights load_kronos_tokenizer(const std::string& dir) {
  check_dir(dir, "tokenizer", "NeoQuasar/Kronos-Tokenizer-base (or Kronos-Tokenizer-2k for Kronos-mini)",
            "kronos-tokenizer-base");
  const std::string cfg_path = (fs::path(dir) / "config.json").string();
  KronosTokenizerWeights w;
  w.config = KronosTokenizerConfig::from_file(cfg_path);
  w.directory = dir;
  const SafetensorsFile file = SafetensorsFile::open((fs::path(dir) / "model.safetensors").string());
  check_block_count(file, "encoder.", w.config.enc_blocks(), "n_enc_layers", w.config.n_enc_layers, cfg_path);
  check_block_count(file, "decoder.", w.config.dec_blocks(), "n_dec_layers", w.config.n_dec_layers, cfg_path);
  auto table = kronos_tokenizer_tensor_table(w.config);
  auto got = read_checked(file, table, "(not part of a Kronos tokenizer with this config.json)");
  const auto& c = w.config;
  w.embed_w = got["embed.weight"];
  w.embed_b = got["embed.bias"];
  w.head_w = got["head.weight"];
  w.head_b = got["head.bias"];
  for (int64_t i = 0; i < c.enc_blocks(); ++i)
    w.encoder.push_back(block_from(got, cat("encoder.", i, "."), c.head_dim(), w.inv_freq_from_file));
  for (int64_t i = 0; i < c.dec_blocks(); ++i)
    w.decoder.push_back(block_from(got, cat("decoder.", i, "."), c.head_dim(), w.inv_freq_from_file));
  w.quant_w = got["quant_embed.weight"];
  w.quant_b = got["quant_embed.bias"];
  w.post_quant_w = got["post_quant_embed.weight"];
  w.post_quant_b = got["post_quant_embed.bias"];
  w.identity = identity_of(c.to_json(), file);
  return w;
}

KronosPredictorWeights load_kronos_predictor(const std::string& dir) {
  check_dir(dir, "model", "NeoQuasar/Kronos-small (or Kronos-mini / Kronos-base)", "kronos-small");
  const std::string cfg_path = (fs::path(dir) / "config.json").string();
  KronosPredictorWeights w;
  w.config = KronosPredictorConfig::from_file(cfg_path);
  w.directory = dir;
  const auto& c = w.config;
  const SafetensorsFile file = SafetensorsFile::open((fs::path(dir) / "model.safetensors").string());
  // A learn_te mismatch between config.json and the file is the most likely cause of an
  // unknown time_emb tensor; say so.
  bool has_fixed = false, has_learned = false;
  for (const TensorInfo& info : file.tensors()) {
    if (info.name.rfind("time_emb.", 0) != 0) continue;
    (ends_with(info.name, "_embed.emb.weight") ? has_fixed : has_learned) = true;
  }
  if (c.learn_te && has_fixed && !has_learned)
    fail(file.path(), ": the file holds fixed time tables (time_emb.*_embed.emb.weight) but config.json says ",
         "learn_te: true; the checkpoint was saved with learn_te: false");
  if (!c.learn_te && has_learned && !has_fixed)
    fail(file.path(), ": the file holds learned time tables (time_emb.*_embed.weight) but config.json says ",
         "learn_te: false; the checkpoint was saved with learn_te: true");
  check_block_count(file, "transformer.", c.n_layers, "n_layers", c.n_layers, cfg_path);
  auto table = kronos_predictor_tensor_table(c);
  auto got = read_checked(file, table, "(not part of a Kronos predictor with this config.json)");
  w.emb_s1 = got["embedding.emb_s1.weight"];
  w.emb_s2 = got["embedding.emb_s2.weight"];
  w.fusion_w = got["embedding.fusion_proj.weight"];
  w.fusion_b = got["embedding.fusion_proj.bias"];
  Tensor* tabs[5] = {&w.minute, &w.hour, &w.weekday, &w.day, &w.month};
  for (int i = 0; i < 5; ++i)
    *tabs[i] = got[cat("time_emb.", kTimeTables[i], c.learn_te ? "_embed.weight" : "_embed.emb.weight")];
  for (int64_t i = 0; i < c.n_layers; ++i)
    w.layers.push_back(block_from(got, cat("transformer.", i, "."), c.head_dim(), w.inv_freq_from_file));
  w.norm = got["norm.weight"];
  const std::string p = "dep_layer.cross_attn.";
  w.dep_wq = got[p + "q_proj.weight"];
  w.dep_bq = got[p + "q_proj.bias"];
  w.dep_wk = got[p + "k_proj.weight"];
  w.dep_bk = got[p + "k_proj.bias"];
  w.dep_wv = got[p + "v_proj.weight"];
  w.dep_bv = got[p + "v_proj.bias"];
  w.dep_wo = got[p + "out_proj.weight"];
  w.dep_bo = got[p + "out_proj.bias"];
  auto it = got.find(p + "rotary.inv_freq");
  if (it != got.end()) {
    w.dep_inv_freq = it->second;
    ++w.inv_freq_from_file;
  } else {
    w.dep_inv_freq = kronos_inv_freq(c.dep_head_dim());
  }
  w.dep_norm = got["dep_layer.norm.weight"];
  w.proj_s1_w = got["head.proj_s1.weight"];
  w.proj_s1_b = got["head.proj_s1.bias"];
  w.proj_s2_w = got["head.proj_s2.weight"];
  w.proj_s2_b = got["head.proj_s2.bias"];
  w.identity = identity_of(c.to_json(), file);
  return w;
}

namespace {

// Fills one state_dict tensor with values that keep activations O(1).
Tensor random_tensor(const KronosTensorSpec& s, Rng& rng, int64_t d_model, int64_t group_size, int64_t k) {
  Tensor t = Tensor::empty(s.dtype, s.shape);
  const int64_t n = t.numel();
  if (s.dtype == DType::I64) {  // BSQ bases: 2^(n-1), ..., 1 (MSB first, training metrics only)
    int64_t* p = t.data<int64_t>();
    const int64_t len = ends_with(s.name, "group_basis") ? group_size : k;
    for (int64_t i = 0; i < n; ++i) p[i] = int64_t{1} << (len - 1 - i);
    return t;
  }
  float* p = t.data<float>();
  if (ends_with(s.name, "inv_freq")) {
    Tensor f = kronos_inv_freq(2 * n);
    std::copy(f.data<float>(), f.data<float>() + n, p);
  } else if (ends_with(s.name, "norm1.weight") || ends_with(s.name, "norm2.weight") || ends_with(s.name, "norm.weight")) {
    for (int64_t i = 0; i < n; ++i) p[i] = static_cast<float>(1.0 + 0.1 * rng.normal());
  } else if (s.shape.size() == 1) {  // biases
    for (int64_t i = 0; i < n; ++i) p[i] = static_cast<float>(0.02 * rng.normal());
  } else if (s.name.rfind("embedding.emb_", 0) == 0 || s.name.rfind("time_emb.", 0) == 0) {
    // embedding tables: N(0, d^-1/2), as the reference's init pass
    const double sd = 1.0 / std::sqrt(static_cast<double>(d_model));
    for (int64_t i = 0; i < n; ++i) p[i] = static_cast<float>(sd * rng.normal());
  } else {  // linear weights [out, in]: xavier normal
    const double sd = std::sqrt(2.0 / static_cast<double>(s.shape[0] + s.shape[1]));
    for (int64_t i = 0; i < n; ++i) p[i] = static_cast<float>(sd * rng.normal());
  }
  return t;
}

void write_published(const std::vector<std::pair<std::string, Tensor>>& tensors_in, const std::string& dir,
                     const std::string& config_json) {
  auto tensors = tensors_in;
  // safetensors 0.6 order: dtype size descending (I64 before F32), then name.
  std::sort(tensors.begin(), tensors.end(), [](const auto& a, const auto& b) {
    const size_t sa = dtype_size(a.second.dtype()), sb = dtype_size(b.second.dtype());
    if (sa != sb) return sa > sb;
    return a.first < b.first;
  });
  fs::create_directories(dir);
  write_safetensors((fs::path(dir) / "model.safetensors").string(), tensors);
  write_file_atomic((fs::path(dir) / "config.json").string(), config_json);
}

}  // namespace

void write_random_kronos_tokenizer(const KronosTokenizerConfig& c, uint64_t seed, const std::string& dir) {
  c.validate("tokenizer preset");
  Rng rng(seed);
  std::vector<std::pair<std::string, Tensor>> tensors;
  for (auto& s : kronos_tokenizer_tensor_table(c))
    tensors.emplace_back(s.name, random_tensor(s, rng, c.d_model, c.group_size, c.codebook_dim()));
  write_published(tensors, dir, c.to_json().dump(2));
}

void write_random_kronos_predictor(const KronosPredictorConfig& c, uint64_t seed, const std::string& dir) {
  c.validate("predictor preset");
  Rng rng(seed);
  std::vector<std::pair<std::string, Tensor>> tensors;
  for (auto& s : kronos_predictor_tensor_table(c)) tensors.emplace_back(s.name, random_tensor(s, rng, c.d_model, 0, 0));
  write_published(tensors, dir, c.to_json().dump(2));
}

}  // namespace fcast::kronos
