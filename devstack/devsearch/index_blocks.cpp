#include "devstack/devsearch/index_blocks.h"

#include <algorithm>
#include <array>

namespace datarefresh::devsearch::blocks {
namespace {

struct Definition {
  Bit bit;
  const char* setting;
  int id;
  const char* description;
  int status;  // 403 FORBIDDEN or 429 TOO_MANY_REQUESTS
};

// In id order, the order Elasticsearch's messages list them in.
constexpr std::array<Definition, 5> kBlocks = {{
    {kReadOnly, "index.blocks.read_only", 5, "index read-only (api)", 403},
    {kRead, "index.blocks.read", 7, "index read (api)", 403},
    {kWrite, "index.blocks.write", 8, "index write (api)", 403},
    {kMetadata, "index.blocks.metadata", 9, "index metadata (api)", 403},
    {kReadOnlyAllowDelete, "index.blocks.read_only_allow_delete", 12,
     "disk usage exceeded flood-stage watermark, index has read-only-allow-delete block", 429},
}};

const char* status_name(int status) {
  return status == 429 ? "TOO_MANY_REQUESTS" : "FORBIDDEN";
}

}  // namespace

std::uint8_t from_settings(const FlatSettings& settings) {
  std::uint8_t set = 0;
  for (const auto& b : kBlocks) {
    auto it = settings.find(b.setting);
    if (it == settings.end() || it->second.is_null()) continue;
    const std::string value = it->second.is_string() ? it->second.get<std::string>() : it->second.dump();
    if (value == "true") {
      set |= b.bit;
    } else if (value != "false") {
      throw illegal_argument("Failed to parse value [" + value + "] as only [true] or [false] are allowed.");
    }
  }
  return set;
}

std::uint8_t at_level(std::uint8_t set, Level level, const EngineProfile& profile) {
  switch (level) {
    case Level::kRead:
      return set & kRead;
    case Level::kWrite:
      return set & (kReadOnly | kWrite | kReadOnlyAllowDelete);
    case Level::kMetadataRead:
      return set & kMetadata;
    case Level::kMetadataWrite:
      return set & (kReadOnly | kMetadata | (profile.flood_stage_blocks_metadata_writes ? kReadOnlyAllowDelete : 0));
  }
  return 0;
}

std::uint8_t preventing_deletion(std::uint8_t set) {
  return set & static_cast<std::uint8_t>(~kReadOnlyAllowDelete);
}

bool all_retryable(std::uint8_t set) {
  return set != 0 && (set & ~kReadOnlyAllowDelete) == 0;
}

int status_of(std::uint8_t set) {
  return all_retryable(set) ? 429 : 403;
}

std::string reason(const std::vector<std::pair<std::string, std::uint8_t>>& blocked) {
  std::string out;
  for (const auto& [index, set] : blocked) {
    out += "index [" + index + "] blocked by: [";
    bool first = true;
    for (const auto& b : kBlocks) {
      if ((set & b.bit) == 0) continue;
      if (!first) out += ", ";
      first = false;
      out += std::string(status_name(b.status)) + "/" + std::to_string(b.id) + "/" + b.description;
    }
    out += "];";
  }
  return out;
}

nlohmann::ordered_json error_object(const std::string& index, std::uint8_t set) {
  return devsearch::error_object("cluster_block_exception", reason({{index, set}}));
}

ApiError error(const std::vector<std::pair<std::string, std::uint8_t>>& blocked) {
  std::uint8_t all = 0;
  for (const auto& [index, set] : blocked) all |= set;
  return api_error(status_of(all), "cluster_block_exception", reason(blocked));
}

bool update_lifts_blocks(const std::vector<std::string>& keys) {
  auto has = [&](const char* key) { return std::find(keys.begin(), keys.end(), key) != keys.end(); };
  // Elasticsearch's condition, precedence included:
  // size() == 1 && metadata || read_only || read_only_allow_delete.
  return (keys.size() == 1 && has("index.blocks.metadata")) || has("index.blocks.read_only") ||
         has("index.blocks.read_only_allow_delete");
}

}  // namespace datarefresh::devsearch::blocks
