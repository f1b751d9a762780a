#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace datarefresh::search {

// One action of an atomic `_aliases` request.
struct AliasAction {
  enum class Kind { kAdd, kRemove, kRemoveIndex };
  Kind kind = Kind::kAdd;
  std::string index;
  std::string alias;  // unused for kRemoveIndex

  static AliasAction add(std::string index, std::string alias) { return {Kind::kAdd, std::move(index), std::move(alias)}; }
  static AliasAction remove(std::string index, std::string alias) {
    return {Kind::kRemove, std::move(index), std::move(alias)};
  }
  static AliasAction remove_index(std::string index) { return {Kind::kRemoveIndex, std::move(index), {}}; }
};

// {"actions":[{"add":{"index":..,"alias":..}}, {"remove":...}, {"remove_index":{"index":..}}]}
nlohmann::json alias_actions_body(const std::vector<AliasAction>& actions);

}  // namespace datarefresh::search
