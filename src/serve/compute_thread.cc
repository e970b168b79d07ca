#include "serve/compute_thread.h"

#include <omp.h>

namespace fcast::serve {

ComputeThread::ComputeThread(int omp_threads) : thread_([this, omp_threads] { loop(omp_threads); }) {}

ComputeThread::~ComputeThread() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void ComputeThread::run(const std::function<void()>& f) {
  if (on_this_thread()) {
    f();
    return;
  }
  std::packaged_task<void()> task(f);
  std::future<void> done = task.get_future();
  {
    std::lock_guard<std::mutex> lock(mu_);
    tasks_.push_back(&task);
  }
  cv_.notify_one();
  done.get();  // rethrows the task's exception
}

void ComputeThread::loop(int omp_threads) {
  if (omp_threads > 0) omp_set_num_threads(omp_threads);
  for (;;) {
    std::packaged_task<void()>* task = nullptr;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return stopping_ || !tasks_.empty(); });
      if (tasks_.empty()) return;
      task = tasks_.front();
      tasks_.pop_front();
    }
    (*task)();  // the task stores its own exception for run() to rethrow
  }
}

}  // namespace fcast::serve
