#include "io/hf_cache.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "core/error.h"

namespace fcast {

namespace fs = std::filesystem;

namespace {

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v ? std::string(v) : std::string();
}

bool name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.';
}

}  // namespace

bool looks_like_repo_id(const std::string& s) {
  const size_t slash = s.find('/');
  if (slash == std::string::npos || slash == 0 || slash + 1 >= s.size()) return false;
  if (s.find('/', slash + 1) != std::string::npos) return false;
  if (s[0] == '.' || s[slash + 1] == '.') return false;
  for (size_t i = 0; i < s.size(); ++i)
    if (i != slash && !name_char(s[i])) return false;
  return true;
}

std::string hf_hub_cache_dir() {
  if (!env("HF_HUB_CACHE").empty()) return env("HF_HUB_CACHE");
  if (!env("HF_HOME").empty()) return (fs::path(env("HF_HOME")) / "hub").string();
  if (!env("XDG_CACHE_HOME").empty()) return (fs::path(env("XDG_CACHE_HOME")) / "huggingface" / "hub").string();
  const std::string home = env("HOME");
  return (fs::path(home.empty() ? "." : home) / ".cache" / "huggingface" / "hub").string();
}

std::string resolve_model_dir(const std::string& given, const std::string& flag) {
  std::error_code ec;
  if (given.empty() || fs::exists(given, ec) || !looks_like_repo_id(given)) return given;
  const std::string org = given.substr(0, given.find('/')), name = given.substr(given.find('/') + 1);
  const fs::path repo = fs::path(hf_hub_cache_dir()) / ("models--" + org + "--" + name);
  const fs::path snapshots = repo / "snapshots";
  const std::string fetch = cat("; fcast never downloads: on a connected machine run `huggingface-cli download ", given,
                                "` and copy ", repo.string(), " here (or pass a folder holding config.json and "
                                "model.safetensors; HF_HUB_CACHE or HF_HOME select another cache)");
  FCAST_CHECK(fs::is_directory(snapshots, ec), flag, " '", given, "' is not a folder, and the Hugging Face cache has no ",
              "such model: looked for ", snapshots.string(), fetch);
  // refs/main names the revision the last download fetched.
  std::ifstream ref(repo / "refs" / "main");
  std::string rev;
  if (ref && std::getline(ref, rev) && !rev.empty() && fs::is_directory(snapshots / rev, ec))
    return (snapshots / rev).string();
  fs::path newest;
  fs::file_time_type newest_time{};
  for (const auto& d : fs::directory_iterator(snapshots, ec)) {
    if (!d.is_directory(ec)) continue;
    const auto t = fs::last_write_time(d.path(), ec);
    if (newest.empty() || t > newest_time) {
      newest = d.path();
      newest_time = t;
    }
  }
  FCAST_CHECK(!newest.empty(), flag, " '", given, "': ", snapshots.string(), " holds no snapshot folder", fetch);
  return newest.string();
}

}  // namespace fcast
