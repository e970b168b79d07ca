// The HTTP layer of `fcast serve` (cpp-httplib): routes, bearer-token check, JSON errors,
// request metrics, readiness. Models are added while the server already listens (it answers
// /health and a 503 /ready while loading); set_ready(true) opens the forecast endpoints.
//
//   ServeOptions o;  o.port = 0;                    // ephemeral
//   HttpServer http(o, &metrics);
//   int port = http.bind();                          // listening after start()
//   http.start();
//   http.add_model("toto", scheduler);               // before set_ready
//   http.set_ready(true);
//   ...
//   http.stop();                                     // stop accepting, wait for in-flight requests
//
// Endpoints: POST /v1/forecast, POST /v1/timeseries/forecast, POST /v1/actuals, GET /v1/models,
// GET /v1/drift, GET /health, GET /ready, GET /metrics (docs/SERVING.md). Every answered forecast
// of a series with an id and timestamps goes to the drift store (serve/drift.h): it scores the
// series' earlier forecast on the request's new bars, then keeps the new one.
//
// Thread-safety: add_model and set_ready from one thread before/while serving; the handlers run
// on the HTTP thread pool.
#pragma once
#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <thread>

#include "serve/api.h"
#include "serve/drift.h"
#include "serve/metrics.h"
#include "serve/scheduler.h"

namespace httplib {
class Server;
}

namespace fcast::serve {

struct ServeOptions {
  std::string host = "127.0.0.1";
  int port = 8080;                     // 0: an ephemeral port
  std::string api_key;                 // empty: no authentication
  int64_t max_body_bytes = 8 << 20;    // larger bodies: 413
  std::chrono::milliseconds timeout{30000};  // per-request deadline (queue wait): 504 past it
  int http_threads = 64;               // connections served at once
  RequestLimits limits;
  DriftOptions drift;
};

class HttpServer {
 public:
  HttpServer(ServeOptions o, Metrics* metrics);
  ~HttpServer();
  int bind();    // the bound port; throws fcast::Error when the address is taken
  void start();  // serves on a thread of its own
  void add_model(const std::string& name, std::shared_ptr<ModelScheduler> s);
  void set_ready(bool ready);
  // Stops accepting, then waits for every request in flight to be answered.
  void stop();

 private:
  void routes();
  // Feeds an answered forecast to the drift store and counts what it scored.
  void record_drift(const std::string& model, const ForecastRequest& req, const ForecastResult& res);
  void count_drift(const std::string& model, const DriftOutcome& o);
  std::unique_ptr<httplib::Server> http_;
  ServeOptions o_;
  Metrics* metrics_;
  std::thread listener_;
  std::atomic<bool> ready_{false}, draining_{false};
  std::map<std::string, std::shared_ptr<ModelScheduler>> schedulers_;
  ServedModels served_;
  std::shared_ptr<DriftStore> drift_;  // shared with the metrics collector that publishes it
};

// Registers every metric the server and its schedulers update (fcast_ prefix; docs/SERVING.md).
void define_serve_metrics(Metrics& m);

}  // namespace fcast::serve
