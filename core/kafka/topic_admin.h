#pragma once

#include <chrono>
#include <map>
#include <string>
#include <vector>

#include "core/common/duration.h"

namespace datarefresh::kafka {

struct TopicSpec {
  std::string name;
  int partitions = 1;
  int replication_factor = -1;  // -1: the broker's default
};

enum class TopicState {
  kCreated,            // created by this call
  kExisted,            // already there with the requested partition count
  kPartitionMismatch,  // already there with a different partition count (not changed)
  kNotSettled,         // there, but without partitions or leaders until the timeout: not judged
};

struct TopicReport {
  std::string name;
  TopicState state = TopicState::kExisted;
  int partitions = 0;   // the topic's partition count (for kNotSettled: as last seen)
  std::string message;  // for kPartitionMismatch and kNotSettled: what differs and what to do
};

// What one metadata answer says about a listed topic.
struct TopicMetadata {
  std::string error;   // the topic's error in the answer ("" when none), e.g. LEADER_NOT_AVAILABLE
  int partitions = 0;  // partitions listed
  int leaderless = 0;  // of those, partitions without a leader
  bool operator==(const TopicMetadata&) const = default;
};

// True when the topic's partition count can be judged: no error, at least one partition, each
// with a leader. A topic just created (by us or by another process) is first listed without
// partitions, with LEADER_NOT_AVAILABLE or UNKNOWN_TOPIC_OR_PART, or with partitions that have no
// leader yet, until the controller has assigned them; such a topic is settling, not mismatched.
bool settled(const TopicMetadata& topic);

// The cluster calls ensure_topics() makes, behind an interface so that its judging is tested
// without a broker. Implemented over librdkafka's Admin API in topics.cpp.
class TopicAdmin {
 public:
  virtual ~TopicAdmin() = default;
  // Every topic the cluster lists, by name (never auto-creates). Throws Error if no answer came
  // within `timeout`.
  virtual std::map<std::string, TopicMetadata> describe_topics(Duration timeout) = 0;
  // Creates `topics` (CreateTopics). Per topic: true if created, false if it already existed
  // (created meanwhile by someone else). Throws Error for any other outcome, naming the topics.
  virtual std::map<std::string, bool> create_topics(const std::vector<TopicSpec>& topics, Duration timeout) = 0;
};

// Creates the topics that are not listed yet; existing topics are fine. A topic listed but not
// settled() (just created elsewhere, or created concurrently by another process that won the
// race) is described again every `poll_every` until it settles, and only then is its partition
// count compared with the spec: a different count is reported (kPartitionMismatch, with the
// advice), never altered. A topic still unsettled when `timeout` (which bounds the whole call)
// has passed is reported kNotSettled, without advice to delete it. Throws ConfigError for an
// invalid spec and Error when the cluster does not answer the first description or refuses a
// creation.
std::vector<TopicReport> ensure_topics(TopicAdmin& admin, const std::vector<TopicSpec>& topics, Duration timeout,
                                       Duration poll_every = std::chrono::milliseconds(250));

}  // namespace datarefresh::kafka
