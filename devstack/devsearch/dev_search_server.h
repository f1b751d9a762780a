#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

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
// with fault injection and request statistics. Owns the HTTP listener thread, its worker pool and
// the in-memory cluster. start() binds (port 0 = a free port) and returns once listening; stop()
// (also run by the destructor) stops accepting, finishes in-flight requests and joins background
// reindex tasks. start/stop from one thread; requests are served concurrently.
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

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace datarefresh::devsearch
