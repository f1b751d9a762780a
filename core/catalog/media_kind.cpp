#include "core/catalog/media_kind.h"

namespace datarefresh::catalog {

std::optional<MediaKind> parse_media_kind(std::string_view name) {
  if (name == "image") return MediaKind::kImage;
  if (name == "audio") return MediaKind::kAudio;
  return std::nullopt;
}

std::string_view media_kind_name(MediaKind kind) { return kind == MediaKind::kImage ? "image" : "audio"; }

std::vector<std::string> document_source_columns(MediaKind kind) {
  std::vector<std::string> cols = {"id",      "identifier", "created_on", "license", "provider",
                                   "source",  "category",   "title",      "meta_data", "creator",
                                   "standardized_popularity", "tags", "url", "removed_from_source",
                                   "deleted", "mature"};
  if (kind == MediaKind::kImage) {
    cols.insert(cols.end(), {"width", "height"});
  } else {
    cols.insert(cols.end(), {"duration", "filetype", "alt_files"});
  }
  return cols;
}

}  // namespace datarefresh::catalog
