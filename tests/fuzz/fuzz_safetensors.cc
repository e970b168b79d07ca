// libFuzzer target: the safetensors reader (SafetensorsFile::open: 8-byte length, JSON header,
// dtype/shape/offset checks) on arbitrary bytes, then every tensor it accepted is read whole.
// Properties checked on accepted files: every tensor lies inside the file, its byte size is
// dtype x shape, and get() hands out exactly those bytes of the file (ASan checks the reads).
#include <cstdint>
#include <cstring>

#include "fuzz_util.h"
#include "io/safetensors.h"

using namespace fcast;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = fuzz::scratch_file("model.safetensors", data, size);
  fuzz::expect_clean_error([&] {
    const SafetensorsFile f = SafetensorsFile::open(path);
    if (f.file_size() != size) fuzz::finding("file_size() differs from the bytes written");
    uint64_t hlen = 0;  // open() succeeded: the file has the 8-byte length
    std::memcpy(&hlen, data, 8);
    for (const TensorInfo& info : f.tensors()) {
      if (info.begin > info.end || info.end > size - 8 - hlen) fuzz::finding("tensor '" + info.name + "' lies outside the file");
      const Tensor t = f.get(info.name);
      if (t.nbytes() != info.end - info.begin) fuzz::finding("tensor '" + info.name + "' size is not dtype x shape");
      // The view must hold the file's bytes for this tensor (ASan reports a view past the mapping).
      if (t.nbytes() && std::memcmp(t.raw(), data + 8 + hlen + info.begin, t.nbytes()) != 0)
        fuzz::finding("tensor '" + info.name + "' does not hold its bytes of the file");
    }
  });
  return 0;
}
