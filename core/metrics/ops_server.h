#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include <prometheus/registry.h>

#include "core/metrics/health.h"

namespace datarefresh::metrics {

struct OpsServerOptions {
  std::string bind = "127.0.0.1";
  std::uint16_t port = 0;  // 0 = any free port; read it back with port()
  // Required when bind is not a loopback address; requests must then carry
  // "Authorization: Bearer <token>" or get 401. Never logged.
  std::optional<std::string> token;
};

// Serves /metrics (Prometheus text format of `registry`), /healthz (liveness) and /readyz
// (readiness) for one process on one port. Owns a background HTTP thread: start() binds and
// returns once the socket listens (throws datarefresh::Error naming bind:port on failure),
// stop() (also the destructor) shuts it down. The registry and health state must outlive it.
class OpsServer {
 public:
  OpsServer(OpsServerOptions options, std::shared_ptr<prometheus::Registry> registry, HealthState& health);
  ~OpsServer();
  OpsServer(const OpsServer&) = delete;
  OpsServer& operator=(const OpsServer&) = delete;

  void start();
  void stop();
  std::uint16_t port() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace datarefresh::metrics
