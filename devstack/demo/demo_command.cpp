#include "devstack/demo/demo_command.h"

#include "core/common/error.h"

namespace datarefresh::demo {
namespace {

class PendingCommand final : public Command {
 public:
  using Command::Command;
  int run() override { throw Error("'demo' is not built yet"); }
};

}  // namespace

std::unique_ptr<Command> make_demo_command(CLI::App& root) {
  return std::make_unique<PendingCommand>(root.add_subcommand("demo", "(pending)"));
}

}  // namespace datarefresh::demo
