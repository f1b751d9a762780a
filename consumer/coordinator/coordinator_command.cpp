#include "consumer/coordinator/coordinator_command.h"

#include "consumer/coordinator/coordinator_service.h"

namespace datarefresh::coordinator {
namespace {

class CoordinatorCommand final : public Command {
 public:
  explicit CoordinatorCommand(CLI::App& root)
      : Command(root.add_subcommand("coordinator", "Follow shard events and finalize refreshes (one replica)")) {
    sub_->add_option("-c,--config", config_, "Configuration file")->required()->check(CLI::ExistingFile);
  }
  int run() override { return run_coordinator(config_); }

 private:
  std::string config_;
};

}  // namespace

std::unique_ptr<Command> make_coordinator_command(CLI::App& root) { return std::make_unique<CoordinatorCommand>(root); }

}  // namespace datarefresh::coordinator
