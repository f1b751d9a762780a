#include "producer/planner_command.h"

#include <iostream>

#include <fmt/format.h>

#include "core/common/error.h"
#include "core/common/log.h"
#include "core/common/shutdown.h"
#include "core/ledger/ledger.h"
#include "core/messages/codec.h"
#include "core/refresh/kept_generation.h"
#include "core/refresh/naming.h"
#include "core/refresh/run_control.h"
#include "core/search/client.h"
#include "producer/planner.h"
#include "producer/refresh_api.h"
#include "producer/refresh_request.h"
#include "producer/refresh_schedule.h"

namespace datarefresh::planner {
namespace {

// Produces `request` and prints its id, the refresh id to follow.
int submit_and_print(const config::Config& cfg, const messages::RefreshRequested& request) {
  kafka::Producer producer(service::kafka_producer_options(cfg));
  submit_refresh_request(producer, cfg, request);
  std::cout << request.request_id << "\n";
  return 0;
}

class PlannerCommand final : public Command {
 public:
  explicit PlannerCommand(CLI::App& root)
      : Command(root.add_subcommand("planner", "Consume refresh requests: copy, filter tags, create the index, plan "
                                               "and publish shard jobs (one replica)")) {
    sub_->add_option("-c,--config", config_, "Configuration file")->required()->check(CLI::ExistingFile);
  }
  int run() override { return run_planner(config_); }

 private:
  std::string config_;
};

class TriggerCommand final : public Command {
 public:
  explicit TriggerCommand(CLI::App& root)
      : Command(root.add_subcommand("trigger", "Request a refresh of one media type; prints the refresh id")) {
    sub_->add_option("media_type", media_, "Media type to refresh (image, audio, ...)")->required();
    sub_->add_option("-c,--config", config_, "Configuration file")->required()->check(CLI::ExistingFile);
    auto* limit = sub_->add_option("--limit", limit_, "Copy at most this many rows (ORDER BY identifier LIMIT n)")
                      ->check(CLI::PositiveNumber);
    sub_->add_option("--requested-by", requested_by_, "Who asks (shown in the ledger and events)");
    auto* full = sub_->add_flag("--full", full_,
                                "Rebuild everything: copy the whole upstream table and index every row (the default)");
    auto* incremental = sub_->add_flag(
        "--incremental", incremental_,
        "Touch only what changed upstream since the last completed refresh; refused (refresh.refused, saying why) "
        "when that cannot be exact");
    auto* automatic = sub_->add_flag("--auto", automatic_,
                                     "Incremental when it can be exact, full otherwise (the run records why)");
    auto* filtered_only = sub_->add_flag(
        "--filtered-only", filtered_only_,
        "Rebuild only the filtered index, from the live main index (after the sensitive terms changed): one "
        "throttled _reindex, counts reconciled, one alias move, the old filtered index deleted");
    full->excludes(incremental)->excludes(automatic)->excludes(filtered_only);
    incremental->excludes(full)->excludes(automatic)->excludes(filtered_only);
    automatic->excludes(full)->excludes(incremental)->excludes(filtered_only);
    filtered_only->excludes(full)->excludes(incremental)->excludes(automatic);
    limit->excludes(filtered_only);
    auto* sample =
        sub_->add_option("--sample", sample_,
                         "Build a staging sample of the live main index instead of a refresh: N% of its documents "
                         "(--sample 10%) or N documents (--sample 5000), each provider (or source, --by) in "
                         "proportion to its share, under media_types.<name>.staging_alias (<alias>-staging)")
            ->check(CLI::Validator(
                [](std::string& value) {
                  std::string error;
                  return parse_sample_size(value, error) ? std::string() : error;
                },
                "N%|N"));
    auto* by = sub_->add_option("--by", sample_by_, "With --sample: the field whose values keep their shares")
                   ->check(CLI::IsMember({"provider", "source"}));
    by->needs(sample);
    sample->excludes(full)->excludes(incremental)->excludes(automatic)->excludes(limit)->excludes(filtered_only);
  }
  int run() override {
    auto cfg = service::ServiceContext::load(config_);
    cfg.media_type(media_);  // an unknown media type is refused here, before anything is sent
    const std::string mode = !sample_.empty() ? "sample"
                             : filtered_only_ ? "filtered_only"
                             : incremental_   ? "incremental"
                             : automatic_   ? "auto"
                                            : "full";
    auto request = make_refresh_request(media_, limit_ > 0 ? std::optional(limit_) : std::nullopt, requested_by_,
                                        refresh::new_uuid(), mode);
    if (!sample_.empty()) {
      std::string error;
      auto size = parse_sample_size(sample_, error);
      if (!size) throw ConfigError(error);
      request.options.sample_percent = size->percent;
      request.options.sample_rows = size->rows;
      request.options.sample_by = sample_by_;
    }
    return submit_and_print(cfg, request);
  }

 private:
  std::string config_;
  std::string media_;
  std::int64_t limit_ = 0;
  std::string requested_by_ = "cli";
  bool full_ = false;
  bool incremental_ = false;
  bool automatic_ = false;
  bool filtered_only_ = false;
  std::string sample_;
  std::string sample_by_ = "provider";
};

class RollbackCommand final : public Command {
 public:
  explicit RollbackCommand(CLI::App& root)
      : Command(root.add_subcommand("rollback",
                                    "Bring back the generation the last promotion kept (refresh.keep_previous): both "
                                    "aliases move back in one call, the table is restored in one transaction; prints "
                                    "the run's id")) {
    sub_->add_option("media_type", media_, "Media type to roll back (image, audio, ...)")->required();
    sub_->add_option("-c,--config", config_, "Configuration file")->required()->check(CLI::ExistingFile);
    sub_->add_option("--requested-by", requested_by_, "Who asks (shown in the ledger and events)");
  }
  int run() override {
    auto cfg = service::ServiceContext::load(config_);
    const auto& media = cfg.media_type(media_);
    // Refused here with the reason when it cannot run; the planner checks again when it runs it.
    auto db = pg::Database::connect(service::api_db_options(cfg, "datarefresh-rollback"));
    ledger::Ledger(db).ensure_schema();
    search::Client search(service::search_client_options(cfg));
    if (auto refusal = refresh::rollback_request_refusal(db, search, cfg, media)) {
      std::cerr << "rollback of " << media_ << " refused: " << *refusal << "\n";
      return 2;
    }
    return submit_and_print(cfg,
                            make_refresh_request(media_, std::nullopt, requested_by_, refresh::new_uuid(), "rollback"));
  }

 private:
  std::string config_;
  std::string media_;
  std::string requested_by_ = "cli";
};

}  // namespace

int run_planner(const std::string& config_file) {
  service::ServiceContext context(config_file, service::ServiceContext::load(config_file), "planner");
  context.require_endpoints(service::kAllEndpoints);
  const auto& cfg = context.config();
  Logger log("planner");
  context.start_ops_server();
  context.ensure_topics();
  kafka::Producer producer(service::kafka_producer_options(cfg));
  Planner planner(context, producer);
  RefreshApi api(refresh_api_options(cfg), cfg, producer, &planner);
  api.start();
  RefreshScheduler scheduler(cfg, [&](const messages::RefreshRequested& r) { submit_refresh_request(producer, cfg, r); });
  scheduler.start();
  auto options = context.consumer_options("datarefresh-planner", {cfg.kafka.topic_name(config::Topic::kRequests)});
  options.retry_delay = std::chrono::seconds(5);
  options.stop_grace = std::chrono::seconds(60);
  kafka::GroupConsumer consumer(options, [&](const kafka::Message& m, const kafka::CancelToken& t) {
    return planner.handle(m, t);
  });
  log.info("planner started", {{"metrics_port", context.ops_port()}, {"api_bind", cfg.http.api_bind}, {"api_port", api.port()}});
  context.run_consumer(consumer, true);
  scheduler.stop();
  api.stop();
  producer.flush(std::chrono::seconds(10));
  log.info("planner stopped");
  return 0;
}

std::unique_ptr<Command> make_planner_command(CLI::App& root) { return std::make_unique<PlannerCommand>(root); }
std::unique_ptr<Command> make_trigger_command(CLI::App& root) { return std::make_unique<TriggerCommand>(root); }
std::unique_ptr<Command> make_rollback_command(CLI::App& root) {
  return std::make_unique<RollbackCommand>(root);
}

}  // namespace datarefresh::planner
