#pragma once

#include <compare>
#include <cstdint>
#include <functional>
#include <ostream>
#include <string>
#include <utility>

namespace datarefresh {

// A value wrapped in a distinct type so that ids which must not be mixed (a refresh id, a shard
// number, a Kafka offset) cannot be passed for one another. Copyable, comparable, hashable.
template <typename T, typename Tag>
class StrongId {
 public:
  using value_type = T;
  StrongId() = default;
  explicit StrongId(T value) : value_(std::move(value)) {}
  const T& value() const { return value_; }
  auto operator<=>(const StrongId&) const = default;
  bool operator==(const StrongId&) const = default;
  friend std::ostream& operator<<(std::ostream& os, const StrongId& id) { return os << id.value_; }

 private:
  T value_{};
};

using RefreshId = StrongId<std::string, struct RefreshIdTag>;
using ShardNumber = StrongId<std::int32_t, struct ShardNumberTag>;
using KafkaOffset = StrongId<std::int64_t, struct KafkaOffsetTag>;
using RowId = StrongId<std::int64_t, struct RowIdTag>;

}  // namespace datarefresh

template <typename T, typename Tag>
struct std::hash<datarefresh::StrongId<T, Tag>> {
  std::size_t operator()(const datarefresh::StrongId<T, Tag>& id) const noexcept {
    return std::hash<T>{}(id.value());
  }
};
