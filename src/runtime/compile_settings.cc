// The compile configuration contract of the Python production setup for fcast, with two deliberate
// departures, both documented in docs/COMPILE_GUIDE.md:
//   * compile is ON by default for both families on CPU;
//     the Python setup compiled Toto only on CUDA and left Kronos off (KRONOS_COMPILE default 0);
//   * a value that is set but cannot be parsed is an error listing the valid values; the Python setup
//     treated unparsable booleans as unset and passed any mode/backend string to torch.
// An empty value counts as unset everywhere (the Python setup did so for the mode: "an empty value
// falls back to max-autotune"), so `VAR=` in a shell script is harmless.
#include "runtime/compile_settings.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <filesystem>
#include <sstream>

#include "core/error.h"
#include "core/text.h"
#include "runtime/compile_cli.h"

namespace fcast {

namespace {

namespace fs = std::filesystem;

// torch.compile log names accepted in TORCH_LOGS. fcast acts on "recompiles" (and its verbose
// form); the others are accepted so that the production guide's TORCH_LOGS="+dynamo,+inductor,+recompiles"
// works, and ignored. A name outside this list is most likely a typo and is an error.
const std::vector<std::string>& torch_log_names() {
  static const std::vector<std::string> names = {
      "recompiles", "recompiles_verbose", "dynamo",       "inductor",   "aot",         "aot_graphs",
      "dynamic",    "graph",              "graph_code",   "graph_breaks", "graph_sizes", "guards",
      "bytecode",   "output_code",        "schedule",     "perf_hints", "cudagraphs",  "fusion",
      "trace_source", "trace_call",       "kernel_code",  "post_grad_graphs", "not_implemented", "all"};
  return names;
}

std::string join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : ", ") + s;
  return out;
}

std::vector<std::string> split_commas(const std::string& s) {
  std::vector<std::string> out;
  std::string item;
  std::istringstream in(s);
  while (std::getline(in, item, ',')) out.push_back(trim(item));
  return out;
}

// A value read from the environment or a flag. `name` is the variable or flag, `source` what
// `fcast config` shows ("env TOTO_COMPILE_MODE", "flag --compile-mode").
struct Raw {
  std::string value, name, source;
  bool flag = false;
  // How an error message quotes it: TOTO_COMPILE_MODE='x' or --compile-mode 'x'.
  std::string quoted() const { return flag ? name + " '" + value + "'" : name + "='" + value + "'"; }
};

std::optional<Raw> env_value(const Environment& env, const std::string& var) {
  auto v = env_string(env, var);
  if (!v) return std::nullopt;
  return Raw{*v, var, "env " + var};
}

// The first set variable of `vars` (the earlier one wins).
std::optional<Raw> first_env(const Environment& env, const std::vector<std::string>& vars) {
  for (const auto& v : vars)
    if (auto r = env_value(env, v)) return r;
  return std::nullopt;
}

Raw flag_value(const std::string& flag, const std::string& value) {
  return Raw{trim(value), flag, "flag " + flag, true};
}

bool parse_bool(const Raw& r) { return fcast::parse_bool(r.value, r.quoted()); }

int64_t parse_int(const Raw& r, int64_t lo, int64_t hi, const char* what) {
  return fcast::parse_int(r.value, r.quoted(), lo, hi, what);
}

CompileMode parse_mode(const Raw& r) {
  static const std::vector<std::string> names = {"default", "reduce-overhead", "max-autotune"};
  static const CompileMode modes[] = {CompileMode::Default, CompileMode::ReduceOverhead, CompileMode::MaxAutotune};
  return modes[parse_choice(r.value, r.quoted(), names, "a compile mode")];
}

CompileBackend parse_backend(const Raw& r) {
  static const std::vector<std::string> names = {"inductor", "aot_eager"};
  const size_t i = parse_choice(r.value, r.quoted(), names, "a compile backend",
                                " (to run eagerly, turn compilation off: --no-compile or TOTO_DISABLE_COMPILE=1 / "
                                "KRONOS_COMPILE=0)");
  return i == 0 ? CompileBackend::Inductor : CompileBackend::AotEager;
}

Precision parse_precision(const Raw& r) {
  // float32 / bfloat16 are accepted aliases (torch's dtype names).
  static const std::vector<std::string> names = {"fp32", "bf16", "float32", "bfloat16"};
  return parse_choice(r.value, r.quoted(), names, "a precision") % 2 == 0 ? Precision::FP32 : Precision::BF16;
}

std::string absolute_dir(const Raw& r) {
  std::error_code ec;
  fs::path p = fs::absolute(fs::path(r.value), ec);
  FCAST_CHECK(!ec, r.quoted(), " cannot be made absolute (", ec.message(), ")");
  p = p.lexically_normal();
  std::string s = p.string();
  while (s.size() > 1 && s.back() == '/') s.pop_back();
  return s;
}

std::vector<int64_t> parse_buckets(const Raw& r) {
  std::vector<int64_t> out;
  for (const auto& item : split_commas(r.value)) {
    constexpr int64_t kMax = int64_t{1} << 30;
    int64_t v = 0;
    const auto res = std::from_chars(item.data(), item.data() + item.size(), v);
    FCAST_CHECK(!item.empty() && res.ec == std::errc() && res.ptr == item.data() + item.size() && v >= 1 && v <= kMax,
                r.quoted(), ": ", item.empty() ? std::string("an empty entry") : "'" + item + "'",
                " is not a context length; valid values: a comma-separated list of positive integers (time steps) "
                "from 1 to ", kMax, ", e.g. 256,512,1024");
    out.push_back(v);
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

// TORCH_LOGS: comma-separated names, each optionally prefixed with + (more verbose) or -
// (less verbose; "-recompiles" turns recompile logging off).
bool parse_torch_logs(const Raw& r) {
  bool recompiles = false;
  for (const auto& item : split_commas(r.value)) {
    if (item.empty()) continue;
    std::string name = lower(item);
    const char prefix = name[0];
    if (prefix == '+' || prefix == '-') name = name.substr(1);
    const auto& known = torch_log_names();
    FCAST_CHECK(std::find(known.begin(), known.end(), name) != known.end(), r.quoted(), ": '", item,
                "' is not a log name fcast knows; fcast acts on recompiles (also recompiles_verbose), optionally "
                "prefixed with + or -, and accepts and ignores these torch names: ",
                join(std::vector<std::string>(known.begin() + 2, known.end())));
    if (name == "recompiles" || name == "recompiles_verbose") recompiles = prefix != '-';
  }
  return recompiles;
}

}  // namespace

const char* to_string(CompileMode m) {
  switch (m) {
    case CompileMode::Default: return "default";
    case CompileMode::ReduceOverhead: return "reduce-overhead";
    case CompileMode::MaxAutotune: return "max-autotune";
  }
  return "?";
}

const char* to_string(CompileBackend b) {
  switch (b) {
    case CompileBackend::Inductor: return "inductor";
    case CompileBackend::AotEager: return "aot_eager";
  }
  return "?";
}

const char* to_string(Precision p) {
  switch (p) {
    case Precision::FP32: return "fp32";
    case Precision::BF16: return "bf16";
  }
  return "?";
}

std::vector<std::string> compile_env_vars(const CompileFamily& fv) {
  std::vector<std::string> all;
  for (const auto* list : {&fv.disable, &fv.enable, &fv.mode, &fv.backend}) all.insert(all.end(), list->begin(), list->end());
  for (const char* v : {"REAL_TESTING", "FAST_TESTING", "COMPILED_MODELS_DIR", "TORCHINDUCTOR_CACHE_DIR",
                        "TORCH_COMPILE_DEBUG", "TORCH_LOGS", "TORCHDYNAMO_RECOMPILE_LIMIT", "FCAST_CONTEXT_BUCKETS",
                        "FCAST_HYBRID_MIN_BATCH", "FCAST_PERSISTENT_CACHE"})
    all.push_back(v);
  return all;
}

CompileSettings resolve_compile_cli(const CompileFamily& fv, const Environment& env, const CompileCliValues& cli) {
  CompileSettings s;
  const CompileOverrides& o = cli.base;
  auto& src = s.source;

  // enabled: flag > disable variables (truthy wins over every other variable) > enable variables > default on.
  // The Python setup's kill switch stays the strongest *environment* setting; an explicit --compile on the
  // command line is the more specific request and wins (fcast config shows what happened).
  s.enabled = true;
  src["enabled"] = "default";
  if (o.compile) {
    s.enabled = *o.compile;
    src["enabled"] = *o.compile ? "flag --compile" : "flag --no-compile";
  } else {
    bool decided = false;
    for (const auto& var : fv.disable)
      if (auto r = env_value(env, var); r && parse_bool(*r)) {
        s.enabled = false;
        src["enabled"] = r->source;
        decided = true;
        break;
      }
    if (!decided)
      if (auto r = first_env(env, fv.enable)) {
        s.enabled = parse_bool(*r);
        src["enabled"] = r->source;
      }
  }

  // Everything below configures the compiled executor only: with compilation off those
  // variables cannot take effect, so they are not read (and a bad value there is no error).
  const bool compiled = s.enabled;
  const auto compiled_env = [&](const std::string& var) { return compiled ? env_value(env, var) : std::nullopt; };
  const auto compiled_env_first = [&](const std::vector<std::string>& vars) {
    return compiled ? first_env(env, vars) : std::nullopt;
  };

  src["mode"] = "default";
  if (o.mode) {
    s.mode = parse_mode(flag_value("--compile-mode", *o.mode));
    src["mode"] = "flag --compile-mode";
  } else if (auto r = compiled_env_first(fv.mode)) {
    s.mode = parse_mode(*r);
    src["mode"] = r->source;
  }

  src["backend"] = "default";
  if (o.backend) {
    s.backend = parse_backend(flag_value("--compile-backend", *o.backend));
    src["backend"] = "flag --compile-backend";
  } else if (auto r = compiled_env_first(fv.backend)) {
    s.backend = parse_backend(*r);
    src["backend"] = r->source;
  }

  // precision: flag > REAL_TESTING (guarantees fp32, wins over FAST_TESTING) > FAST_TESTING (bf16) > fp32.
  src["precision"] = "default";
  if (o.precision) {
    s.precision = parse_precision(flag_value("--precision", *o.precision));
    src["precision"] = "flag --precision";
  } else if (auto real = compiled_env("REAL_TESTING"); real && parse_bool(*real)) {
    s.precision = Precision::FP32;
    src["precision"] = real->source;
  } else if (auto fast = compiled_env("FAST_TESTING"); fast && parse_bool(*fast)) {
    s.precision = Precision::BF16;
    src["precision"] = fast->source;
  }

  src["models_dir"] = "default";
  if (o.models_dir) {
    FCAST_CHECK(!trim(*o.models_dir).empty(), "--compiled-models-dir is empty; valid values: a directory path");
    s.models_dir = absolute_dir(flag_value("--compiled-models-dir", *o.models_dir));
    src["models_dir"] = "flag --compiled-models-dir";
  } else if (auto r = compiled_env("COMPILED_MODELS_DIR")) {
    s.models_dir = absolute_dir(*r);
    src["models_dir"] = r->source;
  } else if (auto xdg = env_string(env, "XDG_CACHE_HOME")) {
    // One cache per user, shared by every working folder (a per-folder default re-packed the
    // weights, hundreds of MB, in each folder a command ran from).
    s.models_dir = absolute_dir(Raw{(fs::path(*xdg) / "fcast" / "compiled_models").string(), "XDG_CACHE_HOME", "default"});
    src["models_dir"] = "default ($XDG_CACHE_HOME/fcast/compiled_models)";
  } else if (auto home = env_string(env, "HOME")) {
    s.models_dir = absolute_dir(Raw{(fs::path(*home) / ".cache" / "fcast" / "compiled_models").string(), "HOME", "default"});
    src["models_dir"] = "default (~/.cache/fcast/compiled_models)";
  } else {
    s.models_dir = absolute_dir(Raw{"compiled_models", "the default models dir", "default"});
  }

  src["kernel_cache_dir"] = "default";
  if (cli.kernel_cache_dir) {
    FCAST_CHECK(!trim(*cli.kernel_cache_dir).empty(), "--kernel-cache-dir is empty; valid values: a directory path");
    s.kernel_cache_dir = absolute_dir(flag_value("--kernel-cache-dir", *cli.kernel_cache_dir));
    src["kernel_cache_dir"] = "flag --kernel-cache-dir";
  } else if (auto r = compiled_env("TORCHINDUCTOR_CACHE_DIR")) {
    s.kernel_cache_dir = absolute_dir(*r);
    src["kernel_cache_dir"] = r->source;
  } else {
    s.kernel_cache_dir = (fs::path(s.models_dir) / "torch_inductor").string();
  }

  src["recompile_limit"] = "default";
  constexpr int64_t kMaxLimit = 1 << 20;
  if (o.recompile_limit) {
    s.recompile_limit = static_cast<int>(parse_int(flag_value("--recompile-limit", std::to_string(*o.recompile_limit)),
                                                   0, kMaxLimit, "a valid recompile limit"));
    src["recompile_limit"] = "flag --recompile-limit";
  } else if (auto r = compiled_env("TORCHDYNAMO_RECOMPILE_LIMIT")) {
    s.recompile_limit = static_cast<int>(parse_int(*r, 0, kMaxLimit, "a valid recompile limit"));
    src["recompile_limit"] = r->source;
  }

  src["debug"] = "default";
  if (cli.debug) {
    s.debug = *cli.debug;
    src["debug"] = *cli.debug ? "flag --compile-debug" : "flag --no-compile-debug";
  } else if (auto r = compiled_env("TORCH_COMPILE_DEBUG")) {
    s.debug = parse_bool(*r);
    src["debug"] = r->source;
  }

  src["log_recompiles"] = "default";
  if (cli.torch_logs) {
    s.log_recompiles = parse_torch_logs(flag_value("--torch-logs", *cli.torch_logs));
    src["log_recompiles"] = "flag --torch-logs";
  } else if (auto r = compiled_env("TORCH_LOGS")) {
    s.log_recompiles = parse_torch_logs(*r);
    src["log_recompiles"] = r->source;
  }

  src["context_buckets"] = "default";
  if (cli.context_buckets) {
    s.context_buckets = parse_buckets(flag_value("--context-buckets", *cli.context_buckets));
    src["context_buckets"] = "flag --context-buckets";
  } else if (auto r = compiled_env("FCAST_CONTEXT_BUCKETS")) {
    s.context_buckets = parse_buckets(*r);
    src["context_buckets"] = r->source;
  }
  FCAST_CHECK(!s.context_buckets.empty(), "the context bucket list is empty; valid values: a comma-separated list "
              "of positive integers, e.g. 256,512,1024");

  src["hybrid_min_batch"] = "default";
  constexpr int64_t kMaxBatch = int64_t{1} << 30;
  if (cli.hybrid_min_batch) {
    s.hybrid_min_batch = parse_int(flag_value("--hybrid-min-batch", std::to_string(*cli.hybrid_min_batch)), 0,
                                   kMaxBatch, "a valid batch threshold");
    src["hybrid_min_batch"] = "flag --hybrid-min-batch";
  } else if (auto r = compiled_env("FCAST_HYBRID_MIN_BATCH")) {
    s.hybrid_min_batch = parse_int(*r, 0, kMaxBatch, "a valid batch threshold");
    src["hybrid_min_batch"] = r->source;
  }

  src["persistent_cache"] = "default";
  if (cli.persistent_cache) {
    s.persistent_cache = *cli.persistent_cache;
    src["persistent_cache"] = *cli.persistent_cache ? "flag --persistent-cache" : "flag --no-persistent-cache";
  } else if (auto r = compiled_env("FCAST_PERSISTENT_CACHE")) {
    s.persistent_cache = parse_bool(*r);
    src["persistent_cache"] = r->source;
  }
  return s;
}

CompileSettings resolve_compile_settings(const CompileFamily& family, const Environment& env, const CompileOverrides& cli) {
  CompileCliValues all;
  all.base = cli;
  return resolve_compile_cli(family, env, all);
}

}  // namespace fcast
