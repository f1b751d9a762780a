#include "devstack/devsearch/devsearch_command.h"

#include "core/common/error.h"

namespace datarefresh::devsearch {
namespace {

class PendingCommand final : public Command {
 public:
  using Command::Command;
  int run() override { throw Error("'devsearch' is not built yet"); }
};

}  // namespace

std::unique_ptr<Command> make_devsearch_command(CLI::App& root) {
  return std::make_unique<PendingCommand>(root.add_subcommand("devsearch", "(pending)"));
}

}  // namespace datarefresh::devsearch
