#include "core/metrics/http_support.h"

#include <fmt/format.h>
#include <httplib.h>

#include "core/common/error.h"
#include "core/common/net.h"

namespace datarefresh::metrics {

bool bearer_token_matches(std::string_view authorization, std::string_view token) {
  constexpr std::string_view kScheme = "Bearer ";
  if (token.empty() || authorization.size() != kScheme.size() + token.size()) return false;
  unsigned char diff = 0;
  for (std::size_t i = 0; i < authorization.size(); ++i) {
    char want = i < kScheme.size() ? kScheme[i] : token[i - kScheme.size()];
    diff |= static_cast<unsigned char>(authorization[i] ^ want);
  }
  return diff == 0;
}

void require_token_off_loopback(const std::string& bind, std::string_view bind_key,
                                const std::optional<std::string>& token) {
  if (is_loopback_host(bind) || (token && !token->empty())) return;
  throw ConfigError(std::string(bind_key) + " is " + bind +
                    ", which is not loopback: set http.token (DATAREFRESH_HTTP_TOKEN, or {env: VAR} / {file: path}) "
                    "so that requests need a bearer token, or bind to 127.0.0.1");
}

std::uint16_t ServerThread::listen(const std::string& bind, std::uint16_t port, std::string_view what,
                                   std::string_view port_key) {
  if (port == 0) {
    int any = server_.bind_to_any_port(bind);
    if (any <= 0) throw Error(fmt::format("cannot bind the {} to {}:0", what, bind));
    port_ = static_cast<std::uint16_t>(any);
  } else {
    if (!server_.bind_to_port(bind, port)) {
      throw Error(fmt::format("cannot bind the {} to {}:{}: the port is in use or the address is not local; change {}",
                              what, bind, port, port_key));
    }
    port_ = port;
  }
  thread_ = std::thread([this] { server_.listen_after_bind(); });
  return port_;
}

void ServerThread::stop() {
  if (!thread_.joinable()) return;
  server_.stop();
  thread_.join();
}

void require_bearer_token(httplib::Server& server, const std::optional<std::string>& token,
                          std::set<std::string> open_paths) {
  if (!token) return;
  server.set_pre_routing_handler([token = *token, open = std::move(open_paths)](const httplib::Request& req,
                                                                                httplib::Response& res) {
    if ((req.method == "GET" || req.method == "HEAD") && open.count(req.path)) {
      return httplib::Server::HandlerResponse::Unhandled;
    }
    if (bearer_token_matches(req.get_header_value("Authorization"), token))
      return httplib::Server::HandlerResponse::Unhandled;
    res.status = 401;
    res.set_header("WWW-Authenticate", "Bearer");
    res.set_content(R"({"error":"missing or wrong bearer token: send Authorization: Bearer <http.token>","status":401})",
                    "application/json");
    return httplib::Server::HandlerResponse::Handled;
  });
}

}  // namespace datarefresh::metrics
