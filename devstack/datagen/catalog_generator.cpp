#include "devstack/datagen/catalog_generator.h"

#include <chrono>
#include <future>
#include <vector>

#include <fmt/format.h>

#include "core/common/log.h"
#include "core/pg/database.h"
#include "devstack/datagen/row_generator.h"

namespace datarefresh::datagen {
namespace {

const Logger& logger() {
  static const Logger kLogger("datagen");
  return kLogger;
}

constexpr std::size_t kChunkBytes = 1 << 20;
constexpr const char* kSideTableTimestamp = "2024-01-01 00:00:00+00";

pg::ConnectionOptions connection(const std::string& dsn) {
  pg::ConnectionOptions options;
  options.dsn = dsn;
  options.application_name = "datarefresh-datagen";
  return options;
}

struct SideRows {
  std::vector<std::string> deleted;
  std::vector<std::string> mature;
};

std::uint64_t load_media(pg::Database& catalog, RowGenerator& generator, bool audio, std::uint64_t rows,
                         const GenerateOptions& options, SideRows& side) {
  const char* table = audio ? "audio" : "image";
  std::string sql = fmt::format("COPY {} ({}) FROM STDIN", table,
                                audio ? RowGenerator::audio_columns() : RowGenerator::image_columns());
  std::uint64_t next = 0;
  auto fill = [&](std::string& chunk) {
    while (next < rows && chunk.size() < kChunkBytes) {
      if (audio) generator.append_audio_row(next, chunk);
      else generator.append_image_row(next, chunk);
      if (generator.is_deleted(audio, next, options.deleted_fraction)) {
        side.deleted.push_back(audio ? generator.audio_identifier(next) : generator.image_identifier(next));
      }
      if (generator.is_mature(audio, next, options.mature_fraction)) {
        side.mature.push_back(audio ? generator.audio_identifier(next) : generator.image_identifier(next));
      }
      ++next;
    }
    return next < rows;
  };
  // Double buffering: the next chunk is generated on a second thread while libpq sends this one
  // and the server parses it (generation is as costly as the server's COPY work).
  std::string ready;
  bool ready_more = fill(ready);
  std::future<void> pending;
  auto loaded = catalog.copy_in(sql, [&](std::string& chunk) {
    if (pending.valid()) pending.get();  // rethrows a generator failure
    chunk.swap(ready);
    bool more = ready_more;
    if (more) {
      pending = std::async(std::launch::async, [&] {
        ready.clear();
        ready_more = fill(ready);
      });
    }
    return more;
  });
  if (pending.valid()) pending.get();
  for (std::uint64_t k = 0; k < options.deleted_not_in_catalog; ++k) {
    side.deleted.push_back(audio ? generator.audio_identifier(rows + k) : generator.image_identifier(rows + k));
  }
  return loaded;
}

std::uint64_t load_side_table(pg::Database& api, const std::string& table, const std::vector<std::string>& ids,
                              bool deleted_shape) {
  std::string sql = deleted_shape ? fmt::format("COPY {} (created_on, updated_on, identifier) FROM STDIN", table)
                                  : fmt::format("COPY {} (identifier, created_on) FROM STDIN", table);
  std::size_t next = 0;
  return api.copy_in(sql, [&](std::string& chunk) {
    while (next < ids.size() && chunk.size() < kChunkBytes) {
      if (deleted_shape) chunk += fmt::format("{0}\t{0}\t{1}\n", kSideTableTimestamp, ids[next]);
      else chunk += fmt::format("{}\t{}\n", ids[next], kSideTableTimestamp);
      ++next;
    }
    return next < ids.size();
  });
}

}  // namespace

GenerateCounts generate_catalog(const std::string& catalog_dsn, const std::string& api_dsn,
                                const GenerateOptions& options) {
  auto started = std::chrono::steady_clock::now();
  RowGenerator generator(options.seed, options.sensitive_terms_path.empty()
                                           ? default_sensitive_terms()
                                           : load_sensitive_terms(options.sensitive_terms_path));
  auto catalog = pg::Database::connect(connection(catalog_dsn));
  auto api = pg::Database::connect(connection(api_dsn));
  if (options.truncate) {
    catalog.exec("TRUNCATE image, audio");
    api.exec("TRUNCATE api_deletedimage, api_deletedaudio, api_matureimage, api_matureaudio");
  }
  // Bulk load without WAL-logged commits per chunk: one COPY per table.
  catalog.exec("SET synchronous_commit = off");

  GenerateCounts counts;
  SideRows image_side;
  SideRows audio_side;
  counts.image_rows = load_media(catalog, generator, false, options.image_rows, options, image_side);
  counts.audio_rows = load_media(catalog, generator, true, options.audio_rows, options, audio_side);
  catalog.exec("ANALYZE image; ANALYZE audio");
  counts.audioset_rows = std::stoull(catalog.query_value("SELECT count(*) FROM audioset_view").value_or("0"));

  counts.deleted_image = load_side_table(api, "api_deletedimage", image_side.deleted, true);
  counts.deleted_audio = load_side_table(api, "api_deletedaudio", audio_side.deleted, true);
  counts.mature_image = load_side_table(api, "api_matureimage", image_side.mature, false);
  counts.mature_audio = load_side_table(api, "api_matureaudio", audio_side.mature, false);
  counts.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  logger().info("catalog generated", {{"seed", options.seed},
                                      {"image_rows", counts.image_rows},
                                      {"audio_rows", counts.audio_rows},
                                      {"audioset_rows", counts.audioset_rows},
                                      {"deleted_image", counts.deleted_image},
                                      {"deleted_audio", counts.deleted_audio},
                                      {"mature_image", counts.mature_image},
                                      {"mature_audio", counts.mature_audio},
                                      {"seconds", counts.seconds}});
  return counts;
}

}  // namespace datarefresh::datagen
