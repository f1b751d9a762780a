#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

namespace datarefresh::datagen {

struct GenerateOptions {
  std::uint64_t seed = 42;
  std::uint64_t image_rows = 10'000;
  std::uint64_t audio_rows = 2'000;
  std::filesystem::path sensitive_terms_path;  // empty: the built-in default test list
  double deleted_fraction = 0.005;             // of catalog rows listed in api_deleted<media>
  double mature_fraction = 0.01;               // of catalog rows listed in api_mature<media>
  std::uint64_t deleted_not_in_catalog = 25;   // extra api_deleted<media> rows for unknown identifiers
  bool truncate = true;                        // empty the tables first (otherwise append)
};

struct GenerateCounts {
  std::uint64_t image_rows = 0;
  std::uint64_t audio_rows = 0;
  std::uint64_t audioset_rows = 0;  // rows of audioset_view
  std::uint64_t deleted_image = 0;  // rows in api_deletedimage (including unknown identifiers)
  std::uint64_t deleted_audio = 0;
  std::uint64_t mature_image = 0;
  std::uint64_t mature_audio = 0;
  double seconds = 0;
};

// Loads generated rows into the catalog database's image and audio tables (COPY, streamed in
// chunks: memory stays small whatever the row count) and fills api_deleted<media> and
// api_mature<media> in the API database. Row i of each table is RowGenerator(seed).append_*_row(i);
// the side tables hold the identifiers RowGenerator::is_deleted / is_mature pick, plus
// `deleted_not_in_catalog` identifiers of rows past the end. Throws pg::ConnectionError /
// pg::SqlError naming the database and table.
GenerateCounts generate_catalog(const std::string& catalog_dsn, const std::string& api_dsn,
                                const GenerateOptions& options);

}  // namespace datarefresh::datagen
