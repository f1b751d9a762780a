#include "devstack/broker/broker_command.h"

#include "core/common/error.h"

namespace datarefresh::broker {
namespace {

class PendingCommand final : public Command {
 public:
  using Command::Command;
  int run() override { throw Error("'broker' is not built yet"); }
};

}  // namespace

std::unique_ptr<Command> make_broker_command(CLI::App& root) {
  return std::make_unique<PendingCommand>(root.add_subcommand("broker", "(pending)"));
}

}  // namespace datarefresh::broker
