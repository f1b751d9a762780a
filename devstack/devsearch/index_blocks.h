#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "devstack/devsearch/api_error.h"
#include "devstack/devsearch/engine_profile.h"
#include "devstack/devsearch/store_util.h"

namespace datarefresh::devsearch {

// The index blocks of Elasticsearch (IndexMetadata.APIBlock), set through the dynamic settings
// index.blocks.<name>, as a bit set kept on each index. Plain functions over values; the store
// decides where each level is checked, as Elasticsearch's transport actions do:
//   READ            search, count, GET _doc, the source of _reindex
//   WRITE           bulk items, single-document writes, the destination of _reindex
//   METADATA_READ   GET settings/index/aliases, _cat/indices
//   METADATA_WRITE  settings and alias updates, index deletion (unless the block allows it)
// `_refresh` and cluster health check no index block.
namespace blocks {

enum Bit : std::uint8_t {
  kReadOnly = 1 << 0,            // id 5, "index read-only (api)": WRITE, METADATA_WRITE
  kRead = 1 << 1,                // id 7, "index read (api)": READ
  kWrite = 1 << 2,               // id 8, "index write (api)": WRITE
  kMetadata = 1 << 3,            // id 9, "index metadata (api)": METADATA_READ, METADATA_WRITE
  kReadOnlyAllowDelete = 1 << 4  // id 12, the flood-stage block: WRITE (+ METADATA_WRITE before 8.0);
                                 // 429 and retryable, and it lets the index be deleted
};

enum class Level : std::uint8_t { kRead, kWrite, kMetadataRead, kMetadataWrite };

// The blocks `settings` (flat, "index."-prefixed) set. Throws ApiError 400
// illegal_argument_exception, as Elasticsearch does, for a value other than "true" or "false".
std::uint8_t from_settings(const FlatSettings& settings);

// Which of `set` apply at `level`.
std::uint8_t at_level(std::uint8_t set, Level level, const EngineProfile& profile);

// Without the blocks that still let an index be deleted (the flood-stage block).
std::uint8_t preventing_deletion(std::uint8_t set);

// Whether every block of a non-empty `set` is retryable: Elasticsearch then waits for the block to
// go (up to the request's timeout) before failing, and fails with 429 instead of 403.
bool all_retryable(std::uint8_t set);

// 429 when every block is retryable, else the highest status of the others (403).
int status_of(std::uint8_t set);

// "index [x] blocked by: [FORBIDDEN/8/index write (api)];" for each (index, blocks) in order.
std::string reason(const std::vector<std::pair<std::string, std::uint8_t>>& blocked);

// The error object of a bulk item or reindex failure: {"type":"cluster_block_exception","reason"}.
nlohmann::ordered_json error_object(const std::string& index, std::uint8_t set);

// The request-level answer (status from status_of).
ApiError error(const std::vector<std::pair<std::string, std::uint8_t>>& blocked);

// Whether an index settings update is let through despite METADATA_WRITE blocks, by
// Elasticsearch's rule (TransportUpdateSettingsAction.checkBlock): it names
// index.blocks.read_only or index.blocks.read_only_allow_delete, or index.blocks.metadata alone.
// `keys` are the request's keys as sent (a key without the "index." prefix is not recognised).
bool update_lifts_blocks(const std::vector<std::string>& keys);

}  // namespace blocks
}  // namespace datarefresh::devsearch
