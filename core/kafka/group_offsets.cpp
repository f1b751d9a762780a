#include "core/kafka/group_offsets.h"

#include <fmt/format.h>

#include "core/common/error.h"
#include "core/kafka/librdkafka_support.h"

namespace datarefresh::kafka {
namespace {

struct MetadataDeleter {
  void operator()(const rd_kafka_metadata_t* md) const { rd_kafka_metadata_destroy(md); }
};

}  // namespace

struct GroupOffsetsReader::Impl {
  // The handle never joins the group (no subscribe, no assign): there is nothing to hand back, so
  // it is destroyed without a consumer close, and within a bounded time whatever the brokers do.
  Impl(const ClientOptions& options, std::string group_id, std::string topic_name)
      : group(std::move(group_id)),
        topic(std::move(topic_name)),
        client(RD_KAFKA_CONSUMER, options,
               {{"group.id", group},
                {"enable.auto.commit", "false"},
                {"enable.auto.offset.store", "false"},
                {"allow.auto.create.topics", "false"}},
               "group offsets reader", "kafka.offsets",
               detail::Teardown{false, true, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE}, std::chrono::seconds(5)),
        rk(client.get()) {}

  std::string group;
  std::string topic;
  detail::ScopedClient client;
  rd_kafka_t* rk;

  int partition_count(Duration timeout) {
    rd_kafka_topic_t* t = rd_kafka_topic_new(rk, topic.c_str(), nullptr);
    const rd_kafka_metadata_t* raw = nullptr;
    auto err = rd_kafka_metadata(rk, 0, t, &raw, static_cast<int>(timeout.count()));
    rd_kafka_topic_destroy(t);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      throw Error(fmt::format("reading the partitions of kafka topic {} failed: {}", topic, rd_kafka_err2str(err)));
    }
    std::unique_ptr<const rd_kafka_metadata_t, MetadataDeleter> md(raw);
    if (md->topic_cnt != 1 || md->topics[0].err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      auto e = md->topic_cnt == 1 ? md->topics[0].err : RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART;
      throw Error(fmt::format("kafka topic {} has no usable metadata: {}", topic, rd_kafka_err2str(e)));
    }
    return md->topics[0].partition_cnt;
  }
};

GroupOffsetsReader::GroupOffsetsReader(const ClientOptions& options, std::string group_id, std::string topic)
    : impl_(std::make_unique<Impl>(options, std::move(group_id), std::move(topic))) {}

GroupOffsetsReader::~GroupOffsetsReader() = default;

std::vector<PartitionOffsets> GroupOffsetsReader::read(Duration timeout) {
  auto& m = *impl_;
  const int partitions = m.partition_count(timeout);
  detail::PartitionListPtr list(rd_kafka_topic_partition_list_new(partitions));
  for (int p = 0; p < partitions; ++p) rd_kafka_topic_partition_list_add(list.get(), m.topic.c_str(), p);
  auto err = rd_kafka_committed(m.rk, list.get(), static_cast<int>(timeout.count()));
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    throw Error(fmt::format("reading the committed offsets of consumer group {} on {} failed: {}", m.group, m.topic,
                            rd_kafka_err2str(err)));
  }
  std::vector<PartitionOffsets> out;
  out.reserve(static_cast<std::size_t>(partitions));
  for (int i = 0; i < list->cnt; ++i) {
    const auto& tp = list->elems[i];
    PartitionOffsets o;
    o.partition = tp.partition;
    o.committed = tp.err == RD_KAFKA_RESP_ERR_NO_ERROR && tp.offset >= 0 ? tp.offset : -1;
    auto w = rd_kafka_query_watermark_offsets(m.rk, m.topic.c_str(), tp.partition, &o.low, &o.high,
                                              static_cast<int>(timeout.count()));
    if (w != RD_KAFKA_RESP_ERR_NO_ERROR) {
      throw Error(fmt::format("reading the offsets of {} [{}] failed: {}", m.topic, tp.partition, rd_kafka_err2str(w)));
    }
    out.push_back(o);
  }
  return out;
}

}  // namespace datarefresh::kafka
