// `fcast compile toto|kronos`: ahead-of-time warm-up. Runs one dummy forecast per (mode,
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
#include "models/kronos/predictor.h"
#include "models/toto/weights.h"
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

struct CompileTotoArgs {
  CompileCommon common;
  std::string model;
  std::string num_samples = "256";
  int64_t samples_per_batch = 256;
  int64_t prediction_length = 64;
  int64_t variates = 1;
  uint64_t seed = 0;
  bool no_kv_cache = false;
};

struct CompileKronosArgs {
  CompileCommon common;
  std::string model, tokenizer;
  std::string sample_counts = "1";
  int64_t pred_len = 8;
  int64_t max_context = 512;
  double clip = 5.0;
  double temperature = 1.0;
  int64_t top_k = 0;
  double top_p = 0.9;
  uint64_t seed = 0;
  bool no_kv_cache = false;
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
std::vector<CompileSettings> settings_per_mode(ModelFamily family, const CompileCommon& c) {
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
    FCAST_CHECK(s.enabled, "compilation is off for ", to_string(family), " (", s.source["enabled"],
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

void print_summary(ModelFamily family, const Report& r, const std::vector<CompileSettings>& all, bool json) {
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
    j["family"] = to_string(family);
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

void run_compile_toto(const CompileTotoArgs& a) {
  const std::vector<CompileSettings> all = settings_per_mode(ModelFamily::Toto, a.common);
  TotoWarmUpOptions o;
  o.context_lengths = int_list("--context-lengths", a.common.context_lengths, 2);
  o.num_samples = int_list("--num-samples", a.num_samples, 0);
  o.samples_per_batch = a.samples_per_batch;
  o.prediction_length = a.prediction_length;
  o.variates = a.variates;
  o.seed = a.seed;
  o.use_kv_cache = !a.no_kv_cache;
  FCAST_CHECK(!a.model.empty(), "missing --model DIR (a Toto checkpoint folder with config.json and "
              "model.safetensors)");
  toto::TotoWeights w = toto::load_toto(a.model);
  const std::string identity = w.identity;
  toto::TotoModel model(std::move(w), make_executor(all.front(), identity));
  Report r;
  for (size_t i = 0; i < all.size(); ++i) {
    const CompileSettings& s = all[i];
    if (i) model.set_executor(make_executor(s, identity));
    std::cout << "toto " << a.model << " (identity " << identity << "): mode " << to_string(s.mode) << ", backend "
              << to_string(s.backend) << ", " << to_string(s.precision) << ", executor " << model.executor().name()
              << ", cache " << s.models_dir << "\n";
    for (const WarmUpStep& step : warm_up_toto(model, o)) add_step(r, s, model.executor().name(), step);
  }
  print_summary(ModelFamily::Toto, r, all, a.common.json);
}

void run_compile_kronos(const CompileKronosArgs& a) {
  const std::vector<CompileSettings> all = settings_per_mode(ModelFamily::Kronos, a.common);
  KronosWarmUpOptions o;
  o.context_lengths = int_list("--context-lengths", a.common.context_lengths, 2);
  o.sample_counts = int_list("--sample-counts", a.sample_counts, 1);
  o.pred_len = a.pred_len;
  o.sampling.temperature = a.temperature;
  o.sampling.top_k = a.top_k;
  o.sampling.top_p = a.top_p;
  o.sampling.seed = a.seed;
  FCAST_CHECK(!a.model.empty(), "missing --model DIR (the Kronos predictor folder)");
  FCAST_CHECK(!a.tokenizer.empty(), "missing --tokenizer DIR (the Kronos tokenizer folder)");
  FCAST_CHECK(a.pred_len >= 1 && a.pred_len <= a.max_context, "--pred-len must be in [1, --max-context], got ",
              a.pred_len);
  kronos::KronosPredictorWeights mw = kronos::load_kronos_predictor(a.model);
  kronos::KronosTokenizerWeights tw = kronos::load_kronos_tokenizer(a.tokenizer);
  const std::string model_id = mw.identity, tok_id = tw.identity;
  auto model = std::make_shared<kronos::KronosModel>(std::move(mw));
  auto tok = std::make_shared<kronos::KronosTokenizer>(std::move(tw));
  kronos::KronosPredictorOptions po;
  po.max_context = a.max_context;
  po.clip = a.clip;
  po.use_kv_cache = !a.no_kv_cache;
  kronos::KronosPredictor predictor(model, tok, po);
  Report r;
  for (const CompileSettings& s : all) {
    const std::shared_ptr<Executor> me = make_executor(s, model_id), te = make_executor(s, tok_id);
    model->set_executor(me);
    tok->set_executor(te);
    o.executors = {me.get(), te.get()};
    std::cout << "kronos " << a.model << " + " << a.tokenizer << ": mode " << to_string(s.mode) << ", backend "
              << to_string(s.backend) << ", " << to_string(s.precision) << ", executor " << me->name() << ", cache "
              << s.models_dir << "\n";
    for (const WarmUpStep& step : warm_up_kronos(predictor, o)) add_step(r, s, me->name(), step);
  }
  print_summary(ModelFamily::Kronos, r, all, a.common.json);
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

void register_compile(CLI::App& app) {
  CLI::App* compile = app.add_subcommand(
      "compile",
      "Build and store compiled plans ahead of time (toto | kronos) so that later processes start without "
      "compiling");
  compile->require_subcommand(1);

  auto t = std::make_shared<CompileTotoArgs>();
  CLI::App* ct = compile->add_subcommand(
      "toto", "Warm up Toto: one dummy forecast per (mode, context length, sample count); use the shapes your "
              "`fcast predict toto` calls use (--num-samples, --samples-per-batch, --prediction-length, --variates)");
  ct->add_option("--model", t->model, "Toto checkpoint folder (config.json + model.safetensors) (required)");
  add_common(ct, t->common);
  ct->add_option("--num-samples", t->num_samples, "Comma-separated sample counts; 0 = mean forecast (default: 256)");
  ct->add_option("--samples-per-batch", t->samples_per_batch,
                 "Sample paths run together, clamped to each sample count (default: 256, as predict)");
  ct->add_option("--prediction-length", t->prediction_length, "Future steps (default: 64, as predict)");
  ct->add_option("--variates", t->variates, "Series forecast jointly, as predict's --columns count (default: 1)");
  ct->add_option("--seed", t->seed, "Seed of the dummy series and the sampling (default: 0)");
  ct->add_flag("--no-kv-cache", t->no_kv_cache, "Warm up the no-KV-cache path, as predict --no-kv-cache");
  ct->footer("Example: fcast compile toto --model toto-open-base-1.0 --context-lengths 256,512,1024 --num-samples "
             "128,256 --prediction-length 64");
  ct->callback([t] { run_compile_toto(*t); });

  auto k = std::make_shared<CompileKronosArgs>();
  CLI::App* ck = compile->add_subcommand(
      "kronos", "Warm up Kronos: one dummy forecast per (mode, context length, sample count); use the options "
                "your `fcast predict kronos` calls use");
  ck->add_option("--model", k->model, "Kronos predictor folder (required)");
  ck->add_option("--tokenizer", k->tokenizer, "Kronos tokenizer folder (required)");
  add_common(ck, k->common);
  ck->add_option("--sample-counts", k->sample_counts, "Comma-separated sample paths per series (default: 1)");
  ck->add_option("--pred-len", k->pred_len, "Future bars (default: 8)");
  ck->add_option("--max-context", k->max_context, "Window of bars, as predict (default: 512)");
  ck->add_option("--clip", k->clip, "As predict (default: 5)");
  ck->add_option("--temperature", k->temperature, "As predict (default: 1)");
  ck->add_option("--top-k", k->top_k, "As predict; 1 = greedy, which runs one path per series (default: 0)");
  ck->add_option("--top-p", k->top_p, "As predict (default: 0.9)");
  ck->add_option("--seed", k->seed, "Seed of the dummy series and the sampling (default: 0)");
  ck->add_flag("--no-kv-cache", k->no_kv_cache, "Warm up the no-KV-cache path, as predict --no-kv-cache");
  ck->callback([k] { run_compile_kronos(*k); });
}

}  // namespace fcast::tools
