#include "graph/passes/memory_plan.h"

#include <algorithm>
#include <iterator>
#include <map>
#include <vector>

namespace fcast {

namespace {
constexpr int64_t kAlign = 64;
int64_t aligned(int64_t b) { return (b + kAlign - 1) / kAlign * kAlign; }
}  // namespace

namespace {
// Lifetimes of the arena's values: first and last step touching each storage root that is a
// temporary (-1 when no step touches it); graph outputs live past the last step.
void lifetimes(const Graph& g, const Plan& plan, std::vector<int64_t>& first, std::vector<int64_t>& last) {
  const auto& values = g.values();
  const int64_t nsteps = static_cast<int64_t>(plan.steps.size());
  first.assign(values.size(), -1);
  last.assign(values.size(), -1);
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
}
}  // namespace

void plan_memory(const Graph& g, Plan& plan) {
  const auto& values = g.values();
  std::vector<int64_t> first, last;
  lifetimes(g, plan, first, last);
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

bool memory_plan_valid(const Graph& g, const Plan& plan) {
  const auto& values = g.values();
  if (plan.offset.size() != values.size() || plan.arena_bytes < 0) return false;
  std::vector<int64_t> first, last;
  lifetimes(g, plan, first, last);
  struct Slot {
    int64_t off, end, first, last;
  };
  std::vector<Slot> slots;
  for (size_t v = 0; v < values.size(); ++v) {
    const int64_t off = plan.offset[v];
    if (first[v] < 0) {
      if (off != -1) return false;  // only temporaries some step touches have a slot
      continue;
    }
    const int64_t bytes = std::max<int64_t>(
        aligned(static_cast<int64_t>(shape_numel(values[v].shape) * dtype_size(values[v].dtype))), kAlign);
    if (off < 0 || off % kAlign != 0 || off > plan.arena_bytes || bytes > plan.arena_bytes - off) return false;
    slots.push_back({off, off + bytes, first[v], last[v]});
  }
  // Sweep the steps in order; at each step the slots alive then must not share a byte. A slot is
  // alive from its first step to its last, both included.
  std::sort(slots.begin(), slots.end(), [](const Slot& a, const Slot& b) { return a.first < b.first; });
  std::vector<const Slot*> ending(slots.size());
  for (size_t i = 0; i < slots.size(); ++i) ending[i] = &slots[i];
  std::sort(ending.begin(), ending.end(), [](const Slot* a, const Slot* b) { return a->last < b->last; });
  std::map<int64_t, int64_t> live;  // offset -> end
  size_t next = 0, gone = 0;
  while (next < slots.size()) {
    const int64_t step = slots[next].first;
    for (; gone < ending.size() && ending[gone]->last < step; ++gone) live.erase(ending[gone]->off);
    for (; next < slots.size() && slots[next].first == step; ++next) {
      const Slot& s = slots[next];
      auto after = live.lower_bound(s.off);
      if (after != live.end() && after->first < s.end) return false;
      if (after != live.begin() && std::prev(after)->second > s.off) return false;
      live.emplace(s.off, s.end);
    }
  }
  return true;
}

}  // namespace fcast
