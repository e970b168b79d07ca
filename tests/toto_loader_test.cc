// Toto checkpoint loading: a random tiny checkpoint written by write_random_toto, then edited
// to exercise every published tensor name, the SwiGLU name aliases, ignored rotary tensors,
// half-precision files, non-finite values and every config.json validation.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/tensor.h"
#include "io/safetensors.h"
#include "models/toto/config.h"
#include "models/toto/weights.h"

namespace {

namespace fs = std::filesystem;
using fcast::DType;
using fcast::Shape;
using fcast::Tensor;
using fcast::toto::load_toto;
using Tensors = std::vector<std::pair<std::string, Tensor>>;

class TempDir {
 public:
  TempDir() {
    std::random_device rd;
    path_ = fs::temp_directory_path() / ("fcast_toto_loader_test_" + std::to_string(getpid()) + "_" +
                                         std::to_string(rd()) + "_" + std::to_string(counter_++));
    fs::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  std::string sub(const std::string& name) const { return (path_ / name).string(); }

 private:
  static inline int counter_ = 0;
  fs::path path_;
};

void expect_error(const std::function<void()>& f, const std::vector<std::string>& needles, const std::string& what) {
  try {
    f();
    ADD_FAILURE() << what << ": no error";
  } catch (const fcast::Error& e) {
    const std::string msg = e.what();
    for (const auto& n : needles) EXPECT_NE(msg.find(n), std::string::npos) << what << ": '" << n << "' not in: " << msg;
  } catch (const std::exception& e) {
    ADD_FAILURE() << what << ": non-fcast exception: " << e.what();
  }
}

// A tiny random checkpoint held in memory, edited per test and written to fresh directories.
class TotoLoader : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string base = tmp_.sub("base");
    fcast::toto::write_random_toto(fcast::toto::toto_preset("tiny"), 42, base);
    const fcast::SafetensorsFile f = fcast::SafetensorsFile::open(base + "/model.safetensors");
    for (const auto& info : f.tensors()) tensors_.emplace_back(info.name, f.get(info.name).clone());
    std::ifstream in(base + "/config.json");
    config_ = nlohmann::json::parse(in);
  }

  // Writes a checkpoint directory and returns its path.
  std::string write(const Tensors& ts, const nlohmann::json& cfg) {
    const std::string dir = tmp_.sub("ckpt" + std::to_string(n_++));
    fs::create_directories(dir);
    fcast::write_safetensors(dir + "/model.safetensors", ts);
    std::ofstream(dir + "/config.json") << cfg.dump(2);
    return dir;
  }
  std::string write(const Tensors& ts) { return write(ts, config_); }
  std::string write_config(const std::string& text) {
    const std::string dir = write(tensors_);
    std::ofstream(dir + "/config.json", std::ios::trunc) << text;
    return dir;
  }

  Tensors without(const std::string& name) const {
    Tensors out;
    for (const auto& [n, t] : tensors_)
      if (n != name) out.emplace_back(n, t);
    return out;
  }
  Tensors replaced(const std::string& name, const Tensor& t) const {
    Tensors out = tensors_;
    for (auto& [n, old] : out)
      if (n == name) old = t;
    return out;
  }
  const Tensor& get(const std::string& name) const {
    for (const auto& [n, t] : tensors_)
      if (n == name) return t;
    throw std::runtime_error("test bug: no tensor " + name);
  }

  TempDir tmp_;
  Tensors tensors_;
  nlohmann::json config_;
  int n_ = 0;
};

void expect_same(const Tensor& got, const Tensor& want, const std::string& what) {
  ASSERT_EQ(got.dtype(), DType::F32) << what;
  ASSERT_EQ(got.shape(), want.shape()) << what;
  const Tensor w = want.to(DType::F32);
  EXPECT_EQ(std::memcmp(got.raw(), w.raw(), w.nbytes()), 0) << what << ": values differ";
}

// ---------------------------------------------------------------------------------------

TEST_F(TotoLoader, LoadsTheRandomCheckpoint) {
  const auto c = fcast::toto::toto_preset("tiny");
  const std::string dir = write(tensors_);
  const auto w = load_toto(dir);
  EXPECT_EQ(w.config.embed_dim, c.embed_dim);
  EXPECT_EQ(w.config.num_layers, c.num_layers);
  EXPECT_EQ(w.config.k_components, c.k_components);
  ASSERT_EQ(static_cast<int64_t>(w.layers.size()), c.num_layers);
  expect_same(w.patch_w, get("model.patch_embed.projection.weight"), "patch_w");
  expect_same(w.layers[2].w12, get("model.transformer.layers.2.mlp.0.w12.weight"), "layer 2 w12");
  expect_same(w.layers[1].b3, get("model.transformer.layers.1.mlp.0.w3.bias"), "layer 1 b3");
  expect_same(w.layers[0].wqkv, get("model.transformer.layers.0.attention.wQKV.weight"), "layer 0 wqkv");
  expect_same(w.unembed_w, get("model.unembed.weight"), "unembed");
  expect_same(w.mix_b, get("model.output_distribution.mixture_weights.bias"), "mix_b");
  EXPECT_EQ(w.weight_file_bytes, fs::file_size(dir + "/model.safetensors"));
  EXPECT_FALSE(w.identity.empty());
  EXPECT_EQ(load_toto(dir).identity, w.identity) << "identity must be stable";
  // The random checkpoint carries the stale rotary tensor, like the published one.
  bool has_freqs = false;
  for (const auto& [n, t] : tensors_) has_freqs |= n == "model.transformer.rotary_emb.freqs";
  EXPECT_TRUE(has_freqs);
}

TEST_F(TotoLoader, EveryMissingTensorIsNamed) {
  const auto table = fcast::toto::toto_tensor_table(fcast::toto::toto_preset("tiny"));
  ASSERT_EQ(table.size(), 2u + 3u * 10u + 2u + 8u);
  for (const auto& [name, shape] : table) {
    const std::string dir = write(without(name));
    expect_error([&] { load_toto(dir); }, {"missing tensor '" + name + "'"}, "without " + name);
  }
}

TEST_F(TotoLoader, EveryMisShapedTensorIsNamed) {
  for (const auto& [name, shape] : fcast::toto::toto_tensor_table(fcast::toto::toto_preset("tiny"))) {
    Shape bad = shape;
    bad.back() += 1;
    const std::string dir = write(replaced(name, Tensor::zeros(DType::F32, bad)));
    expect_error([&] { load_toto(dir); },
                 {"tensor '" + name + "' has shape " + fcast::shape_str(bad), "expected " + fcast::shape_str(shape)},
                 "mis-shaped " + name);
  }
  // A transposed weight (same element count) is also a shape error.
  const std::string name = "model.transformer.layers.1.mlp.0.w3.weight";
  const Tensor& w3 = get(name);
  const std::string dir = write(replaced(name, w3.reshape({w3.dim(1), w3.dim(0)})));
  expect_error([&] { load_toto(dir); }, {"'" + name + "' has shape"}, "transposed w3");
}

TEST_F(TotoLoader, UnknownExtraTensorIsNamed) {
  for (const std::string extra : {"model.transformer.layers.0.attention.wK.weight", "model.extra",
                                  "model.transformer.layers.3.norm1.scale", "lm_head.weight"}) {
    Tensors ts = tensors_;
    ts.emplace_back(extra, Tensor::zeros(DType::F32, {4}));
    const std::string dir = write(ts);
    expect_error([&] { load_toto(dir); }, {"unexpected tensor '" + extra + "'"}, "extra " + extra);
  }
}

TEST_F(TotoLoader, PlainSwigluNamesAreAliases) {
  auto plain = [](const std::string& n) {
    std::string s = n;
    for (auto [from, to] : {std::pair<std::string, std::string>{".mlp.0.w12.", ".mlp.0."}, {".mlp.0.w3.", ".mlp.2."}}) {
      const auto p = s.find(from);
      if (p != std::string::npos) s.replace(p, from.size(), to);
    }
    return s;
  };
  // Every layer renamed, and a mix (layer 1 only) renamed.
  for (bool all : {true, false}) {
    Tensors ts;
    for (const auto& [n, t] : tensors_)
      ts.emplace_back(all || n.find("layers.1.") != std::string::npos ? plain(n) : n, t);
    bool renamed = false;
    for (const auto& [n, t] : ts) renamed |= n == "model.transformer.layers.1.mlp.2.weight";
    ASSERT_TRUE(renamed);
    const auto w = load_toto(write(ts));
    for (int i = 0; i < 3; ++i) {
      const std::string p = "model.transformer.layers." + std::to_string(i) + ".mlp.0.";
      expect_same(w.layers[i].w12, get(p + "w12.weight"), p + "w12.weight via its alias");
      expect_same(w.layers[i].b12, get(p + "w12.bias"), p + "w12.bias via its alias");
      expect_same(w.layers[i].w3, get(p + "w3.weight"), p + "w3.weight via its alias");
      expect_same(w.layers[i].b3, get(p + "w3.bias"), p + "w3.bias via its alias");
    }
  }
  // Both schemes for the same tensor is ambiguous.
  Tensors both = tensors_;
  both.emplace_back("model.transformer.layers.0.mlp.0.weight", get("model.transformer.layers.0.mlp.0.w12.weight"));
  expect_error([&] { load_toto(write(both)); }, {"model.transformer.layers.0.mlp.0.w12.weight", "both"},
               "both SwiGLU names");
  // An alias with the wrong shape is reported under the name in the file.
  Tensors bad = without("model.transformer.layers.2.mlp.0.w3.weight");
  bad.emplace_back("model.transformer.layers.2.mlp.2.weight", Tensor::zeros(DType::F32, {3, 3}));
  expect_error([&] { load_toto(write(bad)); }, {"'model.transformer.layers.2.mlp.2.weight' has shape [3, 3]"},
               "mis-shaped alias");
}

TEST_F(TotoLoader, RotaryFrequenciesAreIgnored) {
  Tensors ts = tensors_;
  // Per-layer copies of any shape and dtype, as older checkpoints may carry.
  ts.emplace_back("model.transformer.layers.0.attention.rotary_emb.freqs", Tensor::zeros(DType::F32, {5}));
  ts.emplace_back("model.transformer.layers.2.attention.rotary_emb.freqs", Tensor::zeros(DType::I64, {2, 2}));
  Tensor nan = Tensor::zeros(DType::F32, {3});
  nan.data<float>()[1] = std::numeric_limits<float>::quiet_NaN();
  ts.emplace_back("model.transformer.layers.1.attention.rotary_emb.freqs", nan);
  EXPECT_NO_THROW(load_toto(write(ts)));
  // And their absence is fine too.
  EXPECT_NO_THROW(load_toto(write(without("model.transformer.rotary_emb.freqs"))));
}

TEST_F(TotoLoader, HalfPrecisionCheckpointsAreWidened) {
  for (DType dt : {DType::BF16, DType::F16, DType::F64}) {
    Tensors ts;
    for (const auto& [n, t] : tensors_) ts.emplace_back(n, t.to(dt));
    const auto w = load_toto(write(ts));
    const std::string what = fcast::dtype_name(dt);
    // The loaded F32 values are exactly the file's values widened.
    expect_same(w.patch_w, get("model.patch_embed.projection.weight").to(dt), what + " patch_w");
    expect_same(w.layers[1].norm2, get("model.transformer.layers.1.norm2.scale").to(dt), what + " norm2");
    expect_same(w.unembed_b, get("model.unembed.bias").to(dt), what + " unembed_b");
    expect_same(w.df_w, get("model.output_distribution.df.weight").to(dt), what + " df_w");
    // Half precision actually rounded something (the test would be vacuous otherwise).
    if (dt != DType::F64) {
      EXPECT_NE(std::memcmp(w.unembed_w.raw(), get("model.unembed.weight").raw(), w.unembed_w.nbytes()), 0) << what;
    }
  }
  // A mix of dtypes in one file (F32 tensors at offsets that are not 4-aligned after BF16 ones).
  Tensors mixed;
  int k = 0;
  for (const auto& [n, t] : tensors_) mixed.emplace_back(n, (k++ % 2) ? t.to(DType::BF16) : t);
  EXPECT_NO_THROW(load_toto(write(mixed)));
}

TEST_F(TotoLoader, NonFiniteWeightIsNamed) {
  const std::string name = "model.transformer.layers.1.attention.wO.weight";
  for (float bad : {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity(),
                    -std::numeric_limits<float>::infinity()}) {
    Tensor t = get(name).clone();
    t.data<float>()[77] = bad;
    expect_error([&] { load_toto(write(replaced(name, t))); }, {"'" + name + "'", "non-finite", "77"},
                 "non-finite value in " + name);
    // The same in a BF16 file.
    expect_error([&] { load_toto(write(replaced(name, t.to(DType::BF16)))); }, {"'" + name + "'", "non-finite"},
                 "non-finite value in a BF16 " + name);
  }
  // An F64 value beyond the float32 range becomes inf when widened: also rejected.
  Tensor big = get("model.unembed.bias").to(DType::F64);
  big.data<double>()[3] = 1e300;
  expect_error([&] { load_toto(write(replaced("model.unembed.bias", big))); }, {"'model.unembed.bias'", "non-finite"},
               "F64 value beyond float32");
}

TEST_F(TotoLoader, IntegerWeightIsRejected) {
  const std::string name = "model.output_distribution.df.bias";
  expect_error([&] { load_toto(write(replaced(name, get(name).to(DType::I32)))); }, {"'" + name + "'", "dtype I32"},
               "I32 weight");
}

// ---------------------------------------------------------------------------------------
// config.json

TEST_F(TotoLoader, ConfigNotJson) {
  expect_error([&] { load_toto(write_config("{\"patch_size\": 16,")); }, {"config.json", "not valid JSON"}, "cut JSON");
  expect_error([&] { load_toto(write_config("")); }, {"config.json", "not valid JSON"}, "empty file");
  expect_error([&] { load_toto(write_config("[16, 16]")); }, {"config.json", "JSON object"}, "array");
}

TEST_F(TotoLoader, ConfigMissingRequiredKey) {
  for (const char* key : {"patch_size", "stride", "embed_dim", "num_layers", "num_heads", "mlp_hidden_dim",
                          "spacewise_every_n_layers", "scaler_cls", "output_distribution_classes"}) {
    nlohmann::json c = config_;
    c.erase(key);
    expect_error([&] { load_toto(write(tensors_, c)); }, {"config.json", std::string("'") + key + "'", "missing"},
                 std::string("without ") + key);
  }
}

TEST_F(TotoLoader, ConfigOptionalKeysTakeTheConstructorDefaults) {
  nlohmann::json c = config_;
  for (const char* key : {"dropout", "spacewise_first", "use_memory_efficient_attention", "stabilize_with_global",
                          "scale_factor_exponent"})
    c.erase(key);
  const auto w = load_toto(write(tensors_, c));
  EXPECT_TRUE(w.config.spacewise_first);  // the constructor default is true
  EXPECT_TRUE(w.config.stabilize_with_global);
  EXPECT_EQ(w.config.scale_factor_exponent, 10.0);
  EXPECT_EQ(w.config.space_layers(), (std::vector<bool>{true, false, false}));
}

TEST_F(TotoLoader, ConfigUnknownKey) {
  nlohmann::json c = config_;
  c["hidden_size"] = 64;
  expect_error([&] { load_toto(write(tensors_, c)); }, {"config.json", "unknown config key 'hidden_size'"},
               "unknown key");
}

TEST_F(TotoLoader, ConfigWrongTypes) {
  for (auto [key, value] : std::vector<std::pair<std::string, nlohmann::json>>{
           {"embed_dim", "64"}, {"scaler_cls", 3}, {"output_distribution_classes", "x"}, {"spacewise_first", "no"}}) {
    nlohmann::json c = config_;
    c[key] = value;
    expect_error([&] { load_toto(write(tensors_, c)); }, {"config.json", "'" + key + "'"},
                 key + " = " + value.dump());
  }
}

// DISABLED: fails today. TotoConfig::from_json reads integer keys with json::get<int64_t>, which
// converts a JSON float by truncation, so "embed_dim": 64.7 loads as 64 and "stride": 16.9 as 16
// (and 1e30 is an out-of-range float-to-integer conversion). The reference constructor would
// fail on a non-integral size; fcast should reject it naming the key.
TEST_F(TotoLoader, ConfigRejectsFractionalIntegers) {
  for (auto [key, value] : std::vector<std::pair<std::string, double>>{
           {"embed_dim", 64.7}, {"stride", 16.9}, {"num_layers", 3.5}, {"embed_dim", 1e30}}) {
    nlohmann::json c = config_;
    c[key] = value;
    expect_error([&] { load_toto(write(tensors_, c)); }, {"config.json", "'" + key + "'"},
                 key + " = " + std::to_string(value));
  }
}

TEST_F(TotoLoader, ConfigStrideMustEqualPatchSize) {
  nlohmann::json c = config_;
  c["stride"] = 8;
  expect_error([&] { load_toto(write(tensors_, c)); }, {"stride (8) must equal patch_size (16)"}, "stride 8");
}

TEST_F(TotoLoader, ConfigEmbedDimDivisibleByHeads) {
  nlohmann::json c = config_;
  c["num_heads"] = 5;
  expect_error([&] { load_toto(write(tensors_, c)); }, {"embed_dim 64 is not divisible by num_heads 5"}, "5 heads");
  c["num_heads"] = 64;  // head dim 1: rotary needs an even head dim
  expect_error([&] { load_toto(write(tensors_, c)); }, {"head dimension 1 must be even"}, "64 heads");
  c["num_heads"] = 0;
  expect_error([&] { load_toto(write(tensors_, c)); }, {"must be positive"}, "0 heads");
}

TEST_F(TotoLoader, ConfigLayersMultipleOfSpacewiseEvery) {
  nlohmann::json c = config_;
  c["num_layers"] = 4;
  expect_error([&] { load_toto(write(tensors_, c)); },
               {"num_layers (4) must be a multiple of spacewise_every_n_layers (3)"}, "4 layers, every 3");
  c["num_layers"] = 3;
  c["spacewise_every_n_layers"] = 0;
  expect_error([&] { load_toto(write(tensors_, c)); }, {"spacewise_every_n_layers"}, "every 0");
  c["spacewise_every_n_layers"] = -1;  // no space-wise layer at all: valid
  const auto w = load_toto(write(tensors_, c));
  EXPECT_EQ(w.config.space_layers(), (std::vector<bool>{false, false, false}));
}

TEST_F(TotoLoader, ConfigScalerClass) {
  nlohmann::json c = config_;
  c["scaler_cls"] = "<class 'model.scaler.MyScaler'>";
  expect_error([&] { load_toto(write(tensors_, c)); }, {"scaler_cls", "MyScaler", "not supported"}, "unknown scaler");
  c["scaler_cls"] = "<class 'model.scaler.StdMeanScaler'>";
  expect_error([&] { load_toto(write(tensors_, c)); }, {"scaler_cls", "StdMeanScaler", "not supported"},
               "a scaler the release does not use");
}

TEST_F(TotoLoader, ConfigOutputDistribution) {
  nlohmann::json c = config_;
  c["output_distribution_classes"] = {"<class 'model.distribution.Gaussian'>"};
  expect_error([&] { load_toto(write(tensors_, c)); }, {"unknown output distribution", "Gaussian"}, "unknown head");
  c = config_;
  c.erase("output_distribution_kwargs");
  expect_error([&] { load_toto(write(tensors_, c)); }, {"k_components"}, "mixture without k_components");
  // The single Student-T head: K = 1 and no mixture weights; the mixture tensors are then extra.
  auto st = fcast::toto::toto_preset("tiny");
  st.output_distribution = "<class 'model.distribution.StudentTOutput'>";
  TempDir d;
  fcast::toto::write_random_toto(st, 7, d.sub("st"));
  const auto w = load_toto(d.sub("st"));
  EXPECT_FALSE(w.config.mixture());
  EXPECT_EQ(w.df_w.shape(), (Shape{1, 64}));
  EXPECT_FALSE(w.mix_w.defined());
}

TEST_F(TotoLoader, MissingDirectoryOrFiles) {
  expect_error([&] { load_toto(tmp_.sub("no_such_model")); }, {"no_such_model", "does not exist", "fcast init-model"},
               "missing directory");
  const std::string dir = write(tensors_);
  expect_error([&] { load_toto(dir + "/config.json"); }, {"fcast init-model"}, "a file instead of a directory");
  fs::remove(dir + "/config.json");
  expect_error([&] { load_toto(dir); }, {"config.json is missing"}, "no config.json");
  const std::string dir2 = write(tensors_);
  fs::remove(dir2 + "/model.safetensors");
  expect_error([&] { load_toto(dir2); }, {"model.safetensors is missing"}, "no model.safetensors");
  const std::string dir3 = write(tensors_);
  std::ofstream(dir3 + "/model.safetensors", std::ios::trunc) << "junk";
  expect_error([&] { load_toto(dir3); }, {"model.safetensors", "not a safetensors file"}, "junk weights");
}

}  // namespace
