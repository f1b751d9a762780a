#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

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

// Binds `server` to bind:port (port 0 = any free port) and returns the port. Throws Error naming
// `what` and, for a fixed port, `port_key` to change.
std::uint16_t bind_server(httplib::Server& server, const std::string& bind, std::uint16_t port, std::string_view what,
                          std::string_view port_key);

// Makes every request to `server` carry "Authorization: Bearer <token>" when a token is set;
// others get 401 with a WWW-Authenticate header and a JSON error. Never logs the token.
void require_bearer_token(httplib::Server& server, const std::optional<std::string>& token);

}  // namespace datarefresh::metrics
