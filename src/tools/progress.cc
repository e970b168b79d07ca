#include "tools/progress.h"

#include <unistd.h>

#include <cstdio>

#include "core/error.h"

namespace fcast::tools {

namespace {

std::string seconds_text(double s) {
  char buf[32];
  if (s < 60) std::snprintf(buf, sizeof buf, "%.1f s", s);
  else std::snprintf(buf, sizeof buf, "%dm%02ds", static_cast<int>(s) / 60, static_cast<int>(s) % 60);
  return buf;
}

}  // namespace

bool show_progress(bool quiet, bool force) { return !quiet && (force || ::isatty(STDERR_FILENO) == 1); }

Progress::~Progress() {
  if (active_) end();
}

void Progress::begin(const std::string& what) {
  if (active_) end();
  what_ = what;
  start_ = std::chrono::steady_clock::now();
  last_draw_ = {};
  active_ = true;
  draw(cat("fcast: ", what_, " ..."));
}

void Progress::update(int64_t done, int64_t total) {
  if (!enabled_ || !active_ || total <= 0) return;
  const auto now = std::chrono::steady_clock::now();
  if (done < total && now - last_draw_ < std::chrono::milliseconds(100)) return;
  last_draw_ = now;
  const double elapsed = std::chrono::duration<double>(now - start_).count();
  std::string line = cat("fcast: ", what_, ": ", done, "/", total, " steps (", 100 * done / total, "%), ",
                         seconds_text(elapsed), " elapsed");
  if (done > 0 && done < total)
    line += cat(", ETA ", seconds_text(elapsed / static_cast<double>(done) * static_cast<double>(total - done)));
  draw(line);
}

void Progress::end() {
  if (!active_) return;
  active_ = false;
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  draw(cat("fcast: ", what_, ": done in ", seconds_text(elapsed)));
  if (enabled_) std::fputc('\n', stderr);
  drawn_ = 0;
}

std::function<void(int64_t, int64_t)> Progress::callback() {
  if (!enabled_) return {};
  return [this](int64_t done, int64_t total) { update(done, total); };
}

void Progress::draw(const std::string& text) {
  if (!enabled_) return;
  std::string line = "\r" + text;
  if (text.size() < drawn_) line.append(drawn_ - text.size(), ' ');
  drawn_ = text.size();
  std::fputs(line.c_str(), stderr);
  std::fflush(stderr);
}

}  // namespace fcast::tools
