// The one executable: every Deployment runs `datarefresh <subcommand>`.
#include <iostream>
#include <memory>
#include <vector>

#include "core/cli/command.h"
#include "core/common/error.h"
#include "core/common/shutdown.h"
#include "consumer/coordinator/coordinator_command.h"
#include "consumer/indexer/indexer_command.h"
#include "core/config/check_config_command.h"
#include "core/service/service_context.h"
#include "devstack/bench/bench_command.h"
#include "devstack/broker/broker_command.h"
#include "devstack/demo/demo_command.h"
#include "devstack/devsearch/devsearch_command.h"
#include "devstack/postgres/devdb_command.h"
#include "producer/planner_command.h"
#include "producer/status_command.h"

int main(int argc, char** argv) {
  CLI::App app{"datarefresh: rebuilds a media catalog's search index and serving table from its upstream database"};
  app.set_version_flag("--version", DATAREFRESH_VERSION);
  app.require_subcommand(1);

  std::vector<std::unique_ptr<datarefresh::Command>> commands;
  commands.push_back(datarefresh::planner::make_planner_command(app));
  commands.push_back(datarefresh::indexer::make_indexer_command(app));
  commands.push_back(datarefresh::coordinator::make_coordinator_command(app));
  commands.push_back(datarefresh::planner::make_trigger_command(app));
  commands.push_back(datarefresh::planner::make_rollback_command(app));
  commands.push_back(datarefresh::planner::make_status_command(app));
  commands.push_back(datarefresh::config::make_check_config_command(app, [](const datarefresh::config::Config& c) {
    return datarefresh::service::probe_endpoints(c, datarefresh::service::kAllEndpoints, std::chrono::seconds(10));
  }));
  commands.push_back(datarefresh::broker::make_broker_command(app));
  commands.push_back(datarefresh::devsearch::make_devsearch_command(app));
  commands.push_back(datarefresh::devpg::make_devdb_command(app));
  commands.push_back(datarefresh::demo::make_demo_command(app));
  commands.push_back(datarefresh::bench::make_bench_command(app));

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  datarefresh::install_shutdown_handlers();
  for (auto& command : commands) {
    if (!command->selected()) continue;
    try {
      return command->run();
    } catch (const datarefresh::Error& e) {
      std::cerr << "datarefresh: " << e.what() << "\n";
      return 2;
    } catch (const std::exception& e) {
      std::cerr << "datarefresh: unexpected failure: " << e.what() << "\n";
      return 1;
    }
  }
  return 0;
}
