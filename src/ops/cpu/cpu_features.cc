#include <sstream>
#include <utility>

#include "ops/cpu/kernels.h"

#if defined(__x86_64__)
#include <cpuid.h>
#endif

namespace fcast::cpu {

std::string CpuFeatures::text() const {
  // Joined with a stream: GCC 12 raises a false -Wrestrict on small std::string appends here.
  std::ostringstream o;
  const char* sep = "";
  const std::pair<bool, const char*> all[] = {
      {avx2, "avx2"}, {avx512f, "avx512f"}, {avx512_bf16, "avx512bf16"}, {amx_bf16, "amx-bf16"}};
  for (const auto& [on, name] : all)
    if (on) {
      o << sep << name;
      sep = ",";
    }
  const std::string s = o.str();
  return "x86_64:" + (s.empty() ? std::string("baseline") : s);
}

const CpuFeatures& cpu_features() {
  static const CpuFeatures f = [] {
    CpuFeatures c;
#if defined(__x86_64__)
    __builtin_cpu_init();
    c.avx2 = __builtin_cpu_supports("avx2");
    c.avx512f = __builtin_cpu_supports("avx512f");
    c.avx512_bf16 = __builtin_cpu_supports("avx512bf16");
    // GCC 12 has no __builtin_cpu_supports name for AMX: CPUID leaf 7, EDX bit 22 (AMX-BF16).
    unsigned a = 0, b = 0, cx = 0, d = 0;
    if (__get_cpuid_count(7, 0, &a, &b, &cx, &d)) c.amx_bf16 = (d >> 22) & 1u;
#endif
    return c;
  }();
  return f;
}

}  // namespace fcast::cpu
