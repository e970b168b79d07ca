// `fcast compile MODEL` (every registered model): ahead-of-time warm-up. Runs one dummy forecast per (mode,
// context length, sample count) through the compiled executor so that the plans land in the
// persistent cache (COMPILED_MODELS_DIR); a later process with the same shapes then loads them
// instead of compiling. Prints what was built and the cache hit/miss counts.
#include <charconv>
#include <filesystem>
#include <iostream>
#include <map>
#include <memory>
#include <sstream>

#include "core/error.h"
#include "models/registry.h"
#include "models/warm_up.h"
#include "runtime/executor_factory.h"
#include "runtime/plan_cache.h"
#include "tools/commands.h"
#include "tools/compile_flags.h"

namespace fcast::tools {

namespace {

namespace fs = std::filesystem;

struct CompileCommon {
  CompileCliValues flags;
  std::string modes;            // comma list; empty = the resolved mode
  std::string context_lengths = "512";
  bool json = false;
};

struct CompileArgs {
  CompileCommon common;
  ModelPaths paths;                          // per checkpoint part
  std::string num_samples;                   // comma list; default: the model's warm-up sample counts
  int64_t horizon = 0;                       // 0: the model's warm-up horizon
  int64_t variates = 1;
  uint64_t seed = 0;
  bool no_kv_cache = false;
  std::map<std::string, std::string> options;  // the model's request options, by name
};

std::vector<std::string> split_list(const std::string& s) {
  std::vector<std::string> out;
  std::string item;
  std::istringstream in(s);
  while (std::getline(in, item, ',')) {
    while (!item.empty() && std::isspace(static_cast<unsigned char>(item.front()))) item.erase(item.begin());
    while (!item.empty() && std::isspace(static_cast<unsigned char>(item.back()))) item.pop_back();
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

std::vector<int64_t> int_list(const std::string& flag, const std::string& s, int64_t min) {
  std::vector<int64_t> out;
  for (const auto& item : split_list(s)) {
    int64_t v = 0;
    const auto r = std::from_chars(item.data(), item.data() + item.size(), v);
    FCAST_CHECK(r.ec == std::errc() && r.ptr == item.data() + item.size() && v >= min, flag, " '", item,
                "' is not valid; expected a comma-separated list of integers >= ", min, ", e.g. 256,512,1024");
    out.push_back(v);
  }
  FCAST_CHECK(!out.empty(), flag, " is empty; give at least one value, e.g. 256,512,1024");
  return out;
}

// One CompileSettings per requested mode; fails when compiling or the persistent cache is off,
// since then nothing this command does would survive the process.
std::vector<CompileSettings> settings_per_mode(const CompileFamily& family, const CompileCommon& c) {
  std::vector<std::string> modes = split_list(c.modes);
  FCAST_CHECK(modes.empty() || !c.flags.base.mode, "give either --modes or --compile-mode, not both");
  if (modes.empty()) modes.push_back("");
  std::vector<CompileSettings> out;
  for (const auto& m : modes) {
    CompileCliValues v = c.flags;
    if (!m.empty()) v.base.mode = m;
    CompileSettings s;
    try {
      s = resolve_cli_settings(family, v);
    } catch (const Error& e) {
      if (m.empty()) throw;
      fail("--modes: ", e.what());
    }
    if (!m.empty()) s.source["mode"] = "flag --modes";
    FCAST_CHECK(s.enabled, "compilation is off for ", family.name, " (", s.source["enabled"],
                "); `fcast compile` builds compiled plans: pass --compile or unset the variable");
    FCAST_CHECK(s.persistent_cache, "the persistent cache is off (", s.source["persistent_cache"],
                "); `fcast compile` stores plans there: pass --persistent-cache or unset FCAST_PERSISTENT_CACHE");
    out.push_back(std::move(s));
  }
  return out;
}

// Files and bytes per cache kind under a folder (the sub-folders PlanCache writes).
std::map<std::string, std::pair<int64_t, int64_t>> cache_contents(const std::string& dir) {
  std::map<std::string, std::pair<int64_t, int64_t>> out;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return out;
  for (const auto& sub : fs::directory_iterator(dir, ec)) {
    if (!sub.is_directory(ec)) continue;
    const std::string kind = sub.path().filename().string();
    for (const auto& f : fs::directory_iterator(sub.path(), ec)) {
      if (!f.is_regular_file(ec) || f.path().extension() != "." + kind) continue;
      auto& [files, bytes] = out[kind];
      ++files;
      bytes += static_cast<int64_t>(f.file_size(ec));
    }
  }
  return out;
}

struct Report {
  nlohmann::ordered_json json = nlohmann::ordered_json::array();
  ExecutorStats total;
  bool any_compiled = false;
};

void add_step(Report& r, const CompileSettings& s, const std::string& executor, const WarmUpStep& step) {
  std::cout << "  " << step.describe() << "\n";
  r.total.plans_built += step.delta.plans_built;
  r.total.recompiles += step.delta.recompiles;
  r.total.cache_hits += step.delta.cache_hits;
  r.total.cache_misses += step.delta.cache_misses;
  r.total.fallbacks_to_eager += step.delta.fallbacks_to_eager;
  r.total.runs += step.delta.runs;
  r.any_compiled = r.any_compiled || executor != "eager";
  r.json.push_back({{"mode", to_string(s.mode)},
                    {"backend", to_string(s.backend)},
                    {"dtype", to_string(s.precision)},
                    {"executor", executor},
                    {"context_length", step.context_length},
                    {"num_samples", step.num_samples},
                    {"plans_built", step.delta.plans_built},
                    {"cache_hits", step.delta.cache_hits},
                    {"cache_misses", step.delta.cache_misses},
                    {"recompiles", step.delta.recompiles},
                    {"fallbacks_to_eager", step.delta.fallbacks_to_eager},
                    {"seconds", step.seconds}});
}

void print_summary(const CompileFamily& family, const Report& r, const std::vector<CompileSettings>& all, bool json) {
  const CompileSettings& s = all.front();
  std::cout << "total: " << r.total.plans_built << " plans built, " << r.total.cache_hits << " cache hits, "
            << r.total.cache_misses << " cache misses, " << r.total.recompiles << " recompiles\n";
  nlohmann::ordered_json stored = nlohmann::ordered_json::object();
  for (const std::string& dir : {s.models_dir, s.kernel_cache_dir}) {
    for (const auto& [kind, fb] : cache_contents(dir)) {
      std::cout << "cache " << (fs::path(dir) / kind).string() << ": " << fb.first << " file(s), " << fb.second
                << " bytes\n";
      stored[(fs::path(dir) / kind).string()] = {{"files", fb.first}, {"bytes", fb.second}};
    }
  }
  if (!r.any_compiled)
    std::cout << "WARNING: the executor was 'eager': it builds no plans, so nothing was stored (this build has no "
                 "compiled executor, or compilation fell back to eager)\n";
  if (json) {
    nlohmann::ordered_json j;
    j["family"] = family.name;
    j["models_dir"] = s.models_dir;
    j["kernel_cache_dir"] = s.kernel_cache_dir;
    j["steps"] = r.json;
    j["plans_built"] = r.total.plans_built;
    j["cache_hits"] = r.total.cache_hits;
    j["cache_misses"] = r.total.cache_misses;
    j["recompiles"] = r.total.recompiles;
    j["stored"] = stored;
    std::cout << j.dump() << "\n";
  }
  std::cout << std::flush;
}

std::string join_ints(const std::vector<int64_t>& v) {
  std::string s;
  for (int64_t x : v) s += (s.empty() ? "" : ",") + std::to_string(x);
  return s;
}

void run_compile(const ModelEntry& e, const CompileArgs& a) {
  const std::vector<CompileSettings> all = settings_per_mode(e.compile, a.common);
  WarmUpSpec spec = e.warm_up;
  spec.context_lengths = int_list("--context-lengths", a.common.context_lengths, 2);
  if (!a.num_samples.empty()) spec.num_samples = int_list("--num-samples", a.num_samples, 0);
  if (a.horizon != 0) spec.horizon = a.horizon;
  FCAST_CHECK(spec.horizon >= 1, "--prediction-length must be >= 1, got ", spec.horizon);
  FCAST_CHECK(a.variates >= 1, "--variates must be >= 1, got ", a.variates);
  spec.variates = a.variates;
  spec.seed = a.seed;
  for (const auto& [name, value] : a.options)
    if (!value.empty()) spec.options[name] = value;
  if (a.no_kv_cache) spec.options["kv_cache"] = "false";
  std::string dirs;
  for (const ModelPart& p : e.parts) {
    auto it = a.paths.find(p.name);
    FCAST_CHECK(it != a.paths.end() && !it->second.empty(), "missing --", p.name, " DIR (", p.help, ")");
    dirs += (dirs.empty() ? "" : " + ") + it->second;
  }
  Report r;
  for (const CompileSettings& s : all) {
    // One load per mode: each mode is its own compiled model (plans, packed weights).
    std::shared_ptr<LoadedModel> m = e.load(a.paths, s);
    std::unique_ptr<ForecastSession> session = m->new_session();
    const std::string executor = session->executors().front()->name();
    std::cout << e.name << " " << dirs << " (identity " << m->identity() << "): mode " << to_string(s.mode)
              << ", backend " << to_string(s.backend) << ", " << to_string(s.precision) << ", executor " << executor
              << ", cache " << s.models_dir << "\n";
    for (const WarmUpStep& step : session->warm_up(spec)) add_step(r, s, executor, step);
  }
  print_summary(e.compile, r, all, a.common.json);
}

void add_common(CLI::App* cmd, CompileCommon& c) {
  cmd->add_option("--context-lengths", c.context_lengths,
                  "Comma-separated context lengths (rows of history) to build plans for (default: 512)");
  cmd->add_option("--modes", c.modes,
                  "Comma-separated compile modes to build, e.g. max-autotune,reduce-overhead (default: the resolved "
                  "mode, see `fcast config`)");
  cmd->add_flag("--json", c.json, "Also print a JSON summary as the last line");
  add_compile_flags(cmd, c.flags);
}

}  // namespace

// "samples_per_batch" -> "--samples-per-batch".
std::string flag_of(const std::string& option) {
  std::string f = "--" + option;
  for (char& c : f)
    if (c == '_') c = '-';
  return f;
}

void register_compile(CLI::App& app) {
  CLI::App* compile = app.add_subcommand(
      "compile", "Build and store compiled plans ahead of time (" + model_names() +
                     ") so that later processes start without compiling");
  compile->require_subcommand(1);
  for (const ModelEntry& e : model_registry()) {
    auto a = std::make_shared<CompileArgs>();
    CLI::App* c = compile->add_subcommand(
        e.name, "Warm up " + e.name + ": one dummy forecast per (mode, context length, sample count); use the shapes "
                    "and options your `fcast predict " + e.name + "` calls use");
    for (const ModelPart& p : e.parts)
      c->add_option("--" + p.name, a->paths[p.name], p.help + " (required)");
    add_common(c, a->common);
    c->add_option("--num-samples,--sample-counts", a->num_samples,
                  "Comma-separated sample counts; 0 = point forecast (default: " + join_ints(e.warm_up.num_samples) + ")");
    c->add_option("--prediction-length,--pred-len", a->horizon,
                  "Future steps (default: " + std::to_string(e.warm_up.horizon) + ")");
    c->add_option("--variates", a->variates, "Series forecast jointly (columns) (default: 1)");
    add_seed_option(c, a->seed, "Seed of the dummy series and the sampling, 0 to 2^64 - 1 (default: 0)");
    bool kv = false;
    for (const ModelOption& o : e.options) {
      c->add_option(flag_of(o.name), a->options[o.name], o.help + " (default: " + o.default_value + ")");
      kv = kv || o.name == "kv_cache";
    }
    if (kv) c->add_flag("--no-kv-cache", a->no_kv_cache, "Warm up the no-KV-cache path (as --kv-cache false)");
    std::string example = "Example: fcast compile " + e.name;
    for (const ModelPart& p : e.parts) example += " --" + p.name + " DIR";
    c->footer(example + " --context-lengths 256,512 --num-samples " + join_ints(e.warm_up.num_samples));
    c->callback([&e, a] { run_compile(e, *a); });
  }
}

}  // namespace fcast::tools
