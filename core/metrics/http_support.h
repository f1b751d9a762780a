#pragma once

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <thread>

namespace httplib {
class Server;
}

namespace datarefresh::metrics {

// Whether an Authorization header value is exactly "Bearer <token>". Compares in constant time so
// that response timing does not reveal how much of a guess was right.
bool bearer_token_matches(std::string_view authorization, std::string_view token);

// Refuses (ConfigError naming `bind_key` and http.token) to serve on a non-loopback address
// without a token.
void require_token_off_loopback(const std::string& bind, std::string_view bind_key,
                                const std::optional<std::string>& token);

// Serves an httplib::Server on a thread of its own: listen() binds bind:port (port 0 = any free
// port; throws Error naming `what` and, for a fixed port, `port_key` to change) and returns once
// the socket listens; stop() (also the destructor) shuts the server down and joins the thread.
// The server must outlive it.
class ServerThread {
 public:
  explicit ServerThread(httplib::Server& server) : server_(server) {}
  ~ServerThread() { stop(); }
  ServerThread(const ServerThread&) = delete;
  ServerThread& operator=(const ServerThread&) = delete;

  std::uint16_t listen(const std::string& bind, std::uint16_t port, std::string_view what, std::string_view port_key);
  void stop();
  std::uint16_t port() const { return port_; }

 private:
  httplib::Server& server_;
  std::thread thread_;
  std::uint16_t port_ = 0;
};

// Makes every request to `server` carry "Authorization: Bearer <token>" when a token is set;
// others get 401 with a WWW-Authenticate header and a JSON error. Never logs the token.
// `open_paths`: exact paths a GET or HEAD may fetch without the token (static files that hold no
// data, such as the planner's console shell); anything else on them still needs it.
void require_bearer_token(httplib::Server& server, const std::optional<std::string>& token,
                          std::set<std::string> open_paths = {});

}  // namespace datarefresh::metrics
