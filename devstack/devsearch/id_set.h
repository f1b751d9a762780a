#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace datarefresh::devsearch {

// The document ids of an index in --sink mode, where nothing but the ids is kept: an
// open-addressing table of (hash, place in one character arena) instead of a node and a heap
// string per id, so that a bulk request of thousands of new ids costs a probe each, not two
// allocations and a chain of cache misses. Erased ids leave their characters in the arena until
// the table next grows, when the arena is compacted.
class IdSet {
 public:
  // Adds `id`; false if it was there already.
  bool insert(std::string_view id);
  // Removes `id`; false if it was not there.
  bool erase(std::string_view id);
  bool contains(std::string_view id) const;
  std::size_t size() const { return live_; }

  template <class F>
  void for_each(F&& f) const {
    for (const auto& s : slots_) {
      if (s.live()) f(std::string_view(arena_.data() + s.offset, s.length));
    }
  }

 private:
  // A slot's state is kept in its length: real ids are far shorter than these.
  static constexpr std::uint32_t kEmpty = 0xFFFFFFFF;
  static constexpr std::uint32_t kErased = 0xFFFFFFFE;
  struct Slot {
    std::uint32_t hash = 0;  // the low half of the id's hash (it picks the slot; any table size fits)
    std::uint32_t length = kEmpty;
    std::uint64_t offset = 0;
    bool live() const { return length < kErased; }
  };
  // The slot holding `id`, or the first free one where it would go (slots_ is never full).
  std::size_t find(std::string_view id, std::uint32_t hash, bool& found) const;
  static std::uint32_t hash_of(std::string_view id);
  void grow();

  std::vector<Slot> slots_;
  std::string arena_;
  std::size_t live_ = 0;
  std::size_t erased_ = 0;
};

}  // namespace datarefresh::devsearch
