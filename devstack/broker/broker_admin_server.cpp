#include "devstack/broker/broker_admin_server.h"

#include <algorithm>
#include <chrono>
#include <thread>

#include <fmt/format.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "core/common/error.h"
#include "core/common/log.h"
#include "core/kafka/topics.h"
#include "devstack/broker/embedded_broker.h"

namespace datarefresh::broker {
namespace {

void reply(httplib::Response& res, int status, const nlohmann::json& body) {
  res.status = status;
  res.set_content(body.dump(), "application/json");
}

std::int32_t to_int(const std::string& text) {
  return static_cast<std::int32_t>(std::stol(text));
}

}  // namespace

struct BrokerAdminServer::Impl {
  EmbeddedBroker& broker;
  httplib::Server server;
  std::uint16_t port = 0;
  std::thread thread;
  Logger logger{"broker.admin"};

  explicit Impl(EmbeddedBroker& b) : broker(b) {}

  // Runs a fault action and answers 200 with `done`, or 400 with the error message.
  template <typename F>
  void act(httplib::Response& res, F action, nlohmann::json done) {
    try {
      action();
      reply(res, 200, done);
    } catch (const Error& e) {
      reply(res, 400, {{"error", e.what()}});
    }
  }

  nlohmann::json describe() {
    nlohmann::json brokers = nlohmann::json::array();
    const auto down = broker.down_brokers();
    for (int id = 1; id <= broker.broker_count(); ++id) {
      brokers.push_back({{"id", id}, {"up", std::find(down.begin(), down.end(), id) == down.end()}});
    }
    nlohmann::json topics = nlohmann::json::object();
    for (const auto& t : broker.created_topics()) topics[t.name] = t.partitions;
    try {
      // Also topics that clients auto-created, as the cluster reports them.
      kafka::ClientOptions client;
      client.bootstrap_servers = broker.bootstrap_servers();
      client.client_id = "datarefresh-broker-admin";
      for (const auto& [name, partitions] : kafka::list_topics(client, std::chrono::seconds(2))) {
        topics[name] = partitions;
      }
    } catch (const Error& e) {
      logger.warn("listing topics through the protocol failed; showing created topics only", {{"error", e.what()}});
    }
    return {{"bootstrap", broker.bootstrap_servers()},
            {"brokers", brokers},
            {"topics", topics},
            {"settling", broker.settling_topics()}};
  }
};

BrokerAdminServer::BrokerAdminServer(EmbeddedBroker& broker, std::uint16_t port)
    : impl_(std::make_unique<Impl>(broker)) {
  auto& s = *impl_;
  s.server.Get("/", [&s](const httplib::Request&, httplib::Response& res) { reply(res, 200, s.describe()); });
  s.server.Post(R"(/brokers/(\d+)/(down|up))", [&s](const httplib::Request& req, httplib::Response& res) {
    const auto id = to_int(req.matches[1]);
    const bool down = req.matches[2] == "down";
    s.act(res, [&] { down ? s.broker.set_broker_down(id) : s.broker.set_broker_up(id); },
          {{"broker", id}, {"up", !down}});
  });
  s.server.Post(R"(/topics/([^/]+)/partitions/(\d+)/leader/(\d+))",
                [&s](const httplib::Request& req, httplib::Response& res) {
                  const std::string topic = req.matches[1];
                  const auto partition = to_int(req.matches[2]);
                  const auto leader = to_int(req.matches[3]);
                  s.act(res, [&] { s.broker.set_partition_leader(topic, partition, leader); },
                        {{"topic", topic}, {"partition", partition}, {"leader", leader}});
                });
  s.server.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
    if (res.status == 400 && res.body.empty()) {
      // cpp-httplib refuses a POST without Content-Length before routing (plain `curl -X POST`).
      reply(res, 400,
            {{"error", fmt::format("{} {} was refused before routing: send a Content-Length, e.g. curl -X POST -d '' "
                                   "URL",
                                   req.method, req.path)}});
    } else if (res.status == 404) {
      reply(res, 404,
            {{"error", fmt::format("no admin route {} {}: use GET /, POST /brokers/<id>/down|up or POST "
                                   "/topics/<t>/partitions/<p>/leader/<broker>",
                                   req.method, req.path)}});
    }
  });
  if (port == 0) {
    const int bound = s.server.bind_to_any_port("127.0.0.1");
    if (bound <= 0) throw Error("embedded broker admin endpoint could not bind a port on 127.0.0.1");
    s.port = static_cast<std::uint16_t>(bound);
  } else {
    if (!s.server.bind_to_port("127.0.0.1", port)) {
      throw Error(
          fmt::format("embedded broker admin endpoint could not bind 127.0.0.1:{}: pick another "
                      "--admin-port or 0 for a free one",
                      port));
    }
    s.port = port;
  }
  s.thread = std::thread([&s] { s.server.listen_after_bind(); });
  // stop() is a no-op until the loop runs, so make sure it does before anyone can call it.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (!s.server.is_running() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

BrokerAdminServer::~BrokerAdminServer() {
  impl_->server.stop();
  impl_->thread.join();
}

std::uint16_t BrokerAdminServer::port() const {
  return impl_->port;
}

}  // namespace datarefresh::broker
