#include "graph/plan.h"

#include <sstream>

#include "core/hash.h"

#include "graph/passes/fusion.h"
#include "graph/passes/memory_plan.h"

namespace fcast {

void PlanSignature::set(const std::string& name, const std::string& value) {
  for (auto& [k, v] : fields)
    if (k == name) {
      v = value;
      return;
    }
  fields.emplace_back(name, value);
}

std::string PlanSignature::get(const std::string& name) const {
  for (const auto& [k, v] : fields)
    if (k == name) return v;
  return "";
}

std::string PlanSignature::key() const {
  std::string s;
  for (const auto& [k, v] : fields) s += k + "=" + v + ";";
  return s;
}

std::string PlanSignature::diff(const PlanSignature& before, const PlanSignature& after) {
  std::string out;
  auto add = [&](const std::string& k, const std::string& a, const std::string& b) {
    if (a == b) return;
    if (!out.empty()) out += ", ";
    out += k + " " + (a.empty() ? "(none)" : a) + " -> " + (b.empty() ? "(none)" : b);
  };
  for (const auto& [k, v] : after.fields) add(k, before.get(k), v);
  for (const auto& [k, v] : before.fields)
    if (after.get(k).empty() && !v.empty()) add(k, v, "");
  return out;
}

int PlanSignature::distance(const PlanSignature& a, const PlanSignature& b) {
  int d = 0;
  for (const auto& [k, v] : b.fields) d += a.get(k) != v;
  for (const auto& [k, v] : a.fields) d += b.get(k).empty() && !v.empty();
  return d;
}

const char* step_kind_name(StepKind k) {
  switch (k) {
    case StepKind::Reference: return "reference";
    case StepKind::Matmul: return "matmul";
    case StepKind::AddRMSNorm: return "add_rmsnorm";
    case StepKind::RMSNorm: return "rmsnorm";
    case StepKind::Softmax: return "softmax";
    case StepKind::Rotary: return "rotary";
    case StepKind::Attention: return "attention";
    case StepKind::SiluMul: return "silu_mul";
  }
  return "?";
}

ValueId storage_root(const Graph& g, ValueId v) {
  while (g.value(v).alias != kNone) v = g.value(v).alias;
  return v;
}

Plan compile_plan(const Graph& g, const PlanSignature& sig, const CompileOptions& opt) {
  Plan p;
  p.signature = sig;
  p.steps = lower_graph(g, opt.fuse);
  plan_memory(g, p);
  return p;
}

// Text serialisation: one token stream, names escaped by length prefixes. The PlanCache adds
// the header (magic, versions, CPU features, identity) and the checksum around it.
namespace {
constexpr const char* kPlanMagic = "fcast-plan-1";

// Bytes of the blob not read yet: no count may promise more elements than could fit in them
// (a damaged count must not allocate gigabytes before the read fails).
size_t left(std::istream& in) {
  const auto here = in.tellg();
  if (here < 0) return 0;
  in.seekg(0, std::ios::end);
  const auto end = in.tellg();
  in.seekg(here);
  return end > here ? static_cast<size_t>(end - here) : 0;
}

void put_str(std::ostream& o, const std::string& s) { o << s.size() << ':' << s << ' '; }
bool get_str(std::istream& in, std::string& s) {
  size_t n = 0;
  char c = 0;
  if (!(in >> n) || !in.get(c) || c != ':' || n > (1u << 20) || n > left(in)) return false;
  s.resize(n);
  if (n && !in.read(s.data(), static_cast<std::streamsize>(n))) return false;
  return true;
}
template <class T>
void put_vec(std::ostream& o, const std::vector<T>& v) {
  o << v.size() << ' ';
  for (const T& x : v) o << x << ' ';
}
template <class T>
bool get_vec(std::istream& in, std::vector<T>& v) {
  size_t n = 0;
  if (!(in >> n) || n > (1u << 24) || n > left(in) / 2) return false;  // each element takes >= 2 bytes
  v.resize(n);
  for (auto& x : v)
    if (!(in >> x)) return false;
  return true;
}
}  // namespace

std::string Plan::serialize() const {
  std::ostringstream o;
  o.precision(17);
  o << kPlanMagic << ' ';
  o << signature.fields.size() << ' ';
  for (const auto& [k, v] : signature.fields) {
    put_str(o, k);
    put_str(o, v);
  }
  o << value_count << ' ' << arena_bytes << ' ' << unplanned_bytes << ' ';
  put_vec(o, offset);
  o << steps.size() << ' ';
  for (const PlanStep& s : steps) {
    o << static_cast<int>(s.kind) << ' ' << s.node << ' ' << s.out << ' ' << s.out2 << ' ' << s.tmp << ' ';
    put_vec(o, s.in);
    put_vec(o, s.i);
    put_vec(o, s.f);
    o << s.epilogue.size() << ' ';
    for (const auto& e : s.epilogue) o << static_cast<int>(e.op) << ' ' << e.arg << ' ';
    put_str(o, s.name);
  }
  o << "end";
  // A checksum of everything before it: a damaged plan (one changed digit can move a value onto
  // a live one in the arena) is not parsed, whatever carried it.
  const std::string body = o.str();
  return body + " " + hex64(fnv1a64(body));
}

std::optional<Plan> Plan::deserialize(const std::string& blob_with_sum) {
  const size_t sp = blob_with_sum.rfind(' ');
  if (sp == std::string::npos) return std::nullopt;
  const std::string blob = blob_with_sum.substr(0, sp);
  if (blob_with_sum.compare(sp + 1, std::string::npos, hex64(fnv1a64(blob))) != 0) return std::nullopt;
  std::istringstream in(blob);
  std::string magic;
  if (!(in >> magic) || magic != kPlanMagic) return std::nullopt;
  Plan p;
  size_t nf = 0;
  if (!(in >> nf) || nf > 256) return std::nullopt;
  in.get();
  for (size_t i = 0; i < nf; ++i) {
    std::string k, v;
    if (!get_str(in, k) || !get_str(in, v)) return std::nullopt;
    p.signature.fields.emplace_back(k, v);
  }
  if (!(in >> p.value_count >> p.arena_bytes >> p.unplanned_bytes)) return std::nullopt;
  if (!get_vec(in, p.offset)) return std::nullopt;
  size_t ns = 0;
  if (!(in >> ns) || ns > (1u << 20) || ns > left(in) / 16) return std::nullopt;  // a step takes >= 16 bytes
  p.steps.resize(ns);
  for (PlanStep& s : p.steps) {
    int kind = 0;
    if (!(in >> kind >> s.node >> s.out >> s.out2 >> s.tmp)) return std::nullopt;
    if (kind < 0 || kind > static_cast<int>(StepKind::SiluMul)) return std::nullopt;
    s.kind = static_cast<StepKind>(kind);
    if (!get_vec(in, s.in) || !get_vec(in, s.i) || !get_vec(in, s.f)) return std::nullopt;
    size_t ne = 0;
    if (!(in >> ne) || ne > 64) return std::nullopt;
    s.epilogue.resize(ne);
    for (auto& e : s.epilogue) {
      int op = 0;
      if (!(in >> op >> e.arg) || op < 0 || op > static_cast<int>(Epilogue::Softmax)) return std::nullopt;
      e.op = static_cast<Epilogue>(op);
    }
    in.get();
    if (!get_str(in, s.name)) return std::nullopt;
  }
  std::string end;
  if (!(in >> end) || end != "end" || !(in >> std::ws).eof()) return std::nullopt;
  return p;
}

}  // namespace fcast
