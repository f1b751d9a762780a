#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/common/duration.h"
#include "core/kafka/cancel_token.h"
#include "core/kafka/client_options.h"
#include "core/kafka/message.h"

namespace datarefresh::kafka {

enum class AssignmentStrategy {
  kCooperativeSticky,  // incremental rebalances: only moved partitions stop (default)
  kRange,              // eager: every rebalance revokes everything first
  kRoundRobin,         // eager
};

struct ConsumerOptions {
  ClientOptions client;
  std::string group_id;
  std::vector<std::string> topics;
  AssignmentStrategy strategy = AssignmentStrategy::kCooperativeSticky;
  Duration session_timeout{std::chrono::seconds(45)};
  Duration heartbeat_interval{std::chrono::seconds(3)};
  // librdkafka leaves the group if the application stops polling this long; the poll loop keeps
  // polling while jobs run, so this bounds a stuck poll loop, not a job.
  Duration max_poll_interval{std::chrono::minutes(5)};
  std::string auto_offset_reset = "earliest";
  std::size_t max_in_flight = 1;  // jobs running at once, across partitions
  // Messages fetched ahead per partition and kept in order until they can start. A partition is
  // paused only when this many wait (or a retry is pending): pausing drops librdkafka's fetched
  // messages and costs a re-fetch, which would otherwise be paid once per job.
  std::size_t max_held_per_partition = 1000;
  // After a partition is revoked its job is cancelled and given this long to return.
  Duration revoke_wait{std::chrono::seconds(10)};
  // stop() lets running jobs finish for this long, then cancels them (and waits revoke_wait).
  // During a requested shutdown with a grace (shutdown_deadline()), both waits end early enough
  // to leave close_timeout for closing.
  Duration stop_grace{std::chrono::seconds(30)};
  // Leaving the group and destroying the client take at most this long, and at most what is left
  // of a requested shutdown's grace. A client that has not closed by then (brokers gone: librdkafka
  // can block in close and destroy for minutes) is left behind, undestroyed: its partitions move to
  // other members once the group's session times out, and what it had not committed is delivered
  // again.
  Duration close_timeout{std::chrono::seconds(10)};
  // A kRetry outcome keeps the partition paused this long before the message is delivered again.
  Duration retry_delay{std::chrono::seconds(1)};
  Duration poll_timeout{std::chrono::milliseconds(100)};
  // A self-heal for a partition the client stops fetching (seen with librdkafka 2.0.2): an
  // assigned partition quiet for this long (nothing delivered, running or held) is checked against
  // the broker; if a message past its committed offset still waits undelivered when it is checked
  // again this long later, the partition is fetched again from its committed offset. A stall is
  // thus recovered within about 2 x stall_timeout. Zero turns the check off.
  Duration stall_timeout{std::chrono::seconds(30)};
};

// Throws ConfigError naming the key under `key_prefix` (e.g. "kafka.consumer.group_id is empty: ...").
void validate(const ConsumerOptions& options, std::string_view key_prefix = "kafka.consumer");

// Counters since construction, for tests and metrics.
struct ConsumerCounters {
  std::int64_t assigned_events = 0;  // rebalance callbacks that assigned partitions
  std::int64_t revoked_events = 0;   // rebalance callbacks that revoked partitions
  std::int64_t jobs_started = 0;
  std::int64_t jobs_done = 0;       // kDone outcomes whose offset was committed
  std::int64_t jobs_retried = 0;    // kRetry outcomes and handler exceptions
  std::int64_t jobs_abandoned = 0;  // cancelled by revocation or stop; not committed
  std::int64_t commit_failures = 0;  // refused commits, each retry counted
  std::int64_t stalls_recovered = 0;  // stalled partitions fetched again (see stall_timeout)
};

// A consumer-group member that runs one long job per message and commits only after the job
// finished. Owns the librdkafka consumer and the job threads.
//
// run() is the poll loop: it must be called from one thread and blocks until stop(),
// datarefresh::shutdown_requested() or abort_for_tests(). It keeps polling while jobs run on worker
// threads (so heartbeats and max.poll.interval.ms are satisfied for jobs of any length); a job's
// partition is paused while it runs. kDone stores and commits offset+1 and resumes the partition (a
// commit the group refuses mid-rebalance is made again while the partition stays ours);
// kRetry seeks back and resumes after retry_delay. On revocation (cooperative or eager) a running
// job is cancelled through its CancelToken, awaited (revoke_wait) and never committed, so the new
// owner gets the message again. stop() stops claiming, lets jobs finish within stop_grace, commits
// what completed and closes the consumer (leaving the group so partitions move at once), within
// close_timeout.
//
// stop(), abort_for_tests(), assignment(), counters() and last_poll() are thread-safe. Destroy only
// after run() returned (or if it never ran); the destructor joins job threads still running.
class GroupConsumer {
 public:
  using Handler = std::function<JobOutcome(const Message&, const CancelToken&)>;

  GroupConsumer(ConsumerOptions options, Handler handler);
  ~GroupConsumer();
  GroupConsumer(const GroupConsumer&) = delete;
  GroupConsumer& operator=(const GroupConsumer&) = delete;

  void run();
  void stop();
  // Simulates a crash for fault tests: the loop exits, running jobs are cancelled and nothing of
  // theirs is committed, and the client disconnects WITHOUT leaving the group; the coordinator
  // notices only after session.timeout.ms.
  void abort_for_tests();
  // Simulates a message lost between the broker and this consumer, for tests: the next message
  // delivered from `partition` of the first topic is dropped unseen, as if never fetched.
  void drop_next_message_for_tests(std::int32_t partition);

  const std::string& group_id() const;
  std::vector<TopicPartition> assignment() const;
  ConsumerCounters counters() const;
  // When the loop last returned from poll; a stale value means the loop is stuck (for /readyz).
  std::chrono::steady_clock::time_point last_poll() const;
  bool running() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace datarefresh::kafka
