#pragma once

#include <cstddef>
#include <limits>
#include <mutex>
#include <optional>
#include <utility>
#include <vector>

namespace datarefresh {

// Objects kept for reuse (buffers, connections, handles): up to `capacity` of them, the most
// recently returned handed out first. Thread-safe. T must be movable; it may be incomplete where
// a KeptObjects<T> member is declared, as long as its owner's destructor is defined where T is
// complete.
template <class T>
class KeptObjects {
 public:
  static constexpr std::size_t kUnbounded = std::numeric_limits<std::size_t>::max();

  explicit KeptObjects(std::size_t capacity = kUnbounded) : capacity_(capacity) {}
  KeptObjects(const KeptObjects&) = delete;
  KeptObjects& operator=(const KeptObjects&) = delete;

  // A kept object, or nothing when none is kept.
  std::optional<T> take() {
    std::lock_guard lock(mu_);
    if (kept_.empty()) return std::nullopt;
    std::optional<T> out(std::move(kept_.back()));
    kept_.pop_back();
    return out;
  }

  // Keeps `object` unless `capacity` are kept already; then it is destroyed here.
  void give(T object) {
    std::lock_guard lock(mu_);
    if (kept_.size() < capacity_) kept_.push_back(std::move(object));
  }

  std::size_t size() const {
    std::lock_guard lock(mu_);
    return kept_.size();
  }

 private:
  mutable std::mutex mu_;
  std::vector<T> kept_;
  std::size_t capacity_;
};

}  // namespace datarefresh
