#include "core/metrics/ops_server.h"

#include <sstream>
#include <thread>

#include <httplib.h>
#include <nlohmann/json.hpp>
#include <prometheus/text_serializer.h>

#include "core/common/error.h"
#include "core/common/net.h"

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
  std::thread thread;
  std::uint16_t port = 0;

  Impl(OpsServerOptions o, std::shared_ptr<prometheus::Registry> r, HealthState& h)
      : options(std::move(o)), registry(std::move(r)), health(h) {}

  bool authorized(const httplib::Request& req) const {
    if (!options.token) return true;
    return req.get_header_value("Authorization") == "Bearer " + *options.token;
  }
};

OpsServer::OpsServer(OpsServerOptions options, std::shared_ptr<prometheus::Registry> registry, HealthState& health)
    : impl_(std::make_unique<Impl>(std::move(options), std::move(registry), health)) {
  if (!is_loopback_host(impl_->options.bind) && (!impl_->options.token || impl_->options.token->empty())) {
    throw ConfigError("http.metrics_bind is " + impl_->options.bind +
                      ", which is not loopback: set http.token (DATAREFRESH_HTTP_TOKEN) so scrapes need a bearer token, "
                      "or bind to 127.0.0.1");
  }
  auto& server = impl_->server;
  Impl* impl = impl_.get();
  auto guard = [impl](const httplib::Request& req, httplib::Response& res) {
    if (impl->authorized(req)) return true;
    res.status = 401;
    res.set_header("WWW-Authenticate", "Bearer");
    res.set_content(R"({"error":"missing or wrong bearer token"})", "application/json");
    return false;
  };
  server.Get("/metrics", [impl, guard](const httplib::Request& req, httplib::Response& res) {
    if (!guard(req, res)) return;
    std::ostringstream out;
    prometheus::TextSerializer().Serialize(out, impl->registry->Collect());
    res.set_content(out.str(), "text/plain; version=0.0.4; charset=utf-8");
  });
  server.Get("/healthz", [impl, guard](const httplib::Request& req, httplib::Response& res) {
    if (!guard(req, res)) return;
    auto report = impl->health.liveness();
    res.status = report.ok ? 200 : 503;
    res.set_content(report_json(report), "application/json");
  });
  server.Get("/readyz", [impl, guard](const httplib::Request& req, httplib::Response& res) {
    if (!guard(req, res)) return;
    auto report = impl->health.readiness();
    res.status = report.ok ? 200 : 503;
    res.set_content(report_json(report), "application/json");
  });
}

OpsServer::~OpsServer() { stop(); }

void OpsServer::start() {
  auto& o = impl_->options;
  if (o.port == 0) {
    int port = impl_->server.bind_to_any_port(o.bind);
    if (port <= 0) throw Error("cannot bind the metrics/health server to " + o.bind + ":0");
    impl_->port = static_cast<std::uint16_t>(port);
  } else {
    if (!impl_->server.bind_to_port(o.bind, o.port)) {
      throw Error("cannot bind the metrics/health server to " + o.bind + ":" + std::to_string(o.port) +
                  ": the port is in use or the address is not local; change http.metrics_port");
    }
    impl_->port = o.port;
  }
  impl_->thread = std::thread([this] { impl_->server.listen_after_bind(); });
}

void OpsServer::stop() {
  if (!impl_ || !impl_->thread.joinable()) return;
  impl_->server.stop();
  impl_->thread.join();
}

std::uint16_t OpsServer::port() const { return impl_->port; }

}  // namespace datarefresh::metrics
