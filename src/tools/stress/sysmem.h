// Resident-memory readings for the stress test (Linux /proc). The peak (VmHWM) is reset before
// each mode by writing "5" to /proc/self/clear_refs, so each mode's peak is its own and not the
// process's high-water mark so far; where that is not allowed the reading says so.
#pragma once
#include <fstream>
#include <string>

namespace fcast::stress {

// VmHWM (peak) or VmRSS (current) in MiB; 0 when /proc is not readable.
inline double proc_status_mb(const char* field) {
  std::ifstream in("/proc/self/status");
  std::string line;
  const std::string key = std::string(field) + ":";
  while (std::getline(in, line))
    if (line.rfind(key, 0) == 0) return std::stod(line.substr(key.size())) / 1024.0;  // reported in kB
  return 0;
}
inline double peak_rss_mb() { return proc_status_mb("VmHWM"); }
inline double current_rss_mb() { return proc_status_mb("VmRSS"); }

// Resets the peak to the current RSS; false when the kernel refuses (then peaks are cumulative).
inline bool reset_peak_rss() {
  std::ofstream out("/proc/self/clear_refs");
  if (!out) return false;
  out << "5";
  out.flush();
  return out.good();
}

}  // namespace fcast::stress
