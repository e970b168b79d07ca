// safetensors reading (memory-mapped, fully validated) and writing (atomic).
//
//   SafetensorsFile f = SafetensorsFile::open("model.safetensors");
//   Tensor w = f.get("model.unembed.weight");   // zero-copy view into the mapping
//
// Validation on open: the file is a regular file (a FIFO or device is refused without
// blocking), the 8-byte header length fits the file (and 100 MB), the header is well-formed
// JSON naming each tensor once, whose entries have known dtypes, non-negative shapes and
// data_offsets that lie inside the data area, agree with dtype x shape, and do not overlap.
// A truncated file is reported as such. Every failure is an fcast::Error naming the file and
// the tensor. Only the header is read on open; tensor bytes are paged in when used.
#pragma once
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/tensor.h"
// read_file / write_file_atomic used to live here; model and runtime code that has not switched
// to io/file.h still reaches them through this include.
#include "io/file.h"

namespace fcast {

struct TensorInfo {
  std::string name;
  DType dtype;
  Shape shape;
  uint64_t begin = 0;  // byte offsets relative to the data area
  uint64_t end = 0;
};

class SafetensorsFile {
 public:
  static SafetensorsFile open(const std::string& path);

  const std::string& path() const { return path_; }
  const std::vector<TensorInfo>& tensors() const { return infos_; }
  bool has(const std::string& name) const { return index_.count(name) != 0; }
  const TensorInfo& info(const std::string& name) const;
  Tensor get(const std::string& name) const;  // zero-copy view, keeps the mapping alive
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  uint64_t file_size() const { return file_size_; }

 private:
  std::string path_;
  std::shared_ptr<void> mapping_;
  const char* data_ = nullptr;  // start of the data area
  uint64_t file_size_ = 0;
  std::vector<TensorInfo> infos_;
  std::map<std::string, size_t> index_;
  std::map<std::string, std::string> metadata_;
};

// Writes `tensors` (in the given order) to `path` with write_file_atomic (io/file.h).
void write_safetensors(const std::string& path, const std::vector<std::pair<std::string, Tensor>>& tensors,
                       const std::map<std::string, std::string>& metadata = {});

}  // namespace fcast
