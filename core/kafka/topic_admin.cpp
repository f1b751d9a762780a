#include "core/kafka/topic_admin.h"

#include <algorithm>
#include <optional>
#include <set>
#include <thread>

#include <fmt/format.h>

#include "core/common/error.h"
#include "core/common/log.h"

namespace datarefresh::kafka {
namespace {

using SteadyClock = std::chrono::steady_clock;

TopicReport judge(const TopicSpec& spec, const TopicMetadata& topic) {
  TopicReport report{spec.name, TopicState::kExisted, topic.partitions, ""};
  if (topic.partitions != spec.partitions) {
    report.state = TopicState::kPartitionMismatch;
    report.message = fmt::format(
        "kafka topic {} has {} partitions, configured {}: delete and recreate it, or set the configured count to "
        "{}",
        spec.name, topic.partitions, spec.partitions, topic.partitions);
  }
  return report;
}

TopicReport not_settled(const TopicSpec& spec, const std::optional<TopicMetadata>& last, Duration timeout) {
  const std::string seen = !last ? "not listed"
                                 : fmt::format("{} partitions, {} without a leader{}", last->partitions,
                                               last->leaderless, last->error.empty() ? "" : ", error " + last->error);
  return TopicReport{
      spec.name, TopicState::kNotSettled, last ? last->partitions : 0,
      fmt::format("kafka topic {} exists but did not settle within {} ms (last seen: {}): its partition count "
                  "is not judged; if this persists, check the brokers and the topic's partition leaders",
                  spec.name, timeout.count(), seen)};
}

void validate_specs(const std::vector<TopicSpec>& topics) {
  for (std::size_t i = 0; i < topics.size(); ++i) {
    const auto& spec = topics[i];
    if (spec.name.empty() || spec.partitions < 1) {
      throw ConfigError(
          fmt::format("kafka topic spec #{} ('{}', {} partitions) is invalid: give a name and at "
                      "least 1 partition",
                      i, spec.name, spec.partitions));
    }
  }
}

Duration left_until(SteadyClock::time_point deadline) {
  return std::max(Duration(0), std::chrono::duration_cast<Duration>(deadline - SteadyClock::now()));
}

}  // namespace

bool settled(const TopicMetadata& topic) {
  return topic.error.empty() && topic.partitions > 0 && topic.leaderless == 0;
}

std::vector<TopicReport> ensure_topics(TopicAdmin& admin, const std::vector<TopicSpec>& topics, Duration timeout,
                                       Duration poll_every) {
  validate_specs(topics);
  const auto deadline = SteadyClock::now() + timeout;
  auto listed = admin.describe_topics(timeout);

  std::vector<TopicReport> reports(topics.size());
  std::set<std::size_t> settling;  // listed (or created by someone else) but not judged yet
  std::vector<TopicSpec> to_create;
  std::vector<std::size_t> create_index;
  for (std::size_t i = 0; i < topics.size(); ++i) {
    auto it = listed.find(topics[i].name);
    if (it == listed.end()) {
      to_create.push_back(topics[i]);
      create_index.push_back(i);
    } else if (settled(it->second)) {
      reports[i] = judge(topics[i], it->second);
    } else {
      settling.insert(i);
    }
  }

  if (!to_create.empty()) {
    const auto created = admin.create_topics(to_create, std::max(left_until(deadline), Duration(1000)));
    for (auto i : create_index) {
      auto it = created.find(topics[i].name);
      if (it != created.end() && it->second) {
        reports[i] = TopicReport{topics[i].name, TopicState::kCreated, topics[i].partitions, ""};
      } else {
        settling.insert(i);  // another process created it first; it may not be listed fully yet
      }
    }
  }
  if (settling.empty()) return reports;

  Logger log("kafka.admin");
  std::vector<std::string> names;
  for (auto i : settling) names.push_back(topics[i].name);
  log.info(
      "kafka topics exist but are not settled yet (just created?): waiting for their partitions and leaders "
      "before judging them",
      {{"topics", names}, {"timeout_ms", timeout.count()}});
  std::map<std::size_t, std::optional<TopicMetadata>> last;
  for (auto i : settling) {
    auto it = listed.find(topics[i].name);
    last[i] = it == listed.end() ? std::nullopt : std::optional(it->second);
  }
  while (!settling.empty() && SteadyClock::now() < deadline) {
    std::this_thread::sleep_for(std::min(poll_every, left_until(deadline)));
    try {
      // At least a moment to answer, so the last round near the deadline still gets one.
      listed = admin.describe_topics(std::max(left_until(deadline), Duration(100)));
    } catch (const Error& e) {
      log.debug("describing kafka topics failed while waiting for them to settle; trying again", {{"error", e.what()}});
      continue;
    }
    for (auto it = settling.begin(); it != settling.end();) {
      auto found = listed.find(topics[*it].name);
      last[*it] = found == listed.end() ? std::nullopt : std::optional(found->second);
      if (found != listed.end() && settled(found->second)) {
        reports[*it] = judge(topics[*it], found->second);
        it = settling.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (auto i : settling) reports[i] = not_settled(topics[i], last[i], timeout);
  return reports;
}

}  // namespace datarefresh::kafka
