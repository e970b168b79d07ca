// `fcast config`: the effective compile settings of every registered model and where each came from
// (default, env VAR or flag --x), resolved exactly as `fcast predict` resolves them.
#include <iomanip>
#include <iostream>
#include <memory>
#include <sstream>

#include "models/registry.h"
#include "runtime/compile_cli.h"
#include "runtime/plan_cache.h"
#include "tools/commands.h"
#include "tools/compile_flags.h"

namespace fcast::tools {

namespace {

struct ConfigArgs {
  CompileCliValues flags;
  bool json = false;
  std::string family = "all";
};

std::string join_buckets(const std::vector<int64_t>& b) {
  std::string s;
  for (int64_t v : b) s += (s.empty() ? "" : ",") + std::to_string(v);
  return s;
}

// Setting name -> the variables that feed it, for the "set but not in effect" notes.
// The setting each variable of `family` decides.
std::map<std::string, std::string> setting_of_var(const CompileFamily& family) {
  std::map<std::string, std::string> m = {
      {"REAL_TESTING", "precision"},        {"FAST_TESTING", "precision"},
      {"COMPILED_MODELS_DIR", "models_dir"}, {"TORCHINDUCTOR_CACHE_DIR", "kernel_cache_dir"},
      {"TORCH_COMPILE_DEBUG", "debug"},     {"TORCH_LOGS", "log_recompiles"},
      {"TORCHDYNAMO_RECOMPILE_LIMIT", "recompile_limit"}, {"FCAST_CONTEXT_BUCKETS", "context_buckets"},
      {"FCAST_HYBRID_MIN_BATCH", "hybrid_min_batch"},      {"FCAST_PERSISTENT_CACHE", "persistent_cache"}};
  for (const auto& v : family.disable) m[v] = "enabled";
  for (const auto& v : family.enable) m[v] = "enabled";
  for (const auto& v : family.mode) m[v] = "mode";
  for (const auto& v : family.backend) m[v] = "backend";
  return m;
}

struct Row {
  std::string name, value, source;
  nlohmann::ordered_json json_value;
};

std::vector<Row> rows_of(const CompileSettings& s) {
  auto onoff = [](bool b) { return std::string(b ? "on" : "off"); };
  auto src = [&](const char* k) {
    auto it = s.source.find(k);
    return it == s.source.end() ? std::string("default") : it->second;
  };
  return {
      {"enabled", onoff(s.enabled), src("enabled"), s.enabled},
      {"mode", to_string(s.mode), src("mode"), to_string(s.mode)},
      {"backend", to_string(s.backend), src("backend"), to_string(s.backend)},
      {"precision", to_string(s.precision), src("precision"), to_string(s.precision)},
      {"models_dir", s.models_dir, src("models_dir"), s.models_dir},
      {"kernel_cache_dir", s.kernel_cache_dir, src("kernel_cache_dir"), s.kernel_cache_dir},
      {"recompile_limit", std::to_string(s.recompile_limit), src("recompile_limit"), s.recompile_limit},
      {"debug", onoff(s.debug), src("debug"), s.debug},
      {"log_recompiles", onoff(s.log_recompiles), src("log_recompiles"), s.log_recompiles},
      {"context_buckets", join_buckets(s.context_buckets), src("context_buckets"), s.context_buckets},
      {"hybrid_min_batch", std::to_string(s.hybrid_min_batch), src("hybrid_min_batch"), s.hybrid_min_batch},
      {"persistent_cache", onoff(s.persistent_cache), src("persistent_cache"), s.persistent_cache},
  };
}

// Variables this family reads that are set but did not decide their setting.
std::vector<std::string> notes_of(const CompileFamily& family, const CompileSettings& s, const Environment& env) {
  std::vector<std::string> notes;
  const std::map<std::string, std::string> setting_of = setting_of_var(family);
  for (const auto& var : compile_env_vars(family)) {
    auto v = env.get(var);
    if (!v) continue;
    const std::string& setting = setting_of.at(var);
    const std::string& used = s.source.at(setting);
    if (used == "env " + var) continue;
    std::string why = used != "default"   ? "overridden by " + used
                      : setting != "enabled" && !s.enabled
                          ? "not read: compilation is off (" + s.source.at("enabled") + ")"
                          : "empty or falsy, so the default applies";
    notes.push_back(var + "='" + *v + "' is set but not in effect for " + setting + " (" + why + ")");
  }
  if (!family.note.empty()) notes.push_back(family.note);
  return notes;
}

void run_config(const ConfigArgs& a) {
  std::vector<const CompileFamily*> families;
  for (const ModelEntry& e : model_registry())
    if (a.family == "all" || a.family == e.name) families.push_back(&e.compile);
  FCAST_CHECK(!families.empty(), "--family '", a.family, "' is not valid; valid values: all, ", model_names());
  const Environment env = Environment::from_process();
  nlohmann::ordered_json j;
  std::ostringstream text;
  for (const CompileFamily* f : families) {
    const CompileSettings s = resolve_compile_cli(*f, env, a.flags);
    const std::vector<Row> rows = rows_of(s);
    const std::vector<std::string> notes = notes_of(*f, s, env);
    if (a.json) {
      nlohmann::ordered_json fj;
      for (const Row& r : rows) fj["settings"][r.name] = {{"value", r.json_value}, {"source", r.source}};
      fj["notes"] = notes;
      j[f->name] = std::move(fj);
    } else {
      text << f->name << ":\n";
      for (const Row& r : rows)
        text << "  " << std::left << std::setw(18) << r.name << std::setw(24) << r.value << " " << r.source << "\n";
      for (const auto& n : notes) text << "  note: " << n << "\n";
    }
  }
  if (a.json) {
    j["engine"] = {{"version", PlanCache::engine_version()}, {"cpu_features", PlanCache::cpu_features()}};
    std::cout << j.dump(2) << "\n";
  } else {
    text << "engine: " << PlanCache::engine_version() << "; cpu: " << PlanCache::cpu_features() << "\n";
    std::cout << text.str();
  }
}

}  // namespace

void register_config(CLI::App& app) {
  auto a = std::make_shared<ConfigArgs>();
  CLI::App* cmd = app.add_subcommand(
      "config",
      "Print the effective compile settings of every registered model (" + model_names() +
          ") and where each came from (default, env VAR, flag --x); accepts the same compile flags as `fcast predict`");
  add_compile_flags(cmd, a->flags);
  cmd->add_flag("--json", a->json, "Print JSON: {family: {settings: {name: {value, source}}, notes: [...]}}");
  cmd->add_option("--family", a->family, "all, or one registered model: " + model_names() + " (default: all)");
  cmd->callback([a] { run_config(*a); });
}

}  // namespace fcast::tools
