// The bf16 attention tiles built for AVX512_BF16 (this file alone is compiled with
// -march=x86-64-v4 -mavx512bf16; attention.cc calls it only on CPUs that have the instructions).
#include "ops/cpu/attention_tiles.h"

namespace fcast::cpu::attn {

void run_task_bf16_native(const ref::AttentionArgs& a, const Task& t) { run_task_dh<Dot::Bf16Native>(a, t); }

}  // namespace fcast::cpu::attn
