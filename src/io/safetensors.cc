#include "io/safetensors.h"

#include <algorithm>
#include <cstring>
#include <set>
#include <nlohmann/json.hpp>

namespace fcast {

namespace {

constexpr uint64_t kMaxHeader = 100ull << 20;  // the format's own limit is 100 MB

}  // namespace

SafetensorsFile SafetensorsFile::open(const std::string& path) {
  SafetensorsFile f;
  f.path_ = path;
  MappedFile map = map_file(path);
  f.file_size_ = map.size;
  if (f.file_size_ < 8)
    fail(path, ": not a safetensors file (", f.file_size_, " bytes; the 8-byte header length is missing)");
  const char* base = map.data;
  uint64_t hlen = 0;
  std::memcpy(&hlen, base, 8);  // little-endian hosts only (x86-64, aarch64)
  if (hlen > kMaxHeader) fail(path, ": header length ", hlen, " is implausible (corrupt or not a safetensors file)");
  if (hlen > f.file_size_ - 8)
    fail(path, ": truncated: header claims ", hlen, " bytes but the file has only ", f.file_size_ - 8, " after the length");
  nlohmann::json header;
  // JSON objects keep the last of repeated keys; a header naming one tensor twice is
  // ambiguous (which bytes are the weight?) and is refused instead.
  std::set<std::string> seen;
  std::string repeated;
  const auto note_keys = [&](int depth, nlohmann::json::parse_event_t event, nlohmann::json& parsed) {
    if (depth == 1 && event == nlohmann::json::parse_event_t::key && repeated.empty() &&
        !seen.insert(parsed.get<std::string>()).second)
      repeated = parsed.get<std::string>();
    return true;
  };
  try {
    header = nlohmann::json::parse(base + 8, base + 8 + hlen, note_keys);
  } catch (const std::exception& e) {
    fail(path, ": header is not valid JSON (", e.what(), ")");
  }
  if (!repeated.empty()) fail(path, ": tensor '", repeated, "' appears more than once in the header");
  if (!header.is_object()) fail(path, ": header must be a JSON object");
  const uint64_t data_size = f.file_size_ - 8 - hlen;
  f.data_ = base + 8 + hlen;
  for (auto it = header.begin(); it != header.end(); ++it) {
    const std::string& name = it.key();
    if (name == "__metadata__") {
      if (!it->is_object()) fail(path, ": __metadata__ must be an object of strings");
      for (auto m = it->begin(); m != it->end(); ++m) {
        if (!m->is_string()) fail(path, ": __metadata__ value for '", m.key(), "' is not a string");
        f.metadata_[m.key()] = m->get<std::string>();
      }
      continue;
    }
    const auto& e = *it;
    if (!e.is_object() || !e.contains("dtype") || !e.contains("shape") || !e.contains("data_offsets"))
      fail(path, ": tensor '", name, "' needs dtype, shape and data_offsets");
    if (!e["dtype"].is_string()) fail(path, ": tensor '", name, "' has a non-string dtype");
    auto dt = dtype_from_name(e["dtype"].get<std::string>());
    if (!dt) fail(path, ": tensor '", name, "' has unsupported dtype '", e["dtype"].get<std::string>(), "'");
    TensorInfo info;
    info.name = name;
    info.dtype = *dt;
    if (!e["shape"].is_array()) fail(path, ": tensor '", name, "' shape is not an array");
    for (const auto& d : e["shape"]) {
      if (!d.is_number_integer() || d.get<int64_t>() < 0)
        fail(path, ": tensor '", name, "' has an invalid dimension ", d.dump());
      info.shape.push_back(d.get<int64_t>());
    }
    const auto& off = e["data_offsets"];
    if (!off.is_array() || off.size() != 2 || !off[0].is_number_unsigned() || !off[1].is_number_unsigned())
      fail(path, ": tensor '", name, "' data_offsets must be two non-negative integers");
    info.begin = off[0].get<uint64_t>();
    info.end = off[1].get<uint64_t>();
    if (info.begin > info.end) fail(path, ": tensor '", name, "' has data_offsets with begin > end");
    // Overflow-safe size: a product that does not fit in 64 bits can never match the offsets.
    uint64_t want = dtype_size(info.dtype);
    bool overflow = false;
    for (int64_t d : info.shape) overflow = __builtin_mul_overflow(want, static_cast<uint64_t>(d), &want) || overflow;
    if (std::find(info.shape.begin(), info.shape.end(), 0) != info.shape.end()) overflow = false, want = 0;
    if (overflow || want != info.end - info.begin)
      fail(path, ": tensor '", name, "' occupies ", info.end - info.begin, " bytes but dtype ", dtype_name(info.dtype),
           " x shape ", shape_str(info.shape), " needs ", overflow ? std::string("more than 2^64") : std::to_string(want));
    if (info.end > data_size)
      fail(path, ": truncated: tensor '", name, "' ends at byte ", info.end, " of the data area, which has only ",
           data_size, " bytes");
    f.index_[name] = f.infos_.size();
    f.infos_.push_back(std::move(info));
  }
  std::vector<const TensorInfo*> sorted;
  for (const auto& i : f.infos_) sorted.push_back(&i);
  std::sort(sorted.begin(), sorted.end(), [](auto* a, auto* b) { return a->begin < b->begin; });
  for (size_t i = 1; i < sorted.size(); ++i)
    if (sorted[i]->begin < sorted[i - 1]->end && sorted[i]->begin != sorted[i]->end)
      fail(path, ": tensors '", sorted[i - 1]->name, "' and '", sorted[i]->name, "' overlap in the data area");
  f.mapping_ = map.owner;
  return f;
}

const TensorInfo& SafetensorsFile::info(const std::string& name) const {
  auto it = index_.find(name);
  if (it == index_.end()) fail(path_, ": no tensor named '", name, "'");
  return infos_[it->second];
}

Tensor SafetensorsFile::get(const std::string& name) const {
  const TensorInfo& i = info(name);
  const char* p = data_ + i.begin;
  if (reinterpret_cast<uintptr_t>(p) % dtype_size(i.dtype) != 0) {
    // Foreign writers may pack tensors without alignment: copy instead of handing out a
    // misaligned view.
    Tensor t = Tensor::empty(i.dtype, i.shape);
    if (t.nbytes()) std::memcpy(t.raw(), p, t.nbytes());
    return t;
  }
  return Tensor::borrow_file(i.dtype, i.shape, p, mapping_);
}

void write_safetensors(const std::string& path, const std::vector<std::pair<std::string, Tensor>>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  // Lay tensors out by element size, largest first (then in the given order), as the reference
  // writer does: with an 8-byte aligned data area every tensor is then naturally aligned.
  std::vector<const std::pair<std::string, Tensor>*> order;
  for (const auto& e : tensors) order.push_back(&e);
  std::stable_sort(order.begin(), order.end(),
                   [](auto* a, auto* b) { return dtype_size(a->second.dtype()) > dtype_size(b->second.dtype()); });
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  uint64_t off = 0;
  for (const auto* e : order) {
    const auto& [name, t] = *e;
    header[name] = {{"dtype", dtype_name(t.dtype())}, {"shape", t.shape()}, {"data_offsets", {off, off + t.nbytes()}}};
    off += t.nbytes();
  }
  std::string h = header.dump();
  while (h.size() % 8) h.push_back(' ');
  std::string out;
  out.reserve(8 + h.size() + off);
  uint64_t hl = h.size();
  out.append(reinterpret_cast<const char*>(&hl), 8);
  out += h;
  for (const auto* e : order) out.append(static_cast<const char*>(e->second.raw()), e->second.nbytes());
  write_file_atomic(path, out);
}

}  // namespace fcast
