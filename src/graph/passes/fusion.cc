#include "graph/passes/fusion.h"

#include <map>

namespace fcast {

namespace {

int64_t rows_of(const Shape& s) {
  int64_t r = 1;
  for (size_t i = 0; i + 1 < s.size(); ++i) r *= s[i];
  return r;
}

struct Uses {
  std::vector<std::vector<int>> consumers;  // per value: nodes reading it
  std::vector<bool> is_output;
  std::vector<int> producer;                // per value: the node writing it, -1 for inputs and constants
  // Whether `v` exists when node `k` runs. A group runs at its first node's position, so an
  // operand of a later node it absorbs must already exist there.
  bool ready_at(ValueId v, int k) const { return v == kNone || producer[v] < k; }
};

Uses find_uses(const Graph& g) {
  Uses u;
  u.consumers.resize(g.values().size());
  u.is_output.assign(g.values().size(), false);
  const auto& nodes = g.nodes();
  for (size_t k = 0; k < nodes.size(); ++k)
    for (ValueId v : nodes[k].in)
      if (v != kNone) u.consumers[v].push_back(static_cast<int>(k));
  for (const auto& [name, v] : g.outputs()) u.is_output[v] = true;
  u.producer.assign(g.values().size(), -1);
  for (size_t k = 0; k < nodes.size(); ++k) u.producer[nodes[k].out] = static_cast<int>(k);
  return u;
}

// The single node consuming `v`, or -1 when v has several consumers or is a graph output.
int sole_consumer(const Uses& u, ValueId v) {
  if (u.is_output[v] || u.consumers[v].size() != 1) return -1;
  return u.consumers[v][0];
}

PlanStep reference_step(const Graph& g, int k) {
  const auto& n = g.nodes()[k];
  PlanStep s;
  s.kind = StepKind::Reference;
  s.node = k;
  s.in = n.in;
  s.out = n.out;
  s.name = op_name(n.op);
  return s;
}

ValueId opt_in(const Graph::Node& n, size_t i) { return i < n.in.size() ? n.in[i] : kNone; }

}  // namespace

std::vector<PlanStep> lower_graph(const Graph& g, bool fuse) {
  const auto& nodes = g.nodes();
  std::vector<PlanStep> steps;
  if (!fuse) {
    for (size_t k = 0; k < nodes.size(); ++k)
      if (nodes[k].op != Op::Reshape) steps.push_back(reference_step(g, static_cast<int>(k)));
    return steps;
  }
  const Uses u = find_uses(g);
  std::vector<bool> absorbed(nodes.size(), false);
  for (size_t kk = 0; kk < nodes.size(); ++kk) {
    const int k = static_cast<int>(kk);
    if (absorbed[k]) continue;
    const auto& n = nodes[k];
    switch (n.op) {
      case Op::Reshape: continue;  // a view: no step
      case Op::Linear: {
        PlanStep s;
        s.kind = StepKind::Matmul;
        s.node = k;
        s.in = {n.in[0], n.in[1], n.in[2]};
        const Shape& ws = g.shape(n.in[1]);
        s.i = {rows_of(g.shape(n.in[0])), ws[1], ws[0]};
        s.name = n.in[2] != kNone ? "linear+bias" : "linear";
        ValueId y = n.out;
        for (;;) {
          const int c = sole_consumer(u, y);
          if (c < 0) break;
          const auto& cn = nodes[c];
          EpilogueOp e{Epilogue::Silu, 0};
          switch (cn.op) {
            case Op::Silu: e.op = Epilogue::Silu; break;
            case Op::Softplus: e.op = Epilogue::Softplus; break;
            case Op::ClampMin: e = {Epilogue::ClampMin, static_cast<float>(cn.f[0])}; break;
            case Op::AddScalar: e = {Epilogue::AddScalar, static_cast<float>(cn.f[0])}; break;
            case Op::Scale: e = {Epilogue::Scale, static_cast<float>(cn.f[0])}; break;
            case Op::Softmax: e.op = Epilogue::Softmax; break;
            case Op::SwiGLU:
              if (s.tmp != kNone) goto done;  // one width change per step
              e.op = Epilogue::SwiGLU;
              s.tmp = y;
              break;
            default: goto done;
          }
          s.epilogue.push_back(e);
          s.name += cat("+", op_name(cn.op));
          absorbed[c] = true;
          y = cn.out;
        }
      done:
        s.out = y;
        steps.push_back(std::move(s));
        break;
      }
      case Op::Add: {
        int norm = -1;
        for (int c : u.consumers[n.out])
          if (nodes[c].op == Op::RMSNorm && nodes[c].in[0] == n.out && !absorbed[c] && u.ready_at(nodes[c].in[1], k)) {
            norm = c;
            break;
          }
        if (norm < 0) {
          steps.push_back(reference_step(g, k));
          break;
        }
        PlanStep s;
        s.kind = StepKind::AddRMSNorm;
        s.node = k;
        s.in = {n.in[0], n.in[1], nodes[norm].in[1]};
        s.out = n.out;
        s.out2 = nodes[norm].out;
        s.i = {rows_of(g.shape(n.out)), g.shape(n.out).back()};
        s.f = {nodes[norm].f[0]};
        s.name = "add+rmsnorm";
        absorbed[norm] = true;
        steps.push_back(std::move(s));
        break;
      }
      case Op::RMSNorm: {
        PlanStep s;
        s.kind = StepKind::RMSNorm;
        s.node = k;
        s.in = {n.in[0], n.in[1]};
        s.out = n.out;
        s.i = {rows_of(g.shape(n.out)), g.shape(n.out).back()};
        s.f = {n.f[0]};
        s.name = "rmsnorm";
        steps.push_back(std::move(s));
        break;
      }
      case Op::Softmax: {
        PlanStep s;
        s.kind = StepKind::Softmax;
        s.node = k;
        s.in = {n.in[0]};
        s.out = n.out;
        s.i = {rows_of(g.shape(n.out)), g.shape(n.out).back()};
        s.name = "softmax";
        steps.push_back(std::move(s));
        break;
      }
      case Op::UnpackHeads:
      case Op::RotaryXPos:
      case Op::RotaryNeox:
      case Op::KVWrite: {
        // Grow the chain unpack -> rotary -> kv_write from whichever of them comes first.
        PlanStep s;
        s.kind = StepKind::Rotary;
        s.node = k;
        ValueId src = kNone, pos0 = kNone, start = kNone, inv_freq = kNone, cache = kNone;
        int64_t mode = 0, is_key = 0, heads = 1, packed = 0, which = 0;
        int cur = k;
        ValueId y = kNone;
        std::string name;
        if (n.op == Op::UnpackHeads) {
          src = n.in[0];
          packed = 1;
          which = n.i[0];
          heads = n.i[1];
          name = "unpack_heads";
          y = n.out;
          cur = sole_consumer(u, y);
        }
        auto accept = [&](int c, Op op) {
          if (c < 0 || nodes[c].op != op || nodes[c].in[0 + (op == Op::KVWrite)] != y) return false;
          for (size_t i = 0; i < nodes[c].in.size(); ++i)
            if (i != static_cast<size_t>(op == Op::KVWrite) && !u.ready_at(nodes[c].in[i], k)) return false;
          if (op != Op::KVWrite) return true;
          // One position for rotation and write: a write elsewhere is its own step.
          if (pos0 != kNone && nodes[c].in[2] != pos0) return false;
          // The cache is written at the group's position: no node in between may read it.
          const ValueId root = storage_root(g, nodes[c].in[0]);
          for (int j = k + 1; j < c; ++j)
            for (ValueId v : nodes[j].in)
              if (v != kNone && storage_root(g, v) == root) return false;
          return true;
        };
        // Rotary, from the unpack's result or as the chain's head.
        const bool head_rot = (n.op == Op::RotaryXPos || n.op == Op::RotaryNeox);
        if (head_rot || (y != kNone && (accept(cur, Op::RotaryXPos) || accept(cur, Op::RotaryNeox)))) {
          const int r = head_rot ? k : cur;
          const auto& rn = nodes[r];
          if (!head_rot) absorbed[r] = true;
          if (src == kNone) src = rn.in[0];
          if (rn.op == Op::RotaryXPos) {
            mode = 1;
            heads = rn.i[0];
            is_key = rn.i[1];
            pos0 = rn.in[1];
            start = opt_in(rn, 2);
          } else {
            mode = 2;
            heads = rn.i[0];
            inv_freq = rn.in[1];
            pos0 = rn.in[2];
            start = opt_in(rn, 3);
          }
          name += name.empty() ? op_name(rn.op) : cat("+", op_name(rn.op));
          y = rn.out;
          cur = sole_consumer(u, y);
        }
        // KV write, from the chain's result or as the chain's head.
        if (n.op == Op::KVWrite || (y != kNone && accept(cur, Op::KVWrite))) {
          const int w = n.op == Op::KVWrite ? k : cur;
          const auto& wn = nodes[w];
          if (w != k) absorbed[w] = true;
          if (src == kNone) src = wn.in[1];
          cache = wn.in[0];
          pos0 = wn.in[2];
          name += name.empty() ? "kv_write" : "+kv_write";
          y = wn.out;
        }
        // N, S, D of the written rows: from the (unpacked / rotated) row shape.
        Shape rows = n.op == Op::KVWrite ? g.shape(n.in[1]) : g.shape(n.out);
        s.in = {src, pos0, start, inv_freq, cache};
        s.out = y;
        s.i = {mode, is_key, heads, rows[0], rows[1], rows[2], packed, which};
        s.name = name;
        steps.push_back(std::move(s));
        break;
      }
      case Op::Attention: {
        PlanStep s;
        s.kind = StepKind::Attention;
        s.node = k;
        s.in = {n.in[0], n.in[1], n.in[2], opt_in(n, 3), opt_in(n, 4), opt_in(n, 5), opt_in(n, 6)};
        s.out = n.out;
        s.i = {n.i[0], n.i[1], n.i[2]};
        s.name = "attention";
        steps.push_back(std::move(s));
        break;
      }
      case Op::SiluMul: {
        PlanStep s;
        s.kind = StepKind::SiluMul;
        s.node = k;
        s.in = {n.in[0], n.in[1]};
        s.out = n.out;
        s.i = {shape_numel(g.shape(n.out))};
        s.name = "silu_mul";
        steps.push_back(std::move(s));
        break;
      }
      default: steps.push_back(reference_step(g, k)); break;
    }
  }
  return steps;
}

}  // namespace fcast
