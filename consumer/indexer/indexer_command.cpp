#include "consumer/indexer/indexer_command.h"

#include "consumer/indexer/indexer_service.h"

namespace datarefresh::indexer {
namespace {

class IndexerCommand final : public Command {
 public:
  explicit IndexerCommand(CLI::App& root)
      : Command(root.add_subcommand("indexer", "Claim shard jobs from the consumer group and bulk-index them")) {
    sub_->add_option("-c,--config", config_, "Configuration file")->required()->check(CLI::ExistingFile);
    sub_->add_option("--worker-id", worker_id_, "Name reported in events (default: indexer.worker_id or host-pid)");
  }
  int run() override { return run_indexer(config_, worker_id_); }

 private:
  std::string config_;
  std::string worker_id_;
};

}  // namespace

std::unique_ptr<Command> make_indexer_command(CLI::App& root) { return std::make_unique<IndexerCommand>(root); }

}  // namespace datarefresh::indexer
