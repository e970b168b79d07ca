// Progress on stderr for work that can take more than a couple of seconds (loading, compiling,
// decoding steps): one line redrawn in place, with the elapsed time and an ETA once steps are
// counted. Shown only when stderr is a terminal (or forced with --progress), never with --quiet,
// so logs and pipes stay clean.
//
//   Progress p(show_progress(quiet, force));
//   p.begin("loading toto");        ...  p.end();
//   p.begin("forecasting 5 series"); request.progress = p.callback();  ...  p.end();
//
// Not thread-safe: one thread drives one Progress.
#pragma once
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>

namespace fcast::tools {

// Whether to draw progress: never when quiet, always when forced, else when stderr is a terminal.
bool show_progress(bool quiet, bool force);

class Progress {
 public:
  explicit Progress(bool enabled) : enabled_(enabled) {}
  ~Progress();
  void begin(const std::string& what);
  void update(int64_t done, int64_t total);  // redraws at most ~10 times a second (and at the end)
  void end();                                // "what: done in X s" on its own line
  std::function<void(int64_t, int64_t)> callback();  // update() as a ForecastRequest::progress
  bool enabled() const { return enabled_; }

 private:
  void draw(const std::string& text);
  bool enabled_;
  bool active_ = false;
  std::string what_;
  std::chrono::steady_clock::time_point start_, last_draw_;
  size_t drawn_ = 0;  // characters of the current line (to blank a shorter redraw)
};

}  // namespace fcast::tools
