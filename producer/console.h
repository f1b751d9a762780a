#pragma once

#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace httplib {
class Server;
}

namespace datarefresh::planner {

// One file of the web console, embedded in the binary at build time from producer/console/.
struct ConsoleAsset {
  std::string_view path;  // where it is served: "/" for the page, "/console/..." for its script and style
  std::string_view content_type;
  std::string_view body;
};

// The console's files (generated from producer/console_assets.cpp.in).
const std::vector<ConsoleAsset>& console_assets();

// The paths of console_assets(): static files that hold no data, so they load without the bearer
// token; every call the page makes goes to /v1/... with the token typed into it.
std::set<std::string> console_paths();

// The Content-Security-Policy every console file is served with: nothing from another origin, no
// inline script or style, no framing; the page may only call its own origin.
inline constexpr std::string_view kConsoleCsp =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

// Registers GET routes for console_assets() on `server`. Called by RefreshApi before it starts.
void serve_console(httplib::Server& server);

}  // namespace datarefresh::planner
