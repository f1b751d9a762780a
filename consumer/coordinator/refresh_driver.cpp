#include "consumer/coordinator/refresh_driver.h"

#include <set>

#include "core/common/shutdown.h"
#include "core/refresh/run_control.h"
#include "core/refresh/step_error.h"

namespace datarefresh::coordinator {
namespace {

// How often a driver looks at its refresh when nothing woke it: shard stalls, a cancel request
// and the planner's publication are noticed within this.
constexpr std::chrono::milliseconds kPollInterval{1000};
// How long a driver waits before running a step again that failed transiently.
constexpr std::chrono::milliseconds kRetryInterval{2000};

}  // namespace

RefreshDriver::RefreshDriver(Services& services, std::string refresh_id)
    : services_(services),
      refresh_id_(std::move(refresh_id)),
      retries_(services.config.refresh.transient_retry_deadline),
      thread_([this](const std::stop_token& stop) { loop(stop); }) {}

RefreshDriver::~RefreshDriver() {
  thread_.request_stop();
  cv_.notify_all();
}  // the jthread joins

void RefreshDriver::wake() {
  {
    std::lock_guard lock(mutex_);
    woken_ = true;
  }
  cv_.notify_all();
}

void RefreshDriver::wait(const std::stop_token& stop, std::chrono::milliseconds timeout) {
  // In slices, so that a process shutdown (which does not notify cv_) is seen within one.
  constexpr std::chrono::milliseconds kSlice{100};
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::unique_lock lock(mutex_);
  while (!woken_ && !stop.stop_requested() && !shutdown_requested() && std::chrono::steady_clock::now() < deadline) {
    cv_.wait_until(lock, stop, std::min(deadline, std::chrono::steady_clock::now() + kSlice), [&] { return woken_; });
  }
  woken_ = false;
}

pg::Database& RefreshDriver::connection() {
  if (!db_) db_.emplace(pg::Database::connect(service::api_db_options(services_.config, "datarefresh-coordinator")));
  return *db_;
}

void RefreshDriver::loop(const std::stop_token& stop) {
  while (!stop.stop_requested() && !shutdown_requested()) {
    PassOutcome outcome;
    try {
      outcome = pass();
    } catch (const std::exception& e) {
      // The ledger itself could not be read or written (the database went away): reconnect.
      log_.error("refresh driver pass failed; reconnecting", {{"refresh_id", refresh_id_}, {"error", e.what()}});
      db_.reset();
      outcome = PassOutcome::kRetryLater;
    }
    if (outcome == PassOutcome::kOver) break;
    wait(stop, outcome == PassOutcome::kRetryLater ? kRetryInterval : kPollInterval);
  }
  finished_ = true;
}

RefreshDriver::PassOutcome RefreshDriver::pass() {
  auto& db = connection();
  ledger::Ledger ledger(db);
  // The finished steps first, then the run: the run read is never older than the steps it
  // follows (the planner records its fields before it marks a step done).
  std::set<std::string> done;
  for (const auto& [step, _] : ledger.step_seconds(refresh_id_)) done.insert(step);
  auto run = ledger.run(refresh_id_);
  if (!run || run->status != ledger::RunStatus::kRunning) return PassOutcome::kOver;
  if (!done.count("publish")) return PassOutcome::kWaiting;  // still the planner's
  auto media_it = services_.config.media_types.find(run->media_type);
  if (media_it == services_.config.media_types.end()) {
    if (!unknown_media_logged_) {
      log_.error("running refresh of a media type this coordinator does not know; add it to media_types",
                 {{"refresh_id", refresh_id_}, {"media_type", run->media_type}});
      unknown_media_logged_ = true;
    }
    return PassOutcome::kWaiting;
  }
  StepContext c{services_, ledger, db, std::move(*run), media_it->second, log_};
  try {
    return advance(c, done);
  } catch (const refresh::CancelRequested&) {
    roll_back(c, std::nullopt);
    return PassOutcome::kOver;
  } catch (const std::exception& e) {
    if (refresh::is_retryable(e) && retries_.may_retry(refresh_id_)) {
      log_.warn("refresh step will be retried", {{"refresh_id", refresh_id_}, {"phase", c.run.phase},
                                                 {"attempt", retries_.attempts(refresh_id_)}, {"error", e.what()}});
      return PassOutcome::kRetryLater;
    }
    if (done.count(std::string(point_of_no_return(c.run.mode)))) {
      // The live table is already the new one: never roll back past this point; keep trying.
      log_.error("step failed after table promotion; will retry", {{"refresh_id", refresh_id_}, {"error", e.what()}});
      return PassOutcome::kRetryLater;
    }
    roll_back(c, std::string(e.what()));
    return PassOutcome::kOver;
  }
}

RefreshDriver::PassOutcome RefreshDriver::advance(StepContext& c, std::set<std::string>& done) {
  bool fresh = true;  // c.run was read by this pass, after the steps it found done
  for (const auto& step : sequence_for(c.run.mode)) {
    if (done.count(std::string(step.name))) continue;
    // Each step starts from the run as it is now, never from what an earlier step read.
    if (!fresh) c.reload();
    fresh = false;
    if (c.run.status != ledger::RunStatus::kRunning) return PassOutcome::kOver;
    if (c.run.cancel_requested_at && !done.count(std::string(point_of_no_return(c.run.mode)))) {
      throw refresh::CancelRequested(refresh_id_);
    }
    if (step.run(c) == StepResult::kWaiting) return PassOutcome::kWaiting;
    done.insert(std::string(step.name));
    retries_.reset(refresh_id_);  // a step succeeded: transient failures count afresh
  }
  return PassOutcome::kOver;
}

void RefreshDriver::roll_back(StepContext& c, const std::optional<std::string>& error) {
  c.reload();  // with who cancelled and when
  std::vector<std::string> problems;
  auto sequence = sequence_for(c.run.mode);
  for (auto it = sequence.rbegin(); it != sequence.rend(); ++it) {
    if (!it->compensate) continue;
    try {
      it->compensate(c);
    } catch (const std::exception& e) {
      problems.push_back(std::string(it->name) + ": " + e.what());
    }
  }
  std::string outcome = error ? "failed" : "cancelled";
  if (error) {
    std::string message = *error;
    if (!problems.empty()) message += " (rolling back: " + fmt::format("{}", fmt::join(problems, "; ")) + ")";
    refresh::fail_refresh(c.ledger, c.db, services_.search, services_.publisher, c.run, c.media, message);
  } else {
    for (const auto& p : problems) log_.warn("rolling back the cancelled refresh", {{"refresh_id", refresh_id_}, {"problem", p}});
    refresh::cancel_refresh(c.ledger, c.db, services_.search, services_.publisher, c.run, c.media);
  }
  services_.metrics.refreshes.Add({{"media_type", c.media.name}, {"outcome", outcome}, {"mode", c.run.mode}}).Increment();
  services_.metrics.clear(c.media.name, c.run.phase);
}

}  // namespace datarefresh::coordinator
