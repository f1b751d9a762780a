#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace datarefresh::datagen {

// The sensitive-term list: one term per line, blank lines and '#' comments ignored. Throws Error
// naming the file if it cannot be read or holds no terms.
std::vector<std::string> load_sensitive_terms(const std::filesystem::path& path);
// The default test list (a compiled-in copy of devstack/datagen/sensitive_terms.txt).
std::vector<std::string> default_sensitive_terms();

// Produces realistic catalog rows, each a pure function of (seed, media, row index): any row can
// be recomputed without reading the database, and the same seed always gives the same data.
// Rows come out as lines of PostgreSQL's COPY text format in the column order of image_columns()
// / audio_columns(). Holds scratch buffers, so one instance per thread.
//
// What the data looks like is documented next to each choice in row_generator.cpp (provider skew,
// licenses, tags with machine/denylisted/malformed entries, meta_data edge cases, url extensions,
// null dimensions, audio length buckets, alt_files, audio sets).
class RowGenerator {
 public:
  RowGenerator(std::uint64_t seed, std::vector<std::string> sensitive_terms);

  static const char* image_columns();  // "identifier, created_on, ..." for COPY image (...)
  static const char* audio_columns();

  // Appends one row (ending in '\n').
  void append_image_row(std::uint64_t index, std::string& out);
  void append_audio_row(std::uint64_t index, std::string& out);

  // The row's identifier (uuid text); indexes past the table's row count give identifiers that
  // are not in the catalog.
  std::string image_identifier(std::uint64_t index) const;
  std::string audio_identifier(std::uint64_t index) const;

  // Side-table membership, decided per row from the seed.
  bool is_deleted(bool audio, std::uint64_t index, double fraction) const;
  bool is_mature(bool audio, std::uint64_t index, double fraction) const;

  std::uint64_t seed() const noexcept { return seed_; }
  const std::vector<std::string>& sensitive_terms() const noexcept { return sensitive_terms_; }

 private:
  std::uint64_t seed_;
  std::vector<std::string> sensitive_terms_;
  std::string json_;   // scratch for jsonb columns
  std::string text_;   // scratch for titles/descriptions
};

// FNV-1a over the COPY lines of rows [begin, end): a cheap fingerprint for determinism checks.
std::uint64_t image_rows_checksum(RowGenerator& generator, std::uint64_t begin, std::uint64_t end);
std::uint64_t audio_rows_checksum(RowGenerator& generator, std::uint64_t begin, std::uint64_t end);

}  // namespace datarefresh::datagen
