#include <set>
#include <string>

#include <gtest/gtest.h>

#include "core/pg/copy_text.h"
#include "devstack/datagen/row_generator.h"

namespace datarefresh::datagen {
namespace {

std::size_t column_count(const char* columns) {
  std::size_t n = 1;
  for (const char* p = columns; *p; ++p) n += *p == ',';
  return n;
}

TEST(RowGenerator, SameSeedGivesTheSameRowsAndAnotherSeedDoesNot) {
  RowGenerator a(42, {});
  RowGenerator b(42, {});
  RowGenerator c(43, {});
  EXPECT_EQ(image_rows_checksum(a, 0, 5000), image_rows_checksum(b, 0, 5000));
  EXPECT_EQ(audio_rows_checksum(a, 0, 2000), audio_rows_checksum(b, 0, 2000));
  EXPECT_NE(image_rows_checksum(a, 0, 5000), image_rows_checksum(c, 0, 5000));
}

TEST(RowGenerator, ARowDependsOnlyOnSeedAndIndex) {
  RowGenerator sequential(7, {});
  std::string lines;
  for (std::uint64_t i = 0; i < 100; ++i) sequential.append_image_row(i, lines);
  RowGenerator direct(7, {});
  std::string row57;
  direct.append_image_row(57, row57);
  EXPECT_NE(lines.find(row57), std::string::npos);
  EXPECT_EQ(row57.substr(0, 36), direct.image_identifier(57));
}

TEST(RowGenerator, RowsParseIntoEveryColumnWithUniqueIdentifiersAndUrls) {
  RowGenerator generator(1, {});
  std::set<std::string> identifiers, urls;
  const std::size_t image_columns = column_count(RowGenerator::image_columns());
  const std::size_t audio_columns = column_count(RowGenerator::audio_columns());
  std::string line;
  pg::CopyRowView row;
  for (std::uint64_t i = 0; i < 20000; ++i) {
    line.clear();
    generator.append_image_row(i, line);
    ASSERT_EQ(line.back(), '\n');
    ASSERT_TRUE(pg::parse_copy_text_row(line.data(), line.size(), row));
    ASSERT_EQ(row.size(), image_columns) << "image row " << i;
    identifiers.insert(std::string(row[0]));
    urls.insert(std::string(row[7]));
    line.clear();
    generator.append_audio_row(i, line);
    ASSERT_TRUE(pg::parse_copy_text_row(line.data(), line.size(), row));
    ASSERT_EQ(row.size(), audio_columns) << "audio row " << i;
  }
  EXPECT_EQ(identifiers.size(), 20000u);
  EXPECT_EQ(urls.size(), 20000u);
}

TEST(RowGenerator, SideTableMembershipFollowsTheFractions) {
  RowGenerator generator(42, {});
  int deleted = 0, mature = 0;
  for (std::uint64_t i = 0; i < 100000; ++i) {
    deleted += generator.is_deleted(false, i, 0.005);
    mature += generator.is_mature(false, i, 0.01);
  }
  EXPECT_NEAR(deleted, 500, 100);
  EXPECT_NEAR(mature, 1000, 150);
}

TEST(SensitiveTerms, DefaultListHasTwentyTermsWithoutComments) {
  auto terms = default_sensitive_terms();
  EXPECT_EQ(terms.size(), 20u);
  for (const auto& t : terms) EXPECT_EQ(t.find('#'), std::string::npos) << t;
}

TEST(SensitiveTerms, MissingFileIsAnErrorNamingThePath) {
  try {
    load_sensitive_terms("/nonexistent/terms.txt");
    FAIL() << "loaded a missing file";
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/terms.txt"), std::string::npos);
  }
}

}  // namespace
}  // namespace datarefresh::datagen
