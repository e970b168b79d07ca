// Tensor: a typed, shaped view of memory that is either owned (heap) or borrowed
// (e.g. a memory-mapped safetensors file, kept alive by a shared storage handle).
//
//   Tensor t = Tensor::zeros(DType::F32, {2, 3});
//   t.data<float>()[0] = 1.0f;
//   Tensor v = t.reshape({3, 2});   // a view sharing the same storage
#pragma once
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/error.h"

namespace fcast {

enum class DType : uint8_t { F32, F64, F16, BF16, I64, I32, I16, I8, U8, BOOL };

size_t dtype_size(DType t);
const char* dtype_name(DType t);  // safetensors spelling: "F32", "BF16", ...
std::optional<DType> dtype_from_name(const std::string& s);
bool dtype_is_float(DType t);

using Shape = std::vector<int64_t>;
int64_t shape_numel(const Shape& s);
std::string shape_str(const Shape& s);

template <class T> constexpr DType dtype_of();
template <> constexpr DType dtype_of<float>() { return DType::F32; }
template <> constexpr DType dtype_of<double>() { return DType::F64; }
template <> constexpr DType dtype_of<int64_t>() { return DType::I64; }
template <> constexpr DType dtype_of<int32_t>() { return DType::I32; }
template <> constexpr DType dtype_of<uint8_t>() { return DType::U8; }
template <> constexpr DType dtype_of<uint16_t>() { return DType::BF16; }

class Tensor {
 public:
  Tensor() = default;
  static Tensor empty(DType dtype, Shape shape);
  static Tensor zeros(DType dtype, Shape shape);
  // Borrow memory; `keepalive` owns whatever backs `data` (may be null for caller-managed memory).
  static Tensor borrow(DType dtype, Shape shape, void* data, std::shared_ptr<void> keepalive);
  // Borrow from a read-only file mapping (a safetensors file): views of it are file_backed().
  static Tensor borrow_file(DType dtype, Shape shape, const void* data, std::shared_ptr<void> mapping);
  template <class T>
  static Tensor from_vector(const std::vector<T>& v, Shape shape) {
    FCAST_CHECK(static_cast<int64_t>(v.size()) == shape_numel(shape), "from_vector: size ", v.size(),
                " does not match shape ", shape_str(shape));
    Tensor t = empty(dtype_of<T>(), std::move(shape));
    if (!v.empty()) std::memcpy(t.raw(), v.data(), v.size() * sizeof(T));
    return t;
  }

  bool defined() const { return data_ != nullptr || (storage_ && shape_numel(shape_) == 0); }
  DType dtype() const { return dtype_; }
  const Shape& shape() const { return shape_; }
  int ndim() const { return static_cast<int>(shape_.size()); }
  int64_t dim(int i) const;  // negative i counts from the end
  int64_t numel() const { return shape_numel(shape_); }
  size_t nbytes() const { return static_cast<size_t>(numel()) * dtype_size(dtype_); }

  void* raw() { return data_; }
  const void* raw() const { return data_; }
  template <class T>
  T* data() {
    FCAST_ASSERT(dtype_of<T>() == dtype_);
    return static_cast<T*>(data_);
  }
  template <class T>
  const T* data() const {
    FCAST_ASSERT(dtype_of<T>() == dtype_);
    return static_cast<const T*>(data_);
  }

  Tensor reshape(Shape shape) const;        // view; numel must match
  Tensor slice0(int64_t begin, int64_t end) const;  // view of rows [begin, end) of axis 0
  Tensor clone() const;
  Tensor to(DType dtype) const;             // converting copy (float <-> float, int <-> int/float)
  bool same_storage(const Tensor& o) const { return storage_ == o.storage_; }
  bool file_backed() const { return file_backed_; }
  // For a file-backed tensor: drops its whole pages from this process's resident set (the next
  // read faults them back in from the file, so the data stays valid). Used once a weight's
  // packed copy has been made. Returns the bytes released; 0 for any other tensor.
  size_t release_pages() const;

 private:
  DType dtype_ = DType::F32;
  Shape shape_;
  void* data_ = nullptr;
  std::shared_ptr<void> storage_;
  bool file_backed_ = false;
};

// Number of tensor buffers allocated by the calling thread so far (Tensor::empty/zeros/clone/to).
// The compiled executor's debug mode checks that a planned run allocates none.
int64_t tensor_allocation_count();

// bfloat16 / float16 helpers (round to nearest even on the way down). The bf16 pair is inline:
// kernels call it per element in loops the compiler vectorises.
inline float bf16_to_f32(uint16_t h) {
  const uint32_t u = static_cast<uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
inline uint16_t f32_to_bf16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x40);  // quiet NaN
  return static_cast<uint16_t>((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}
float f16_to_f32(uint16_t h);
uint16_t f32_to_f16(float f);

}  // namespace fcast
