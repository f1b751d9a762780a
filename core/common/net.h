#pragma once

#include <cstdint>
#include <string>

namespace datarefresh {

// Asks the kernel for a currently free TCP port on 127.0.0.1 (bind to port 0, read it back,
// close). Another process may take it before the caller binds; callers that can bind port 0
// themselves should prefer that.
std::uint16_t pick_free_loopback_port();

// Whether host is a loopback address or name ("127.x.x.x", "::1", "localhost").
bool is_loopback_host(const std::string& host);

}  // namespace datarefresh
