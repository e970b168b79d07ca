#include "io/file.h"

#include <fcntl.h>
#include <limits.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <random>

#include "core/error.h"

namespace fcast {

namespace fs = std::filesystem;

namespace {

struct Mapping {
  void* addr = nullptr;
  size_t size = 0;
  ~Mapping() {
    if (addr && size) munmap(addr, size);
  }
};

// The file a write to `path` means: symbolic links followed hop by hop. The result need not
// exist (a dangling link names the file the write creates).
std::string resolve_links(const std::string& path) {
  std::string p = path;
  for (int hops = 0;; ++hops) {
    struct stat st {};
    if (::lstat(p.c_str(), &st) != 0 || !S_ISLNK(st.st_mode)) return p;
    if (hops == 40) fail(path, ": cannot write: too many levels of symbolic links");
    char buf[PATH_MAX];
    const ssize_t n = ::readlink(p.c_str(), buf, sizeof buf);
    if (n < 0 || n == static_cast<ssize_t>(sizeof buf))
      fail(path, ": cannot write: cannot read the symbolic link '", p, "' (", std::strerror(n < 0 ? errno : ENAMETOOLONG),
           ")");
    const fs::path target(std::string(buf, static_cast<size_t>(n)));
    p = target.is_absolute() ? target.string() : (fs::path(p).parent_path() / target).string();
  }
}

// Writes all of `bytes` to `fd`, then fsyncs and closes it (closing it in every case).
// Returns 0 or the errno of the first failure.
int write_sync_close(int fd, const std::string& bytes) {
  int err = 0;
  size_t done = 0;
  while (done < bytes.size() && err == 0) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) err = n < 0 ? errno : EIO;  // 0 for a non-empty write: nothing more will go
    else done += static_cast<size_t>(n);
  }
  if (err == 0 && ::fsync(fd) != 0) err = errno;
  if (::close(fd) != 0 && err == 0) err = errno;  // NFS and quota errors may surface only here
  return err;
}

}  // namespace

std::string file_kind(unsigned mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISSOCK(mode)) return "a socket";
  if (S_ISREG(mode)) return "a regular file";
  return "a special file";
}

RegularFile::RegularFile(const std::string& path) : path_(path) {
  // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer. It changes
  // nothing for the regular files accepted below.
  fd_ = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd_ < 0) fail(path, ": cannot open (", std::strerror(errno), ")");
  struct stat st {};
  if (::fstat(fd_, &st) != 0) {
    const int err = errno;
    ::close(fd_);
    fail(path, ": cannot stat (", std::strerror(err), ")");
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd_);
    fail(path, ": not a regular file (", file_kind(st.st_mode), ")");
  }
  size_ = static_cast<uint64_t>(st.st_size);
}

RegularFile::RegularFile(RegularFile&& o) noexcept : path_(std::move(o.path_)), fd_(o.fd_), size_(o.size_) {
  o.fd_ = -1;
}

RegularFile::~RegularFile() {
  if (fd_ >= 0) ::close(fd_);
}

std::string RegularFile::read(uint64_t offset, uint64_t n) const {
  if (offset > size_ || n > size_ - offset)
    fail(path_, ": ", n, " bytes at offset ", offset, " lie beyond the end of the file (", size_, " bytes)");
  std::string out(static_cast<size_t>(n), '\0');
  size_t done = 0;
  while (done < out.size()) {
    const ssize_t got = ::pread(fd_, out.data() + done, out.size() - done, static_cast<off_t>(offset + done));
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) fail(path_, ": read failed (", std::strerror(errno), ")");
    if (got == 0) fail(path_, ": truncated while being read (", offset + done, " of ", size_, " bytes; changed on disk?)");
    done += static_cast<size_t>(got);
  }
  return out;
}

void require_regular_file(const std::string& path) { RegularFile check(path); }

std::string read_file(const std::string& path, uint64_t max_bytes) {
  RegularFile f(path);
  if (f.size() > max_bytes)
    fail(path, ": ", f.size(), " bytes, more than the ", max_bytes, " bytes accepted for this file");
  return f.read(0, f.size());
}

MappedFile map_file(const std::string& path) {
  RegularFile f(path);
  MappedFile out;
  out.size = f.size();
  auto map = std::make_shared<Mapping>();
  // mmap rejects a zero length; an empty file simply has no bytes to view.
  if (out.size > 0) {
    map->size = out.size;
    map->addr = mmap(nullptr, map->size, PROT_READ, MAP_PRIVATE, f.fd(), 0);
    if (map->addr == MAP_FAILED) {
      map->addr = nullptr;
      fail(path, ": mmap failed (", std::strerror(errno), ")");
    }
  }
  out.data = static_cast<const char*>(map->addr);
  out.owner = map;
  return out;
}

namespace {

// Where a write to `path` goes, after the checks every write makes first.
struct OutputTarget {
  std::string path;  // links resolved
  fs::path dir;      // its folder
  bool exists = false;
  bool discard = false;  // the null device: the bytes are dropped, as a user asking for it means
  struct stat st {};
};

bool is_null_device(const struct stat& st) {
  struct stat null {};
  return S_ISCHR(st.st_mode) && ::stat("/dev/null", &null) == 0 && st.st_rdev == null.st_rdev;
}

OutputTarget output_target(const std::string& path) {
  OutputTarget t;
  // A special file is refused as it is reached (through links, so /dev/stdout, a link to a
  // pipe, is refused as well), and before anything is created.
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0 && is_null_device(st)) {
    t.discard = true;
    return t;
  }
  if (::stat(path.c_str(), &st) == 0 && !S_ISREG(st.st_mode))
    fail(path, ": cannot write: it is ", file_kind(st.st_mode),
         ", not a regular file (left untouched; fcast writes output only to regular files)");
  t.path = resolve_links(path);
  t.exists = ::stat(t.path.c_str(), &t.st) == 0;
  if (t.exists && !S_ISREG(t.st.st_mode))
    fail(path, ": cannot write: it is ", file_kind(t.st.st_mode), ", not a regular file (left untouched)");
  // As a shell redirect would: a file the user may not write is not replaced, even though its
  // folder would allow the rename.
  if (t.exists && ::access(t.path.c_str(), W_OK) != 0) fail(path, ": cannot write (", std::strerror(errno), ")");
  const fs::path p(t.path);
  if (p.filename().empty()) fail(path, ": cannot write: not a file name");
  t.dir = p.parent_path().empty() ? fs::path(".") : p.parent_path();
  return t;
}

}  // namespace

void check_output_file(const std::string& path) {
  const OutputTarget t = output_target(path);
  if (t.discard) return;
  struct stat st {};
  if (::stat(t.dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
    fail(path, ": cannot write: folder '", t.dir.string(), "' does not exist");
  if (::access(t.dir.c_str(), W_OK | X_OK) != 0)
    fail(path, ": cannot write: cannot create files in '", t.dir.string(), "' (", std::strerror(errno), ")");
}

void write_file_atomic(const std::string& path, const std::string& bytes) {
  const OutputTarget target = output_target(path);
  if (target.discard) return;
  const fs::path& dir = target.dir;
  const bool exists = target.exists;

  std::random_device rd;
  std::string tmp;
  int fd = -1;
  for (int attempt = 0; attempt < 8 && fd < 0; ++attempt) {
    tmp = (dir / cat(".", fs::path(target.path).filename().string(), ".tmp-", ::getpid(), "-", rd())).string();
    fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd < 0 && errno != EEXIST) break;
  }
  if (fd < 0) {
    if (errno == ENOENT) fail(path, ": cannot write: folder '", dir.string(), "' does not exist");
    fail(path, ": cannot write: cannot create a temporary file in '", dir.string(), "' (", std::strerror(errno), ")");
  }
  if (exists) {
    // The new file replaces the old one: it keeps the old one's permissions (and, where we may
    // set it, its owner) rather than getting fresh ones.
    if (::geteuid() == 0) (void)!::fchown(fd, target.st.st_uid, target.st.st_gid);
    (void)!::fchmod(fd, target.st.st_mode & 0777);
  }
  int err = write_sync_close(fd, bytes);
  if (err == 0 && ::rename(tmp.c_str(), target.path.c_str()) != 0) err = errno;
  if (err != 0) {
    ::unlink(tmp.c_str());
    fail(path, ": cannot write (", std::strerror(err), "); ", exists ? "the file is unchanged" : "nothing was written");
  }
  // The rename is durable once the folder is synced; a failure here loses nothing already written.
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    (void)::fsync(dfd);
    ::close(dfd);
  }
}

}  // namespace fcast
