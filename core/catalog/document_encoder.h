#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "core/catalog/media_kind.h"
#include "core/common/error.h"

namespace datarefresh::catalog {

// One column of a row in PostgreSQL's text format (as COPY ... TO STDOUT hands it out, unescaped).
struct FieldView {
  std::string_view text;
  bool is_null = false;
};

enum class RowOutcome { kIndexed, kSkippedDeleted, kSkippedRemoved };

// A row our own shard query produced that cannot be read (wrong column count, an id that is not
// an integer): a broken invariant, never a data problem of the catalog.
class RowError : public InvariantError {
 public:
  using InvariantError::InvariantError;
};

// Turns rows of the shard query (columns as in document_source_columns()) into search documents,
// exactly as the catalog's data refresh does (spec §1.5), its Python values included - where
// Elasticsearch would refuse the catalog's value we write one it takes (docs/documents.md):
//  - deleted rows and rows removed from source are skipped;
//  - mature = meta_data.mature, forced true by the live sensitive list (always a boolean);
//  - license lower-cased as str.lower() does; description = meta_data.description[:2000] (a
//    string's first 2000 characters, a list's first 2000 elements);
//  - standardized_popularity = raw * 100 clamped to [0, 100], absent (null) when not positive;
//  - authority_boost: a meta_data.authority_boost key decides alone (float() of its value
//    clamped to [0, 100], null when not positive or not a number); without it the provider table;
//    max_boost/min_boost over (popularity or 1, authority or 1);
//  - tags keep only {name, accuracy} of entries that have a name;
//  - image: aspect_ratio, size bucket, url extension; audio: length bucket (none for 0),
//    filetype, extension (alt_files' filetypes when there are alternative files);
//  - created_on as datetime.isoformat() writes it.
// A number beyond a double's range in meta_data, tags or alt_files costs that value only.
// The JSON written is the document's _source. One encoder per thread; it reuses its buffers, so
// encoding does not allocate per row once warmed up.
class DocumentEncoder {
 public:
  explicit DocumentEncoder(MediaKind kind);
  ~DocumentEncoder();
  DocumentEncoder(const DocumentEncoder&) = delete;
  DocumentEncoder& operator=(const DocumentEncoder&) = delete;

  MediaKind kind() const;
  std::size_t column_count() const;

  // On kIndexed appends the document JSON (no trailing newline) to `out` and sets `id`;
  // otherwise leaves `out` untouched. Throws RowError for rows our query cannot have produced.
  RowOutcome encode(std::span<const FieldView> row, std::string& out, std::int64_t& id);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The provider authority table of the catalog: cultural institutions 90, curated 85, social media 75.
// Returns a negative value for providers without an entry.
double provider_authority(std::string_view provider);

}  // namespace datarefresh::catalog
