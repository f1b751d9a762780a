#include <chrono>
#include <iostream>
#include <string>

#include <gtest/gtest.h>

#include "core/pg/copy_text.h"
#include "core/pg/database.h"
#include "devstack/datagen/catalog_generator.h"
#include "devstack/datagen/row_generator.h"
#include "tests/devstack/shared_server.h"

namespace datarefresh::datagen {
namespace {

constexpr std::uint64_t kImageRows = 100'000;
constexpr std::uint64_t kAudioRows = 10'000;
constexpr std::uint64_t kSeed = 20240101;

pg::Database connect(const std::string& dsn) {
  pg::ConnectionOptions options;
  options.dsn = dsn;
  return pg::Database::connect(options);
}

double number(pg::Database& db, const std::string& sql) { return std::stod(db.query_value(sql).value_or("nan")); }

// Loads once for every test in this suite: 100k image rows keep the suite fast.
class CatalogGenerator : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    GenerateOptions options;
    options.seed = kSeed;
    options.image_rows = kImageRows;
    options.audio_rows = kAudioRows;
    options.sensitive_terms_path = std::string(std::getenv("DATAREFRESH_SOURCE_DIR") ? std::getenv("DATAREFRESH_SOURCE_DIR")
                                                                                      : "/work/main") +
                                   "/devstack/datagen/sensitive_terms.txt";
    auto& server = devpg::testing::shared_server();
    counts_ = generate_catalog(server.catalog_dsn(), server.api_dsn(), options);
    std::cout << "[ measure  ] generated " << counts_.image_rows << " image + " << counts_.audio_rows
              << " audio rows in " << counts_.seconds << " s\n";
  }
  static GenerateCounts counts_;
};
GenerateCounts CatalogGenerator::counts_;

TEST_F(CatalogGenerator, LoadsTheRequestedRowsAndSideTables) {
  EXPECT_EQ(counts_.image_rows, kImageRows);
  EXPECT_EQ(counts_.audio_rows, kAudioRows);
  EXPECT_LT(counts_.seconds, 30.0);
  auto catalog = connect(devpg::testing::shared_server().catalog_dsn());
  EXPECT_EQ(catalog.query_value("SELECT count(*) FROM image"), std::to_string(kImageRows));
  EXPECT_EQ(catalog.query_value("SELECT count(*) FROM audio"), std::to_string(kAudioRows));
  EXPECT_GT(counts_.audioset_rows, 100u);
  // audioset_view yields one row per set, so the API's unique constraints can hold.
  EXPECT_EQ(catalog.query_value("SELECT count(*) FROM (SELECT DISTINCT foreign_identifier, provider FROM audioset_view) s"),
            std::to_string(counts_.audioset_rows));
  EXPECT_EQ(catalog.query_value("SELECT count(DISTINCT url) FROM audioset_view"), std::to_string(counts_.audioset_rows));

  auto api = connect(devpg::testing::shared_server().api_dsn());
  EXPECT_EQ(api.query_value("SELECT count(*) FROM api_deletedimage"), std::to_string(counts_.deleted_image));
  EXPECT_NEAR(static_cast<double>(counts_.deleted_image - 25), kImageRows * 0.005, 150);
  EXPECT_NEAR(static_cast<double>(counts_.mature_image), kImageRows * 0.01, 250);
  EXPECT_GT(counts_.deleted_audio, 25u);
  EXPECT_GT(counts_.mature_audio, 0u);
}

TEST_F(CatalogGenerator, StoredRowsMatchWhatTheGeneratorRecomputes) {
  RowGenerator generator(kSeed, load_sensitive_terms(std::string(std::getenv("DATAREFRESH_SOURCE_DIR")
                                                                     ? std::getenv("DATAREFRESH_SOURCE_DIR")
                                                                     : "/work/main") +
                                                     "/devstack/datagen/sensitive_terms.txt"));
  auto catalog = connect(devpg::testing::shared_server().catalog_dsn());
  std::string line;
  pg::CopyRowView row;
  for (std::uint64_t index : {std::uint64_t{0}, std::uint64_t{1}, std::uint64_t{4242}, std::uint64_t{77777}, kImageRows - 1}) {
    line.clear();
    generator.append_image_row(index, line);
    ASSERT_TRUE(pg::parse_copy_text_row(line.data(), line.size(), row));
    auto stored = catalog.exec_params(
        "SELECT identifier::text, provider, source, url, title, license, width::text, removed_from_source::text "
        "FROM image WHERE identifier = $1::uuid",
        {std::string(row[0])});
    ASSERT_EQ(stored.size(), 1u) << "row " << index;
    const auto& r = stored.rows[0];
    EXPECT_EQ(r[0], std::string(row[0]));
    EXPECT_EQ(r[1], std::string(row[3]));
    EXPECT_EQ(r[2], std::string(row[4]));
    EXPECT_EQ(r[3], std::string(row[7]));
    EXPECT_EQ(r[4], row.is_null(16) ? std::nullopt : std::optional<std::string>(std::string(row[16])));
    EXPECT_EQ(r[5], std::string(row[12]));
    EXPECT_EQ(r[6], row.is_null(9) ? std::nullopt : std::optional<std::string>(std::string(row[9])));
    EXPECT_EQ(r[7], row[19] == "t" ? "true" : "false");
  }
  // Deleted identifiers past the end of the table are not in the catalog.
  EXPECT_EQ(catalog.query_value("SELECT count(*) FROM image WHERE identifier = $1::uuid",
                                {generator.image_identifier(kImageRows)}),
            "0");
}

TEST_F(CatalogGenerator, ProvidersHaveRealWorldSkew) {
  auto db = connect(devpg::testing::shared_server().catalog_dsn());
  double flickr = number(db, "SELECT avg((provider = 'flickr')::int) FROM image");
  EXPECT_GT(flickr, 0.62);
  EXPECT_LT(flickr, 0.68);
  EXPECT_GE(number(db, "SELECT count(DISTINCT provider) FROM image"), 14);
  EXPECT_GT(number(db, "SELECT count(*) FROM image WHERE provider IN ('met','smithsonian','clevelandmuseum',"
                       "'rijksmuseum','brooklynmuseum','stocksnap','behance','deviantart','thingiverse','sketchfab',"
                       "'wikimedia','inaturalist')"),
            20000);
  EXPECT_GT(number(db, "SELECT count(*) FROM image WHERE source <> provider"), 100);
  double removed = number(db, "SELECT avg(removed_from_source::int) FROM image");
  EXPECT_NEAR(removed, 0.01, 0.003);
}

TEST_F(CatalogGenerator, ImageRowsCoverTheTransformEdgeCases) {
  auto db = connect(devpg::testing::shared_server().catalog_dsn());
  auto count = [&](const std::string& where) { return number(db, "SELECT count(*) FROM image WHERE " + where); };
  EXPECT_GT(count("length(meta_data->>'description') > 2000"), 100) << "long descriptions";
  EXPECT_GT(count("meta_data->>'authority_boost' = 'abc'"), 10);
  EXPECT_GT(count("(meta_data->>'authority_boost') IN ('150', '-20')"), 10);
  EXPECT_GT(count("meta_data->>'authority_boost' = '0'"), 10);
  EXPECT_GT(count("jsonb_typeof(meta_data->'authority_boost') = 'number' AND (meta_data->>'authority_boost')::float "
                  "BETWEEN 1 AND 100"),
            100);
  EXPECT_GT(count("meta_data->>'mature' = 'true'"), 100);
  EXPECT_GT(count("meta_data ? 'license_url'"), 1000);
  EXPECT_GT(count("tags IS NULL"), 1000);
  EXPECT_GT(count("tags = '[]'::jsonb"), 1000);
  EXPECT_GT(count("tags @> '[{\"provider\": \"rekognition\"}]'"), 1000);
  EXPECT_GT(count("EXISTS (SELECT 1 FROM jsonb_array_elements(tags) t WHERE t->>'provider' = 'clarifai' AND "
                  "(t->>'accuracy')::float < 0.9)"),
            100);
  EXPECT_GT(count("EXISTS (SELECT 1 FROM jsonb_array_elements(tags) t WHERE (t->>'accuracy')::float >= 0.9)"), 100);
  EXPECT_GT(count("EXISTS (SELECT 1 FROM jsonb_array_elements(tags) t WHERE lower(t->>'name') IN ('no person', "
                  "'squareformat', 'by'))"),
            100);
  EXPECT_GT(count("EXISTS (SELECT 1 FROM jsonb_array_elements(tags) t WHERE t->>'name' LIKE '%cc0%' OR t->>'name' "
                  "LIKE '%by-nc%' OR t->>'name' LIKE '%=%')"),
            100);
  EXPECT_GT(count("EXISTS (SELECT 1 FROM jsonb_array_elements(tags) t WHERE NOT t ? 'name' OR "
                  "jsonb_typeof(t->'name') <> 'string')"),
            100) << "malformed tags";
  EXPECT_GT(count("tags @> '[{\"accuracy\": null}]'"), 100);
  EXPECT_GT(count("standardized_popularity IS NULL"), 1000);
  EXPECT_GT(count("standardized_popularity = 0"), 1000);
  EXPECT_GT(count("standardized_popularity > 0 AND standardized_popularity <= 1"), 10000);
  EXPECT_EQ(
      count("(standardized_popularity > 1 AND standardized_popularity <> 'Infinity') OR standardized_popularity < 0"),
      0);
  EXPECT_GT(count("width IS NULL AND height IS NULL"), 1000);
  EXPECT_GT(count("width IS NOT NULL AND height IS NULL"), 100);
  EXPECT_GT(count("url LIKE '%.svg'"), 100);
  EXPECT_GT(count("url LIKE '%.JPEG'"), 100);
  EXPECT_GT(count("url ~ '/v1\\.2/[0-9]+/[0-9]+$'"), 100) << "dot in a directory";
  EXPECT_GT(count("url ~ '/[0-9]+/[0-9]+$' AND url !~ '/v1\\.2/'"), 100) << "no extension";
  EXPECT_GT(count("license <> lower(license)"), 100) << "mixed-case licenses";
  EXPECT_GT(count("title ~* 'nsfw|gore|nude|explicit|violence|drugs|weapon|corpse|obscene|lewd'"), 100);
  EXPECT_GT(count("title ~ 'NSFW|GORE|NUDE|EXPLICIT|VIOLENCE|DRUGS|WEAPON|CORPSE|OBSCENE|LEWD'"), 10);
  EXPECT_GT(count("title LIKE '%' || chr(9) || '%' OR title LIKE '%' || chr(10) || '%'"), 10);
  EXPECT_GT(count("title IS NULL"), 100);
  // Rows on which Openverse's transform does something unusual (row_generator.cpp's EdgeRow).
  EXPECT_GT(count("provider = 'rawpixel'"), 100);
  EXPECT_GT(count("length(meta_data->>'huge') = 401 AND meta_data->'mature' = 'true' AND meta_data ? 'description'"),
            100)
      << "1e400 beside mature and a description";
  EXPECT_GT(count("meta_data->'authority_boost' = 'null'"), 100);
  EXPECT_GT(count("meta_data->'authority_boost' = '\"inf\"'"), 100);
  EXPECT_GT(count("meta_data->'authority_boost' = 'true'"), 100);
  EXPECT_GT(count("meta_data->'authority_boost' = '\"4_2\"'"), 100);
  EXPECT_GT(count("url LIKE '%.JPÉG'"), 100);
  EXPECT_GT(count("license = 'BY-' || chr(8490)"), 100) << "the Kelvin sign";
  EXPECT_GT(count("standardized_popularity = 'Infinity'"), 100);
  EXPECT_GT(count("jsonb_typeof(meta_data->'description') = 'array'"), 100);
  EXPECT_GT(count("tags @> '[{\"accuracy\": \"0.95\\n\"}]'"), 100);
  EXPECT_GT(count("created_on <> date_trunc('second', created_on)"), 100);
}

TEST_F(CatalogGenerator, AudioRowsCoverLengthBucketsAltFilesAndSets) {
  auto db = connect(devpg::testing::shared_server().catalog_dsn());
  auto count = [&](const std::string& where) { return number(db, "SELECT count(*) FROM audio WHERE " + where); };
  EXPECT_GT(count("duration < 30000"), 100);
  EXPECT_GT(count("duration >= 30000 AND duration < 120000"), 100);
  EXPECT_GT(count("duration >= 120000 AND duration < 600000"), 100);
  EXPECT_GT(count("duration >= 600000"), 100);
  EXPECT_GT(count("duration IS NULL"), 100);
  EXPECT_GT(count("jsonb_array_length(alt_files) > 1"), 100);
  EXPECT_GT(count("filetype IS NULL"), 100);
  EXPECT_GT(count("audio_set_foreign_identifier IS NOT NULL AND audio_set_position BETWEEN 1 AND 8"), 1000);
  EXPECT_GT(count("genres IS NOT NULL"), 1000);
  // Rows on which Openverse's transform does something unusual (row_generator.cpp's EdgeRow).
  EXPECT_GT(count("duration = 0"), 10);
  EXPECT_GT(count("EXISTS (SELECT 1 FROM jsonb_array_elements(alt_files) a WHERE NOT a ? 'filetype')"), 10);
  EXPECT_GT(count("length(meta_data->>'huge') = 401 AND meta_data->'mature' = 'true'"), 10);
  EXPECT_GT(count("jsonb_typeof(meta_data->'description') = 'array'"), 10);
  EXPECT_GT(count("meta_data->'authority_boost' IN ('\"inf\"', 'true', '\"4_2\"')"), 10);
  EXPECT_GT(count("license = 'BY-' || chr(8490)"), 10);
  EXPECT_GT(count("standardized_popularity = 'Infinity'"), 10);
  EXPECT_GT(count("tags @> '[{\"accuracy\": \"0.95\\n\"}]'"), 10);
  EXPECT_GT(count("created_on <> date_trunc('second', created_on)"), 10);
}

}  // namespace
}  // namespace datarefresh::datagen
