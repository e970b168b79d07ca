// Kronos configs, presets and state_dict tables against the published shapes
// (golden published_state_dicts.json).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "io/json.h"
#include "models/kronos/config.h"
#include "models/kronos/weights.h"

namespace fcast::kronos {
namespace {

const std::string kGolden = std::string(FCAST_TEST_DATA) + "/golden/kronos";

nlohmann::json published() { return read_json_file(kGolden + "/published_state_dicts.json"); }

std::string preset_for(const std::string& hub) {
  if (hub == "NeoQuasar/Kronos-Tokenizer-base") return "kronos-tokenizer-base";
  if (hub == "NeoQuasar/Kronos-Tokenizer-2k") return "kronos-tokenizer-2k";
  if (hub == "NeoQuasar/Kronos-mini") return "kronos-mini";
  if (hub == "NeoQuasar/Kronos-small") return "kronos-small";
  return "kronos-base";
}

TEST(KronosConfig, PresetsMatchPublishedConfigs) {
  const auto pub = published();
  ASSERT_EQ(pub.size(), 5u);
  for (auto it = pub.begin(); it != pub.end(); ++it) {
    const std::string preset = preset_for(it.key());
    const auto& cfg = it.value()["config"];
    if (is_kronos_tokenizer_preset(preset)) {
      EXPECT_EQ(nlohmann::json(kronos_tokenizer_preset(preset).to_json()), cfg) << it.key();
      // Parsing the published config gives the preset back.
      EXPECT_EQ(nlohmann::json(KronosTokenizerConfig::from_json(cfg, it.key()).to_json()), cfg);
    } else {
      EXPECT_EQ(nlohmann::json(kronos_predictor_preset(preset).to_json()), cfg) << it.key();
      EXPECT_EQ(nlohmann::json(KronosPredictorConfig::from_json(cfg, it.key()).to_json()), cfg);
    }
  }
}

TEST(KronosConfig, TensorTablesMatchPublishedStateDicts) {
  const auto pub = published();
  for (auto it = pub.begin(); it != pub.end(); ++it) {
    const std::string preset = preset_for(it.key());
    const std::vector<KronosTensorSpec> table = is_kronos_tokenizer_preset(preset)
                                                    ? kronos_tokenizer_tensor_table(kronos_tokenizer_preset(preset))
                                                    : kronos_predictor_tensor_table(kronos_predictor_preset(preset));
    const auto& want = it.value()["tensors"];
    ASSERT_EQ(table.size(), want.size()) << it.key();
    int64_t params = 0;
    for (size_t i = 0; i < table.size(); ++i) {
      EXPECT_EQ(table[i].name, want[i][0].get<std::string>()) << it.key() << " #" << i;
      EXPECT_EQ(dtype_name(table[i].dtype), want[i][1].get<std::string>()) << table[i].name;
      EXPECT_EQ(table[i].shape, want[i][2].get<Shape>()) << table[i].name;
      if (table[i].dtype == DType::F32 && table[i].name.find("inv_freq") == std::string::npos)
        params += shape_numel(table[i].shape);
    }
    EXPECT_EQ(params, it.value()["param_count"].get<int64_t>()) << it.key();
  }
}

TEST(KronosConfig, GoldenConfigsParse) {
  auto t = KronosTokenizerConfig::from_file(kGolden + "/models/tiny/tokenizer/config.json");
  EXPECT_EQ(t.d_model, 32);
  EXPECT_EQ(t.enc_blocks(), 2);  // reference quirk: n_enc_layers - 1
  auto p = KronosPredictorConfig::from_file(kGolden + "/models/tiny_fixedte/predictor/config.json");
  EXPECT_FALSE(p.learn_te);
  EXPECT_EQ(p.dep_head_dim(), 8);
  auto s = KronosTokenizerConfig::from_file(kGolden + "/models/small10/tokenizer/config.json");
  EXPECT_EQ(s.group_size, 5);
}

void expect_error(const std::function<void()>& f, const std::string& needle) {
  try {
    f();
    ADD_FAILURE() << "no error; expected one mentioning '" << needle << "'";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

TEST(KronosConfig, RejectsBadConfigs) {
  nlohmann::json tok = kronos_tokenizer_preset("kronos-tokenizer-base").to_json();
  auto bad = tok;
  bad["s2_bits"] = 9;
  expect_error([&] { KronosTokenizerConfig::from_json(bad, "cfg"); }, "s1_bits (10) != s2_bits (9)");
  bad = tok;
  bad["d_in"] = 5;
  expect_error([&] { KronosTokenizerConfig::from_json(bad, "cfg"); }, "d_in = 5");
  bad = tok;
  bad["n_heads"] = 3;
  expect_error([&] { KronosTokenizerConfig::from_json(bad, "cfg"); }, "not divisible by n_heads");
  bad = tok;
  bad.erase("d_model");
  expect_error([&] { KronosTokenizerConfig::from_json(bad, "cfg"); }, "required key 'd_model'");
  bad = tok;
  bad["d_model"] = 256.5;
  expect_error([&] { KronosTokenizerConfig::from_json(bad, "cfg"); }, "must be an integer");
  bad = tok;
  bad["colour"] = 1;
  expect_error([&] { KronosTokenizerConfig::from_json(bad, "cfg"); }, "unknown tokenizer config key 'colour'");

  nlohmann::json pred = kronos_predictor_preset("kronos-small").to_json();
  // A tokenizer config passed as the model (and vice versa) is named as such.
  expect_error([&] { KronosPredictorConfig::from_json(tok, "cfg"); }, "swap the model and tokenizer");
  expect_error([&] { KronosTokenizerConfig::from_json(pred, "cfg"); }, "swap the model and tokenizer");
  bad = pred;
  bad["learn_te"] = "yes";
  expect_error([&] { KronosPredictorConfig::from_json(bad, "cfg"); }, "learn_te");
  bad = pred;
  bad["d_model"] = 36;  // 36 / 4 heads = 9: odd dependency-layer head dim
  bad["n_heads"] = 2;
  expect_error([&] { KronosPredictorConfig::from_json(bad, "cfg"); }, "dependency layer");
  bad = pred;
  bad["attn_dropout_p"] = 1.5;
  expect_error([&] { KronosPredictorConfig::from_json(bad, "cfg"); }, "attn_dropout_p");
  bad = pred;
  bad["s1_bits"] = 40;
  expect_error([&] { KronosPredictorConfig::from_json(bad, "cfg"); }, "s1_bits and s2_bits must lie in");

  // Mismatched pair.
  expect_error([&] { check_kronos_pair(kronos_predictor_preset("kronos-tiny"), kronos_tokenizer_preset("kronos-tokenizer-base"), "p", "t"); },
               "pair each predictor with its own tokenizer");
  expect_error([&] { kronos_predictor_preset("kronos-huge"); }, "valid presets");
  expect_error([&] { kronos_predictor_preset("kronos-tokenizer-2k"); }, "tokenizer preset");
}

TEST(KronosConfig, PresetNamesAndPairs) {
  EXPECT_TRUE(is_kronos_predictor_preset("NeoQuasar/Kronos-small"));
  EXPECT_TRUE(is_kronos_tokenizer_preset("Kronos-Tokenizer-2k"));
  EXPECT_EQ(kronos_matching_tokenizer("kronos-mini"), "kronos-tokenizer-2k");
  EXPECT_EQ(kronos_matching_tokenizer("Kronos-base"), "kronos-tokenizer-base");
  EXPECT_EQ(kronos_default_max_context("kronos-mini"), 2048);
  EXPECT_EQ(kronos_default_max_context("kronos-small"), 512);
  EXPECT_EQ(kronos_predictor_preset("kronos-base").dep_head_dim(), 208);
}

}  // namespace
}  // namespace fcast::kronos
