// Execution policy: how model code should shape the work it hands an executor. A plain value,
// fixed when a session's executor is made and read by the models through Executor::policy();
// no decorator or wrapper has to forward it (wrappers do not exist: tools observe runs through
// Executor::set_observer instead).
//
//   ExecPolicy p = policy_for(settings);      // buckets, precision and KV-cache dtype of the settings
//   DType kv = p.kv_cache_dtype(64);          // BF16 for bf16 plans at head dims the kernel reads
//
// Thread-safety: a value type; const methods may be called from any thread.
#pragma once
#include <cstdint>
#include <vector>

#include "core/tensor.h"
#include "runtime/compile_settings.h"

namespace fcast {

struct ExecPolicy {
  // Context-length buckets in time steps (ascending). When non-empty, models left-pad prefills
  // to the next bucket (with masks: results are unchanged) and size KV caches by bucket, so
  // every context length inside one bucket shares one plan. Empty: no padding (eager default).
  std::vector<int64_t> context_buckets;
  // Arithmetic of the compiled plans (bf16: bf16 matmuls and attention products).
  Precision precision = Precision::FP32;
  // Whether KV caches may be stored in bf16 (half the memory and decode traffic). Only bf16
  // plans allow it; FCAST_KV_CACHE_BF16=0 keeps F32 caches there too.
  bool bf16_kv_cache = false;

  // The dtype models give the KV caches of attention with this head dim: BF16 when allowed and
  // the attention kernel reads bf16 caches at that head dim, F32 otherwise.
  DType kv_cache_dtype(int64_t head_dim) const;
  bool bucketed() const { return !context_buckets.empty(); }
};

// The policy of a compiled executor with these settings (eager executors use ExecPolicy{}).
// Reads FCAST_KV_CACHE_BF16 (0/false: F32 caches in bf16 plans).
ExecPolicy policy_for(const CompileSettings& s);

}  // namespace fcast
