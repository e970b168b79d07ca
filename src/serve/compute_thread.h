// The one thread that runs every model's work in a server: loading, warm-up and every forecast,
// for all served models. Other threads hand it a function and wait.
//
//   serve::ComputeThread compute(/*omp_threads=*/0);     // 0: OpenMP's default team size
//   compute.run([&] { model = entry.load(paths, settings); });   // blocks; rethrows what it throws
//
// Why one thread: each thread that opens an OpenMP parallel region gets its own team of helper
// threads, and libgomp keeps them all. Once the process holds more OpenMP threads than CPUs,
// libgomp stops spinning between parallel regions and puts the helpers to sleep (futex) at every
// region's end: a Toto forecast has hundreds of regions, so it ran ~15-20 % slower in the server
// (warm-up on the main thread, serving on a scheduler thread: two teams on 2 cores; ~100 context
// switches per request) than in a process with one team. One compute thread keeps one team; it
// also makes `--threads` apply (OpenMP's thread count is a per-thread setting) and keeps two
// models from running at once on the same cores.
//
// Thread-safety: run() may be called from any thread; calls run one at a time, in arrival order.
// A run() from the compute thread itself calls the function directly.
#pragma once
#include <condition_variable>
#include <deque>
#include <functional>
#include <future>
#include <mutex>
#include <thread>

namespace fcast::serve {

class ComputeThread {
 public:
  explicit ComputeThread(int omp_threads = 0);
  ~ComputeThread();  // runs what is queued, then joins
  ComputeThread(const ComputeThread&) = delete;
  ComputeThread& operator=(const ComputeThread&) = delete;

  void run(const std::function<void()>& f);
  bool on_this_thread() const { return std::this_thread::get_id() == thread_.get_id(); }

 private:
  void loop(int omp_threads);

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::packaged_task<void()>*> tasks_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace fcast::serve
