#include "graph/passes/memory_plan.h"

#include <algorithm>

namespace fcast {

namespace {
constexpr int64_t kAlign = 64;
int64_t aligned(int64_t b) { return (b + kAlign - 1) / kAlign * kAlign; }
}  // namespace

void plan_memory(const Graph& g, Plan& plan) {
  const auto& values = g.values();
  const int64_t nsteps = static_cast<int64_t>(plan.steps.size());
  std::vector<int64_t> first(values.size(), -1), last(values.size(), -1);
  auto touch = [&](ValueId v, int64_t step) {
    if (v == kNone) return;
    const ValueId r = storage_root(g, v);
    if (values[r].kind != Graph::Kind::Temp) return;
    if (first[r] < 0 || step < first[r]) first[r] = step;
    last[r] = std::max(last[r], step);
  };
  for (int64_t k = 0; k < nsteps; ++k) {
    const PlanStep& s = plan.steps[k];
    for (ValueId v : s.in) touch(v, k);
    touch(s.out, k);
    touch(s.out2, k);
    touch(s.tmp, k);
  }
  for (const auto& [name, v] : g.outputs()) {
    const ValueId r = storage_root(g, v);
    if (values[r].kind == Graph::Kind::Temp && first[r] >= 0) last[r] = nsteps;
  }
  struct Item {
    ValueId v;
    int64_t bytes, first, last;
  };
  std::vector<Item> items;
  plan.unplanned_bytes = 0;
  for (size_t v = 0; v < values.size(); ++v)
    if (first[v] >= 0) {
      const int64_t bytes = aligned(static_cast<int64_t>(shape_numel(values[v].shape) * dtype_size(values[v].dtype)));
      items.push_back({static_cast<ValueId>(v), std::max<int64_t>(bytes, kAlign), first[v], last[v]});
      plan.unplanned_bytes += bytes;
    }
  std::stable_sort(items.begin(), items.end(), [](const Item& a, const Item& b) { return a.bytes > b.bytes; });
  plan.offset.assign(values.size(), -1);
  struct Placed {
    int64_t off, bytes, first, last;
  };
  std::vector<Placed> placed;
  int64_t total = 0;
  for (const Item& it : items) {
    // Candidate offsets: 0 and the end of every placed block whose lifetime overlaps ours.
    std::vector<Placed> clash;
    for (const Placed& p : placed)
      if (!(p.last < it.first || it.last < p.first)) clash.push_back(p);
    std::sort(clash.begin(), clash.end(), [](const Placed& a, const Placed& b) { return a.off < b.off; });
    int64_t off = 0;
    for (const Placed& p : clash) {
      if (off + it.bytes <= p.off) break;
      off = std::max(off, p.off + p.bytes);
    }
    placed.push_back({off, it.bytes, it.first, it.last});
    plan.offset[it.v] = off;
    total = std::max(total, off + it.bytes);
  }
  plan.arena_bytes = total;
  plan.value_count = values.size();
}

}  // namespace fcast
