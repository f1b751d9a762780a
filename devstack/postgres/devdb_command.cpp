#include "devstack/postgres/devdb_command.h"

#include "core/common/error.h"

namespace datarefresh::devpg {
namespace {

class PendingCommand final : public Command {
 public:
  using Command::Command;
  int run() override { throw Error("'devdb' is not built yet"); }
};

}  // namespace

std::unique_ptr<Command> make_devdb_command(CLI::App& root) {
  return std::make_unique<PendingCommand>(root.add_subcommand("devdb", "(pending)"));
}

}  // namespace datarefresh::devpg
