#include "core/kafka/group_consumer.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include <fmt/format.h>

#include "core/common/error.h"
#include "core/common/shutdown.h"
#include "core/kafka/librdkafka_support.h"

namespace datarefresh::kafka {
namespace {

using SteadyClock = std::chrono::steady_clock;

std::string_view strategy_name(AssignmentStrategy s) {
  switch (s) {
    case AssignmentStrategy::kCooperativeSticky:
      return "cooperative-sticky";
    case AssignmentStrategy::kRange:
      return "range";
    case AssignmentStrategy::kRoundRobin:
      return "roundrobin";
  }
  return "cooperative-sticky";
}

Message to_value(const rd_kafka_message_t* m) {
  Message msg;
  msg.topic = rd_kafka_topic_name(m->rkt);
  msg.partition = m->partition;
  msg.offset = KafkaOffset(m->offset);
  if (m->key != nullptr) msg.key.assign(static_cast<const char*>(m->key), m->key_len);
  if (m->payload != nullptr) msg.payload.assign(static_cast<const char*>(m->payload), m->len);
  rd_kafka_timestamp_type_t type;
  const auto ts = rd_kafka_message_timestamp(m, &type);
  if (type != RD_KAFKA_TIMESTAMP_NOT_AVAILABLE && ts >= 0) {
    msg.timestamp = std::chrono::system_clock::time_point(std::chrono::milliseconds(ts));
  }
  return msg;
}

// `deadline` less `margin`, without overflowing the time_point::max() of "no deadline".
SteadyClock::time_point before(SteadyClock::time_point deadline, Duration margin) {
  if (deadline == SteadyClock::time_point::max()) return deadline;
  return deadline - margin;
}

detail::PartitionListPtr one_partition(const TopicPartition& tp, std::int64_t offset = RD_KAFKA_OFFSET_INVALID) {
  detail::PartitionListPtr list(rd_kafka_topic_partition_list_new(1));
  rd_kafka_topic_partition_list_add(list.get(), tp.topic.c_str(), tp.partition)->offset = offset;
  return list;
}

detail::PartitionListPtr to_list(const std::set<TopicPartition>& tps) {
  detail::PartitionListPtr list(rd_kafka_topic_partition_list_new(static_cast<int>(tps.size())));
  for (const auto& tp : tps) rd_kafka_topic_partition_list_add(list.get(), tp.topic.c_str(), tp.partition);
  return list;
}

std::set<TopicPartition> to_set(const rd_kafka_topic_partition_list_t* list) {
  std::set<TopicPartition> out;
  for (int i = 0; list != nullptr && i < list->cnt; ++i) out.insert({list->elems[i].topic, list->elems[i].partition});
  return out;
}

nlohmann::json to_json(const std::set<TopicPartition>& tps) {
  auto out = nlohmann::json::array();
  for (const auto& tp : tps) out.push_back(to_string(tp));
  return out;
}

// One message being processed on its own thread. `finished` and `outcome` are written by the job
// thread under Impl::done_mutex; everything else belongs to the poll thread.
struct Job {
  Message message;
  CancelSource cancel;
  std::thread thread;
  bool finished = false;
  JobOutcome outcome = JobOutcome::kRetry;
};

}  // namespace

std::string to_string(const TopicPartition& tp) {
  return fmt::format("{}[{}]", tp.topic, tp.partition);
}

void validate(const ConsumerOptions& o, std::string_view key_prefix) {
  validate(o.client, "kafka");
  if (o.group_id.empty()) {
    throw ConfigError(fmt::format("{}.group_id is empty: set the consumer group name in config", key_prefix));
  }
  if (o.topics.empty()) {
    throw ConfigError(fmt::format("{}.topics is empty: name at least one topic to consume", key_prefix));
  }
  if (o.max_in_flight < 1) {
    throw ConfigError(fmt::format("{}.max_in_flight is 0: set it to 1 or more", key_prefix));
  }
  if (o.heartbeat_interval >= o.session_timeout) {
    throw ConfigError(
        fmt::format("{}.heartbeat_interval ({} ms) must be below session_timeout ({} ms): lower it "
                    "to about a third of session_timeout",
                    key_prefix, o.heartbeat_interval.count(), o.session_timeout.count()));
  }
  if (o.max_poll_interval < o.session_timeout) {
    throw ConfigError(fmt::format("{}.max_poll_interval ({} ms) must be at least session_timeout ({} ms)", key_prefix,
                                  o.max_poll_interval.count(), o.session_timeout.count()));
  }
  if (o.revoke_wait >= o.max_poll_interval) {
    throw ConfigError(
        fmt::format("{}.revoke_wait ({} ms) must be below max_poll_interval ({} ms): the poll loop "
                    "waits for revoked jobs inside the rebalance",
                    key_prefix, o.revoke_wait.count(), o.max_poll_interval.count()));
  }
  if (o.close_timeout.count() <= 0) {
    throw ConfigError(
        fmt::format("{}.close_timeout is {} ms: set a positive duration", key_prefix, o.close_timeout.count()));
  }
  if (o.stall_timeout.count() < 0) {
    throw ConfigError(fmt::format("{}.stall_timeout is negative: set a duration, or 0 to turn the check off", key_prefix));
  }
  if (o.auto_offset_reset != "earliest" && o.auto_offset_reset != "latest") {
    throw ConfigError(
        fmt::format("{}.auto_offset_reset is '{}': use earliest or latest", key_prefix, o.auto_offset_reset));
  }
}

struct GroupConsumer::Impl {
  ConsumerOptions options;
  Handler handler;
  // On the heap so that it can outlive this object with a handle that must not be destroyed
  // (see destroy_would_abort()) or that did not close in time (see close()).
  std::unique_ptr<detail::ClientContext> context = std::make_unique<detail::ClientContext>();
  detail::HandlePtr rk;
  Logger logger{"kafka.consumer"};

  // Poll-thread state.
  std::map<TopicPartition, std::unique_ptr<Job>> jobs;  // at most one per partition
  std::vector<std::unique_ptr<Job>> abandoned;          // cancelled, still running, never committed
  std::set<TopicPartition> paused;
  std::map<TopicPartition, SteadyClock::time_point> retry_until;
  // Messages fetched for a partition that could not start at once (a job runs on it, or no slot
  // is free), kept in offset order and started as soon as they can: no seek back and re-fetch per
  // job. Dropped (never committed past) when the partition goes or a job on it is retried, which
  // seeks back to the retried message. While any wait, the poll loop polls every 2 ms so that the
  // next starts right after a job ends (about 500 cheap wakeups a second, only with a backlog).
  std::map<TopicPartition, std::deque<Message>> held;
  // Finished jobs whose commit the group refused, per partition: retried by retry_commits().
  struct Uncommitted {
    std::int64_t next = 0;  // the offset to commit (after the last finished job)
    std::int64_t jobs = 0;  // finished jobs it covers
  };
  std::map<TopicPartition, Uncommitted> uncommitted;
  static constexpr std::chrono::milliseconds kCommitRetryEvery{250};
  SteadyClock::time_point next_commit_retry{};
  // When each assigned partition last showed life (assigned, delivered, finished a job, checked):
  // the stall check looks only at partitions quiet for stall_timeout.
  std::map<TopicPartition, SteadyClock::time_point> last_activity;
  // Quiet partitions found with messages waiting, and the first waiting offset: fetched again
  // only if the same message still waits, undelivered, one stall_timeout later (a message
  // produced just before a check is not a stall).
  std::map<TopicPartition, std::int64_t> suspect;
  SteadyClock::time_point next_stall_check{};
  std::atomic<std::int32_t> drop_partition_for_tests{-1};
  bool stopping = false;
  bool closed = false;
  bool subscribed = false;

  mutable std::mutex assignment_mutex;
  std::set<TopicPartition> assigned;

  mutable std::mutex counters_mutex;
  ConsumerCounters counters;

  std::mutex done_mutex;
  std::condition_variable done_cv;

  std::atomic<bool> stop_requested{false};
  std::atomic<bool> abort_requested{false};
  std::atomic<bool> is_running{false};
  std::atomic<SteadyClock::rep> last_poll{0};

  std::size_t in_flight() const { return jobs.size() + abandoned.size(); }

  template <typename F>
  void count(F f) {
    std::lock_guard lock(counters_mutex);
    f(counters);
  }

  std::set<TopicPartition> assigned_copy() const {
    std::lock_guard lock(assignment_mutex);
    return assigned;
  }

  void seek(const TopicPartition& tp, KafkaOffset offset) {
    auto list = one_partition(tp, offset.value());
    if (auto* error = rd_kafka_seek_partitions(rk.get(), list.get(), 5000)) {
      logger.error("seeking back failed; the message may be skipped until the partition is reassigned",
                   {{"partition", to_string(tp)}, {"offset", offset.value()}, {"error", rd_kafka_error_string(error)}});
      rd_kafka_error_destroy(error);
    } else if (list->elems[0].err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      logger.error(
          "seeking back failed; the message may be skipped until the partition is reassigned",
          {{"partition", to_string(tp)}, {"offset", offset.value()}, {"error", rd_kafka_err2name(list->elems[0].err)}});
    }
  }

  void set_paused(const std::set<TopicPartition>& tps, bool pause) {
    if (tps.empty()) return;
    auto list = to_list(tps);
    const auto err =
        pause ? rd_kafka_pause_partitions(rk.get(), list.get()) : rd_kafka_resume_partitions(rk.get(), list.get());
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      logger.warn(pause ? "pausing partitions failed" : "resuming partitions failed",
                  {{"partitions", to_json(tps)}, {"error", rd_kafka_err2name(err)}});
    }
  }

  // Pauses what must not fetch now (enough messages held for it, a retry is pending, stopping)
  // and resumes the rest; only partitions we paused are ever resumed. A busy partition or a full
  // set of slots alone does not pause: what arrives meanwhile is held.
  void refresh_pauses() {
    const auto now = SteadyClock::now();
    for (auto it = retry_until.begin(); it != retry_until.end();) {
      it = (it->second <= now) ? retry_until.erase(it) : std::next(it);
    }
    std::set<TopicPartition> want;
    for (const auto& tp : assigned_copy()) {
      auto h = held.find(tp);
      bool full = h != held.end() && h->second.size() >= options.max_held_per_partition;
      if (stopping || full || retry_until.count(tp) != 0) want.insert(tp);
    }
    std::set<TopicPartition> to_pause, to_resume;
    for (const auto& tp : want) {
      if (paused.count(tp) == 0) to_pause.insert(tp);
    }
    for (const auto& tp : paused) {
      if (want.count(tp) == 0) to_resume.insert(tp);
    }
    set_paused(to_pause, true);
    set_paused(to_resume, false);
    paused = std::move(want);
  }

  // Commits `pending` (the offset after tp's last finished job) and counts the jobs it covers as
  // done; false when the group refused it (a rebalance under way, a coordinator moving).
  bool commit_pending(const TopicPartition& tp, const Uncommitted& pending, rd_kafka_resp_err_t& err) {
    auto list = one_partition(tp, pending.next);
    (void)rd_kafka_offsets_store(rk.get(), list.get());
    err = commit_within(list.get(), kCommitTimeout);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      count([](auto& c) { ++c.commit_failures; });
      return false;
    }
    count([&](auto& c) { c.jobs_done += pending.jobs; });
    return true;
  }

  // A synchronous commit (rd_kafka_commit) never returns while the coordinator is unreachable
  // without closing its connections (a broker gone away; measured with librdkafka 2.0.2 and a
  // stopped broker process: over 8 minutes): the poll loop and a stop would hang on it. A commit
  // is waited for this long at most, and no longer than a shutdown requested meanwhile allows; one
  // that timed out counts as refused and is made again (retry_commits), and may still land.
  static constexpr Duration kCommitTimeout{std::chrono::seconds(10)};

  rd_kafka_resp_err_t commit_within(const rd_kafka_topic_partition_list_t* list, Duration timeout) {
    detail::QueuePtr queue(rd_kafka_queue_new(rk.get()));
    if (const auto err = rd_kafka_commit_queue(rk.get(), list, queue.get(), nullptr, nullptr);
        err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      return err;
    }
    const auto until = SteadyClock::now() + timeout;
    detail::EventPtr event;
    while (!event) {
      // In slices, so that a shutdown requested during the wait shortens it.
      const auto left = std::min(until, shutdown_deadline()) - SteadyClock::now();
      if (left <= SteadyClock::duration::zero()) break;
      const auto slice = std::min<SteadyClock::duration>(left, std::chrono::milliseconds(100));
      event.reset(rd_kafka_queue_poll(queue.get(),
                                      static_cast<int>(std::chrono::ceil<std::chrono::milliseconds>(slice).count())));
    }
    if (!event) return RD_KAFKA_RESP_ERR__TIMED_OUT;
    if (const auto err = rd_kafka_event_error(event.get()); err != RD_KAFKA_RESP_ERR_NO_ERROR) return err;
    const auto* offsets = rd_kafka_event_topic_partition_list(event.get());
    for (int i = 0; offsets != nullptr && i < offsets->cnt; ++i) {
      if (offsets->elems[i].err != RD_KAFKA_RESP_ERR_NO_ERROR) return offsets->elems[i].err;
    }
    return RD_KAFKA_RESP_ERR_NO_ERROR;
  }

  void commit(const TopicPartition& tp, KafkaOffset offset) {
    auto& pending = uncommitted[tp];
    pending.next = std::max(pending.next, offset.value() + 1);
    ++pending.jobs;
    rd_kafka_resp_err_t err{};
    if (commit_pending(tp, pending, err)) {
      uncommitted.erase(tp);
      return;
    }
    logger.warn("committing a finished job failed; committed again while the partition stays ours, "
                "else delivered again to its next owner (processing is idempotent)",
                {{"partition", to_string(tp)}, {"offset", offset.value()}, {"error", rd_kafka_err2name(err)}});
    next_commit_retry = SteadyClock::now() + kCommitRetryEvery;
  }

  // Commits again what the group refused before. A partition kept through a cooperative rebalance
  // is never fetched again below its position, so without this its finished jobs would stay
  // uncommitted (lag that never drains) until the partition moves. Partitions no longer ours are
  // dropped: their next owner gets those messages again.
  void retry_commits(bool now_regardless = false) {
    if (uncommitted.empty()) return;
    const auto now = SteadyClock::now();
    if (!now_regardless && now < next_commit_retry) return;
    const auto ours = assigned_copy();
    for (auto it = uncommitted.begin(); it != uncommitted.end();) {
      const auto& [tp, pending] = *it;
      rd_kafka_resp_err_t err{};
      if (ours.count(tp) == 0) {
        it = uncommitted.erase(it);
      } else if (commit_pending(tp, pending, err)) {
        logger.info("committed finished jobs after an earlier refusal",
                    {{"partition", to_string(tp)}, {"next_offset", pending.next}, {"jobs", pending.jobs}});
        it = uncommitted.erase(it);
      } else {
        logger.debug("committing again failed", {{"partition", to_string(tp)}, {"error", rd_kafka_err2name(err)}});
        ++it;
      }
    }
    next_commit_retry = now + kCommitRetryEvery;
  }

  // The self-heal described at ConsumerOptions::stall_timeout. Runs on the poll thread; the
  // broker is asked only about partitions quiet for stall_timeout, each at most once per
  // stall_timeout.
  void check_stalls() {
    const auto timeout = options.stall_timeout;
    if (timeout.count() <= 0 || stopping) return;
    const auto now = SteadyClock::now();
    if (now < next_stall_check) return;
    next_stall_check = now + std::min<SteadyClock::duration>(timeout / 4, std::chrono::seconds(5));
    std::set<TopicPartition> quiet;
    for (const auto& tp : assigned_copy()) {
      if (jobs.count(tp) != 0 || held.count(tp) != 0 || paused.count(tp) != 0 || retry_until.count(tp) != 0 ||
          uncommitted.count(tp) != 0) {
        continue;  // busy, or waiting on purpose
      }
      auto [it, inserted] = last_activity.try_emplace(tp, now);
      if (!inserted && now - it->second >= timeout) quiet.insert(tp);
    }
    if (quiet.empty()) return;
    for (const auto& tp : quiet) last_activity[tp] = now;  // checked: next time in a period
    auto list = to_list(quiet);
    // Bounded: the poll thread waits for these answers. A broker that does not answer in time
    // ends this round (a partition led by a broker that is down is not stalled in the client).
    constexpr int kQueryTimeoutMs = 2000;
    if (const auto err = rd_kafka_committed(rk.get(), list.get(), kQueryTimeoutMs); err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      logger.debug("stall check: reading committed offsets failed", {{"error", rd_kafka_err2name(err)}});
      return;
    }
    for (int i = 0; i < list->cnt; ++i) {
      const auto& e = list->elems[i];
      if (e.err != RD_KAFKA_RESP_ERR_NO_ERROR) continue;
      const TopicPartition tp{e.topic, e.partition};
      std::int64_t low = 0, high = 0;
      if (const auto werr = rd_kafka_query_watermark_offsets(rk.get(), e.topic, e.partition, &low, &high, kQueryTimeoutMs);
          werr != RD_KAFKA_RESP_ERR_NO_ERROR) {
        logger.debug("stall check: reading the watermarks failed",
                     {{"partition", to_string(tp)}, {"error", rd_kafka_err2name(werr)}});
        break;
      }
      std::int64_t next = e.offset;  // the first message not done
      if (next < 0) next = options.auto_offset_reset == "earliest" ? low : high;
      if (next >= high) {
        suspect.erase(tp);
        continue;
      }
      auto it = suspect.find(tp);
      if (it == suspect.end() || it->second != next) {
        suspect[tp] = next;  // waiting now; a stall if still so at the next look
        continue;
      }
      suspect.erase(it);
      logger.warn("partition delivered nothing although messages wait; fetching it again from its committed offset",
                  {{"partition", to_string(tp)}, {"offset", next}, {"waiting", high - next},
                   {"stall_timeout_ms", std::chrono::duration_cast<std::chrono::milliseconds>(timeout).count()}});
      count([](auto& c) { ++c.stalls_recovered; });
      seek(tp, KafkaOffset(next));
    }
  }

  void start_job(Message message) {
    auto tp = message.topic_partition();
    auto job = std::make_unique<Job>();
    job->message = std::move(message);
    Job* raw = job.get();
    jobs[tp] = std::move(job);
    refresh_pauses();  // pause tp before anything else arrives from it
    count([](auto& c) { ++c.jobs_started; });
    raw->thread = std::thread([this, raw] {
      JobOutcome outcome = JobOutcome::kRetry;
      try {
        outcome = handler(raw->message, raw->cancel.token());
      } catch (const std::exception& e) {
        logger.error("job failed with an exception; the message will be delivered again",
                     {{"partition", to_string(raw->message.topic_partition())},
                      {"offset", raw->message.offset.value()},
                      {"error", e.what()}});
      }
      {
        std::lock_guard lock(done_mutex);
        raw->finished = true;
        raw->outcome = outcome;
      }
      done_cv.notify_all();
    });
  }

  bool is_finished(Job& job) {
    std::lock_guard lock(done_mutex);
    return job.finished;
  }

  // Joins finished jobs: commits kDone (if the partition is still ours), seeks back kRetry.
  void reap() {
    for (auto it = jobs.begin(); it != jobs.end();) {
      Job& job = *it->second;
      if (!is_finished(job)) {
        ++it;
        continue;
      }
      job.thread.join();
      const auto tp = it->first;
      last_activity[tp] = SteadyClock::now();
      if (job.outcome == JobOutcome::kDone) {
        commit(tp, job.message.offset);
      } else {
        count([](auto& c) { ++c.jobs_retried; });
        held.erase(tp);  // after the retried message: fetched again after the seek
        seek(tp, job.message.offset);
        retry_until[tp] = SteadyClock::now() + options.retry_delay;
      }
      it = jobs.erase(it);
    }
    for (auto it = abandoned.begin(); it != abandoned.end();) {
      if (is_finished(**it)) {
        (*it)->thread.join();
        it = abandoned.erase(it);
      } else {
        ++it;
      }
    }
  }

  void abandon(const TopicPartition& tp, CancelReason reason) {
    auto it = jobs.find(tp);
    if (it == jobs.end()) return;
    it->second->cancel.cancel(reason);
    logger.info(
        "cancelled a running job; its offset is not committed",
        {{"partition", to_string(tp)}, {"offset", it->second->message.offset.value()}, {"reason", to_string(reason)}});
    count([](auto& c) { ++c.jobs_abandoned; });
    abandoned.push_back(std::move(it->second));
    jobs.erase(it);
  }

  // Waits until every abandoned job returned or the deadline passed.
  void wait_abandoned(SteadyClock::time_point deadline) {
    std::unique_lock lock(done_mutex);
    done_cv.wait_until(lock, deadline, [&] {
      for (auto& job : abandoned) {
        if (!job->finished) return false;
      }
      return true;
    });
    lock.unlock();
    reap();
    if (!abandoned.empty()) {
      logger.error("cancelled jobs did not return in time; their threads keep running and hold a slot",
                   {{"jobs", abandoned.size()}, {"revoke_wait_ms", options.revoke_wait.count()}});
    }
  }

  void on_rebalance(rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* partitions) {
    const bool cooperative = std::strcmp(rd_kafka_rebalance_protocol(rk.get()), "COOPERATIVE") == 0;
    const auto tps = to_set(partitions);
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
      count([](auto& c) { ++c.assigned_events; });
      rd_kafka_error_t* error = nullptr;
      rd_kafka_resp_err_t plain = RD_KAFKA_RESP_ERR_NO_ERROR;
      if (cooperative) {
        error = rd_kafka_incremental_assign(rk.get(), partitions);
      } else {
        plain = rd_kafka_assign(rk.get(), partitions);
      }
      if (error != nullptr || plain != RD_KAFKA_RESP_ERR_NO_ERROR) {
        const std::string why = error != nullptr ? rd_kafka_error_string(error) : rd_kafka_err2str(plain);
        if (error != nullptr) rd_kafka_error_destroy(error);
        logger.error("assigning partitions failed", {{"partitions", to_json(tps)}, {"error", why}});
        return;
      }
      {
        std::lock_guard lock(assignment_mutex);
        if (!cooperative) assigned.clear();
        assigned.insert(tps.begin(), tps.end());
      }
      logger.info("partitions assigned",
                  {{"partitions", to_json(tps)}, {"protocol", cooperative ? "cooperative" : "eager"}});
      // Not resumed here: a partition taken away while paused was resumed before it went (see
      // below), and resuming one that is not paused is not harmless in librdkafka before 2.4.0
      // (it outdates the partition's fetch state; librdkafka issues #4637, #4686).
      const auto now = SteadyClock::now();
      for (const auto& tp : tps) last_activity[tp] = now;
      refresh_pauses();
      return;
    }

    const bool lost = rd_kafka_assignment_lost(rk.get()) != 0;
    if (err == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS) {
      count([](auto& c) { ++c.revoked_events; });
    } else {
      logger.error("rebalance failed; dropping the assignment", {{"error", rd_kafka_err2name(err)}});
    }
    // Commit what finished while the partitions are still ours (not possible once lost).
    if (!lost) {
      reap();
      retry_commits(true);
    }
    for (const auto& tp : tps) abandon(tp, CancelReason::kRevoked);
    wait_abandoned(SteadyClock::now() + options.revoke_wait);
    // librdkafka keeps a partition's pause flag across a revoke and a later re-assignment: one
    // taken away while paused would never deliver again. Resume what we paused before it goes.
    std::set<TopicPartition> to_resume;
    for (const auto& tp : tps) {
      if (paused.count(tp) != 0) to_resume.insert(tp);
    }
    set_paused(to_resume, false);
    for (const auto& tp : tps) {
      retry_until.erase(tp);
      uncommitted.erase(tp);  // its next owner gets those messages again
      held.erase(tp);
      paused.erase(tp);
      last_activity.erase(tp);
      suspect.erase(tp);
    }
    if (cooperative) {
      if (auto* error = rd_kafka_incremental_unassign(rk.get(), partitions)) {
        logger.error("unassigning partitions failed", {{"error", rd_kafka_error_string(error)}});
        rd_kafka_error_destroy(error);
      }
    } else {
      (void)rd_kafka_assign(rk.get(), nullptr);
    }
    {
      std::lock_guard lock(assignment_mutex);
      if (cooperative) {
        for (const auto& tp : tps) assigned.erase(tp);
      } else {
        assigned.clear();
      }
    }
    logger.info(lost ? "partitions lost" : "partitions revoked", {{"partitions", to_json(tps)}});
  }

  static void rebalance_cb(rd_kafka_t* rk, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* partitions,
                           void* opaque) {
    auto* context = static_cast<detail::ClientContext*>(opaque);
    if (context->closing.load()) {
      hand_back(rk, err, partitions);
      return;
    }
    static_cast<Impl*>(context->owner)->on_rebalance(err, partitions);
  }

  // A rebalance while the consumer closes (on the closing thread, maybe after this object is
  // gone): what librdkafka does without a rebalance callback. Everything finished was committed
  // before the close; nothing else is.
  static void hand_back(rd_kafka_t* rk, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* partitions) {
    const bool cooperative = std::strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE") == 0;
    const bool assign = err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS;
    rd_kafka_error_t* error = nullptr;
    if (cooperative) {
      error = assign ? rd_kafka_incremental_assign(rk, partitions) : rd_kafka_incremental_unassign(rk, partitions);
    } else {
      (void)rd_kafka_assign(rk, assign ? partitions : nullptr);
    }
    if (error != nullptr) rd_kafka_error_destroy(error);
  }

  void handle(rd_kafka_message_t* m) {
    if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) return;
      logger.warn("kafka consume error", {{"error", rd_kafka_err2name(m->err)},
                                          {"topic", m->rkt != nullptr ? rd_kafka_topic_name(m->rkt) : ""},
                                          {"partition", m->partition},
                                          {"detail", rd_kafka_message_errstr(m)}});
      return;
    }
    if (m->partition == drop_partition_for_tests.load() && rd_kafka_topic_name(m->rkt) == options.topics.front()) {
      drop_partition_for_tests.store(-1);
      return;
    }
    Message message = to_value(m);
    const auto tp = message.topic_partition();
    if (assigned_copy().count(tp) == 0) return;  // a leftover from a revoked partition
    last_activity[tp] = SteadyClock::now();
    suspect.erase(tp);
    if (stopping) return;  // never started, never committed: delivered again after a restart
    if (retry_until.count(tp) != 0) {
      // Fetched again before the retry's pause took effect: hand it back (a seek discards what
      // was fetched before it, so this is the lowest offset not yet done).
      refresh_pauses();
      seek(tp, message.offset);
      return;
    }
    if (jobs.count(tp) != 0 || held.count(tp) != 0 || in_flight() >= options.max_in_flight) {
      // Keep it, in order, for when the partition and a slot are free.
      held[tp].push_back(std::move(message));
      refresh_pauses();
      return;
    }
    start_job(std::move(message));
  }

  // Starts held messages on partitions that are free again, while slots are free.
  void start_held() {
    if (stopping) return;
    for (auto it = held.begin(); it != held.end() && in_flight() < options.max_in_flight;) {
      const auto tp = it->first;
      if (jobs.count(tp) != 0 || retry_until.count(tp) != 0) {
        ++it;
        continue;
      }
      Message next = std::move(it->second.front());
      it->second.pop_front();
      it = it->second.empty() ? held.erase(it) : std::next(it);
      start_job(std::move(next));
    }
  }

  // librdkafka before 2.3.0 aborts the process (assertion `assignor_state' in
  // rd_kafka_sticky_assignor_state_destroy, librdkafka issue #4312) when a cooperative-sticky
  // consumer is destroyed after joining a group but before its first assignment arrived: the
  // assignor is chosen at the JoinGroup answer, its state created only at the SyncGroup answer.
  // Once an assignment was delivered (even an empty one) the state exists and destroying is safe.
  bool destroy_would_abort() const {
    constexpr int kFixedIn = 0x020300ff;
    std::lock_guard lock(counters_mutex);
    return subscribed && options.strategy == AssignmentStrategy::kCooperativeSticky &&
           rd_kafka_version() < kFixedIn && counters.assigned_events == 0;
  }

  // Joined (it has a member id) but no assignment yet: the first rebalance is under way.
  bool joining() const {
    char* member_id = rd_kafka_memberid(rk.get());
    const bool joined = member_id != nullptr && member_id[0] != '\0';
    if (member_id != nullptr) rd_kafka_mem_free(rk.get(), member_id);
    return joined && destroy_would_abort();
  }

  // Leaves the group (leave_group) and destroys the client, within close_timeout and what is
  // left of a requested shutdown's grace; a client that does not close in time is left behind.
  // Returns false then.
  bool close(bool leave_group) {
    if (closed) return true;
    closed = true;
    const bool keep_handle = destroy_would_abort();
    const auto budget = shutdown_budget(options.close_timeout);
    detail::Teardown steps{.close_consumer = leave_group,
                           .destroy = !keep_handle,
                           .destroy_flags = leave_group ? 0 : RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE};
    context->closing.store(true);
    const auto result = detail::tear_down_within(std::move(rk), std::move(context), steps, budget);
    if (!result.finished) {
      logger.error(leave_group ? "the kafka consumer did not leave its group in time (brokers unreachable?): its "
                                 "client is left behind; its partitions move to other members once the group's "
                                 "session times out, and what it had not committed is delivered again"
                               : "the kafka consumer's client did not close in time and is left behind",
                   {{"group", options.group_id},
                    {"timeout_ms", budget.count()},
                    {"session_timeout_ms", options.session_timeout.count()}});
    } else if (result.close_error != RD_KAFKA_RESP_ERR_NO_ERROR) {
      logger.warn("closing the consumer failed", {{"error", rd_kafka_err2name(result.close_error)}});
    }
    if (keep_handle) {
      // Left to the process exit, silenced, rather than destroyed into the librdkafka abort above.
      logger.warn(
          "the consumer never received an assignment; its closed client is left undestroyed "
          "(librdkafka before 2.3.0 aborts destroying it)",
          {{"group", options.group_id}, {"librdkafka", rd_kafka_version_str()}});
    }
    std::lock_guard lock(assignment_mutex);
    assigned.clear();
    return result.finished;
  }
};

GroupConsumer::GroupConsumer(ConsumerOptions options, Handler handler) : impl_(std::make_unique<Impl>()) {
  validate(options);
  if (!handler) throw InvariantError("GroupConsumer needs a handler");
  impl_->options = std::move(options);
  impl_->handler = std::move(handler);
  impl_->context->logger = Logger("kafka.consumer");
  impl_->context->owner = impl_.get();
  const auto& o = impl_->options;
  std::map<std::string, std::string> settings = {
      {"group.id", o.group_id},
      {"enable.auto.commit", "false"},
      {"enable.auto.offset.store", "false"},
      {"enable.partition.eof", "false"},
      {"auto.offset.reset", o.auto_offset_reset},
      {"partition.assignment.strategy", std::string(strategy_name(o.strategy))},
      {"session.timeout.ms", std::to_string(o.session_timeout.count())},
      {"heartbeat.interval.ms", std::to_string(o.heartbeat_interval.count())},
      {"max.poll.interval.ms", std::to_string(o.max_poll_interval.count())}};
  // Jobs are few and latency matters more than fetch efficiency: a fetch that finds nothing waits
  // at most this long (a broker answers at once when data arrives; librdkafka's mock cluster waits
  // it out). A kafka.properties entry wins.
  if (o.client.properties.count("fetch.wait.max.ms") == 0) settings["fetch.wait.max.ms"] = "100";
  auto conf = detail::make_conf(o.client, settings, *impl_->context);
  rd_kafka_conf_set_rebalance_cb(conf.get(), &Impl::rebalance_cb);
  impl_->rk = detail::new_handle(RD_KAFKA_CONSUMER, std::move(conf), "consumer");
  rd_kafka_poll_set_consumer(impl_->rk.get());
}

GroupConsumer::~GroupConsumer() {
  if (!impl_->closed && impl_->rk) impl_->close(true);
  for (auto& [tp, job] : impl_->jobs) {
    job->cancel.cancel(CancelReason::kStopping);
    job->thread.join();
  }
  for (auto& job : impl_->abandoned) {
    job->cancel.cancel(CancelReason::kStopping);
    job->thread.join();
  }
}

void GroupConsumer::run() {
  auto& s = *impl_;
  if (s.closed) throw InvariantError("GroupConsumer::run() called after it stopped; create a new consumer");
  s.is_running.store(true);
  struct RunningFlag {
    std::atomic<bool>& flag;
    ~RunningFlag() { flag.store(false); }
  } running_flag{s.is_running};

  detail::PartitionListPtr topics(rd_kafka_topic_partition_list_new(static_cast<int>(s.options.topics.size())));
  for (const auto& t : s.options.topics)
    rd_kafka_topic_partition_list_add(topics.get(), t.c_str(), RD_KAFKA_PARTITION_UA);
  if (const auto err = rd_kafka_subscribe(s.rk.get(), topics.get()); err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    throw Error(fmt::format("subscribing kafka group {} to {} failed: {}", s.options.group_id,
                            fmt::join(s.options.topics, ","), rd_kafka_err2str(err)));
  }
  s.subscribed = true;
  s.logger.info("consumer started", {{"group", s.options.group_id},
                                     {"topics", s.options.topics},
                                     {"strategy", strategy_name(s.options.strategy)},
                                     {"max_in_flight", s.options.max_in_flight}});

  SteadyClock::time_point stop_deadline{};
  bool cancelled_all = false;
  SteadyClock::time_point cancel_deadline{};
  while (!s.abort_requested.load()) {
    const auto now = SteadyClock::now();
    if (!s.stopping && (s.stop_requested.load() || shutdown_requested())) {
      s.stopping = true;
      // The jobs get stop_grace, but no more than leaves revoke_wait and close_timeout before the
      // end of a requested shutdown's grace.
      stop_deadline = std::min(now + s.options.stop_grace,
                               before(shutdown_deadline(), s.options.revoke_wait + s.options.close_timeout));
      s.logger.info("consumer stopping: no new jobs, waiting for running ones",
                    {{"running", s.jobs.size()},
                     {"stop_grace_ms",
                      std::max<Duration::rep>(0, std::chrono::duration_cast<Duration>(stop_deadline - now).count())}});
      s.refresh_pauses();
    }
    if (s.stopping) {
      // A member stopped in the middle of its first rebalance waits (bounded) for that rebalance
      // to end, so that its client can be destroyed (see destroy_would_abort()).
      const bool wait_for_assignment = now < stop_deadline && s.joining();
      if (s.jobs.empty() && s.abandoned.empty() && !wait_for_assignment) break;
      if (!cancelled_all && now >= stop_deadline) {
        std::vector<TopicPartition> running;
        for (auto& [tp, job] : s.jobs) running.push_back(tp);
        for (const auto& tp : running) s.abandon(tp, CancelReason::kStopping);
        cancelled_all = true;
        cancel_deadline = std::min(now + s.options.revoke_wait, before(shutdown_deadline(), s.options.close_timeout));
      }
      if (cancelled_all && now >= cancel_deadline) break;
    }
    // With a backlog of held messages, come back quickly to start the next one when a job ends.
    auto poll_ms = s.options.poll_timeout.count();
    if (!s.held.empty()) poll_ms = std::min<decltype(poll_ms)>(poll_ms, 2);
    rd_kafka_message_t* m = rd_kafka_consumer_poll(s.rk.get(), static_cast<int>(poll_ms));
    s.last_poll.store(SteadyClock::now().time_since_epoch().count());
    if (m != nullptr) {
      s.handle(m);
      rd_kafka_message_destroy(m);
    }
    s.reap();
    s.retry_commits();
    s.start_held();
    s.refresh_pauses();
    s.check_stalls();
  }

  if (s.abort_requested.load()) {
    std::vector<TopicPartition> running;
    for (auto& [tp, job] : s.jobs) running.push_back(tp);
    for (const auto& tp : running) s.abandon(tp, CancelReason::kStopping);
    s.wait_abandoned(SteadyClock::now() + s.options.revoke_wait);
    s.close(false);
    s.logger.warn("consumer aborted without leaving the group (simulated crash)", {{"group", s.options.group_id}});
    return;
  }
  s.reap();
  s.retry_commits(true);
  if (!s.abandoned.empty()) {
    s.logger.error("consumer closing while cancelled jobs still run; they are not committed",
                   {{"jobs", s.abandoned.size()}});
  }
  if (s.close(true)) s.logger.info("consumer stopped and left the group", {{"group", s.options.group_id}});
}

void GroupConsumer::stop() {
  impl_->stop_requested.store(true);
}
void GroupConsumer::abort_for_tests() {
  impl_->abort_requested.store(true);
}
void GroupConsumer::drop_next_message_for_tests(std::int32_t partition) {
  impl_->drop_partition_for_tests.store(partition);
}

const std::string& GroupConsumer::group_id() const {
  return impl_->options.group_id;
}

std::vector<TopicPartition> GroupConsumer::assignment() const {
  std::lock_guard lock(impl_->assignment_mutex);
  return {impl_->assigned.begin(), impl_->assigned.end()};
}

ConsumerCounters GroupConsumer::counters() const {
  std::lock_guard lock(impl_->counters_mutex);
  return impl_->counters;
}

std::chrono::steady_clock::time_point GroupConsumer::last_poll() const {
  return SteadyClock::time_point(SteadyClock::duration(impl_->last_poll.load()));
}

bool GroupConsumer::running() const {
  return impl_->is_running.load();
}

}  // namespace datarefresh::kafka
