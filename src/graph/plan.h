// A Plan: a graph lowered for one input signature. Steps are fused kernels (or single reference
// nodes), every temporary has a byte offset in one arena whose slots are reused by liveness,
// and nothing about a run's per-step data (KV write position, valid start) is baked in.
//
//   PlanSignature sig = ...;                         // named fields, see runtime/compiled_executor.h
//   Plan p = compile_plan(graph, sig, {.fuse = true});
//   // p.steps: "linear+bias+silu", "add+rmsnorm", "unpack+rotary_xpos+kv_write", "attention", ...
//   // p.offset[v]: where value v lives in the arena; p.arena_bytes: the arena's planned size
//   std::string blob = p.serialize();                // persisted through PlanCache (kind "plan")
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "graph/graph.h"

namespace fcast {

// Revision of lowering and kernels. Part of every persistent-cache entry's engine identity, so
// plans, autotune choices and packed weights written by an older revision are misses. Bump it
// with any change to fusion, step kinds, plan payloads or a kernel's numerics or layout.
//   1: fcast 0.1.0
//   2: silu_mul steps, vectorised attention and silu kernels, packing order
//   3: bf16 plans: bf16 attention products and bf16 KV caches
//   4: serialised plans end with their own checksum; fusion keeps a group's operands in order
//      and fuses a KV write into a rotary only at the rotary's position
inline constexpr int kPlanRevision = 5;

// The key of a plan: ordered named fields ("model", "phase", "batch", ...). Two calls share a
// plan exactly when their signatures are equal.
struct PlanSignature {
  std::vector<std::pair<std::string, std::string>> fields;
  void set(const std::string& name, const std::string& value);
  std::string get(const std::string& name) const;  // "" when absent
  std::string key() const;                         // "name=value;name=value;..."
  // Fields that differ, as "batch 4 -> 8, phase prefill -> decode"; "" when equal.
  static std::string diff(const PlanSignature& before, const PlanSignature& after);
  static int distance(const PlanSignature& a, const PlanSignature& b);  // number of differing fields
  bool operator==(const PlanSignature& o) const { return key() == o.key(); }
};

enum class StepKind : uint8_t {
  Reference,   // one graph node through the reference kernel (aot_eager, and ops without a fast kernel)
  Matmul,      // linear (+bias) with an epilogue chain; in = {x, w, b?}
  AddRMSNorm,  // h = a + b; y = rmsnorm(h) * w; in = {a, b, w}, out = h, out2 = y
  RMSNorm,     // in = {x, w}
  Softmax,     // in = {x}
  Rotary,      // (unpack) + (rotary xPos / NeoX / none) + (KV write); in = {src, pos0, start, inv_freq, cache}
  Attention,   // fused attention; in = {q, k, v, pos0, group, start}
  SiluMul,     // y = silu(a) * b elementwise; in = {a, b}, i = {numel}
};
const char* step_kind_name(StepKind k);

enum class Epilogue : uint8_t { Silu, Softplus, ClampMin, AddScalar, Scale, SwiGLU, Softmax };
struct EpilogueOp {
  Epilogue op;
  float arg = 0;
};

struct PlanStep {
  StepKind kind = StepKind::Reference;
  int node = -1;                  // Reference: the node to run; fused: the group's first node
  std::vector<ValueId> in;        // operands; kNone for absent optional ones
  ValueId out = kNone;            // main result
  ValueId out2 = kNone;           // second result (AddRMSNorm's normalised sum)
  ValueId tmp = kNone;            // step-local temporary (matmul result before SwiGLU)
  std::vector<int64_t> i;         // integer attributes (per kind, see fusion.cc)
  std::vector<double> f;          // float attributes (norm epsilon)
  std::vector<EpilogueOp> epilogue;
  std::string name;               // e.g. "linear+bias+silu"
  std::string impl;               // chosen implementation, filled when the plan is bound
};

struct Plan {
  PlanSignature signature;
  std::vector<PlanStep> steps;
  std::vector<int64_t> offset;    // per graph value: byte offset in the arena, -1 when not in it
  int64_t arena_bytes = 0;        // planned temporaries (kernel scratch is added when binding)
  int64_t unplanned_bytes = 0;    // what the temporaries would take without reuse (for reports)
  size_t value_count = 0;         // graph values the plan was made for (a guard when loading)

  std::string serialize() const;
  // Returns nothing for a blob that does not parse (the caller treats it as a cache miss).
  static std::optional<Plan> deserialize(const std::string& blob);
};

struct CompileOptions {
  bool fuse = true;  // false: one Reference step per node (the aot_eager backend)
};

// Lowers the graph (fusion pass) and plans the arena (memory pass).
Plan compile_plan(const Graph& g, const PlanSignature& sig, const CompileOptions& opt);

// The storage root of a value: follows aliases (Reshape, KVWrite) to the value that owns memory.
ValueId storage_root(const Graph& g, ValueId v);

}  // namespace fcast
