// One scheduler per served model: a bounded queue in front of one worker thread that owns the
// model's one ForecastSession (llama-server's shape: one loop, many requests). The worker takes
// the oldest request and, when that request can share a run, gathers further compatible requests
// (up to `max_batch` series, waiting at most `batch_wait` for them) into one ForecastRequest;
// the session runs series of one length and variate count on its batch axis.
//
//   ModelScheduler s(name, model, opts, &metrics, &compute);
//   s.warm_up(spec);                           // plans for every shape the server expects
//   s.start();                                 // the worker takes the session
//   std::future<JobOutcome> f = s.submit(request, deadline);   // throws ApiError 429 when full
//   JobOutcome o = f.get();
//   s.drain();                                 // no new work; finishes the queue; joins
//
// What shares a run: requests with equal horizon, sample count, quantiles and options, on a
// model whose forecasts a probe at warm-up found batch-invariant (the same numbers alone and next
// to another series, point and sampled). Each gathered series keeps its request's seed
// (ForecastRequest::series_seeds: its own random stream), so its numbers are those it gets alone.
//
// Thread-safety: submit(), queue_depth() and drain() may be called from any thread.
#pragma once
#include <chrono>
#include <condition_variable>
#include <deque>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "models/registry.h"
#include "serve/api_error.h"
#include "serve/compute_thread.h"
#include "serve/metrics.h"

namespace fcast::serve {

using Clock = std::chrono::steady_clock;

struct SchedulerOptions {
  int64_t max_batch = 8;                                // series per gathered run (1: no gathering)
  std::chrono::milliseconds batch_wait{5};              // longest wait for more requests
  int64_t queue_size = 256;                             // requests waiting; more are refused (429)
};

struct JobOutcome {
  bool ok = false;
  ForecastResult result;
  ApiError error{500, "internal", ""};
  double queue_seconds = 0, run_seconds = 0;
  int64_t batch_series = 0;  // series in the run that answered it
};

// The metric label for a recompile reason ("context 64 -> 128, batch 1 -> 2" -> "batch+context").
std::string recompile_reason_label(const std::string& reason);

class ModelScheduler {
 public:
  // `compute`: where the model's work runs (warm-up and every gathered run); null runs it on
  // this scheduler's own worker thread. A server passes its one ComputeThread (compute_thread.h).
  ModelScheduler(std::string name, std::shared_ptr<LoadedModel> model, SchedulerOptions o, Metrics* metrics,
                 ComputeThread* compute = nullptr);
  ~ModelScheduler();
  ModelScheduler(const ModelScheduler&) = delete;
  ModelScheduler& operator=(const ModelScheduler&) = delete;

  // Before the worker serves: probes batch invariance, builds the batched plans (batch sizes
  // 2..max_batch at each warm-up context, point forecasts) and then runs the session's warm-up,
  // which marks the model warm. Returns one line per step.
  std::vector<std::string> warm_up(const WarmUpSpec& spec);
  // Starts the worker (after warm-up: the session is the worker's alone from then on).
  void start();

  std::future<JobOutcome> submit(ForecastRequest r, Clock::time_point deadline);
  int64_t queue_depth() const;
  bool batching() const { return batch_invariant_ && opts_.max_batch > 1; }
  const std::string& name() const { return name_; }
  const LoadedModel& model() const { return *model_; }
  const std::string& executor_name() const { return executor_name_; }
  const SchedulerOptions& options() const { return opts_; }
  // Stop taking work, finish everything queued, join the worker. Idempotent.
  void drain();

 private:
  struct Job {
    ForecastRequest request;
    Clock::time_point enqueued, deadline;
    std::promise<JobOutcome> promise;
  };
  void loop();
  std::vector<std::string> warm_up_here(const WarmUpSpec& spec);
  void run_group(std::vector<std::unique_ptr<Job>>& group);
  void run_alone(Job& job, JobOutcome& out);
  bool shareable(const ForecastRequest& r) const;
  static bool compatible(const ForecastRequest& a, const ForecastRequest& b);
  void publish_stats();

  std::string name_;
  std::shared_ptr<LoadedModel> model_;
  std::unique_ptr<ForecastSession> session_;
  SchedulerOptions opts_;
  Metrics* metrics_;
  ComputeThread* compute_;
  std::string executor_name_;
  bool batch_invariant_ = false;
  ExecutorStats published_;  // session counters already added to the metrics
  size_t published_reasons_ = 0;  // recompile reasons already counted

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::unique_ptr<Job>> queue_;
  bool stopping_ = false;
  std::thread worker_;
};

}  // namespace fcast::serve
