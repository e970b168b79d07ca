#include "runtime/exec_policy.h"

#include "core/env.h"
#include "ops/cpu/kernels.h"

namespace fcast {

DType ExecPolicy::kv_cache_dtype(int64_t head_dim) const {
  return bf16_kv_cache && precision == Precision::BF16 && cpu::attention_reads_bf16_cache(head_dim) ? DType::BF16
                                                                                                   : DType::F32;
}

ExecPolicy policy_for(const CompileSettings& s) {
  ExecPolicy p;
  if (!s.enabled) return p;
  p.context_buckets = s.context_buckets;
  p.precision = s.backend == CompileBackend::Inductor ? s.precision : Precision::FP32;
  p.bf16_kv_cache = p.precision == Precision::BF16 && env_bool("FCAST_KV_CACHE_BF16", true);
  return p;
}

}  // namespace fcast
