// Helpers of the `fcast serve` tests: a server child process on an ephemeral loopback port
// (its port read from its "listening on" line), HTTP calls through cpp-httplib's client, and
// the market series the tests forecast.
#pragma once
#include <fcntl.h>
#include <httplib.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "io/csv.h"
#include "test_util.h"

namespace fcast::test {

// `fcast serve ARGS...` as a child; stdout through a pipe, stderr to a file.
class ServeProcess {
 public:
  explicit ServeProcess(std::vector<std::string> args, const std::string& err_path, std::vector<std::string> env = {}) {
    int fds[2];
    if (pipe(fds) != 0) throw std::runtime_error("pipe failed");
    args.insert(args.begin(), {fcast_binary(), "serve"});
    pid_ = fork();
    if (pid_ == 0) {
      dup2(fds[1], 1);
      const int err = open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      if (err >= 0) dup2(err, 2);
      close(fds[0]);
      close(fds[1]);
      for (const std::string& e : env) putenv(strdup(e.c_str()));
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      execv(argv[0], argv.data());
      _exit(127);
    }
    close(fds[1]);
    out_ = fds[0];
    err_path_ = err_path;
  }
  ~ServeProcess() {
    if (pid_ > 0 && !reaped_) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    if (out_ >= 0) close(out_);
  }
  ServeProcess(const ServeProcess&) = delete;
  ServeProcess& operator=(const ServeProcess&) = delete;

  // Reads stdout until a line starting with `prefix`; "" on timeout or end of output.
  std::string wait_line(const std::string& prefix, int timeout_s = 300) {
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
    for (;;) {
      const size_t nl = buf_.find('\n');
      if (nl != std::string::npos) {
        const std::string line = buf_.substr(0, nl);
        buf_.erase(0, nl + 1);
        if (line.compare(0, prefix.size(), prefix) == 0) return line;
        continue;
      }
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - std::chrono::steady_clock::now());
      if (left.count() <= 0) return "";
      pollfd p{out_, POLLIN, 0};
      if (poll(&p, 1, static_cast<int>(left.count())) <= 0) return "";
      char chunk[4096];
      const ssize_t n = read(out_, chunk, sizeof chunk);
      if (n <= 0) return "";
      buf_.append(chunk, static_cast<size_t>(n));
    }
  }
  // Starts and waits for readiness; the bound port (0 on failure, the reason in the stderr file).
  int start() {
    const std::string l = wait_line("listening on http://127.0.0.1:");
    if (l.empty()) return 0;
    port_ = std::stoi(l.substr(l.rfind(':') + 1));
    return wait_line("ready").empty() ? 0 : port_;
  }
  int port() const { return port_; }
  void signal(int sig) { kill(pid_, sig); }
  // Waits for the exit (SIGKILL after timeout_s); the exit status, or -1 when killed by a signal.
  int wait_exit(int timeout_s = 120) {
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
    int st = 0;
    while (waitpid(pid_, &st, WNOHANG) == 0) {
      if (std::chrono::steady_clock::now() > until) {
        kill(pid_, SIGKILL);
        waitpid(pid_, &st, 0);
        break;
      }
      usleep(20000);
    }
    reaped_ = true;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  }
  std::string stderr_text() const { return slurp(err_path_); }

 private:
  pid_t pid_ = -1;
  int out_ = -1, port_ = 0;
  bool reaped_ = false;
  std::string buf_, err_path_;
};

struct HttpAnswer {
  int status = 0;  // 0: no answer (connection failed)
  std::string body;
  nlohmann::json json() const { return nlohmann::json::parse(body, nullptr, false); }
};

inline HttpAnswer http_post(int port, const std::string& path, const std::string& body, const std::string& key = "") {
  httplib::Client c("127.0.0.1", port);
  c.set_read_timeout(std::chrono::seconds(300));
  httplib::Headers h;
  if (!key.empty()) h.emplace("Authorization", "Bearer " + key);
  auto r = c.Post(path.c_str(), h, body, "application/json");
  return r ? HttpAnswer{r->status, r->body} : HttpAnswer{0, "no answer: " + httplib::to_string(r.error())};
}

inline HttpAnswer http_get(int port, const std::string& path, const std::string& key = "") {
  httplib::Client c("127.0.0.1", port);
  c.set_read_timeout(std::chrono::seconds(60));
  httplib::Headers h;
  if (!key.empty()) h.emplace("Authorization", "Bearer " + key);
  auto r = c.Get(path.c_str(), h);
  return r ? HttpAnswer{r->status, r->body} : HttpAnswer{0, "no answer: " + httplib::to_string(r.error())};
}

// The last `rows` closes of MSTR (wall-clock timestamps), as `fcast predict --context rows` reads them.
struct MarketSlice {
  std::vector<double> close;
  std::vector<int64_t> timestamps;
};
inline MarketSlice mstr_closes(int64_t rows) {
  MarketTable t = read_market_csv(test_data("market/MSTR.csv"));
  t.keep_last(rows);
  MarketSlice m;
  m.close = t.column("close");
  for (int64_t k = 0; k < t.rows(); ++k) m.timestamps.push_back(t.timestamps[k] + t.utc_offsets[k]);
  return m;
}

inline std::string toto_tiny() { return test_data("golden/toto/models/tiny_a"); }

// `fcast serve` flags the Toto server tests share: the tiny Toto, no persistent cache (nothing
// written outside the temp folders), warm-up at the shapes the tests send (context 96, horizon
// 5, 0 and 8 samples), one OpenMP thread; `more` appended.
inline std::vector<std::string> toto_serve_args(std::vector<std::string> more = {}) {
  std::vector<std::string> a = {"--toto", toto_tiny(), "--port", "0", "--no-persistent-cache",
                                "--warm-up-contexts", "96", "--warm-up-samples", "0,8", "--warm-up-horizon", "5",
                                "--threads", "1"};
  a.insert(a.end(), more.begin(), more.end());
  return a;
}

}  // namespace fcast::test
