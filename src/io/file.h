// Whole files: read, map read-only, write. Every failure is an fcast::Error naming the file.
//
//   std::string text = read_file("config.json");      // regular files only, size-capped
//   MappedFile m = map_file("model.safetensors");     // m.data valid while m.owner (or a copy) lives
//   write_file_atomic("out.json", bytes);             // readers see the old or the new file, never half
//
// Reading a file fcast did not write (RegularFile, read_file, map_file): the open never blocks
// (O_NONBLOCK, so a FIFO or a device cannot hang it), and anything but a regular file is
// refused before a byte is read. Callers check sizes and magic/header prefixes with
// RegularFile::read before reading a whole file.
//
// Writing (write_file_atomic, the one writer for every output file, report, checkpoint and
// cache entry): see the function. docs/ROBUSTNESS.md states the rules for users.
//
// Thread safety: all functions may be called concurrently; a RegularFile is used by one thread.
#pragma once
#include <cstdint>
#include <memory>
#include <string>

namespace fcast {

// An open regular file, read with pread. Move-only; closes on destruction.
class RegularFile {
 public:
  // Throws "<path>: does not exist", "<path>: not a regular file (a FIFO)", "<path>: cannot
  // open (...)".
  explicit RegularFile(const std::string& path);
  RegularFile(RegularFile&& o) noexcept;
  RegularFile& operator=(RegularFile&&) = delete;
  RegularFile(const RegularFile&) = delete;
  ~RegularFile();

  const std::string& path() const { return path_; }
  int fd() const { return fd_; }
  uint64_t size() const { return size_; }  // at open time
  // Exactly `n` bytes from `offset`; throws naming the file when they are not all there (the
  // file shrank since it was opened) or the read fails.
  std::string read(uint64_t offset, uint64_t n) const;

 private:
  std::string path_;
  int fd_ = -1;
  uint64_t size_ = 0;
};

// "a directory", "a FIFO", "a character device", ... for a stat mode that is not a regular file.
std::string file_kind(unsigned mode);

// Throws unless `path` is a regular file (the check of RegularFile, for readers that then
// stream the file with their own reader).
void require_regular_file(const std::string& path);

// The whole of a regular file of at most `max_bytes` (a larger one is refused before it is read).
constexpr uint64_t kMaxReadFileBytes = 256ull << 20;
std::string read_file(const std::string& path, uint64_t max_bytes = kMaxReadFileBytes);

// The checks write_file_atomic makes before it writes, plus "its folder exists and may be
// written": tools call it on an --output path before the work whose result it receives.
void check_output_file(const std::string& path);

// Writes `bytes` to `path` so that `path` holds either its old contents or all of `bytes`:
//   - a symbolic link is written through: the link stays and the file it points to (after
//     every hop; it may not exist yet) gets the new contents;
//   - an existing target that is not a regular file (a directory, FIFO, socket, device such as
//     /dev/full) is refused without being opened or replaced; the one exception is the null
//     device (/dev/null), which discards the bytes, as asking for it means;
//   - the bytes go to a temporary file next to the target (its mode and, for root, owner
//     copied from an existing target), which is fsynced, closed and checked, then renamed
//     over the target. A failed or short write, fsync or close (ENOSPC, EFBIG, EIO) throws,
//     removes the temporary file and leaves the target untouched.
// A hard-linked target is replaced, not written in place: its other names keep the old bytes.
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
