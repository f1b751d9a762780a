#include "core/config/check_config_command.h"

#include <iostream>

#include "core/common/error.h"
#include "core/config/check_config.h"
#include "core/config/config.h"

namespace datarefresh::config {
namespace {

class CheckConfigCommand final : public Command {
 public:
  CheckConfigCommand(CLI::App& root, EndpointProbe probe)
      : Command(root.add_subcommand("check-config", "Validate a configuration file and report every problem at once")),
        probe_(std::move(probe)) {
    sub_->add_option("file", file_, "YAML configuration file");
    sub_->add_flag("--print", print_, "Also print the effective configuration (defaults and overrides applied, secrets redacted)");
    sub_->add_flag("--reference", reference_, "Print the reference configuration (every key, default and doc) and exit");
    sub_->add_flag("--connect", connect_,
                   "Also reach every endpoint (PostgreSQL api and upstream, the search engine, Kafka) and report "
                   "each unreachable one");
  }

  int run() override {
    if (reference_) {
      std::cout << render_reference_config();
      return 0;
    }
    if (file_.empty()) throw ConfigError("check-config needs a FILE: datarefresh check-config config/local.yaml");
    int rc = run_check_config(file_, print_, process_environment(), std::cout, std::cerr);
    if (rc != 0 || !connect_ || !probe_) return rc;
    auto problems = probe_(load_config(file_, process_environment()));
    for (const auto& p : problems) std::cerr << file_ << ": " << p << "\n";
    if (!problems.empty()) return 1;
    std::cout << file_ << ": every endpoint answered\n";
    return 0;
  }

 private:
  std::string file_;
  bool print_ = false;
  bool reference_ = false;
  bool connect_ = false;
  EndpointProbe probe_;
};

}  // namespace

std::unique_ptr<Command> make_check_config_command(CLI::App& root, EndpointProbe probe) {
  return std::make_unique<CheckConfigCommand>(root, std::move(probe));
}

}  // namespace datarefresh::config
