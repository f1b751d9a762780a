#include "devstack/devsearch/dev_search_server.h"

#include <atomic>
#include <condition_variable>
#include <csignal>
#include <mutex>
#include <thread>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>

#define CPPHTTPLIB_SEND_FLAGS MSG_NOSIGNAL
#include <httplib.h>

#include "core/common/error.h"
#include "core/common/log.h"
#include "core/common/net.h"
#include "devstack/devsearch/api_error.h"
#include "devstack/devsearch/store.h"

namespace datarefresh::devsearch {
namespace {

std::vector<std::string> split_path(const std::string& path) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start < path.size()) {
    std::size_t slash = path.find('/', start);
    std::size_t end = slash == std::string::npos ? path.size() : slash;
    if (end > start) out.push_back(path.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

// Closes the client's connection without an answer: finds the accepted socket by its address
// pair and shuts it down (httplib still owns and later closes the descriptor).
void drop_connection(const httplib::Request& req) {
  rlimit lim{};
  getrlimit(RLIMIT_NOFILE, &lim);
  int max_fd = static_cast<int>(std::min<rlim_t>(lim.rlim_cur, 65536));
  for (int fd = 3; fd < max_fd; ++fd) {
    sockaddr_storage local{}, peer{};
    socklen_t ll = sizeof local, pl = sizeof peer;
    if (getsockname(fd, reinterpret_cast<sockaddr*>(&local), &ll) != 0) continue;
    if (getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &pl) != 0) continue;
    if (local.ss_family != AF_INET || peer.ss_family != AF_INET) continue;
    auto* l4 = reinterpret_cast<sockaddr_in*>(&local);
    auto* p4 = reinterpret_cast<sockaddr_in*>(&peer);
    char addr[INET_ADDRSTRLEN] = {};
    inet_ntop(AF_INET, &p4->sin_addr, addr, sizeof addr);
    if (ntohs(l4->sin_port) == req.local_port && ntohs(p4->sin_port) == req.remote_port && req.remote_addr == addr) {
      ::shutdown(fd, SHUT_RDWR);
      return;
    }
  }
}

int port_of(const sockaddr_storage& a) {
  if (a.ss_family == AF_INET) return ntohs(reinterpret_cast<const sockaddr_in*>(&a)->sin_port);
  if (a.ss_family == AF_INET6) return ntohs(reinterpret_cast<const sockaddr_in6*>(&a)->sin6_port);
  return -1;
}

// Shuts down every connection accepted on `port` (as a process that exits closes its sockets),
// except the one from `spare_remote_port` (the request that asked for it, still to be answered).
// Sockets of clients in this process connect *to* `port` and are left alone.
int close_connections(int port, int spare_remote_port) {
  rlimit lim{};
  getrlimit(RLIMIT_NOFILE, &lim);
  int max_fd = static_cast<int>(std::min<rlim_t>(lim.rlim_cur, 65536));
  int closed = 0;
  for (int fd = 3; fd < max_fd; ++fd) {
    sockaddr_storage local{}, peer{};
    socklen_t ll = sizeof local, pl = sizeof peer;
    if (getsockname(fd, reinterpret_cast<sockaddr*>(&local), &ll) != 0) continue;
    if (getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &pl) != 0) continue;
    if (port_of(local) != port || port_of(peer) == spare_remote_port) continue;
    ::shutdown(fd, SHUT_RDWR);
    ++closed;
  }
  return closed;
}

std::chrono::milliseconds timeout_param(const httplib::Request& req) {
  if (!req.has_param("timeout")) return std::chrono::minutes(1);
  auto d = parse_duration(req.get_param_value("timeout"));
  if (!d) {
    throw api_error(400, "parse_exception",
                    "failed to parse setting [timeout] with value [" + req.get_param_value("timeout") +
                        "] as a time value: unit is missing or unrecognized");
  }
  return std::chrono::duration_cast<std::chrono::milliseconds>(*d);
}

StoreOptions store_options(const DevSearchOptions& o) {
  StoreOptions s;
  s.nodes = o.nodes;
  s.sink = o.sink;
  s.profile = EngineProfile::for_major(o.es_major);
  if (o.auto_create_index) {
    try {
      AutoCreateRule::parse(*o.auto_create_index);
    } catch (const ApiError& e) {
      throw ConfigError("--auto-create-index: " + e.body["error"].value("reason", std::string()));
    }
    s.node_settings["action.auto_create_index"] = *o.auto_create_index;
  }
  return s;
}

}  // namespace

struct DevSearchServer::Impl {
  explicit Impl(DevSearchOptions o)
      : options(std::move(o)),
        store(store_options(options)),
        injector(options.fault_seed == 0 ? std::random_device{}() : options.fault_seed) {
    injector.set(options.faults);
  }

  DevSearchOptions options;
  Store store;
  FaultInjector injector;
  httplib::Server server;
  std::thread listener;
  std::atomic<int> port{0};
  std::atomic<std::int64_t> requests{0}, bytes_in{0}, bytes_out{0}, failed{0}, dropped{0}, bulk_requests{0};
  BulkCounters bulk_counts;

  // The restart fault. restart_mutex guards the flags and the listener thread while it is
  // replaced; the restarter thread runs one restart at a time.
  mutable std::mutex restart_mutex;
  std::condition_variable restart_cv;
  std::thread restarter;
  bool restarting = false;  // a restart is under way (down, or coming back)
  bool down = false;        // not listening
  bool stopping = false;    // stop() was called: a restart under way does not come back
  std::atomic<std::int64_t> restarts{0};

  nlohmann::json stats() const {
    return {{"requests", requests.load()},
            {"bytes_received", bytes_in.load()},
            {"bytes_sent", bytes_out.load()},
            {"injected_failures", failed.load()},
            {"dropped_connections", dropped.load()},
            {"bulk_requests", bulk_requests.load()},
            {"bulk_items",
             {{"created", bulk_counts.created.load()},
              {"updated", bulk_counts.updated.load()},
              {"deleted", bulk_counts.deleted.load()},
              {"not_found", bulk_counts.not_found.load()},
              {"rejected", bulk_counts.rejected.load()},
              {"failed", bulk_counts.failed.load()}}},
            {"restarts", restarts.load()},
            {"sink", options.sink},
            {"nodes", options.nodes},
            {"es_major", options.es_major}};
  }

  Answer admin(const httplib::Request& req, const std::vector<std::string>& seg) {
    if (seg.size() == 2 && seg[1] == "stats" && req.method == "GET") return Answer{200, stats().dump()};
    if (seg.size() == 2 && seg[1] == "faults") {
      if (req.method == "GET") return Answer{200, injector.describe().dump()};
      if (req.method == "DELETE") {
        injector.clear();
        return Answer{200, injector.describe().dump()};
      }
      if (req.method == "POST" || req.method == "PUT") {
        auto j = nlohmann::json::parse(req.body, nullptr, false);
        if (j.is_discarded()) return Answer{400, api_error(400, "parse_exception", "faults body is not JSON").body.dump()};
        std::optional<Duration> unavailable;
        try {
          auto config = FaultConfig::from_json(j);
          unavailable = config.unavailable;
          // {"unavailable": ..} alone restarts the node and leaves the other faults as they are.
          if (!unavailable || j.size() > 1) injector.set(config);
        } catch (const ConfigError& e) {
          return Answer{400, api_error(400, "illegal_argument_exception", e.what()).body.dump()};
        }
        auto answer = injector.describe();
        if (unavailable) {
          if (!begin_restart(*unavailable, req.remote_port)) {
            return Answer{409,
                          api_error(409, "illegal_state_exception", "devsearch is already restarting").body.dump()};
          }
          answer["unavailable_for_ms"] = std::chrono::duration_cast<std::chrono::milliseconds>(*unavailable).count();
        }
        return Answer{200, answer.dump()};
      }
    }
    return no_handler(req);
  }

  static Answer no_handler(const httplib::Request& req) {
    nlohmann::ordered_json e;
    e["error"] = "no handler found for uri [" + req.path + "] and method [" + req.method + "]";
    e["status"] = 400;
    return Answer{400, e.dump()};
  }

  Answer route(const httplib::Request& req) {
    auto seg = split_path(req.path);
    const std::string& m = req.method;
    Params params(req.params.begin(), req.params.end());
    bool get = m == "GET" || m == "HEAD";
    bool post = m == "POST" || m == "PUT";
    if (seg.empty()) return get ? store.info() : no_handler(req);
    const std::string& first = seg[0];
    if (first == "_devsearch") return admin(req, seg);
    if (first == "_cluster" && seg.size() >= 2 && seg[1] == "health" && seg.size() <= 3 && get) {
      return store.health(seg.size() == 3 ? seg[2] : "", params);
    }
    if (first == "_cluster" && seg.size() == 2 && seg[1] == "settings") {
      if (get) return store.get_cluster_settings(params);
      if (m == "PUT") return store.put_cluster_settings(req.body, params);
    }
    if (first == "_bulk" && seg.size() == 1 && post) return bulk(req, "");
    if (first == "_aliases" && seg.size() == 1 && post) return store.update_aliases(req.body, params);
    if (first == "_alias" && seg.size() == 2 && get) {
      auto a = store.get_alias(seg[1]);
      if (m == "HEAD") a.body.clear();
      return a;
    }
    if (first == "_alias" && seg.size() == 1 && get) return store.get_alias("_all");
    if (first == "_reindex" && seg.size() == 1 && m == "POST") return store.reindex(req.body, params);
    if (first == "_reindex" && seg.size() == 3 && seg[2] == "_rethrottle" && m == "POST") {
      return store.rethrottle(seg[1], params);
    }
    if (first == "_tasks" && seg.size() == 2 && get) return store.get_task(seg[1]);
    if (first == "_tasks" && seg.size() == 3 && seg[2] == "_cancel" && post) return store.cancel_task(seg[1]);
    if (first == "_cat" && seg.size() >= 2 && seg[1] == "indices" && seg.size() <= 3 && get) {
      return store.cat_indices(seg.size() == 3 ? seg[2] : "", params);
    }
    if (first == "_refresh" && seg.size() == 1 && (post || get)) return store.refresh("");
    if (first == "_count" && seg.size() == 1) return store.count("_all", req.body);
    if (first == "_search" && seg.size() == 1) return store.search("_all", req.body, params);
    if (first[0] == '_') return no_handler(req);
    const std::string& index = first;
    if (seg.size() == 1) {
      if (m == "PUT") return store.create_index(index, req.body);
      if (m == "HEAD") return store.index_exists(index);
      if (m == "GET") return store.get_index(index);
      if (m == "DELETE") return store.delete_index(index);
      return no_handler(req);
    }
    const std::string& op = seg[1];
    if (op == "_settings" && seg.size() == 2) {
      if (get) return store.get_settings(index);
      if (m == "PUT") return store.put_settings(index, req.body, params);
    }
    if (op == "_bulk" && seg.size() == 2 && post) return bulk(req, index);
    if (op == "_clone" && seg.size() == 3 && post) return store.clone_index(index, seg[2], req.body);
    if (op == "_refresh" && seg.size() == 2 && (post || get)) return store.refresh(index);
    if (op == "_count" && seg.size() == 2 && (post || get)) return store.count(index, req.body);
    if (op == "_search" && seg.size() == 2 && (post || get)) return store.search(index, req.body, params);
    if ((op == "_alias" || op == "_aliases") && seg.size() == 2 && get) return store.index_aliases(index);
    if (op == "_doc" && seg.size() == 3 && get) return store.get_doc(index, seg[2]);
    if (op == "_doc" && seg.size() >= 2 && seg.size() <= 3 && post) {
      // Single-document index: the same path as one bulk item, answered in the item's shape.
      std::string action = nlohmann::json{{"index", {{"_index", index}}}}.dump();
      if (seg.size() == 3) action = nlohmann::json{{"index", {{"_index", index}, {"_id", seg[2]}}}}.dump();
      std::string compact = req.body;
      auto parsed = nlohmann::json::parse(req.body, nullptr, false);
      if (!parsed.is_discarded()) compact = parsed.dump();
      auto a = store.bulk(action + "\n" + compact + "\n", index, {}, bulk_counters_unused, nullptr, timeout_param(req));
      auto j = nlohmann::ordered_json::parse(a.body);
      auto item = j["items"][0].begin().value();
      if (item.contains("error")) {
        auto err = item["error"];
        int status = item["status"].get<int>();
        // The exception's own fields (index, index_uuid, shard...) go on the root cause too.
        nlohmann::ordered_json extra = nlohmann::ordered_json::object();
        for (const auto& [k, v] : err.items()) {
          if (k != "type" && k != "reason" && k != "caused_by") extra[k] = v;
        }
        return Answer{status, api_error(status, err.value("type", ""), err.value("reason", ""), extra,
                                        err.contains("caused_by") ? err["caused_by"] : nlohmann::ordered_json())
                                  .body.dump()};
      }
      int status = item["status"].get<int>();
      item.erase("status");
      return Answer{status, item.dump()};
    }
    return no_handler(req);
  }

  Answer bulk(const httplib::Request& req, const std::string& index) {
    ++bulk_requests;
    // A filter_path the bulk answer can apply per field is applied while writing it (the indexers'
    // answers are thousands of items); any other is applied to the whole answer afterwards.
    std::optional<FilterPath::BulkFields> keep;
    if (req.has_param("filter_path")) keep = FilterPath::parse(req.get_param_value("filter_path")).bulk_fields();
    std::function<Store::ItemFault(std::string_view)> item_fault;
    if (injector.item_faults_active()) {
      item_fault = [this](std::string_view id) {
        if (injector.reject_mapping(id)) return Store::ItemFault::kMapping400;
        return injector.reject_bulk_item() ? Store::ItemFault::kReject429 : Store::ItemFault::kNone;
      };
    }
    const bool require_alias = req.has_param("require_alias") && req.get_param_value("require_alias") != "false";
    auto answer = store.bulk(req.body, index, item_fault, bulk_counts, keep ? &*keep : nullptr, timeout_param(req),
                             require_alias);
    answer.filtered = keep.has_value() && answer.status == 200;
    return answer;
  }

  void handle(const httplib::Request& req, httplib::Response& res) {
    bool is_admin = req.path.rfind("/_devsearch", 0) == 0;
    if (!is_admin) {
      ++requests;
      bytes_in += static_cast<std::int64_t>(req.body.size());
      auto latency = injector.latency();
      if (latency.count() > 0) std::this_thread::sleep_for(latency);
      if (injector.drop()) {
        ++dropped;
        drop_connection(req);
        res.status = 500;
        return;
      }
      if (injector.fail()) {
        ++failed;
        auto e = api_error(503, "master_not_discovered_exception", "devsearch fault injection: request failed with 503");
        res.status = 503;
        res.set_content(e.body.dump(), "application/json; charset=UTF-8");
        return;
      }
    }
    Answer a;
    try {
      a = route(req);
    } catch (const ApiError& e) {
      a = Answer{e.status, e.body.dump()};
    } catch (const nlohmann::json::exception& e) {
      a = Answer{400, api_error(400, "parse_exception", std::string("malformed request: ") + e.what()).body.dump()};
    }
    if (!a.filtered && req.has_param("filter_path") && a.content_type.rfind("application/json", 0) == 0) {
      // Elasticsearch filters every JSON answer, errors included.
      auto filter = FilterPath::parse(req.get_param_value("filter_path"));
      auto parsed = nlohmann::ordered_json::parse(a.body, nullptr, false);
      if (!filter.empty() && !parsed.is_discarded()) a.body = filter.apply(parsed).dump();
    }
    bytes_out += static_cast<std::int64_t>(a.body.size());
    res.status = a.status;
    if (!is_admin && store.profile().product_header) res.set_header("X-elastic-product", "Elasticsearch");
    res.set_content(a.body, a.content_type.c_str());
  }

  // Binds `wanted` (0: any free port) on the configured host and sets `port`; false if it cannot.
  bool bind(int wanted) {
    int bound =
        wanted == 0 ? server.bind_to_any_port(options.host) : (server.bind_to_port(options.host, wanted) ? wanted : -1);
    if (bound <= 0) return false;
    port = bound;
    return true;
  }

  void start_listener() {
    listener = std::thread([this] { server.listen_after_bind(); });
    // stop() is only effective once the accept loop runs: wait for it.
    for (int i = 0; i < 500 && !server.is_running(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }

  bool begin_restart(Duration down_for, int spare_remote_port) {
    std::lock_guard lock(restart_mutex);
    if (restarting || stopping || !listener.joinable()) return false;
    restarting = true;
    if (restarter.joinable()) restarter.join();  // the previous restart's finished thread
    // Stop accepting before the asking request is answered: its connection then closes after the
    // answer instead of waiting for a next request that would still be served.
    server.stop();
    restarter = std::thread([this, down_for, spare_remote_port] { run_restart(down_for, spare_remote_port); });
    return true;
  }

  // What a restarting Elasticsearch node looks like from outside: the listening socket closes
  // (new connections are refused), open connections are closed, in-flight requests are lost; then
  // the node listens again on the same port with its data (see Store::restart).
  void run_restart(Duration down_for, int spare_remote_port) {
    auto back_at = std::chrono::steady_clock::now() + down_for;
    int old_port = port;
    close_connections(old_port, spare_remote_port);
    store.restart();
    {
      std::lock_guard lock(restart_mutex);
      down = true;
    }
    restart_cv.notify_all();
    listener.join();  // in-flight requests end (their connections are closed)
    ++restarts;
    Logger("devsearch").info("devsearch is down (restart fault)", {{"port", old_port}});
    std::unique_lock lock(restart_mutex);
    restart_cv.wait_until(lock, back_at, [this] { return stopping; });
    // The port may linger briefly; a real node that cannot bind its port does not come up either.
    bool bound = false;
    for (int attempt = 0; !stopping && attempt < 50 && !(bound = bind(old_port)); ++attempt) {
      lock.unlock();
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      lock.lock();
    }
    if (!stopping && bound) {
      start_listener();
      down = false;
      Logger("devsearch").info("devsearch is back after a restart", {{"port", old_port}});
    } else if (!stopping) {
      Logger("devsearch").error("devsearch could not listen again after a restart", {{"port", old_port}});
    }
    restarting = false;
    restart_cv.notify_all();
  }

  BulkCounters bulk_counters_unused;
};

DevSearchServer::DevSearchServer(DevSearchOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {}

DevSearchServer::~DevSearchServer() { stop(); }

void DevSearchServer::start(std::uint16_t port) {
  auto& im = *impl_;
  if (!im.options.allow_remote && !is_loopback_host(im.options.host)) {
    throw ConfigError("devsearch refuses to listen on non-loopback host " + im.options.host +
                      ": it has no authentication; pass --allow-remote to do it anyway");
  }
  std::signal(SIGPIPE, SIG_IGN);
  im.server.new_task_queue = [] { return new httplib::ThreadPool(32); };
  im.server.set_keep_alive_max_count(100000);
  im.server.set_keep_alive_timeout(5);
  // As Elasticsearch's http.tcp.no_delay (default true): without it a response written in two
  // parts waits for the client's delayed ACK, about 40 ms per request on Linux.
  im.server.set_tcp_nodelay(true);
  im.server.set_payload_max_length(512ull * 1024 * 1024);
  auto handler = [&im](const httplib::Request& req, httplib::Response& res) { im.handle(req, res); };
  // httplib answers 400 to a POST/PUT without Content-Length (e.g. `curl -XPOST .../_refresh`)
  // before routing; Elasticsearch treats it as an empty body. Answer such requests here.
  im.server.set_pre_routing_handler([&im](const httplib::Request& req, httplib::Response& res) {
    bool body_method = req.method == "POST" || req.method == "PUT" || req.method == "PATCH" || req.method == "DELETE";
    if (body_method && !req.has_header("Content-Length") && !req.has_header("Transfer-Encoding")) {
      im.handle(req, res);
      return httplib::Server::HandlerResponse::Handled;
    }
    return httplib::Server::HandlerResponse::Unhandled;
  });
  const std::string all = "/.*";
  im.server.Get(all, handler);
  im.server.Post(all, handler);
  im.server.Put(all, handler);
  im.server.Delete(all, handler);
  im.server.Options(all, handler);
  im.server.Patch(all, handler);
  if (!im.bind(port)) {
    throw Error("devsearch could not bind " + im.options.host + ":" + std::to_string(port) +
                ": choose another --port or 0 for a free one");
  }
  std::lock_guard lock(im.restart_mutex);
  im.start_listener();
}

void DevSearchServer::stop() {
  if (!impl_) return;
  auto& im = *impl_;
  {
    std::lock_guard lock(im.restart_mutex);
    im.stopping = true;
  }
  im.restart_cv.notify_all();
  if (im.restarter.joinable()) im.restarter.join();
  if (im.listener.joinable()) {
    im.server.stop();
    im.listener.join();
  }
  im.store.stop();
}

bool DevSearchServer::restart(Duration down) {
  auto& im = *impl_;
  if (!im.begin_restart(down, -1)) return false;
  std::unique_lock lock(im.restart_mutex);
  im.restart_cv.wait(lock, [&] { return im.down || !im.restarting; });
  return true;
}

bool DevSearchServer::available() const {
  std::lock_guard lock(impl_->restart_mutex);
  return !impl_->down;
}

std::uint16_t DevSearchServer::port() const { return static_cast<std::uint16_t>(impl_->port); }

std::string DevSearchServer::url() const {
  return "http://" + impl_->options.host + ":" + std::to_string(impl_->port);
}

FaultInjector& DevSearchServer::faults() { return impl_->injector; }

}  // namespace datarefresh::devsearch
