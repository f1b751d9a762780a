#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "core/common/duration.h"
#include "devstack/devsearch/faults.h"

namespace datarefresh::devsearch {

struct DevSearchOptions {
  std::string host = "127.0.0.1";
  bool allow_remote = false;  // binding a non-loopback host is refused unless set
  int nodes = 1;
  bool sink = false;
  // The Elasticsearch major whose answers devsearch gives: 8 (8.13.4, the default) or 7 (7.10.2).
  int es_major = 8;
  // The node's action.auto_create_index (as in elasticsearch.yml); unset: Elasticsearch's default,
  // true. PUT _cluster/settings overrides it.
  std::optional<std::string> auto_create_index;
  FaultConfig faults;
  std::uint64_t fault_seed = 0;  // 0: random
};

// An Elasticsearch-compatible development server (HTTP, in memory) for the REST subset
// datarefresh uses, answering as Elasticsearch 8.13 or 7.10 does (DevSearchOptions::es_major),
// with fault injection and request statistics. Owns the HTTP listener thread, its worker pool,
// the in-memory cluster and, during a restart fault, the thread that brings the node back.
// start() binds (port 0 = a free port) and returns once listening; stop() (also run by the
// destructor) ends a restart under way, stops accepting, finishes in-flight requests and joins
// background reindex tasks. start/stop from one thread; requests are served concurrently.
class DevSearchServer {
 public:
  explicit DevSearchServer(DevSearchOptions options = {});
  ~DevSearchServer();
  DevSearchServer(const DevSearchServer&) = delete;
  DevSearchServer& operator=(const DevSearchServer&) = delete;

  // Throws Error when the host is refused or the port cannot be bound.
  void start(std::uint16_t port = 0);
  void stop();
  std::uint16_t port() const;
  std::string url() const;  // http://host:port
  FaultInjector& faults();

  // Imitates a node restart: stops listening and closes every open connection (clients see
  // refused connections), keeps the data, and listens again on the same port after `down`. Returns
  // once the node is down. False if a restart is already under way.
  bool restart(Duration down);
  // False while a restart keeps the node down.
  bool available() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace datarefresh::devsearch
