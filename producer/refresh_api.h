#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "core/config/config.h"
#include "core/kafka/producer.h"

namespace datarefresh::planner {

class Planner;

// The planner's HTTP API (JSON):
//   POST /v1/refreshes {"media_type": "image", "mode": "incremental",
//                       "options": {"row_limit": 1000, "requested_by": "me"}}
//        -> 202 {"refresh_id", "media_type", "mode", "status": "queued", "status_url"}; the request
//        goes to the requests topic like `datarefresh trigger`. mode is full (absent), incremental
//        or auto; anything else is a 400 naming the three. 409 while a refresh runs in the same
//        lock scope (the planner would refuse it), naming that refresh.
//   GET  /v1/refreshes/{id} -> 200 the refresh (refresh::refresh_status_json) or {"status":
//        "queued", "mode"} for a request accepted here and not yet taken by the planner; 404 if
//        unknown.
//   GET  /v1/refreshes?media_type=&status=&limit= -> 200 {"refreshes": [...]}, newest first.
//   GET  /v1/refreshes/{id}/shards -> 200 {"shards": [...]} (refresh::shards_json), the console's grid.
//   GET  / and /console/... -> the web console (producer/console.h), the only paths open without
//        the token: static files that hold no data.
//   POST /v1/refreshes/{id}/cancel -> 202 {"status": "cancelling"}: the planner or coordinator rolls
//        it back (live data untouched) and records it cancelled; 409 once it is promoting or over.
// Bodies are limited to max_body_bytes (413 beyond) and validated strictly: every 400 names the
// field and what to send. Served on http.api_bind:http.api_port; off loopback every request needs
// the bearer token http.token (401 otherwise). Owns its HTTP threads; each request opens its own
// database session. start() binds and returns; stop() (also the destructor) shuts it down.
class RefreshApi {
 public:
  struct Options {
    std::string bind = "127.0.0.1";
    std::uint16_t port = 0;  // 0 = any free port; read it back with port()
    std::optional<std::string> token;
    std::size_t max_body_bytes = 64 * 1024;
  };

  // `planner` (may be null in tests without one) is told about cancel requests it must act on.
  RefreshApi(Options options, const config::Config& config, kafka::Producer& producer, Planner* planner);
  ~RefreshApi();
  RefreshApi(const RefreshApi&) = delete;
  RefreshApi& operator=(const RefreshApi&) = delete;

  void start();
  void stop();
  std::uint16_t port() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The API's options from the configuration (http.api_bind, http.api_port, http.token).
RefreshApi::Options refresh_api_options(const config::Config& config);

}  // namespace datarefresh::planner
