#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/common/duration.h"
#include "core/kafka/client_options.h"
#include "core/kafka/message.h"
#include "core/kafka/topic_admin.h"

namespace datarefresh::kafka {

// ensure_topics(TopicAdmin&, ...) over the cluster at `options` (Admin API CreateTopics, metadata
// requests): missing topics are created, existing ones accepted once settled, partition mismatches
// reported, never altered. `timeout` bounds the whole call, including the wait for topics that
// were just created (by this process or another) to show their partitions and leaders. Throws
// Error naming the topic if the cluster is unreachable within `timeout` or refuses to create one.
std::vector<TopicReport> ensure_topics(const ClientOptions& options, const std::vector<TopicSpec>& topics,
                                       Duration timeout);

// Topic name -> partition count, from a metadata request (never auto-creates). Throws Error if the
// cluster does not answer within `timeout`.
std::map<std::string, int> list_topics(const ClientOptions& options, Duration timeout);

// The group's committed offset for each partition (-1 where it has committed nothing), read
// through OffsetFetch without joining the group. For lag metrics and tests.
std::map<TopicPartition, std::int64_t> committed_offsets(const ClientOptions& options, const std::string& group_id,
                                                         const std::vector<TopicPartition>& partitions,
                                                         Duration timeout);

// Every message on `topic` up to its current end (the high watermarks read at the start), all
// partitions from their first retained offset, without joining a group or committing. For tools
// and tests that inspect a topic. Throws Error naming the topic if it does not exist or the end
// is not reached within `timeout`.
std::vector<Message> read_topic(const ClientOptions& options, const std::string& topic, Duration timeout);

}  // namespace datarefresh::kafka
