#include "devstack/devsearch/id_set.h"

#include <functional>

namespace datarefresh::devsearch {

std::uint32_t IdSet::hash_of(std::string_view id) {
  return static_cast<std::uint32_t>(std::hash<std::string_view>{}(id));
}

std::size_t IdSet::find(std::string_view id, std::uint32_t hash, bool& found) const {
  const std::size_t mask = slots_.size() - 1;
  std::size_t first_erased = slots_.size();
  for (std::size_t i = hash & mask;; i = (i + 1) & mask) {
    const Slot& s = slots_[i];
    if (s.length == kEmpty) {
      found = false;
      return first_erased < slots_.size() ? first_erased : i;
    }
    if (s.length == kErased) {
      if (first_erased == slots_.size()) first_erased = i;
    } else if (s.hash == hash && s.length == id.size() && arena_.compare(s.offset, s.length, id) == 0) {
      found = true;
      return i;
    }
  }
}

void IdSet::grow() {
  // At most half full afterwards (and at least a quarter, unless erasures emptied it).
  std::size_t capacity = 64;
  while (capacity < 2 * (live_ + 1)) capacity *= 2;
  std::vector<Slot> old = std::move(slots_);
  std::string old_arena = std::move(arena_);
  slots_.assign(capacity, Slot{});
  arena_.clear();
  arena_.reserve(old_arena.size());
  const std::size_t mask = capacity - 1;
  for (const auto& s : old) {
    if (!s.live()) continue;
    std::size_t i = s.hash & mask;
    while (slots_[i].length != kEmpty) i = (i + 1) & mask;
    slots_[i] = Slot{s.hash, s.length, arena_.size()};
    arena_.append(old_arena, s.offset, s.length);
  }
  erased_ = 0;
}

bool IdSet::insert(std::string_view id) {
  // Live and erased slots together stay under 70% of the table, so probes stay short and an
  // empty slot always ends them.
  if (10 * (live_ + erased_ + 1) > 7 * slots_.size()) grow();
  const std::uint32_t hash = hash_of(id);
  bool found = false;
  std::size_t i = find(id, hash, found);
  if (found) return false;
  Slot& s = slots_[i];
  if (s.length == kErased) --erased_;
  s = Slot{hash, static_cast<std::uint32_t>(id.size()), arena_.size()};
  arena_.append(id);
  ++live_;
  return true;
}

bool IdSet::erase(std::string_view id) {
  if (slots_.empty()) return false;
  bool found = false;
  std::size_t i = find(id, hash_of(id), found);
  if (!found) return false;
  slots_[i].length = kErased;
  --live_;
  ++erased_;
  return true;
}

bool IdSet::contains(std::string_view id) const {
  if (slots_.empty()) return false;
  bool found = false;
  find(id, hash_of(id), found);
  return found;
}

}  // namespace datarefresh::devsearch
