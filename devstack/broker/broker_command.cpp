#include "devstack/broker/broker_command.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>

#include <fmt/format.h>

#include "core/common/duration.h"
#include "core/common/error.h"
#include "core/common/shutdown.h"
#include "devstack/broker/broker_admin_server.h"
#include "devstack/broker/embedded_broker.h"

namespace datarefresh::broker {
namespace {

// Written to a temporary name and renamed, so a reader polling for the file never sees half of it.
void write_file_atomically(const std::string& path, const std::string& content, std::string_view option) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << content << '\n';
    if (!out)
      throw Error(
          fmt::format("{} {}: cannot write the file: check the directory exists and is writable", option, path));
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) throw Error(fmt::format("{} {}: cannot rename {} into place: {}", option, path, tmp, ec.message()));
}

class BrokerCommand final : public Command {
 public:
  explicit BrokerCommand(CLI::App* sub) : Command(sub) {
    sub->add_option("--brokers", brokers_, "Number of brokers in the cluster")->capture_default_str();
    sub->add_option("--bootstrap-file", bootstrap_file_, "Write the bootstrap address to this file");
    sub->add_option("--topic", topic_args_, "Create a topic, name:partitions (repeatable)");
    sub->add_option("--topic-prefix", prefix_, "Prefix of the default topics")->capture_default_str();
    sub->add_flag("--no-default-topics", no_defaults_, "Create only the --topic topics");
    sub->add_option("--admin-port", admin_port_, "Port of the admin HTTP endpoint on 127.0.0.1 (0: a free one)")
        ->capture_default_str();
    sub->add_option("--admin-port-file", admin_port_file_, "Write the admin port to this file");
    sub->add_option("--topic-metadata-delay", metadata_delay_,
                    "For this long after its creation a topic shows no partition leaders (LEADER_NOT_AVAILABLE), "
                    "as on a real cluster right after CreateTopics, e.g. 2s; 0 = settled at once")
        ->capture_default_str();
  }

  int run() override {
    install_shutdown_handlers();
    std::vector<BrokerTopic> topics = no_defaults_ ? std::vector<BrokerTopic>{} : default_topics(prefix_);
    for (const auto& arg : topic_args_) {
      auto topic = parse_topic_arg(arg);
      auto same =
          std::find_if(topics.begin(), topics.end(), [&](const BrokerTopic& t) { return t.name == topic.name; });
      if (same != topics.end()) {
        same->partitions = topic.partitions;  // --topic overrides a default's partition count
      } else {
        topics.push_back(topic);
      }
    }
    const auto delay = parse_duration(metadata_delay_);
    if (!delay) {
      throw ConfigError(
          fmt::format("--topic-metadata-delay '{}' is not a duration: write it like 2s or 500ms", metadata_delay_));
    }
    EmbeddedBroker broker(EmbeddedBrokerOptions{brokers_, topics, *delay});
    BrokerAdminServer admin(broker, admin_port_);

    std::cout << "broker listening: " << broker.bootstrap_servers() << '\n';
    std::cout << "broker admin: http://127.0.0.1:" << admin.port() << '\n';
    for (const auto& t : topics) std::cout << "topic " << t.name << " partitions=" << t.partitions << '\n';
    std::cout.flush();
    if (!bootstrap_file_.empty())
      write_file_atomically(bootstrap_file_, broker.bootstrap_servers(), "--bootstrap-file");
    if (!admin_port_file_.empty())
      write_file_atomically(admin_port_file_, std::to_string(admin.port()), "--admin-port-file");

    while (!wait_for_shutdown(std::chrono::seconds(1))) {
    }
    std::cout << "broker stopping" << std::endl;
    return 0;
  }

 private:
  int brokers_ = 3;
  std::string bootstrap_file_;
  std::vector<std::string> topic_args_;
  std::string prefix_ = "datarefresh.";
  bool no_defaults_ = false;
  std::uint16_t admin_port_ = 0;
  std::string admin_port_file_;
  std::string metadata_delay_ = "0s";
};

}  // namespace

std::unique_ptr<Command> make_broker_command(CLI::App& root) {
  return std::make_unique<BrokerCommand>(
      root.add_subcommand("broker", "Run an in-memory Kafka-protocol cluster on loopback for development"));
}

}  // namespace datarefresh::broker
