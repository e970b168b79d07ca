// The one CPU-feature detector (PlanCache::cpu_features() delegates here). A feature counts only
// when the CPU reports it *and* the OS saves its register state (XCR0), and AMX only once Linux
// has granted this process the tile-data permission: CPUID alone can promise registers the
// kernel would fault on.
#include <cstdlib>
#include <iostream>
#include <sstream>
#include <utility>

#include "core/env.h"
#include "core/error.h"
#include "ops/cpu/isa.h"
#include "ops/cpu/kernels.h"

#if defined(__x86_64__)
#include <cpuid.h>
#endif
#if defined(__linux__)
#include <sys/syscall.h>
#include <unistd.h>
#endif
#if defined(__aarch64__) && defined(__linux__)
#include <sys/auxv.h>
#endif

namespace fcast::cpu {

std::string CpuFeatures::text() const {
#if defined(__x86_64__)
  // Joined with a stream: GCC 12 raises a false -Wrestrict on small std::string appends here.
  // The names and their order are part of the persistent-cache identity (docs/CACHE_FORMAT.md).
  std::ostringstream o;
  const char* sep = "";
  const std::pair<bool, const char*> all[] = {
      {avx, "avx"},           {fma, "fma"},           {f16c, "f16c"},           {avx2, "avx2"},
      {avx512f, "avx512f"},   {avx512bw, "avx512bw"}, {avx512vl, "avx512vl"},   {avx512_vnni, "avx512vnni"},
      {avx512_bf16, "avx512bf16"}, {amx_tile, "amx-tile"}, {amx_bf16, "amx-bf16"}, {amx_int8, "amx-int8"}};
  for (const auto& [on, name] : all)
    if (on) {
      o << sep << name;
      sep = ",";
    }
  const std::string s = o.str();
  return "x86_64:" + (s.empty() ? std::string("baseline") : s);
#elif defined(__aarch64__)
  return other;
#else
  return "generic:baseline";
#endif
}

namespace {

#if defined(__x86_64__)
bool linux_grants_amx() {
#if defined(__linux__)
  // Linux >= 5.16 hands out AMX tile data per process on request (ARCH_REQ_XCOMP_PERM for
  // XFEATURE_XTILEDATA); without it the first tile load faults. Older kernels refuse the call.
  constexpr long kArchReqXcompPerm = 0x1023, kXfeatureXtiledata = 18;
  return syscall(SYS_arch_prctl, kArchReqXcompPerm, kXfeatureXtiledata) == 0;
#else
  return false;
#endif
}
#endif

CpuFeatures detect() {
  CpuFeatures c;
#if defined(__x86_64__)
  unsigned a = 0, b = 0, cx = 0, d = 0;
  if (!__get_cpuid(0, &a, &b, &cx, &d)) return c;
  const unsigned max_leaf = a;
  unsigned l1c = 0, l1d = 0;
  __get_cpuid(1, &a, &b, &l1c, &l1d);
  uint64_t xcr0 = 0;
  if (l1c & (1u << 27)) {  // OSXSAVE: XGETBV is usable
    unsigned lo = 0, hi = 0;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    xcr0 = (static_cast<uint64_t>(hi) << 32) | lo;
  }
  // State the OS saves: XMM+YMM (bits 1-2), opmask+ZMM (5-7), AMX tile config+data (17-18).
  const bool os_avx = (xcr0 & 0x6) == 0x6;
  const bool os_avx512 = os_avx && (xcr0 & 0xe0) == 0xe0;
  const bool os_amx = (xcr0 & 0x60000) == 0x60000;
  c.avx = os_avx && (l1c & (1u << 28));
  c.fma = os_avx && (l1c & (1u << 12));
  c.f16c = os_avx && (l1c & (1u << 29));
  const bool movbe = l1c & (1u << 22), xsave = l1c & (1u << 26);
  bool bmi1 = false, bmi2 = false, lzcnt = false, avx512cd = false, avx512dq = false;
  if (max_leaf >= 7) {
    unsigned b7 = 0, c7 = 0, d7 = 0, a71 = 0, x = 0;
    __cpuid_count(7, 0, a, b7, c7, d7);
    if (a >= 1) __cpuid_count(7, 1, a71, x, x, x);
    bmi1 = b7 & (1u << 3);
    bmi2 = b7 & (1u << 8);
    c.avx2 = os_avx && (b7 & (1u << 5));
    c.avx512f = os_avx512 && (b7 & (1u << 16));
    avx512dq = os_avx512 && (b7 & (1u << 17));
    avx512cd = os_avx512 && (b7 & (1u << 28));
    c.avx512bw = os_avx512 && (b7 & (1u << 30));
    c.avx512vl = os_avx512 && (b7 & (1u << 31));
    c.avx512_vnni = os_avx512 && (c7 & (1u << 11));
    c.avx512_bf16 = os_avx512 && (a71 & (1u << 5));
    const bool amx = os_amx && (d7 & (1u << 24));  // AMX-TILE
    if (amx && linux_grants_amx()) {
      c.amx_tile = true;
      c.amx_bf16 = d7 & (1u << 22);
      c.amx_int8 = d7 & (1u << 25);
    }
  }
  if (__get_cpuid(0x80000001, &a, &b, &cx, &d)) lzcnt = cx & (1u << 5);  // ABM / LZCNT
  // The variant levels need every instruction GCC may emit for -march=x86-64-v3 / -v4.
  const bool v3 = c.avx && c.avx2 && c.fma && c.f16c && bmi1 && bmi2 && lzcnt && movbe && xsave;
  const bool v4 = v3 && c.avx512f && c.avx512bw && c.avx512vl && avx512cd && avx512dq;
  c.isa = v4 ? Isa::Avx512 : v3 ? Isa::Avx2 : Isa::Baseline;
#elif defined(__aarch64__) && defined(__linux__)
  c.other = "aarch64:asimd";
  const unsigned long hw = getauxval(AT_HWCAP), hw2 = getauxval(AT_HWCAP2);
  if (hw & (1ul << 22)) c.other += ",sve";   // HWCAP_SVE
  if (hw2 & (1ul << 1)) c.other += ",sve2";  // HWCAP2_SVE2
  if (hw2 & (1ul << 14)) c.other += ",bf16"; // HWCAP2_BF16
  if (hw2 & (1ul << 13)) c.other += ",i8mm"; // HWCAP2_I8MM
#elif defined(__aarch64__)
  c.other = "aarch64:asimd";
#endif
  return c;
}

// FCAST_CPU_ISA through the shared environment grammar (core/env.h: trimmed, blank = unset).
std::optional<Isa> read_isa_env() { return parse_isa(env_string("FCAST_CPU_ISA").value_or("")); }

}  // namespace

std::optional<Isa> parse_isa(const std::string& value) {
  if (value.empty()) return std::nullopt;
  for (Isa i : {Isa::Avx512, Isa::Avx2, Isa::Baseline})
    if (value == isa_name(i)) return i;
  fail("FCAST_CPU_ISA='", value, "' is not valid: use avx512, avx2 or baseline (unset or empty: what the CPU has)");
}

CpuFeatures limit_features(const CpuFeatures& host, Isa cap) {
  CpuFeatures c = host;
  c.lowered = true;
  if (cap < c.isa) c.isa = cap;
  // AMX is never kept under an override: "avx512" means the AVX-512 kernels (with the CPU's
  // VNNI and BF16 extensions), so that on an AMX host it still tests the non-AMX oneDNN paths.
  c.amx_tile = c.amx_bf16 = c.amx_int8 = false;
  if (c.isa < Isa::Avx512) c.avx512f = c.avx512bw = c.avx512vl = c.avx512_vnni = c.avx512_bf16 = false;
  if (c.isa < Isa::Avx2) c.avx = c.fma = c.f16c = c.avx2 = false;
  return c;
}

const CpuFeatures& host_cpu_features() {
  static const CpuFeatures f = detect();
  return f;
}

const CpuFeatures& cpu_features() {
  static const CpuFeatures f = [] {
    const CpuFeatures& host = host_cpu_features();
    const std::optional<Isa> want = read_isa_env();
    if (!want) return host;
    // A request above the host is clamped (one line), so one test matrix runs on any machine;
    // tests compare active_isa() with what they asked for and skip.
    if (*want > host.isa)
      std::cerr << "fcast: FCAST_CPU_ISA=" << isa_name(*want) << " is more than this CPU has; using "
                << isa_name(host.isa) << "\n";
    return limit_features(host, *want);
  }();
  return f;
}

Isa active_isa() { return cpu_features().isa; }

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::Avx512: return "avx512";
    case Isa::Avx2: return "avx2";
    case Isa::Baseline: return "baseline";
  }
  return "?";
}

}  // namespace fcast::cpu
