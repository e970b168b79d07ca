// The deployment files under deploy/ (container file, Kubernetes manifests, Prometheus
// configuration and alert rules, Grafana dashboard; docs/DEPLOY.md): they parse, pass promtool,
// agree with each other and with `fcast serve --help`, and name only metrics the server defines
// (src/serve/*.cc, define_counter/define_gauge/define_histogram). Nothing here needs a container
// runtime or a cluster. Tools that Debian may lack are optional: without python3 + PyYAML the
// YAML checks skip, without promtool (Debian `prometheus`) the promtool checks skip, without
// kubectl the kustomize build skips; each says so.
#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

// FCAST_TEST_DATA is <repository>/tests/data.
const fs::path kRoot = fs::path(FCAST_TEST_DATA).parent_path().parent_path();
const fs::path kDeploy = kRoot / "deploy";

std::string read_text(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  EXPECT_TRUE(in.good()) << "cannot read " << p;
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

struct CommandResult {
  int rc = -1;
  std::string output;  // stdout and stderr together
};

CommandResult run_command(const std::string& cmd) {
  CommandResult r;
  FILE* f = ::popen((cmd + " 2>&1").c_str(), "r");
  if (!f) return r;
  std::array<char, 4096> buf;
  size_t n = 0;
  while ((n = std::fread(buf.data(), 1, buf.size(), f)) > 0) r.output.append(buf.data(), n);
  const int status = ::pclose(f);
  r.rc = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

std::string quoted(const fs::path& p) {
  std::string q = "'";
  q += p.string();
  q += "'";
  return q;
}

// A fresh temporary path (unique within the process, so that yaml_documents never returns an
// earlier file's documents for it).
fs::path temp_path(const std::string& name) {
  static int counter = 0;
  return fs::temp_directory_path() / ("fcast_deploy_test_" + std::to_string(::getpid()) + "_" +
                                      std::to_string(counter++) + "_" + name);
}

bool have_command(const std::string& name) { return run_command("command -v " + name).rc == 0; }

bool have_python_yaml() {
  static const bool ok = run_command("python3 -c 'import yaml'").rc == 0;
  return ok;
}

// Every document of a YAML file, as JSON (PyYAML's safe loader, through python3). Read once
// per process: a python3 start costs more than the parsing.
json yaml_documents(const fs::path& p) {
  static std::map<std::string, json> cache;
  auto it = cache.find(p.string());
  if (it != cache.end()) return it->second;
  const CommandResult r = run_command(
      "python3 -c 'import json, sys, yaml; print(json.dumps(list(yaml.safe_load_all(open(sys.argv[1])))))' " +
      quoted(p));
  if (r.rc != 0) {
    ADD_FAILURE() << p << " is not valid YAML:\n" << r.output;
    return json::array();
  }
  return cache[p.string()] = json::parse(r.output);
}

std::vector<fs::path> deploy_files(const std::set<std::string>& extensions) {
  std::vector<fs::path> out;
  for (const auto& e : fs::recursive_directory_iterator(kDeploy))
    if (e.is_regular_file() && extensions.count(e.path().extension().string())) out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

// The metric families the server defines: "fcast_" + the name given to define_*, with its type.
std::map<std::string, std::string> server_metrics() {
  std::map<std::string, std::string> out;
  const std::regex def(R"re(define_(counter|gauge|histogram)\(\s*"([a-z0-9_]+)")re");
  for (const auto& e : fs::directory_iterator(kRoot / "src" / "serve")) {
    if (e.path().extension() != ".cc") continue;
    const std::string text = read_text(e.path());
    for (auto it = std::sregex_iterator(text.begin(), text.end(), def); it != std::sregex_iterator(); ++it)
      out["fcast_" + (*it)[2].str()] = (*it)[1].str();
  }
  return out;
}

struct NameCheck {
  std::set<std::string> unknown;  // neither defined nor a pending drift metric
  std::set<std::string> pending;  // fcast_drift_... not defined yet
};

// Every fcast_... name in `text`: a defined family, or a histogram's _bucket/_sum/_count series.
// Drift metrics are being added to the server; while it defines none of them they are reported
// as pending, not as errors. Once it defines any, every fcast_drift_ name must be defined (a name
// that differs from the server's then fails).
NameCheck check_metric_names(const std::string& text, const std::map<std::string, std::string>& defined) {
  NameCheck c;
  bool drift_defined = false;
  for (const auto& [n, type] : defined) drift_defined = drift_defined || n.rfind("fcast_drift_", 0) == 0;
  const std::regex name(R"(\bfcast_[a-z0-9_]+)");
  for (auto it = std::sregex_iterator(text.begin(), text.end(), name); it != std::sregex_iterator(); ++it) {
    const std::string n = it->str();
    if (defined.count(n)) continue;
    bool histogram_series = false;
    for (const std::string suffix : {"_bucket", "_sum", "_count"})
      if (n.size() > suffix.size() && n.compare(n.size() - suffix.size(), suffix.size(), suffix) == 0) {
        auto d = defined.find(n.substr(0, n.size() - suffix.size()));
        histogram_series = histogram_series || (d != defined.end() && d->second == "histogram");
      }
    if (histogram_series) continue;
    if (!drift_defined && n.rfind("fcast_drift_", 0) == 0 && n.size() > 12) c.pending.insert(n);
    else c.unknown.insert(n);
  }
  return c;
}

std::string joined(const std::set<std::string>& s) {
  std::string out;
  for (const auto& x : s) out += (out.empty() ? "" : ", ") + x;
  return out;
}

// The documents of one Kubernetes manifest file of deploy/k8s, by kind.
json k8s_object(const std::string& file, const std::string& kind) {
  for (const json& d : yaml_documents(kDeploy / "k8s" / file))
    if (d.is_object() && d.value("kind", "") == kind) return d;
  ADD_FAILURE() << "deploy/k8s/" << file << " has no " << kind;
  return json::object();
}

TEST(DeployFiles, ServerMetricListIsRead) {
  // Guards the scan above: if define_* changed shape, every later check would pass vacuously.
  EXPECT_NE(read_text(kRoot / "src" / "serve" / "metrics.h").find("kPrefix = \"fcast_\""), std::string::npos);
  const auto defined = server_metrics();
  EXPECT_GE(defined.size(), 15u);
  EXPECT_EQ(defined.count("fcast_queue_depth") ? defined.at("fcast_queue_depth") : "", "gauge");
  EXPECT_EQ(defined.count("fcast_request_seconds") ? defined.at("fcast_request_seconds") : "", "histogram");
  EXPECT_EQ(defined.count("fcast_recompiles_total") ? defined.at("fcast_recompiles_total") : "", "counter");
}

TEST(DeployFiles, MetricNameCheckRejectsMisspeltAndMisusedNames) {
  const auto defined = server_metrics();
  const NameCheck c = check_metric_names(
      "rate(fcast_request_seconds_bucket[5m]) fcast_queue_depth fcast_queue_dept fcast_queue_depth_bucket "
      "fcast_recompile_total fcast_drift_mae",
      defined);
  EXPECT_EQ(c.unknown, (std::set<std::string>{"fcast_queue_dept", "fcast_queue_depth_bucket", "fcast_recompile_total"}));
  EXPECT_EQ(c.pending.count("fcast_drift_mae"), defined.count("fcast_drift_mae") ? 0u : 1u);
  // Once the server defines drift metrics, a drift name it does not define is an error.
  auto with_drift = defined;
  with_drift["fcast_drift_mae"] = "gauge";
  const NameCheck d = check_metric_names("fcast_drift_mae fcast_drift_rmse_typo", with_drift);
  EXPECT_EQ(d.unknown, (std::set<std::string>{"fcast_drift_rmse_typo"}));
  EXPECT_TRUE(d.pending.empty());
}

// The dashboard, the alert rules, the scrape and adapter configuration, the HPA: every metric
// name in them must be one the server writes.
TEST(DeployFiles, EveryMetricNameIsOneTheServerDefines) {
  const auto defined = server_metrics();
  std::set<std::string> pending;
  size_t files = 0;
  for (const fs::path& p : deploy_files({".json", ".yml", ".yaml"})) {
    ++files;
    const NameCheck c = check_metric_names(read_text(p), defined);
    EXPECT_TRUE(c.unknown.empty()) << fs::relative(p, kRoot).string()
                                   << " names metrics the server does not define (src/serve/*.cc): " << joined(c.unknown);
    pending.insert(c.pending.begin(), c.pending.end());
  }
  EXPECT_GE(files, 8u);
  if (!pending.empty())
    std::cout << "[   NOTE   ] drift metrics used by deploy/ but not defined by the server yet (pending): "
              << joined(pending) << "\n";
}

TEST(DeployFiles, DashboardIsGrafanaJsonWithTheMonitoringPanels) {
  const json d = json::parse(read_text(kDeploy / "grafana" / "fcast-dashboard.json"));
  EXPECT_GE(d.value("schemaVersion", 0), 36);
  EXPECT_FALSE(d.value("uid", "").empty());
  std::map<std::string, json> vars;
  for (const json& v : d.at("templating").at("list")) vars[v.at("name").get<std::string>()] = v;
  ASSERT_TRUE(vars.count("datasource") && vars.count("model"));
  EXPECT_EQ(vars["datasource"].value("type", ""), "datasource");
  EXPECT_EQ(vars["datasource"].value("query", ""), "prometheus");
  EXPECT_EQ(vars["model"].value("type", ""), "query");

  std::set<int> ids;
  std::string exprs;
  for (const json& p : d.at("panels")) {
    const std::string title = p.value("title", "");
    EXPECT_TRUE(ids.insert(p.at("id").get<int>()).second) << "duplicate panel id in " << title;
    const json& g = p.at("gridPos");
    EXPECT_LE(g.at("x").get<int>() + g.at("w").get<int>(), 24) << title;
    if (p.at("type") == "row") continue;
    EXPECT_EQ(p.at("datasource").value("uid", ""), "${datasource}") << title;
    ASSERT_FALSE(p.at("targets").empty()) << title;
    for (const json& t : p.at("targets")) {
      EXPECT_FALSE(t.value("expr", "").empty()) << title;
      exprs += t.value("expr", "") + "\n";
    }
  }
  // The five monitoring items of a torch.compile production setup, then traffic, queue, batching, in flight, fallbacks,
  // non-finite outputs.
  for (const char* m : {"fcast_recompiles_total", "fcast_recompiles_by_reason_total", "fcast_request_seconds_bucket",
                        "fcast_drift_mae", "fcast_drift_rmse", "fcast_drift_coverage", "fcast_drift_alert",
                        "fcast_process_resident_memory_bytes", "fcast_process_peak_resident_memory_bytes",
                        "fcast_persistent_cache_hits_total", "fcast_persistent_cache_misses_total",
                        "fcast_requests_total", "fcast_queue_depth", "fcast_batch_series_bucket",
                        "fcast_requests_in_flight", "fcast_eager_fallbacks_total", "fcast_nonfinite_outputs_total"})
    EXPECT_TRUE(std::regex_search(exprs, std::regex(std::string("\\b") + m + "\\b"))) << "no panel queries " << m;
}

// Each dashboard query, with Grafana's variables replaced, as a recording rule for promtool:
// a PromQL syntax error in any panel fails here.
TEST(DeployFiles, DashboardQueriesAreValidPromQL) {
  if (!have_command("promtool")) GTEST_SKIP() << "promtool not installed (Debian package prometheus): not checked";
  const json d = json::parse(read_text(kDeploy / "grafana" / "fcast-dashboard.json"));
  json rules = json::array();
  for (const json& p : d.at("panels"))
    for (const json& t : p.value("targets", json::array())) {
      std::string e = t.value("expr", "");
      e = std::regex_replace(e, std::regex(R"(\$__rate_interval|\$__interval)"), "5m");
      e = std::regex_replace(e, std::regex(R"(\$__range)"), "1h");
      e = std::regex_replace(e, std::regex(R"(\$\{?model\}?)"), ".*");
      EXPECT_EQ(e.find('$'), std::string::npos) << "a Grafana variable left in: " << e;
      rules.push_back({{"record", "dashboard_query_" + std::to_string(rules.size())}, {"expr", e}});
    }
  // YAML is a superset of JSON: promtool reads this file as it is.
  const fs::path f = temp_path("dashboard_rules.yml");
  std::ofstream(f) << json{{"groups", {{{"name", "dashboard"}, {"rules", rules}}}}}.dump(2);
  const CommandResult r = run_command("promtool check rules " + quoted(f));
  fs::remove(f);
  EXPECT_EQ(r.rc, 0) << r.output;
}

TEST(DeployFiles, AlertRulesPassPromtoolAndTheirUnitTests) {
  const std::string alerts = read_text(kDeploy / "prometheus" / "alerts.yml");
  for (const char* a : {"FcastRecompilesAfterWarmUp", "FcastLatencyP99High", "FcastQueueBackingUp", "FcastErrors",
                        "FcastEagerFallback", "FcastNotReady", "FcastForecastDrift"})
    EXPECT_NE(alerts.find(std::string("alert: ") + a), std::string::npos) << a;
  if (!have_command("promtool")) GTEST_SKIP() << "promtool not installed (Debian package prometheus): not checked";
  CommandResult r = run_command("promtool check rules " + quoted(kDeploy / "prometheus" / "alerts.yml"));
  EXPECT_EQ(r.rc, 0) << r.output;
  r = run_command("promtool test rules " + quoted(kDeploy / "prometheus" / "alerts_test.yml"));
  EXPECT_EQ(r.rc, 0) << r.output;
}

TEST(DeployFiles, EveryYamlFileParses) {
  if (!have_python_yaml()) GTEST_SKIP() << "python3 with PyYAML (Debian python3-yaml) not found: YAML not parsed";
  for (const fs::path& p : deploy_files({".yml", ".yaml"})) {
    const json docs = yaml_documents(p);
    EXPECT_FALSE(docs.empty()) << p;
    // Configuration carried inside a ConfigMap (the prometheus-adapter rules) parses too.
    for (const json& d : docs) {
      if (!d.is_object() || d.value("kind", "") != "ConfigMap") continue;
      for (const auto& [key, value] : d.at("data").items()) {
        if (key.size() < 5 || key.substr(key.size() - 5) != ".yaml") continue;
        const fs::path tmp = temp_path(key);
        std::ofstream(tmp) << value.get<std::string>();
        EXPECT_FALSE(yaml_documents(tmp).empty()) << p << " data." << key;
        fs::remove(tmp);
      }
    }
  }
}

// The manifests refer to each other by name and label; a rename in one file must not leave
// another pointing at nothing.
TEST(DeployFiles, KubernetesManifestsAgree) {
  if (!have_python_yaml()) GTEST_SKIP() << "python3 with PyYAML (Debian python3-yaml) not found: manifests not read";
  // Every object has the basics; the kustomization lists exactly the other manifests.
  std::set<std::string> manifests;
  for (const auto& e : fs::directory_iterator(kDeploy / "k8s")) {
    const std::string name = e.path().filename().string();
    if (name == "kustomization.yaml") continue;
    manifests.insert(name);
    for (const json& d : yaml_documents(e.path())) {
      EXPECT_TRUE(d.contains("apiVersion") && d.contains("kind") && d.at("metadata").contains("name")) << name;
      EXPECT_EQ(d.at("metadata").at("labels").value("app.kubernetes.io/name", ""), "fcast") << name;
    }
  }
  const json kust = yaml_documents(kDeploy / "k8s" / "kustomization.yaml").at(0);
  EXPECT_EQ(kust.at("resources").get<std::set<std::string>>(), manifests);

  const json dep = k8s_object("deployment.yaml", "Deployment");
  const json& pod = dep.at("spec").at("template");
  const json& labels = pod.at("metadata").at("labels");
  for (const auto& [k, v] : dep.at("spec").at("selector").at("matchLabels").items()) EXPECT_EQ(labels.value(k, ""), v);
  const json& c = pod.at("spec").at("containers").at(0);

  // The Service reaches the container's named port, on the pods' labels.
  const json svc = k8s_object("service.yaml", "Service");
  for (const auto& [k, v] : svc.at("spec").at("selector").items()) EXPECT_EQ(labels.value(k, ""), v);
  const std::string target_port = svc.at("spec").at("ports").at(0).at("targetPort");
  bool port_found = false;
  for (const json& p : c.at("ports")) port_found = port_found || (p.value("name", "") == target_port && p.at("containerPort") == 8080);
  EXPECT_TRUE(port_found) << "the Service's targetPort '" << target_port << "' is not the container's port 8080";

  // Probes: ready on /ready (with the token), live on /health.
  EXPECT_NE(c.at("readinessProbe").dump().find("/ready"), std::string::npos);
  EXPECT_NE(c.at("readinessProbe").dump().find("FCAST_API_KEY"), std::string::npos);
  EXPECT_EQ(c.at("livenessProbe").at("httpGet").at("path"), "/health");

  // The API key comes from a Secret; the cache folder lies on the shared ReadWriteMany claim.
  std::map<std::string, json> env;
  for (const json& e : c.at("env")) env[e.at("name").get<std::string>()] = e;
  ASSERT_TRUE(env.count("FCAST_API_KEY") && env.count("COMPILED_MODELS_DIR"));
  EXPECT_TRUE(env["FCAST_API_KEY"].at("valueFrom").contains("secretKeyRef"));
  const std::string cache_dir = env["COMPILED_MODELS_DIR"].at("value");
  std::map<std::string, std::string> claims;  // volume name -> claim name
  for (const json& v : pod.at("spec").at("volumes"))
    if (v.contains("persistentVolumeClaim")) claims[v.at("name").get<std::string>()] = v.at("persistentVolumeClaim").at("claimName").get<std::string>();
  std::map<std::string, json> pvcs;
  for (const json& d : yaml_documents(kDeploy / "k8s" / "pvc.yaml")) pvcs[d.at("metadata").at("name").get<std::string>()] = d;
  std::string cache_claim;
  for (const json& m : c.at("volumeMounts")) {
    const std::string volume = m.at("name").get<std::string>(), path = m.at("mountPath").get<std::string>();
    if (claims.count(volume) && cache_dir.rfind(path + "/", 0) == 0) cache_claim = claims[volume];
  }
  ASSERT_FALSE(cache_claim.empty()) << "COMPILED_MODELS_DIR " << cache_dir << " is not on a PersistentVolumeClaim";
  ASSERT_TRUE(pvcs.count(cache_claim)) << cache_claim << " is not in pvc.yaml";
  EXPECT_EQ(pvcs[cache_claim].at("spec").at("accessModes").get<std::set<std::string>>().count("ReadWriteMany"), 1u);
  for (const auto& [volume, claim] : claims) EXPECT_TRUE(pvcs.count(claim)) << claim << " is not in pvc.yaml";

  // Graceful drain fits in the grace period: preStop sleep + the request deadline.
  int timeout_ms = 30000;  // fcast serve's default
  const std::vector<std::string> args = c.at("args");
  for (size_t k = 0; k + 1 < args.size(); ++k)
    if (args[k] == "--timeout-ms") timeout_ms = std::stoi(args[k + 1]);
  const std::vector<std::string> pre_stop = c.at("lifecycle").at("preStop").at("exec").at("command");
  ASSERT_EQ(pre_stop.size(), 2u);
  EXPECT_EQ(pre_stop[0], "sleep");
  EXPECT_GT(pod.at("spec").at("terminationGracePeriodSeconds").get<int>(), std::stoi(pre_stop[1]) + timeout_ms / 1000);

  // The HPA scales this Deployment on the per-pod queue depth that the adapter publishes.
  const json hpa = k8s_object("hpa.yaml", "HorizontalPodAutoscaler");
  EXPECT_EQ(hpa.value("apiVersion", ""), "autoscaling/v2");
  EXPECT_EQ(hpa.at("spec").at("scaleTargetRef").at("name"), dep.at("metadata").at("name"));
  EXPECT_EQ(hpa.at("spec").at("scaleTargetRef").at("kind"), "Deployment");
  const json& metric = hpa.at("spec").at("metrics").at(0);
  EXPECT_EQ(metric.at("type"), "Pods");
  EXPECT_EQ(metric.at("pods").at("metric").at("name"), "fcast_queue_depth");
  const json adapter_cm = yaml_documents(kDeploy / "prometheus" / "adapter-config.yaml").at(0);
  const fs::path tmp = temp_path("config.yaml");
  std::ofstream(tmp) << adapter_cm.at("data").at("config.yaml").get<std::string>();
  const json adapter = yaml_documents(tmp).at(0);
  fs::remove(tmp);
  const json& rule = adapter.at("rules").at(0);
  EXPECT_EQ(rule.at("name").at("as"), "fcast_queue_depth");
  EXPECT_EQ(rule.at("seriesQuery").get<std::string>().rfind("fcast_queue_depth{", 0), 0u);
  EXPECT_TRUE(rule.at("resources").at("overrides").contains("pod"));

  // Prometheus keeps exactly these pods and writes the pod label the adapter reads.
  const json prom = yaml_documents(kDeploy / "prometheus" / "prometheus.yml").at(0);
  const std::string relabel = prom.at("scrape_configs").at(0).at("relabel_configs").dump();
  EXPECT_NE(relabel.find("__meta_kubernetes_pod_label_app_kubernetes_io_name"), std::string::npos);
  EXPECT_NE(relabel.find(R"("target_label":"pod")"), std::string::npos);
}

// Debian's Prometheus is built without Kubernetes service discovery, so its promtool refuses
// kubernetes_sd_configs; everything else of the scrape configuration (authorization, relabelling,
// the rule file) is checked with a static target in its place.
TEST(DeployFiles, PrometheusScrapeConfigPassesPromtool) {
  if (!have_python_yaml()) GTEST_SKIP() << "python3 with PyYAML (Debian python3-yaml) not found: not checked";
  if (!have_command("promtool")) GTEST_SKIP() << "promtool not installed (Debian package prometheus): not checked";
  json prom = yaml_documents(kDeploy / "prometheus" / "prometheus.yml").at(0);
  const fs::path dir = temp_path("prometheus");
  fs::create_directories(dir);
  std::ofstream(dir / "api-key") << "token\n";
  for (json& rf : prom.at("rule_files")) rf = (kDeploy / "prometheus" / rf.get<std::string>()).string();
  for (json& job : prom.at("scrape_configs")) {
    ASSERT_TRUE(job.contains("kubernetes_sd_configs"));
    job.erase("kubernetes_sd_configs");
    job["static_configs"] = json::array({{{"targets", {"127.0.0.1:8080"}}}});
    job.at("authorization").at("credentials_file") = (dir / "api-key").string();
  }
  std::ofstream(dir / "prometheus.yml") << prom.dump(2);
  const CommandResult r = run_command("promtool check config " + quoted(dir / "prometheus.yml"));
  fs::remove_all(dir);
  EXPECT_EQ(r.rc, 0) << r.output;
}

// Every `fcast serve` flag that the container file and the Deployment pass exists.
TEST(DeployFiles, ServeFlagsExistAndTheContainerFollowsTheSetup) {
  const std::string cf = read_text(kDeploy / "Containerfile");
  EXPECT_NE(cf.find("FROM debian:bookworm-slim"), std::string::npos);
  EXPECT_NE(cf.find("scripts/setup --no-run"), std::string::npos);
  EXPECT_NE(cf.find("EXPOSE 8080"), std::string::npos);
  EXPECT_NE(cf.find("STOPSIGNAL SIGTERM"), std::string::npos);
  EXPECT_NE(cf.find("/health"), std::string::npos);
  EXPECT_TRUE(std::regex_search(cf, std::regex(R"(\nUSER fcast)"))) << "the server must not run as root";
  std::vector<std::string> args;
  for (const char* instr : {"ENTRYPOINT", "CMD"}) {
    std::smatch m;
    ASSERT_TRUE(std::regex_search(cf, m, std::regex(std::string("\n") + instr + R"( (\[[^\n]*\]))"))) << instr;
    for (const json& a : json::parse(m[1].str())) args.push_back(a.get<std::string>());
  }
  ASSERT_GE(args.size(), 4u);
  EXPECT_EQ(args[0], "fcast");
  EXPECT_EQ(args[1], "serve");
  EXPECT_NE(cf.find(R"("--host", "0.0.0.0")"), std::string::npos);
  if (have_python_yaml()) {
    const json dep = k8s_object("deployment.yaml", "Deployment");
    for (const json& a : dep.at("spec").at("template").at("spec").at("containers").at(0).at("args"))
      args.push_back(a.get<std::string>());
  }
  const CommandResult help = run_command(std::string(FCAST_BINARY) + " serve --help");
  ASSERT_EQ(help.rc, 0) << help.output;
  for (const std::string& a : args) {
    if (a.rfind("--", 0) != 0) continue;
    EXPECT_TRUE(std::regex_search(help.output, std::regex("(^|[ ,])" + a + "\\b"))) << a << " is not a flag of fcast serve";
  }
}

TEST(DeployFiles, KustomizeBuildsTheManifests) {
  if (!have_command("kubectl")) GTEST_SKIP() << "kubectl not installed: kustomize build not run";
  const CommandResult r = run_command("kubectl kustomize " + quoted(kDeploy / "k8s"));
  EXPECT_EQ(r.rc, 0) << r.output;
  for (const char* kind : {"kind: Deployment", "kind: Service", "kind: HorizontalPodAutoscaler",
                           "kind: PersistentVolumeClaim", "kind: PodDisruptionBudget"})
    EXPECT_NE(r.output.find(kind), std::string::npos) << kind;
}

}  // namespace
