#include "devstack/devsearch/devsearch_command.h"

#include <malloc.h>

#include <fstream>
#include <iostream>

#include "core/common/error.h"
#include "core/common/log.h"
#include "core/common/shutdown.h"
#include "devstack/devsearch/dev_search_server.h"

namespace datarefresh::devsearch {
namespace {

Duration parse_duration_option(const std::string& text, const std::string& option) {
  auto d = parse_duration(text);
  if (!d) throw ConfigError(option + " must be a duration such as 50ms, 2s or 1m, got \"" + text + "\"");
  return *d;
}

class DevSearchCommand final : public Command {
 public:
  explicit DevSearchCommand(CLI::App* sub) : Command(sub) {
    sub->add_option("--host", host_, "Address to listen on (loopback only unless --allow-remote)");
    sub->add_option("--port", port_, "Port to listen on; 0 picks a free port");
    sub->add_option("--port-file", port_file_, "Write the bound port to this file once listening");
    sub->add_option("--nodes", nodes_, "Simulated data nodes (replicas beyond nodes-1 stay unassigned)")
        ->check(CLI::Range(1, 100));
    sub->add_flag("--sink", sink_, "Validate and count bulk documents without storing sources (benchmarks)");
    sub->add_option("--es-major", es_major_,
                    "Elasticsearch major to answer as: 8 (8.13.4, the default) or 7 (7.10.2, as the recorded transcripts)")
        ->check(CLI::IsMember({7, 8}));
    sub->add_option("--auto-create-index", auto_create_index_,
                    "The node's action.auto_create_index: true (Elasticsearch's default), false, or patterns such as "
                    "+image-*,-*; PUT _cluster/settings overrides it");
    sub->add_flag("--allow-remote", allow_remote_, "Allow listening on a non-loopback address");
    sub->add_option("--bulk-reject-fraction", bulk_reject_, "Fraction of bulk items rejected with 429")
        ->check(CLI::Range(0.0, 1.0));
    sub->add_option("--fail-fraction", fail_, "Fraction of requests failing with 503")->check(CLI::Range(0.0, 1.0));
    sub->add_option("--drop-fraction", drop_, "Fraction of connections closed without an answer")
        ->check(CLI::Range(0.0, 1.0));
    sub->add_option("--latency", latency_, "Latency added to every request, e.g. 50ms");
    sub->add_option("--fault-duration", fault_duration_, "Faults expire after this long, e.g. 60s");
    sub->add_option("--fault-seed", seed_, "Seed for fault draws (0 = random)");
  }

  int run() override {
    // Request bodies are megabytes each, read on the server's worker threads. Keep freed memory
    // for the next request instead of unmapping it and faulting fresh pages in every time: this
    // process shares the machine with what it measures in benchmarks.
    ::mallopt(M_MMAP_THRESHOLD, 64 * 1024 * 1024);
    ::mallopt(M_TRIM_THRESHOLD, 256 * 1024 * 1024);
    DevSearchOptions options;
    options.host = host_;
    options.allow_remote = allow_remote_;
    options.nodes = nodes_;
    options.sink = sink_;
    options.es_major = es_major_;
    if (!auto_create_index_.empty()) options.auto_create_index = auto_create_index_;
    options.fault_seed = seed_;
    options.faults.bulk_reject_fraction = bulk_reject_;
    options.faults.fail_fraction = fail_;
    options.faults.drop_fraction = drop_;
    if (!latency_.empty()) options.faults.latency = parse_duration_option(latency_, "--latency");
    if (!fault_duration_.empty()) options.faults.duration = parse_duration_option(fault_duration_, "--fault-duration");
    if (port_ < 0 || port_ > 65535) throw ConfigError("--port must be between 0 and 65535");

    install_shutdown_handlers();
    DevSearchServer server(options);
    server.start(static_cast<std::uint16_t>(port_));
    std::cout << "devsearch listening on " << server.url() << std::endl;
    if (!port_file_.empty()) {
      std::string tmp = port_file_ + ".tmp";
      {
        std::ofstream out(tmp);
        out << server.port() << "\n";
        if (!out) throw Error("cannot write --port-file " + port_file_ + ": check the directory exists and is writable");
      }
      if (std::rename(tmp.c_str(), port_file_.c_str()) != 0) {
        throw Error("cannot move " + tmp + " to --port-file " + port_file_);
      }
    }
    Logger("devsearch").info("devsearch started",
                             {{"url", server.url()}, {"sink", sink_}, {"nodes", nodes_}, {"es_major", es_major_}});
    while (!wait_for_shutdown(std::chrono::milliseconds(200))) {
    }
    server.stop();
    Logger("devsearch").info("devsearch stopped");
    return 0;
  }

 private:
  std::string host_ = "127.0.0.1";
  int port_ = 9200;
  std::string port_file_;
  int nodes_ = 1;
  bool sink_ = false;
  int es_major_ = 8;
  std::string auto_create_index_;
  bool allow_remote_ = false;
  double bulk_reject_ = 0;
  double fail_ = 0;
  double drop_ = 0;
  std::string latency_;
  std::string fault_duration_;
  std::uint64_t seed_ = 0;
};

}  // namespace

std::unique_ptr<Command> make_devsearch_command(CLI::App& root) {
  return std::make_unique<DevSearchCommand>(
      root.add_subcommand("devsearch", "Run the Elasticsearch-compatible development server"));
}

}  // namespace datarefresh::devsearch
