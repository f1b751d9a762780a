#include "core/config/check_config_command.h"

#include <iostream>

#include "core/common/error.h"
#include "core/config/check_config.h"
#include "core/config/config.h"

namespace datarefresh::config {
namespace {

class CheckConfigCommand final : public Command {
 public:
  explicit CheckConfigCommand(CLI::App& root)
      : Command(root.add_subcommand("check-config", "Validate a configuration file and report every problem at once")) {
    sub_->add_option("file", file_, "YAML configuration file");
    sub_->add_flag("--print", print_, "Also print the effective configuration (defaults and overrides applied, secrets redacted)");
    sub_->add_flag("--reference", reference_, "Print the reference configuration (every key, default and doc) and exit");
  }

  int run() override {
    if (reference_) {
      std::cout << render_reference_config();
      return 0;
    }
    if (file_.empty()) throw ConfigError("check-config needs a FILE: datarefresh check-config config/local.yaml");
    return run_check_config(file_, print_, process_environment(), std::cout, std::cerr);
  }

 private:
  std::string file_;
  bool print_ = false;
  bool reference_ = false;
};

}  // namespace

std::unique_ptr<Command> make_check_config_command(CLI::App& root) { return std::make_unique<CheckConfigCommand>(root); }

}  // namespace datarefresh::config
