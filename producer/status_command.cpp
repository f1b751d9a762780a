#include "producer/status_command.h"

#include <unistd.h>

#include <chrono>
#include <iostream>
#include <map>
#include <sstream>

#include <fmt/format.h>

#include "core/common/progress_bar.h"
#include "core/common/shutdown.h"
#include "core/ledger/ledger.h"
#include "core/refresh/copy_progress.h"
#include "core/pg/database.h"
#include "core/refresh/status_view.h"
#include "core/service/service_context.h"

namespace datarefresh::planner {
namespace {

double report_seconds(const nlohmann::json& report) {
  double total = 0;
  if (report.is_object()) {
    for (const auto& ph : report.value("phases", nlohmann::json::array())) total += ph.value("seconds", 0.0);
  }
  return total;
}

// One screen of status. `rates` keeps each running refresh's documents/s across --watch frames.
std::string render(pg::Database& db, ledger::Ledger& ledger, const config::Config& config,
                   std::map<std::string, RateTracker>& rates) {
  std::ostringstream out;
  auto running = ledger.runs_with_status(ledger::RunStatus::kRunning);
  out << fmt::format("datarefresh status, environment {}\n\n", config.environment);
  out << (running.empty() ? "no refresh running\n" : "running\n");
  for (const auto& run : running) {
    auto t = refresh::shard_totals(ledger.shards(run.refresh_id));
    auto& rate = rates[run.refresh_id];
    rate.update(t.counts.indexed);
    std::int64_t expected = run.expected_rows.value_or(0);
    double fraction = expected > 0 ? static_cast<double>(t.counts.rows_read) / static_cast<double>(expected) : 0.0;
    std::string eta = "--";
    if (run.phase == "indexing" && rate.rate > 1 && expected > t.counts.rows_read) {
      eta = fmt::format("{:.0f}s", static_cast<double>(expected - t.counts.rows_read) / rate.rate);
    }
    out << fmt::format("  {:<6} [{}] {:>5.1f}%  {:>9}/{:<9} docs  {:>7.0f} docs/s  ETA {:>6}  shards {}/{}", run.media_type,
                       progress_bar(fraction), fraction * 100, t.counts.indexed, expected, rate.rate, eta, t.completed,
                       t.total);
    if (t.failed + t.retried > 0) out << fmt::format("  failed {} retried {}", t.failed, t.retried);
    if (t.waiting > 0) out << fmt::format("  {} shards WAITING: {}", t.waiting, t.waiting_for);
    auto media = config.media_types.find(run.media_type);
    if (run.phase == "copying" && media != config.media_types.end()) {
      out << "  " << refresh::copy_progress_text(refresh::read_copy_progress(db, run.refresh_id, media->second.table));
    }
    if (run.phase == "indexing") {
      if (auto jobs = refresh::shard_jobs_text(run.shard_jobs); !jobs.empty()) out << "  " << jobs;
    }
    if (run.cancel_requested_at) out << fmt::format("  CANCELLING (by {})", run.cancel_requested_by.value_or("?"));
    out << fmt::format("  {}  {}  {}\n", refresh::mode_text(run), run.phase, run.refresh_id);
  }
  out << "\nlast refresh per media type\n";
  for (const auto& [name, media] : config.media_types) {
    std::optional<ledger::Run> last;
    // Refused requests never ran: the last refresh is the last one that completed or failed.
    for (const auto& r : ledger.recent_runs(name, 50)) {
      if (r.status != ledger::RunStatus::kRunning && r.status != ledger::RunStatus::kRefused) {
        last = r;
        break;
      }
    }
    if (!last) {
      out << fmt::format("  {:<6} never refreshed\n", name);
      continue;
    }
    out << fmt::format("  {:<6} {:<9} {}  {}  {}\n", name, ledger::to_string(last->status),
                       last->finished_at.value_or(last->updated_at), refresh::mode_text(*last), last->refresh_id);
    if (last->status == ledger::RunStatus::kCompleted && last->report.is_object()) {
      const auto& r = last->report;
      out << fmt::format("         {:.1f} s; rows {} -> {}; documents {}; dead-lettered {}; tags filtered in {} rows\n",
                         report_seconds(r), r.value("rows_before", std::int64_t{0}), r.value("rows_after", std::int64_t{0}),
                         r.value("documents_indexed", std::int64_t{0}), r.value("dead_lettered", std::int64_t{0}),
                         r.value("tags_filtered_rows", std::int64_t{0}));
      if (auto changes = refresh::changes_text(refresh::run_changes(*last)); !changes.empty()) {
        out << "         changes: " << changes << "\n";
      }
    } else if (last->error) {
      out << "         " << *last->error << "\n";
    }
  }
  return out.str();
}

class StatusCommand final : public Command {
 public:
  explicit StatusCommand(CLI::App& root)
      : Command(root.add_subcommand("status", "Show running refreshes and the last refresh of each media type")) {
    sub_->add_option("-c,--config", config_, "Configuration file")->required()->check(CLI::ExistingFile);
    sub_->add_flag("-w,--watch", watch_, "Redraw until interrupted");
    sub_->add_option("--interval", interval_s_, "Seconds between redraws with --watch")->capture_default_str()
        ->check(CLI::Range(1, 3600));
  }

  int run() override {
    auto cfg = service::ServiceContext::load(config_);
    auto db = pg::Database::connect(service::api_db_options(cfg, "datarefresh-status"));
    if (!db.query_value("SELECT to_regclass('datarefresh.runs')::text")) {
      std::cout << "no ledger yet in " << db.target() << ": no refresh has run\n";
      return 0;
    }
    ledger::Ledger ledger(db);
    std::map<std::string, RateTracker> rates;
    const bool tty = ::isatty(STDOUT_FILENO);
    do {
      auto screen = render(db, ledger, cfg, rates);
      if (watch_ && tty) std::cout << "\033[H\033[2J";
      std::cout << screen << std::flush;
    } while (watch_ && !wait_for_shutdown(std::chrono::seconds(interval_s_)));
    return 0;
  }

 private:
  std::string config_;
  bool watch_ = false;
  int interval_s_ = 2;
};

}  // namespace

std::unique_ptr<Command> make_status_command(CLI::App& root) { return std::make_unique<StatusCommand>(root); }

}  // namespace datarefresh::planner
