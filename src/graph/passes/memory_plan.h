// Memory pass: gives every temporary a byte offset in one arena. A temporary lives from the step
// that writes it to the last step that reads it (through aliases too; graph outputs live to the
// end); temporaries whose lifetimes do not overlap share bytes. Largest-first greedy placement,
// 64-byte aligned.
#pragma once
#include "graph/plan.h"

namespace fcast {

void plan_memory(const Graph& g, Plan& plan);

}  // namespace fcast
