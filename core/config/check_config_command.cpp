#include "core/config/check_config_command.h"

#include "core/common/error.h"

namespace datarefresh::config {
namespace {

class PendingCommand final : public Command {
 public:
  using Command::Command;
  int run() override { throw Error("'check-config' is not built yet"); }
};

}  // namespace

std::unique_ptr<Command> make_check_config_command(CLI::App& root) {
  return std::make_unique<PendingCommand>(root.add_subcommand("check-config", "(pending)"));
}

}  // namespace datarefresh::config
