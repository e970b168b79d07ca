// Whole files: read, map read-only, write atomically. Every failure is an fcast::Error naming
// the file.
//
//   std::string text = read_file("config.json");
//   MappedFile m = map_file("model.safetensors");   // m.data valid while m.owner (or a copy) lives
//   write_file_atomic("plan.bin", bytes);            // readers see the old or the new file, never half
#pragma once
#include <cstdint>
#include <memory>
#include <string>

namespace fcast {

std::string read_file(const std::string& path);

// Writes to a temporary file in the same directory, fsyncs, then renames over `path`: a crash
// or a concurrent reader never sees a partial file.
void write_file_atomic(const std::string& path, const std::string& bytes);

// A private read-only mapping of a regular file. `owner` unmaps when its last copy goes, so
// views into the file (Tensor::borrow_file) can keep it alive. An empty file maps to
// data == nullptr, size == 0.
struct MappedFile {
  std::shared_ptr<void> owner;
  const char* data = nullptr;
  uint64_t size = 0;
};
MappedFile map_file(const std::string& path);

}  // namespace fcast
