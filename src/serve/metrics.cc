#include "serve/metrics.h"

#include <charconv>
#include <cmath>
#include <fstream>
#include <sstream>

#include "core/error.h"

namespace fcast::serve {

void Metrics::define(const std::string& name, Type t, const std::string& help, std::vector<double> bounds) {
  std::lock_guard<std::mutex> lock(mu_);
  FCAST_ASSERT(!families_.count(name));
  FCAST_ASSERT(t != Type::Counter || (name.size() > 6 && name.compare(name.size() - 6, 6, "_total") == 0));
  Family& f = families_[name];
  f.type = t;
  f.help = help;
  f.bounds = std::move(bounds);
}

void Metrics::define_counter(const std::string& name, const std::string& help) { define(name, Type::Counter, help, {}); }
void Metrics::define_gauge(const std::string& name, const std::string& help) { define(name, Type::Gauge, help, {}); }
void Metrics::define_histogram(const std::string& name, const std::string& help, std::vector<double> upper_bounds) {
  define(name, Type::Histogram, help, std::move(upper_bounds));
}

Metrics::Family& Metrics::family(const std::string& name, Type want) {
  auto it = families_.find(name);
  if (it == families_.end()) fail("internal error: metric '", name, "' is not defined");
  // Gauges take inc() too (in-flight counts go up and down).
  FCAST_ASSERT(it->second.type == want || (want == Type::Counter && it->second.type == Type::Gauge));
  return it->second;
}

void Metrics::inc(const std::string& name, const Labels& labels, double by) {
  std::lock_guard<std::mutex> lock(mu_);
  family(name, Type::Counter).values[labels] += by;
}

void Metrics::set(const std::string& name, const Labels& labels, double value) {
  std::lock_guard<std::mutex> lock(mu_);
  family(name, Type::Gauge).values[labels] = value;
}

void Metrics::observe(const std::string& name, const Labels& labels, double value) {
  std::lock_guard<std::mutex> lock(mu_);
  Family& f = family(name, Type::Histogram);
  Histogram& h = f.histograms[labels];
  if (h.counts.empty()) h.counts.assign(f.bounds.size() + 1, 0);
  size_t b = 0;
  while (b < f.bounds.size() && value > f.bounds[b]) ++b;
  ++h.counts[b];
  h.sum += value;
  ++h.count;
}

double Metrics::value(const std::string& name, const Labels& labels) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = families_.find(name);
  if (it == families_.end()) return 0;
  auto v = it->second.values.find(labels);
  return v == it->second.values.end() ? 0 : v->second;
}

void Metrics::add_collector(std::function<void(Metrics&)> f) {
  std::lock_guard<std::mutex> lock(mu_);
  collectors_.push_back(std::move(f));
}

std::vector<double> Metrics::latency_buckets() {
  return {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};
}

std::string escape_label_value(const std::string& v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

namespace {

std::string escape_help(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\') out += "\\\\";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

std::string label_text(const Labels& labels, const std::string& extra_key = "", const std::string& extra_value = "") {
  std::string s;
  for (const auto& [k, v] : labels) s += (s.empty() ? "" : ",") + k + "=\"" + escape_label_value(v) + "\"";
  if (!extra_key.empty()) s += (s.empty() ? "" : ",") + extra_key + "=\"" + extra_value + "\"";
  return s.empty() ? s : "{" + s + "}";
}

const char* type_name(Metrics::Type t) {
  switch (t) {
    case Metrics::Type::Counter: return "counter";
    case Metrics::Type::Gauge: return "gauge";
    case Metrics::Type::Histogram: return "histogram";
  }
  return "untyped";
}

int64_t status_field_kb(const char* field) {
  std::ifstream in("/proc/self/status");
  std::string line;
  const std::string key = std::string(field) + ":";
  while (std::getline(in, line))
    if (line.compare(0, key.size(), key) == 0) {
      std::istringstream s(line.substr(key.size()));
      int64_t kb = 0;
      s >> kb;
      return kb;
    }
  return 0;
}

}  // namespace

std::string format_metric_value(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char buf[64];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, r.ptr);
}

std::string Metrics::render() {
  std::vector<std::function<void(Metrics&)>> collectors;
  {
    std::lock_guard<std::mutex> lock(mu_);
    collectors = collectors_;
  }
  for (auto& c : collectors) c(*this);
  std::lock_guard<std::mutex> lock(mu_);
  std::ostringstream out;
  for (const auto& [name, f] : families_) {
    const std::string full = kPrefix + name;
    out << "# HELP " << full << " " << escape_help(f.help) << "\n# TYPE " << full << " " << type_name(f.type) << "\n";
    if (f.type != Type::Histogram) {
      for (const auto& [labels, v] : f.values) out << full << label_text(labels) << " " << format_metric_value(v) << "\n";
      continue;
    }
    for (const auto& [labels, h] : f.histograms) {
      uint64_t cumulative = 0;
      for (size_t b = 0; b <= f.bounds.size(); ++b) {
        cumulative += h.counts[b];
        const std::string le = b < f.bounds.size() ? format_metric_value(f.bounds[b]) : "+Inf";
        out << full << "_bucket" << label_text(labels, "le", le) << " " << cumulative << "\n";
      }
      out << full << "_sum" << label_text(labels) << " " << format_metric_value(h.sum) << "\n";
      out << full << "_count" << label_text(labels) << " " << h.count << "\n";
    }
  }
  return out.str();
}

int64_t process_rss_bytes() { return status_field_kb("VmRSS") * 1024; }
int64_t process_peak_rss_bytes() { return status_field_kb("VmHWM") * 1024; }

}  // namespace fcast::serve
