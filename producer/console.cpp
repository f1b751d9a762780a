#include "producer/console.h"

#include <regex>

#include <httplib.h>

namespace datarefresh::planner {

std::set<std::string> console_paths() {
  std::set<std::string> out;
  for (const auto& a : console_assets()) out.emplace(a.path);
  return out;
}

void serve_console(httplib::Server& server) {
  static const std::regex kSpecial(R"([.^$|()\[\]{}*+?\\])");
  for (const auto& asset : console_assets()) {
    // httplib routes are regular expressions: match the path literally.
    auto pattern = std::regex_replace(std::string(asset.path), kSpecial, R"(\$&)");
    server.Get(pattern, [&asset](const httplib::Request&, httplib::Response& res) {
      res.set_header("Content-Security-Policy", std::string(kConsoleCsp));
      res.set_header("X-Content-Type-Options", "nosniff");
      res.set_header("Referrer-Policy", "no-referrer");
      res.set_header("Cache-Control", "no-cache");
      res.set_content(asset.body.data(), asset.body.size(), std::string(asset.content_type).c_str());
    });
  }
}

}  // namespace datarefresh::planner
