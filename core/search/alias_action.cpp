#include "core/search/alias_action.h"

namespace datarefresh::search {

nlohmann::json alias_actions_body(const std::vector<AliasAction>& actions) {
  auto list = nlohmann::json::array();
  for (const auto& a : actions) {
    switch (a.kind) {
      case AliasAction::Kind::kAdd:
        list.push_back({{"add", {{"index", a.index}, {"alias", a.alias}}}});
        break;
      case AliasAction::Kind::kRemove:
        list.push_back({{"remove", {{"index", a.index}, {"alias", a.alias}}}});
        break;
      case AliasAction::Kind::kRemoveIndex:
        list.push_back({{"remove_index", {{"index", a.index}}}});
        break;
    }
  }
  return {{"actions", std::move(list)}};
}

}  // namespace datarefresh::search
