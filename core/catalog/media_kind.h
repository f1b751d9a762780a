#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace datarefresh::catalog {

// The media types whose rows we know how to turn into documents. A configured media type names
// one of these as its transform; everything else about it (tables, index settings, aliases) is
// configuration.
enum class MediaKind { kImage, kAudio };

std::optional<MediaKind> parse_media_kind(std::string_view name);
std::string_view media_kind_name(MediaKind kind);

// The columns of the temp table the indexer selects, in the order DocumentEncoder reads them.
// The last three of the common part are computed by the shard query: removed_from_source is a
// column, `deleted` and `mature` come from the live side tables.
std::vector<std::string> document_source_columns(MediaKind kind);

// Column positions shared by every media kind.
namespace col {
inline constexpr int kId = 0;
inline constexpr int kIdentifier = 1;
inline constexpr int kCreatedOn = 2;
inline constexpr int kLicense = 3;
inline constexpr int kProvider = 4;
inline constexpr int kSource = 5;
inline constexpr int kCategory = 6;
inline constexpr int kTitle = 7;
inline constexpr int kMetaData = 8;
inline constexpr int kCreator = 9;
inline constexpr int kPopularity = 10;
inline constexpr int kTags = 11;
inline constexpr int kUrl = 12;
inline constexpr int kRemovedFromSource = 13;
inline constexpr int kDeleted = 14;
inline constexpr int kMature = 15;
inline constexpr int kCommonCount = 16;
// image
inline constexpr int kWidth = 16;
inline constexpr int kHeight = 17;
inline constexpr int kImageCount = 18;
// audio
inline constexpr int kDuration = 16;
inline constexpr int kFiletype = 17;
inline constexpr int kAltFiles = 18;
inline constexpr int kAudioCount = 19;
}  // namespace col

}  // namespace datarefresh::catalog
