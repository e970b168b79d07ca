// safetensors: round trips for every dtype fcast writes, bf16/f16 conversions against known
// bit patterns, and fault injection on hand-made files. A damaged file must always give an
// fcast::Error whose message names the problem (and the file), never a crash.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/rng.h"
#include "core/tensor.h"
#include "io/safetensors.h"

namespace {

namespace fs = std::filesystem;
using fcast::DType;
using fcast::Error;
using fcast::SafetensorsFile;
using fcast::Tensor;

// A fresh directory under the system temp dir, removed with everything in it at the end.
class TempDir {
 public:
  TempDir() {
    std::random_device rd;
    path_ = fs::temp_directory_path() / ("fcast_safetensors_test_" + std::to_string(getpid()) + "_" +
                                         std::to_string(rd()) + "_" + std::to_string(counter_++));
    fs::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  std::string file(const std::string& name) const { return (path_ / name).string(); }
  const fs::path& path() const { return path_; }

 private:
  static inline int counter_ = 0;
  fs::path path_;
};

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// A safetensors file from a header (taken verbatim) and a data area.
std::string st_bytes(const std::string& header, const std::string& data, uint64_t claimed_len = UINT64_MAX) {
  uint64_t n = claimed_len == UINT64_MAX ? header.size() : claimed_len;
  std::string out(reinterpret_cast<const char*>(&n), 8);
  return out + header + data;
}

// Expects open() to throw fcast::Error whose message contains every one of `needles`.
void expect_open_error(const std::string& path, const std::vector<std::string>& needles, const std::string& what) {
  try {
    SafetensorsFile f = SafetensorsFile::open(path);
    ADD_FAILURE() << what << ": open succeeded (" << f.tensors().size() << " tensors)";
  } catch (const Error& e) {
    const std::string msg = e.what();
    for (const auto& n : needles) EXPECT_NE(msg.find(n), std::string::npos) << what << ": '" << n << "' not in: " << msg;
  } catch (const std::exception& e) {
    ADD_FAILURE() << what << ": threw a non-fcast exception: " << e.what();
  }
}

// Writes header + data to a fresh file and expects open() to fail naming the problem.
void expect_corrupt(const TempDir& dir, const std::string& header, const std::string& data,
                    const std::vector<std::string>& needles, const std::string& what) {
  static int n = 0;
  const std::string path = dir.file("corrupt_" + std::to_string(n++) + ".safetensors");
  write_bytes(path, st_bytes(header, data));
  auto all = needles;
  all.push_back(path);  // every message names the file
  expect_open_error(path, all, what);
}

uint32_t bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}
float from_bits(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

template <class T>
T load(const Tensor& t, int64_t i) {
  T v;
  std::memcpy(&v, static_cast<const char*>(t.raw()) + i * sizeof(T), sizeof(T));
  return v;
}

// ---------------------------------------------------------------------------------------
// round trips

TEST(Safetensors, RoundTripEveryDtype) {
  TempDir dir;
  fcast::Rng rng(1);
  std::vector<float> f32(2 * 3 * 5);
  for (auto& v : f32) v = static_cast<float>(rng.normal());
  f32[0] = std::numeric_limits<float>::infinity();
  f32[1] = -0.0f;
  f32[2] = std::numeric_limits<float>::denorm_min();
  std::vector<double> f64 = {1.0 / 3, -1e300, 5e-324, 0.0};
  std::vector<int64_t> i64 = {std::numeric_limits<int64_t>::min(), -1, 0, std::numeric_limits<int64_t>::max(), 42};
  std::vector<int32_t> i32 = {std::numeric_limits<int32_t>::min(), -7, 0, 7, std::numeric_limits<int32_t>::max(), 1};
  std::vector<uint8_t> u8 = {0, 1, 127, 128, 255};
  Tensor f16 = Tensor::empty(DType::F16, {7});
  const uint16_t f16_bits[7] = {0x3C00, 0x0001, 0x03FF, 0x7BFF, 0xFC00, 0x7E00, 0x8000};
  std::memcpy(f16.raw(), f16_bits, sizeof f16_bits);
  std::vector<uint16_t> bf16 = {0x3F80, 0x4049, 0xFF80, 0x7FC0, 0x0001, 0x8000};

  std::vector<std::pair<std::string, Tensor>> ts = {
      {"a.f32", Tensor::from_vector(f32, {2, 3, 5})},
      {"b.f64", Tensor::from_vector(f64, {4})},
      {"c.f16", f16},
      {"d.bf16", Tensor::from_vector(bf16, {2, 3})},
      {"e.i64", Tensor::from_vector(i64, {5, 1})},
      {"f.i32", Tensor::from_vector(i32, {3, 2})},
      {"g.u8", Tensor::from_vector(u8, {5})},
      {"h.scalar", Tensor::from_vector(std::vector<float>{2.5f}, {})},
      {"i.empty", Tensor::empty(DType::F32, {0, 4})},
  };
  const std::string path = dir.file("all.safetensors");
  fcast::write_safetensors(path, ts, {{"format", "pt"}, {"note", "fcast test"}});
  SafetensorsFile f = SafetensorsFile::open(path);
  ASSERT_EQ(f.tensors().size(), ts.size());
  EXPECT_EQ(f.metadata().at("format"), "pt");
  EXPECT_EQ(f.metadata().at("note"), "fcast test");
  for (const auto& [name, t] : ts) {
    SCOPED_TRACE(name);
    ASSERT_TRUE(f.has(name));
    const Tensor g = f.get(name);
    EXPECT_EQ(g.dtype(), t.dtype());
    EXPECT_EQ(g.shape(), t.shape());
    ASSERT_EQ(g.nbytes(), t.nbytes());
    if (t.nbytes()) {
      EXPECT_EQ(std::memcmp(g.raw(), t.raw(), t.nbytes()), 0) << "bytes differ";
    }
  }
  // Values read back (memcpy: the writer does not align tensors, see WrittenTensorsAreAligned).
  EXPECT_EQ(load<int64_t>(f.get("e.i64"), 0), std::numeric_limits<int64_t>::min());
  EXPECT_EQ(load<int32_t>(f.get("f.i32"), 4), std::numeric_limits<int32_t>::max());
  EXPECT_EQ(load<uint8_t>(f.get("g.u8"), 4), 255);
  EXPECT_EQ(load<double>(f.get("b.f64"), 2), 5e-324);
  EXPECT_EQ(load<float>(f.get("h.scalar"), 0), 2.5f);
  // The views stay valid after the SafetensorsFile is gone (they keep the mapping alive).
  Tensor keep = f.get("a.f32");
  f = SafetensorsFile();
  EXPECT_EQ(std::memcmp(keep.raw(), f32.data(), f32.size() * 4), 0);
  // The atomic writer leaves no temporary behind.
  int files = 0;
  for (const auto& e : fs::directory_iterator(dir.path())) files += e.is_regular_file() ? 1 : 0;
  EXPECT_EQ(files, 1);
}

// DISABLED: fails today. write_safetensors packs tensors in the order given, so after an
// odd-sized F16/BF16/U8 tensor the next F32/I64 tensor starts at an unaligned address, and
// SafetensorsFile::get hands out that unaligned zero-copy view; data<T>() on it is undefined
// behaviour (UBSan: "load of misaligned address ... for type 'const long int'"). The reference
// safetensors writer sorts tensors by dtype alignment (largest first) so that every tensor is
// aligned; fcast's writer should do the same (or pad), and the reader should copy (or reject)
// unaligned tensors from foreign files.
// Weights are checked once at load and then read only through packed copies, so the loader
// drops a mapped tensor's pages; the data must stay readable (faulted back from the file).
TEST(Safetensors, MappedTensorsReleasePagesAndStayValid) {
  TempDir dir;
  const std::string path = dir.file("big.safetensors");
  std::vector<float> v(3 << 18);  // 3 MiB
  fcast::Rng rng(4);
  for (auto& x : v) x = static_cast<float>(rng.normal());
  fcast::write_safetensors(path, {{"w", Tensor::from_vector(v, {static_cast<int64_t>(v.size())})}});
  SafetensorsFile f = SafetensorsFile::open(path);
  Tensor w = f.get("w");
  ASSERT_TRUE(w.file_backed());
  ASSERT_EQ(std::memcmp(w.raw(), v.data(), w.nbytes()), 0);
  EXPECT_GE(w.release_pages(), w.nbytes() - 8192);  // all whole pages inside the tensor
  EXPECT_EQ(std::memcmp(w.raw(), v.data(), w.nbytes()), 0);
  EXPECT_TRUE(w.reshape({3, static_cast<int64_t>(v.size()) / 3}).file_backed());
  // Heap tensors are never released; large zero tensors (fresh mappings) read as zeros.
  Tensor h = Tensor::from_vector(v, {static_cast<int64_t>(v.size())});
  EXPECT_FALSE(h.file_backed());
  EXPECT_EQ(h.release_pages(), 0u);
  Tensor z = Tensor::zeros(DType::F32, {1 << 20});
  EXPECT_FALSE(z.file_backed());
  const float* zp = z.data<float>();
  EXPECT_TRUE(std::all_of(zp, zp + z.numel(), [](float x) { return x == 0.0f; }));
  z.data<float>()[12345] = 2.0f;
  EXPECT_EQ(z.data<float>()[12345], 2.0f);
}

TEST(Safetensors, WrittenTensorsAreAligned) {
  TempDir dir;
  const std::string path = dir.file("mixed.safetensors");
  fcast::write_safetensors(path, {{"a", Tensor::zeros(DType::U8, {3})},
                                  {"b", Tensor::zeros(DType::F16, {3})},
                                  {"c", Tensor::zeros(DType::F32, {3})},
                                  {"d", Tensor::zeros(DType::I64, {3})}});
  SafetensorsFile f = SafetensorsFile::open(path);
  for (const auto& info : f.tensors()) {
    const auto addr = reinterpret_cast<uintptr_t>(f.get(info.name).raw());
    EXPECT_EQ(addr % fcast::dtype_size(info.dtype), 0u)
        << "tensor '" << info.name << "' (" << fcast::dtype_name(info.dtype) << ") at data offset " << info.begin;
  }
}

TEST(Safetensors, RoundTripConvertedTensors) {
  // F32 -> BF16 / F16 through Tensor::to, written and read back, then widened.
  TempDir dir;
  const std::vector<float> v = {1.0f, -2.5f, 0.1f, 65504.0f, 1e-6f, 3.0e38f};
  Tensor t = Tensor::from_vector(v, {6});
  const std::string path = dir.file("conv.safetensors");
  fcast::write_safetensors(path, {{"bf", t.to(DType::BF16)}, {"hf", t.to(DType::F16)}, {"d", t.to(DType::F64)}});
  SafetensorsFile f = SafetensorsFile::open(path);
  const Tensor bf = f.get("bf").to(DType::F32), hf = f.get("hf").to(DType::F32), d = f.get("d");
  for (size_t i = 0; i < v.size(); ++i) {
    EXPECT_EQ(bf.data<float>()[i], fcast::bf16_to_f32(fcast::f32_to_bf16(v[i]))) << i;
    EXPECT_EQ(hf.data<float>()[i], fcast::f16_to_f32(fcast::f32_to_f16(v[i]))) << i;
    EXPECT_EQ(d.data<double>()[i], static_cast<double>(v[i])) << i;
  }
  EXPECT_TRUE(std::isinf(hf.data<float>()[5]));  // 3e38 overflows float16
  EXPECT_EQ(hf.data<float>()[3], 65504.0f);
}

// ---------------------------------------------------------------------------------------
// bf16 / f16 conversions

TEST(Safetensors, Bf16KnownBitPatterns) {
  struct C {
    uint32_t f32;
    uint16_t bf16;
    const char* what;
  };
  const C cases[] = {
      {0x3F800000u, 0x3F80, "1.0"},
      {0xBF800000u, 0xBF80, "-1.0"},
      {0x00000000u, 0x0000, "+0"},
      {0x80000000u, 0x8000, "-0"},
      {0x40490FDBu, 0x4049, "pi rounds down"},
      {0x3F808000u, 0x3F80, "tie, even below: stays"},
      {0x3F818000u, 0x3F82, "tie, odd below: rounds up to even"},
      {0x3F808001u, 0x3F81, "just above the tie: rounds up"},
      {0x3F807FFFu, 0x3F80, "just below the tie: rounds down"},
      {0x7F800000u, 0x7F80, "+inf"},
      {0xFF800000u, 0xFF80, "-inf"},
      {0x7F7FFFFFu, 0x7F80, "FLT_MAX rounds to +inf"},
      {0x00000001u, 0x0000, "smallest subnormal rounds to 0"},
      {0x00010000u, 0x0001, "a bf16 subnormal is kept"},
      {0x3FFFFFFFu, 0x4000, "mantissa carry into the exponent"},
  };
  for (const C& c : cases) EXPECT_EQ(fcast::f32_to_bf16(from_bits(c.f32)), c.bf16) << c.what;
  // NaN stays NaN (a signalling NaN whose payload sits in the low bits must not become inf).
  for (uint32_t nan : {0x7FC00000u, 0xFFC00000u, 0x7F800001u, 0x7FBFFFFFu}) {
    const uint16_t h = fcast::f32_to_bf16(from_bits(nan));
    EXPECT_TRUE(std::isnan(fcast::bf16_to_f32(h))) << std::hex << nan << " -> " << h;
    EXPECT_EQ(h & 0x8000, (nan >> 16) & 0x8000) << "sign of NaN lost";
  }
  EXPECT_EQ(fcast::bf16_to_f32(0x4049), 3.140625f);
  EXPECT_EQ(bits(fcast::bf16_to_f32(0x0001)), 0x00010000u);
  // Every bf16 value survives a round trip through float32.
  for (uint32_t h = 0; h < 0x10000; ++h) {
    const float f = fcast::bf16_to_f32(static_cast<uint16_t>(h));
    if (std::isnan(f)) continue;
    ASSERT_EQ(fcast::f32_to_bf16(f), h) << "bf16 " << std::hex << h;
  }
}

TEST(Safetensors, F16KnownBitPatterns) {
  struct C {
    float f;
    uint16_t f16;
    const char* what;
  };
  const C cases[] = {
      {1.0f, 0x3C00, "1.0"},
      {-2.0f, 0xC000, "-2.0"},
      {0.0f, 0x0000, "+0"},
      {-0.0f, 0x8000, "-0"},
      {65504.0f, 0x7BFF, "max half"},
      {65519.0f, 0x7BFF, "below the overflow tie"},
      {65520.0f, 0x7C00, "overflow tie rounds to inf (even)"},
      {1e10f, 0x7C00, "overflow"},
      {-1e10f, 0xFC00, "negative overflow"},
      {std::numeric_limits<float>::infinity(), 0x7C00, "+inf"},
      {-std::numeric_limits<float>::infinity(), 0xFC00, "-inf"},
      {1.0f + 0x1p-11f, 0x3C00, "tie, even below"},
      {1.0f + 3 * 0x1p-11f, 0x3C02, "tie, odd below: up to even"},
      {1.0f + 0x1p-11f + 0x1p-20f, 0x3C01, "just above the tie"},
      {1.0f - 0x1p-12f, 0x3C00, "tie just below 1.0: carry into the exponent"},
      {0x1p-14f, 0x0400, "smallest normal"},
      {0x1p-24f, 0x0001, "smallest subnormal"},
      {-0x1p-24f, 0x8001, "negative subnormal"},
      {1023 * 0x1p-24f, 0x03FF, "largest subnormal"},
      {0x1p-25f, 0x0000, "tie between 0 and the smallest subnormal: even (0)"},
      {0x1p-25f * 1.0001f, 0x0001, "above that tie"},
      {3 * 0x1p-25f, 0x0002, "subnormal tie 1.5 ulp: up to even"},
      {5 * 0x1p-25f, 0x0002, "subnormal tie 2.5 ulp: down to even"},
      {0x1p-14f - 0x1p-26f, 0x0400, "subnormal rounding up into the smallest normal"},
      {0x1p-26f, 0x0000, "far below the smallest subnormal"},
      {std::numeric_limits<float>::denorm_min(), 0x0000, "float32 subnormal"},
      {0.333333333f, 0x3555, "1/3"},
  };
  for (const C& c : cases)
    EXPECT_EQ(fcast::f32_to_f16(c.f), c.f16) << c.what << " (" << c.f << ")";
  for (uint32_t nan : {0x7FC00000u, 0xFFC00000u, 0x7F800001u}) {
    const uint16_t h = fcast::f32_to_f16(from_bits(nan));
    EXPECT_EQ(h & 0x7C00, 0x7C00) << "NaN lost its exponent";
    EXPECT_NE(h & 0x03FF, 0) << "NaN became inf: " << std::hex << h;
  }
  EXPECT_EQ(fcast::f16_to_f32(0x0001), 0x1p-24f);
  EXPECT_EQ(fcast::f16_to_f32(0x03FF), 1023 * 0x1p-24f);
  EXPECT_EQ(fcast::f16_to_f32(0x8001), -0x1p-24f);
  EXPECT_EQ(fcast::f16_to_f32(0x0400), 0x1p-14f);
  EXPECT_EQ(fcast::f16_to_f32(0x7BFF), 65504.0f);
  EXPECT_EQ(fcast::f16_to_f32(0x3555), 0.333251953125f);
  EXPECT_EQ(fcast::f16_to_f32(0x7C00), std::numeric_limits<float>::infinity());
  EXPECT_EQ(fcast::f16_to_f32(0xFC00), -std::numeric_limits<float>::infinity());
  EXPECT_TRUE(std::isnan(fcast::f16_to_f32(0x7E00)));
  EXPECT_TRUE(std::isnan(fcast::f16_to_f32(0x7C01)));
  EXPECT_EQ(bits(fcast::f16_to_f32(0x8000)), 0x80000000u);
  // Every f16 value survives a round trip through float32.
  for (uint32_t h = 0; h < 0x10000; ++h) {
    const float f = fcast::f16_to_f32(static_cast<uint16_t>(h));
    if (std::isnan(f)) continue;
    ASSERT_EQ(fcast::f32_to_f16(f), h) << "f16 " << std::hex << h;
  }
}

TEST(Safetensors, F16RoundsToNearestEvenOnRandomFloats) {
  // Property check against a float64 search over the two neighbouring halves.
  fcast::Rng rng(2);
  for (int i = 0; i < 200000; ++i) {
    const double mag = std::ldexp(rng.uniform(), static_cast<int>(rng.uniform() * 44) - 28);  // 2^-28 .. 2^16
    const float x = static_cast<float>(rng.uniform() < 0.5 ? -mag : mag);
    const uint16_t h = fcast::f32_to_f16(x);
    const double got = fcast::f16_to_f32(h);
    if (std::isinf(got)) {
      ASSERT_GE(std::fabs(x), 65520.0f) << x;
      continue;
    }
    // The neighbours of h in magnitude (h +- 1 in the sign-magnitude encoding).
    const uint16_t sign = h & 0x8000, m = h & 0x7FFF;
    const double err = std::fabs(got - x);
    for (int d : {-1, 1}) {
      const int nm = static_cast<int>(m) + d;
      if (nm < 0 || nm > 0x7BFF) continue;
      const double other = fcast::f16_to_f32(static_cast<uint16_t>(sign | nm));
      const double oerr = std::fabs(other - x);
      ASSERT_LE(err, oerr) << "f32_to_f16(" << x << ") = " << std::hex << h << " is not the nearest half";
      if (err == oerr) {
        ASSERT_EQ(m & 1, 0) << "tie at " << x << " not rounded to even";
      }
    }
  }
}

// ---------------------------------------------------------------------------------------
// fault injection

const std::string kGoodHeader = R"({"t":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]}})";
const std::string kGoodData(16, '\0');

TEST(Safetensors, GoodHandMadeFileOpens) {
  TempDir dir;
  const std::string path = dir.file("good.safetensors");
  write_bytes(path, st_bytes(kGoodHeader, kGoodData));
  SafetensorsFile f = SafetensorsFile::open(path);
  ASSERT_TRUE(f.has("t"));
  EXPECT_EQ(f.info("t").shape, (fcast::Shape{2, 2}));
  // Trailing bytes after the last tensor are tolerated.
  write_bytes(path, st_bytes(kGoodHeader, kGoodData + "xyz"));
  EXPECT_NO_THROW(SafetensorsFile::open(path));
}

TEST(Safetensors, FileShorterThanEightBytes) {
  TempDir dir;
  for (size_t n : {0, 1, 7}) {
    const std::string path = dir.file("short" + std::to_string(n));
    write_bytes(path, std::string(n, '\x01'));
    expect_open_error(path, {path, "8-byte header length"}, "file of " + std::to_string(n) + " bytes");
  }
}

TEST(Safetensors, HeaderLengthBeyondTheFile) {
  TempDir dir;
  const std::string path = dir.file("hlen.safetensors");
  write_bytes(path, st_bytes(kGoodHeader, kGoodData, kGoodHeader.size() + 17 + 1));
  expect_open_error(path, {path, "truncated", "header claims"}, "header length one past the end");
  write_bytes(path, st_bytes("", "", 1000));
  expect_open_error(path, {path, "truncated"}, "header length with no header");
  write_bytes(path, st_bytes(kGoodHeader, kGoodData, 0xFFFFFFFFFFFFFFF0ull));
  expect_open_error(path, {path, "implausible"}, "header length near 2^64");
  write_bytes(path, st_bytes(kGoodHeader, kGoodData, 200ull << 20));
  expect_open_error(path, {path, "implausible"}, "header length of 200 MB");
}

TEST(Safetensors, TruncatedData) {
  TempDir dir;
  expect_corrupt(dir, kGoodHeader, std::string(15, '\0'), {"truncated", "'t'"}, "tensor one byte past the end");
  expect_corrupt(dir, kGoodHeader, "", {"truncated", "'t'"}, "no data area at all");
  // A whole file cut short, as an interrupted download would be.
  TempDir d2;
  const std::string path = d2.file("cut.safetensors");
  std::vector<float> v(1000, 1.0f);
  fcast::write_safetensors(path, {{"w", Tensor::from_vector(v, {10, 100})}});
  std::string bytes = fcast::read_file(path);
  write_bytes(path, bytes.substr(0, bytes.size() - 100));
  expect_open_error(path, {path, "truncated", "'w'"}, "file cut short");
  write_bytes(path, bytes.substr(0, 20));
  expect_open_error(path, {path, "truncated"}, "file cut inside the header");
}

TEST(Safetensors, HeaderNotJson) {
  TempDir dir;
  expect_corrupt(dir, "{\"t\": {\"dtype\": ", kGoodData, {"not valid JSON"}, "cut JSON");
  expect_corrupt(dir, "hello world", kGoodData, {"not valid JSON"}, "plain text");
  expect_corrupt(dir, std::string("{\"a\"\0:1}", 8), kGoodData, {"not valid JSON"}, "NUL inside the header");
  expect_corrupt(dir, "", kGoodData, {"not valid JSON"}, "empty header");
}

TEST(Safetensors, HeaderNotAnObject) {
  TempDir dir;
  expect_corrupt(dir, "[1,2,3]", kGoodData, {"JSON object"}, "array header");
  expect_corrupt(dir, "42", kGoodData, {"JSON object"}, "number header");
  expect_corrupt(dir, "\"t\"", kGoodData, {"JSON object"}, "string header");
}

TEST(Safetensors, BadTensorEntries) {
  TempDir dir;
  expect_corrupt(dir, R"({"t":{"dtype":"Q4","shape":[2,2],"data_offsets":[0,16]}})", kGoodData,
                 {"'t'", "unsupported dtype", "Q4"}, "unknown dtype");
  expect_corrupt(dir, R"({"t":{"dtype":7,"shape":[2,2],"data_offsets":[0,16]}})", kGoodData, {"'t'", "dtype"},
                 "numeric dtype");
  expect_corrupt(dir, R"({"t":{"dtype":"F32","shape":[-2,-2],"data_offsets":[0,16]}})", kGoodData,
                 {"'t'", "invalid dimension", "-2"}, "negative dimension");
  expect_corrupt(dir, R"({"t":{"dtype":"F32","shape":[2.0,2],"data_offsets":[0,16]}})", kGoodData,
                 {"'t'", "invalid dimension"}, "float dimension");
  expect_corrupt(dir, R"({"t":{"dtype":"F32","shape":["2",2],"data_offsets":[0,16]}})", kGoodData,
                 {"'t'", "invalid dimension"}, "string dimension");
  expect_corrupt(dir, R"({"t":{"dtype":"F32","shape":[9223372036854775808],"data_offsets":[0,16]}})", kGoodData,
                 {"'t'", "invalid dimension"}, "dimension above int64");
  expect_corrupt(dir, R"({"t":{"dtype":"F32","shape":4,"data_offsets":[0,16]}})", kGoodData,
                 {"'t'", "shape is not an array"}, "shape not an array");
  expect_corrupt(dir, R"({"t":{"dtype":"F32","shape":[2,2]}})", kGoodData, {"'t'", "data_offsets"},
                 "missing data_offsets");
  expect_corrupt(dir, R"({"t":[1,2]})", kGoodData, {"'t'", "needs dtype, shape and data_offsets"}, "entry not an object");
  expect_corrupt(dir, R"({"t":{"dtype":"F32","shape":[2,2],"data_offsets":[0]}})", kGoodData,
                 {"'t'", "data_offsets must be two non-negative integers"}, "one offset");
  expect_corrupt(dir, R"({"t":{"dtype":"F32","shape":[2,2],"data_offsets":[-16,0]}})", kGoodData,
                 {"'t'", "data_offsets must be two non-negative integers"}, "negative offset");
  expect_corrupt(dir, R"({"t":{"dtype":"F32","shape":[2,2],"data_offsets":[0.0,16.0]}})", kGoodData,
                 {"'t'", "data_offsets must be two non-negative integers"}, "float offsets");
}

TEST(Safetensors, DataOffsetsMustMatchDtypeTimesShape) {
  TempDir dir;
  expect_corrupt(dir, R"({"t":{"dtype":"F32","shape":[2,2],"data_offsets":[0,12]}})", kGoodData,
                 {"'t'", "occupies 12 bytes", "needs 16"}, "too few bytes");
  expect_corrupt(dir, R"({"t":{"dtype":"F64","shape":[2,2],"data_offsets":[0,16]}})", kGoodData,
                 {"'t'", "occupies 16 bytes", "needs 32"}, "dtype width ignored");
  expect_corrupt(dir, R"({"t":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]},
                          "u":{"dtype":"BF16","shape":[3],"data_offsets":[16,24]}})",
                 std::string(24, '\0'), {"'u'", "needs 6"}, "second tensor too long");
}

// DISABLED: fails today. SafetensorsFile::open computes dtype x shape with shape_numel, whose
// int64 product overflows (undefined behaviour; in practice it wraps), so a header can claim
// a shape of 2^64 + 4 elements stored in 16 bytes and open() accepts it. Enable once open()
// checks the product for overflow.
TEST(Safetensors, ShapeWhoseSizeOverflowsIsRejected) {
  // numel = 2^62 * 4 wraps to 0 in 64-bit arithmetic; a file claiming that shape with zero
  // bytes must not open (a reader would run far past the mapping).
  TempDir dir;
  expect_corrupt(dir, R"({"t":{"dtype":"F32","shape":[4611686018427387904,4],"data_offsets":[0,0]}})", "",
                 {"'t'"}, "shape product wraps to zero");
  expect_corrupt(dir, R"({"t":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,0]}})", "",
                 {"'t'"}, "shape product 2^64 wraps to zero");
  expect_corrupt(dir, R"({"t":{"dtype":"F32","shape":[4611686018427387905,4],"data_offsets":[0,16]}})", kGoodData,
                 {"'t'"}, "shape product wraps to 4 elements");
}

TEST(Safetensors, BeginAfterEnd) {
  TempDir dir;
  expect_corrupt(dir, R"({"t":{"dtype":"F32","shape":[2,2],"data_offsets":[16,0]}})", kGoodData,
                 {"'t'", "begin > end"}, "begin > end");
}

TEST(Safetensors, OverlappingTensors) {
  TempDir dir;
  expect_corrupt(dir, R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},
                          "b":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}})",
                 kGoodData, {"'a'", "'b'", "overlap"}, "b inside a");
  expect_corrupt(dir, R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[4,12]},
                          "b":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})",
                 kGoodData, {"overlap"}, "partial overlap, listed out of order");
  expect_corrupt(dir, R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},
                          "b":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})",
                 kGoodData, {"overlap"}, "identical ranges");
  // Touching ranges and a zero-size tensor inside another one are fine.
  TempDir ok;
  const std::string path = ok.file("touch.safetensors");
  write_bytes(path, st_bytes(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},
                                 "b":{"dtype":"F32","shape":[2],"data_offsets":[8,16]},
                                 "z":{"dtype":"F32","shape":[0],"data_offsets":[4,4]}})",
                             kGoodData));
  EXPECT_NO_THROW(SafetensorsFile::open(path));
}

TEST(Safetensors, TensorNamedTwiceIsAnError) {
  TempDir dir;
  // JSON keeps the last of two equal keys: before the check the first 't' was silently lost.
  expect_corrupt(dir,
                 R"({"t":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                 R"("u":{"dtype":"F32","shape":[2],"data_offsets":[8,16]},)"
                 R"("t":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}})",
                 kGoodData, {"tensor 't'", "more than once"}, "duplicate tensor name");
  // Equal keys at other depths are no tensor names and are left to the entry checks.
  const std::string path = dir.file("nested.safetensors");
  write_bytes(path, st_bytes(R"({"__metadata__":{"a":"1"},"t":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]}})",
                             kGoodData));
  EXPECT_NO_THROW(SafetensorsFile::open(path));
}

TEST(Safetensors, MissingFileAndDirectory) {
  TempDir dir;
  const std::string missing = dir.file("does_not_exist.safetensors");
  expect_open_error(missing, {missing, "cannot open", "No such file"}, "missing file");
  expect_open_error(dir.path().string(), {dir.path().string(), "not a regular file"}, "a directory");
  EXPECT_THROW(fcast::read_file(missing), Error);
}

TEST(Safetensors, MetadataAccepted) {
  TempDir dir;
  const std::string path = dir.file("meta.safetensors");
  write_bytes(path, st_bytes(R"({"__metadata__":{"format":"pt","x":"1"},)" + kGoodHeader.substr(1), kGoodData));
  SafetensorsFile f = SafetensorsFile::open(path);
  EXPECT_EQ(f.tensors().size(), 1u);
  EXPECT_FALSE(f.has("__metadata__"));
  EXPECT_EQ(f.metadata().at("format"), "pt");
  EXPECT_EQ(f.metadata().at("x"), "1");
  expect_corrupt(dir, R"({"__metadata__":{"n":1}})", "", {"__metadata__", "'n'", "not a string"},
                 "metadata value not a string");
  expect_corrupt(dir, R"({"__metadata__":[1]})", "", {"__metadata__"}, "metadata not an object");
}

TEST(Safetensors, ZeroSizeTensorsAndEmptyFile) {
  TempDir dir;
  const std::string path = dir.file("zero.safetensors");
  write_bytes(path, st_bytes(R"({"z":{"dtype":"F32","shape":[3,0],"data_offsets":[0,0]},
                                 "e":{"dtype":"I64","shape":[0],"data_offsets":[0,0]}})",
                             ""));
  SafetensorsFile f = SafetensorsFile::open(path);
  EXPECT_EQ(f.get("z").numel(), 0);
  EXPECT_EQ(f.get("z").shape(), (fcast::Shape{3, 0}));
  EXPECT_EQ(f.get("e").numel(), 0);
  // A header with no tensors at all.
  write_bytes(path, st_bytes("{}", ""));
  EXPECT_EQ(SafetensorsFile::open(path).tensors().size(), 0u);
  // Written by fcast.
  fcast::write_safetensors(path, {{"z", Tensor::empty(DType::BF16, {0})}});
  EXPECT_EQ(SafetensorsFile::open(path).get("z").numel(), 0);
}

TEST(Safetensors, UnknownTensorNameIsAnError) {
  TempDir dir;
  const std::string path = dir.file("good.safetensors");
  write_bytes(path, st_bytes(kGoodHeader, kGoodData));
  SafetensorsFile f = SafetensorsFile::open(path);
  try {
    (void)f.get("nope");
    ADD_FAILURE() << "get of a missing tensor succeeded";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("'nope'"), std::string::npos) << e.what();
  }
}

TEST(Safetensors, RandomByteFlipsNeverCrash) {
  // Fault injection: flip header bytes of a valid file one at a time; each result either opens
  // (and every tensor's bytes lie inside the file) or throws fcast::Error.
  TempDir dir;
  const std::string good = dir.file("good.safetensors");
  fcast::write_safetensors(good, {{"a", Tensor::zeros(DType::F32, {3, 4})}, {"b", Tensor::zeros(DType::I64, {5})}});
  const std::string bytes = fcast::read_file(good);
  uint64_t hlen;
  std::memcpy(&hlen, bytes.data(), 8);
  const std::string path = dir.file("flipped.safetensors");
  fcast::Rng rng(3);
  for (size_t pos = 0; pos < 8 + hlen; ++pos) {
    std::string b = bytes;
    b[pos] = static_cast<char>(b[pos] ^ (1 + static_cast<int>(rng.uniform() * 254)));
    write_bytes(path, b);
    try {
      SafetensorsFile f = SafetensorsFile::open(path);
      for (const auto& info : f.tensors()) {
        ASSERT_LE(info.end, f.file_size()) << "byte " << pos;
        ASSERT_EQ(static_cast<uint64_t>(fcast::shape_numel(info.shape)) * fcast::dtype_size(info.dtype),
                  info.end - info.begin)
            << "byte " << pos;
      }
    } catch (const Error&) {
    } catch (const std::exception& e) {
      ADD_FAILURE() << "byte " << pos << ": non-fcast exception " << e.what();
    }
  }
}

}  // namespace
