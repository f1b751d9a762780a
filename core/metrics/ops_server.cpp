#include "core/metrics/ops_server.h"

#include <sstream>
#include <thread>

#include <httplib.h>
#include <nlohmann/json.hpp>
#include <prometheus/text_serializer.h>

#include "core/common/error.h"
#include "core/common/net.h"
#include "core/metrics/http_support.h"

namespace datarefresh::metrics {
namespace {

std::string report_json(const HealthState::Report& report) {
  nlohmann::json j = {{"status", report.ok ? "ok" : "failing"}};
  nlohmann::json failures = nlohmann::json::object();
  for (const auto& [name, reason] : report.failures) failures[name] = reason;
  if (!report.failures.empty()) j["failures"] = failures;
  return j.dump();
}

}  // namespace

struct OpsServer::Impl {
  OpsServerOptions options;
  std::shared_ptr<prometheus::Registry> registry;
  HealthState& health;
  httplib::Server server;
  ServerThread thread{server};

  Impl(OpsServerOptions o, std::shared_ptr<prometheus::Registry> r, HealthState& h)
      : options(std::move(o)), registry(std::move(r)), health(h) {}
};

OpsServer::OpsServer(OpsServerOptions options, std::shared_ptr<prometheus::Registry> registry, HealthState& health)
    : impl_(std::make_unique<Impl>(std::move(options), std::move(registry), health)) {
  require_token_off_loopback(impl_->options.bind, "http.metrics_bind", impl_->options.token);
  auto& server = impl_->server;
  Impl* impl = impl_.get();
  require_bearer_token(server, impl->options.token);
  server.Get("/metrics", [impl](const httplib::Request&, httplib::Response& res) {
    std::ostringstream out;
    prometheus::TextSerializer().Serialize(out, impl->registry->Collect());
    res.set_content(out.str(), "text/plain; version=0.0.4; charset=utf-8");
  });
  server.Get("/healthz", [impl](const httplib::Request&, httplib::Response& res) {
    auto report = impl->health.liveness();
    res.status = report.ok ? 200 : 503;
    res.set_content(report_json(report), "application/json");
  });
  server.Get("/readyz", [impl](const httplib::Request&, httplib::Response& res) {
    auto report = impl->health.readiness();
    res.status = report.ok ? 200 : 503;
    res.set_content(report_json(report), "application/json");
  });
}

OpsServer::~OpsServer() { stop(); }

void OpsServer::start() {
  impl_->thread.listen(impl_->options.bind, impl_->options.port, "metrics/health server", "http.metrics_port");
}

void OpsServer::stop() {
  if (impl_) impl_->thread.stop();
}

std::uint16_t OpsServer::port() const { return impl_->thread.port(); }

}  // namespace datarefresh::metrics
