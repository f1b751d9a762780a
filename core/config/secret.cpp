#include "core/config/secret.h"

#include <nlohmann/json.hpp>

namespace datarefresh::config {

void to_json(nlohmann::json& j, const Secret& secret) { j = secret.redacted(); }

}  // namespace datarefresh::config
