// libFuzzer target: config.json parsing of every model config (TotoConfig, KronosTokenizerConfig,
// KronosPredictorConfig) through their from_file, the entry the loaders use. Each input is tried
// as all three.
// Property checked on accepted configs: what to_json() writes is accepted again and reads back
// to the same JSON (a config fcast accepted and wrote must load).
#include <cstdint>
#include <string>

#include "fuzz_util.h"
#include "models/kronos/config.h"
#include "models/toto/config.h"

using namespace fcast;

namespace {

template <class Config>
void round_trip(const Config& c, const char* what) {
  const std::string written = c.to_json().dump();
  const std::string path = fuzz::scratch_dir() + "/written.json";
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << written;
  }
  Config again;
  try {
    again = Config::from_file(path);
  } catch (const Error& e) {
    fuzz::finding(std::string(what) + ": an accepted config, written by to_json(), is rejected: " + e.what() +
                  "\nwritten: " + written);
  }
  if (again.to_json().dump() != written)
    fuzz::finding(std::string(what) + ": the written config reads back differently: " + written);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = fuzz::scratch_file("config.json", data, size);
  fuzz::expect_clean_error([&] {
    const toto::TotoConfig c = toto::TotoConfig::from_file(path);
    (void)c.head_dim();
    (void)c.components();
    // Layer counts the checkpoint cannot back are the loader's business:
    // only modest ones are expanded here.
    if (c.num_layers <= (1 << 16)) (void)c.space_layers();
    round_trip(c, "toto");
  });
  fuzz::expect_clean_error([&] {
    const kronos::KronosTokenizerConfig c = kronos::KronosTokenizerConfig::from_file(path);
    (void)c.head_dim();
    (void)c.codebook_dim();
    round_trip(c, "kronos tokenizer");
  });
  fuzz::expect_clean_error([&] {
    const kronos::KronosPredictorConfig c = kronos::KronosPredictorConfig::from_file(path);
    (void)c.head_dim();
    (void)c.dep_head_dim();
    (void)c.vocab_s1();
    (void)c.vocab_s2();
    round_trip(c, "kronos predictor");
  });
  return 0;
}
