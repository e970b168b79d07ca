// Kronos checkpoint loading: the golden checkpoints, the optional persistent buffers, the
// random-checkpoint writer's layout, and corrupt / mismatched checkpoints (clear errors).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "io/json.h"
#include "io/safetensors.h"
#include "models/kronos/weights.h"
#include "test_util.h"

namespace fcast::kronos {
namespace {

namespace fs = std::filesystem;
const std::string kGolden = std::string(FCAST_TEST_DATA) + "/golden/kronos";
using Tensors = std::vector<std::pair<std::string, Tensor>>;

struct TempDir : test::TempDir {
  explicit TempDir(const std::string& tag) : test::TempDir("kronos_" + tag) {}
};

void expect_error(const std::function<void()>& f, const std::string& needle) {
  try {
    f();
    ADD_FAILURE() << "no error; expected one mentioning '" << needle << "'";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

// Copies a checkpoint dir, letting `edit` change its tensor list before writing.
void copy_checkpoint(const std::string& src, const std::string& dst, const std::function<void(Tensors&)>& edit) {
  fs::create_directories(dst);
  fs::copy_file(fs::path(src) / "config.json", fs::path(dst) / "config.json", fs::copy_options::overwrite_existing);
  SafetensorsFile f = SafetensorsFile::open(src + "/model.safetensors");
  Tensors t;
  for (auto& info : f.tensors()) t.emplace_back(info.name, f.get(info.name).clone());
  edit(t);
  write_safetensors(dst + "/model.safetensors", t);
}

TEST(KronosWeights, LoadsGoldenCheckpoints) {
  auto tw = load_kronos_tokenizer(kGolden + "/models/tiny/tokenizer");
  EXPECT_EQ(tw.encoder.size(), 2u);
  EXPECT_EQ(tw.decoder.size(), 2u);
  EXPECT_EQ(tw.inv_freq_from_file, 4);
  auto pw = load_kronos_predictor(kGolden + "/models/tiny/predictor");
  EXPECT_EQ(pw.layers.size(), 2u);
  EXPECT_EQ(pw.inv_freq_from_file, 3);  // 2 layers + dependency layer
  auto fx = load_kronos_predictor(kGolden + "/models/tiny_fixedte/predictor");
  EXPECT_EQ(fx.minute.shape(), Shape({60, 32}));
  auto s10 = load_kronos_predictor(kGolden + "/models/small10/predictor");
  EXPECT_EQ(s10.emb_s1.shape(), Shape({1024, 64}));
}

TEST(KronosWeights, ComputedInvFreqEqualsTheFilesBitForBit) {
  for (const char* dir : {"/models/tiny/predictor", "/models/small10/predictor"}) {
    auto pw = load_kronos_predictor(kGolden + dir);
    Tensor mine = kronos_inv_freq(pw.config.head_dim());
    ASSERT_EQ(mine.numel(), pw.layers[0].inv_freq.numel());
    for (int64_t i = 0; i < mine.numel(); ++i)
      EXPECT_EQ(mine.data<float>()[i], pw.layers[0].inv_freq.data<float>()[i]) << dir << " m=" << i;
    Tensor dep = kronos_inv_freq(pw.config.dep_head_dim());
    for (int64_t i = 0; i < dep.numel(); ++i) EXPECT_EQ(dep.data<float>()[i], pw.dep_inv_freq.data<float>()[i]);
  }
}

TEST(KronosWeights, BuffersMayBeAbsent) {
  TempDir tmp("nobuf");
  auto strip = [](Tensors& t) {
    std::erase_if(t, [](auto& p) { return p.first.find("inv_freq") != std::string::npos || p.first.find("bsq") != std::string::npos; });
  };
  copy_checkpoint(kGolden + "/models/tiny/tokenizer", tmp.sub("tok"), strip);
  copy_checkpoint(kGolden + "/models/tiny/predictor", tmp.sub("pred"), strip);
  auto tw = load_kronos_tokenizer(tmp.sub("tok"));
  EXPECT_EQ(tw.inv_freq_from_file, 0);
  auto pw = load_kronos_predictor(tmp.sub("pred"));
  EXPECT_EQ(pw.inv_freq_from_file, 0);
  EXPECT_EQ(pw.dep_inv_freq.numel(), 4);
}

TEST(KronosWeights, RandomCheckpointsHaveThePublishedLayout) {
  TempDir tmp("layout");
  const auto m = read_json_file(kGolden + "/manifest.json");
  write_random_kronos_tokenizer(kronos_tokenizer_preset("kronos-tokenizer-tiny"), 1, tmp.sub("tok"));
  write_random_kronos_predictor(kronos_predictor_preset("kronos-tiny"), 2, tmp.sub("pred"));
  // Same byte size as the reference's files for the same config (tensor set, order, JSON header).
  EXPECT_EQ(fs::file_size(tmp.sub("tok") + "/model.safetensors"), m["models"]["tiny"]["tokenizer_file_bytes"].get<uint64_t>());
  EXPECT_EQ(fs::file_size(tmp.sub("pred") + "/model.safetensors"), m["models"]["tiny"]["predictor_file_bytes"].get<uint64_t>());
  // Same header order as the reference's file: I64 buffers first, then F32 by name.
  SafetensorsFile mine = SafetensorsFile::open(tmp.sub("tok") + "/model.safetensors");
  SafetensorsFile ref = SafetensorsFile::open(kGolden + "/models/tiny/tokenizer/model.safetensors");
  ASSERT_EQ(mine.tensors().size(), ref.tensors().size());
  for (size_t i = 0; i < ref.tensors().size(); ++i) {
    EXPECT_EQ(mine.tensors()[i].name, ref.tensors()[i].name);
    EXPECT_EQ(mine.tensors()[i].begin, ref.tensors()[i].begin);
  }
  // config.json as the mixin writes it: sorted keys, indent 2.
  EXPECT_EQ(read_file(tmp.sub("pred") + "/config.json"), read_file(kGolden + "/models/tiny/predictor/config.json"));
  EXPECT_EQ(read_file(tmp.sub("tok") + "/config.json"), read_file(kGolden + "/models/tiny/tokenizer/config.json"));
  auto pw = load_kronos_predictor(tmp.sub("pred"));
  EXPECT_EQ(pw.inv_freq_from_file, 3);
}

TEST(KronosWeights, MissingDirectoriesSayWhereToGetWeights) {
  expect_error([] { load_kronos_predictor("/nonexistent/kronos-small"); }, "NeoQuasar/Kronos-small");
  expect_error([] { load_kronos_predictor("/nonexistent/kronos-small"); }, "fcast init-model kronos");
  expect_error([] { load_kronos_tokenizer("/nonexistent/tok"); }, "NeoQuasar/Kronos-Tokenizer-base");
  TempDir tmp("nocfg");
  fs::create_directories(tmp.sub("d"));
  expect_error([&] { load_kronos_predictor(tmp.sub("d")); }, "config.json is missing");
}

TEST(KronosWeights, CorruptAndTruncatedFilesAreErrors) {
  TempDir tmp("corrupt");
  const std::string src = kGolden + "/models/tiny/predictor";
  fs::create_directories(tmp.sub("t"));
  fs::copy_file(src + "/config.json", tmp.sub("t") + "/config.json");
  const std::string bytes = read_file(src + "/model.safetensors");
  // Truncated in the data area.
  write_file_atomic(tmp.sub("t") + "/model.safetensors", bytes.substr(0, bytes.size() - 100));
  EXPECT_THROW(load_kronos_predictor(tmp.sub("t")), Error);
  // Truncated inside the header.
  write_file_atomic(tmp.sub("t") + "/model.safetensors", bytes.substr(0, 40));
  EXPECT_THROW(load_kronos_predictor(tmp.sub("t")), Error);
  // Garbage header.
  std::string garbage = bytes;
  for (size_t i = 8; i < 64; ++i) garbage[i] = '#';
  write_file_atomic(tmp.sub("t") + "/model.safetensors", garbage);
  EXPECT_THROW(load_kronos_predictor(tmp.sub("t")), Error);
  // Empty file.
  write_file_atomic(tmp.sub("t") + "/model.safetensors", "");
  EXPECT_THROW(load_kronos_predictor(tmp.sub("t")), Error);
  // Bad config.json.
  write_file_atomic(tmp.sub("t") + "/model.safetensors", bytes);
  write_file_atomic(tmp.sub("t") + "/config.json", "{\"d_model\": ");
  expect_error([&] { load_kronos_predictor(tmp.sub("t")); }, "not valid JSON");
}

TEST(KronosWeights, MismatchedTensorsAreNamed) {
  TempDir tmp("mismatch");
  const std::string src = kGolden + "/models/tiny/predictor";
  copy_checkpoint(src, tmp.sub("missing"), [](Tensors& t) {
    std::erase_if(t, [](auto& p) { return p.first == "head.proj_s2.bias"; });
  });
  expect_error([&] { load_kronos_predictor(tmp.sub("missing")); }, "missing: 'head.proj_s2.bias'");
  copy_checkpoint(src, tmp.sub("unknown"), [](Tensors& t) { t.emplace_back("extra.weight", Tensor::zeros(DType::F32, {3})); });
  expect_error([&] { load_kronos_predictor(tmp.sub("unknown")); }, "unexpected tensor 'extra.weight'");
  copy_checkpoint(src, tmp.sub("shape"), [](Tensors& t) {
    for (auto& p : t)
      if (p.first == "norm.weight") p.second = Tensor::zeros(DType::F32, {31});
  });
  expect_error([&] { load_kronos_predictor(tmp.sub("shape")); }, "'norm.weight' has shape [31], expected [32]");
  copy_checkpoint(src, tmp.sub("nan"), [](Tensors& t) {
    for (auto& p : t)
      if (p.first == "norm.weight") p.second.data<float>()[5] = NAN;
  });
  expect_error([&] { load_kronos_predictor(tmp.sub("nan")); }, "non-finite value at flat index 5");
  copy_checkpoint(src, tmp.sub("dtype"), [](Tensors& t) {
    for (auto& p : t)
      if (p.first == "norm.weight") p.second = Tensor::zeros(DType::I64, {32});
  });
  expect_error([&] { load_kronos_predictor(tmp.sub("dtype")); }, "dtype I64");
  // learn_te mismatch: fixed-table checkpoint with a learn_te: true config.
  copy_checkpoint(kGolden + "/models/tiny_fixedte/predictor", tmp.sub("te"), [](Tensors&) {});
  fs::copy_file(src + "/config.json", tmp.sub("te") + "/config.json", fs::copy_options::overwrite_existing);
  expect_error([&] { load_kronos_predictor(tmp.sub("te")); }, "learn_te: false");
  // A tokenizer directory given as the predictor.
  expect_error([&] { load_kronos_predictor(kGolden + "/models/tiny/tokenizer"); }, "swap the model and tokenizer");
  // Config that does not belong to the weights (other width).
  copy_checkpoint(src, tmp.sub("cfg"), [](Tensors&) {});
  write_file_atomic(tmp.sub("cfg") + "/config.json", read_file(kGolden + "/models/small10/predictor/config.json"));
  expect_error([&] { load_kronos_predictor(tmp.sub("cfg")); }, "expected [64] for this config.json");
  // Tokenizer bsq buffer with the wrong dtype.
  copy_checkpoint(kGolden + "/models/tiny/tokenizer", tmp.sub("bsq"), [](Tensors& t) {
    for (auto& p : t)
      if (p.first == "tokenizer.bsq.basis") p.second = Tensor::zeros(DType::F32, {8});
  });
  expect_error([&] { load_kronos_tokenizer(tmp.sub("bsq")); }, "expected I64");
}

}  // namespace
}  // namespace fcast::kronos
