#pragma once

#include <cstdint>
#include <memory>

namespace datarefresh::broker {

class EmbeddedBroker;

// A small HTTP endpoint on 127.0.0.1 for fault tests against a running `datarefresh broker`:
//   GET  /                                         bootstrap, brokers (up/down), topics, settling topics
//   POST /brokers/<id>/down, /brokers/<id>/up
//   POST /topics/<topic>/partitions/<p>/leader/<broker>
// Answers JSON; errors are {"error": "..."} with 400/404. Owns its listening thread; the broker must
// outlive it. Construction binds (port 0 = a free port), destruction stops and joins.
class BrokerAdminServer {
 public:
  BrokerAdminServer(EmbeddedBroker& broker, std::uint16_t port);
  ~BrokerAdminServer();
  BrokerAdminServer(const BrokerAdminServer&) = delete;
  BrokerAdminServer& operator=(const BrokerAdminServer&) = delete;

  std::uint16_t port() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace datarefresh::broker
