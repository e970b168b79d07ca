// A small metrics registry for `fcast serve`, rendered in the Prometheus text exposition format
// (version 0.0.4): counters, gauges and histograms, each a family of series told apart by
// labels. Names are given without the `fcast_` prefix; counters must end in `_total`.
//
//   Metrics m;
//   m.define_counter("requests_total", "Requests answered, by model and HTTP status");
//   m.define_histogram("request_seconds", "Request latency", Metrics::latency_buckets());
//   m.inc("requests_total", {{"model", "toto"}, {"status", "200"}});
//   m.observe("request_seconds", {{"model", "toto"}}, 0.012);
//   std::string text = m.render();                 // GET /metrics
//
// Thread-safety: every method may be called from any thread (one mutex; updates are a map
// lookup and an add). Collectors run inside render(), outside the lock.
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace fcast::serve {

using Labels = std::map<std::string, std::string>;

class Metrics {
 public:
  enum class Type { Counter, Gauge, Histogram };

  // A family must be defined before it is updated (an undefined name is an internal error).
  void define_counter(const std::string& name, const std::string& help);
  void define_gauge(const std::string& name, const std::string& help);
  void define_histogram(const std::string& name, const std::string& help, std::vector<double> upper_bounds);

  void inc(const std::string& name, const Labels& labels, double by = 1);  // counters (and gauges)
  void set(const std::string& name, const Labels& labels, double value);   // gauges
  void observe(const std::string& name, const Labels& labels, double value);  // histograms

  // Value of a counter or gauge series (0 when absent); for tests and the server's own checks.
  double value(const std::string& name, const Labels& labels) const;

  // Called at the start of every render() (e.g. to set the RSS gauges).
  void add_collector(std::function<void(Metrics&)> f);

  std::string render();

  // Seconds: 1 ms .. 60 s, roughly x2.5 apart.
  static std::vector<double> latency_buckets();

  static constexpr const char* kPrefix = "fcast_";

 private:
  struct Histogram {
    std::vector<uint64_t> counts;  // per upper bound (not cumulative), plus +Inf last
    double sum = 0;
    uint64_t count = 0;
  };
  struct Family {
    Type type = Type::Counter;
    std::string help;
    std::vector<double> bounds;
    std::map<Labels, double> values;
    std::map<Labels, Histogram> histograms;
  };
  Family& family(const std::string& name, Type want);
  void define(const std::string& name, Type t, const std::string& help, std::vector<double> bounds);

  mutable std::mutex mu_;
  std::map<std::string, Family> families_;
  std::vector<std::function<void(Metrics&)>> collectors_;
};

// Prometheus label-value escaping: backslash, double quote and newline.
std::string escape_label_value(const std::string& v);
// A number as Prometheus reads it ("+Inf", "NaN", shortest round-trip otherwise).
std::string format_metric_value(double v);

// Resident set size and its peak (VmRSS, VmHWM of /proc/self/status), in bytes; 0 if unknown.
int64_t process_rss_bytes();
int64_t process_peak_rss_bytes();

}  // namespace fcast::serve
