// Memory pass: gives every temporary a byte offset in one arena. A temporary lives from the step
// that writes it to the last step that reads it (through aliases too; graph outputs live to the
// end); temporaries whose lifetimes do not overlap share bytes. Largest-first greedy placement,
// 64-byte aligned.
#pragma once
#include "graph/plan.h"

namespace fcast {

void plan_memory(const Graph& g, Plan& plan);

// Whether a plan's arena layout (from the persistent cache, say) is safe for its steps: only the
// temporaries some step touches have a slot, every slot is aligned and inside the arena, and no
// two temporaries alive at the same step share a byte. Linear-logarithmic in the values.
bool memory_plan_valid(const Graph& g, const Plan& plan);

}  // namespace fcast
