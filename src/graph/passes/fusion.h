// Fusion pass: lowers graph nodes to plan steps. With fusion off every node becomes one
// Reference step (bit-identical to eager). With fusion on:
//   linear (+bias) (+silu | softplus | clamp_min | add_scalar | scale | swiglu | softmax)*  -> Matmul
//   add -> rmsnorm                                                                   -> AddRMSNorm
//   unpack_heads -> rotary_xpos/neox -> kv_write (any suffix of it)                  -> Rotary
//   attention                                                                        -> Attention
//   rmsnorm, softmax                                                                 -> vectorised kernels
// Anything else stays a Reference step. A node is absorbed into a group only when its result has
// no other consumer and is not a graph output, and when its other operands already exist at the
// group's position (the group runs there). A KV write joins a rotary only at the rotary's
// position, and only when no node between them reads the cache it writes early.
#pragma once
#include <vector>

#include "graph/plan.h"

namespace fcast {

std::vector<PlanStep> lower_graph(const Graph& g, bool fuse);

}  // namespace fcast
