#include <string>

#include <gtest/gtest.h>

#include "core/pg/identifier.h"

namespace datarefresh::pg {
namespace {

TEST(Identifier, AcceptsPlainNamesAndRendersThemQuoted) {
  EXPECT_EQ(Identifier("image").quoted(), "\"image\"");
  EXPECT_EQ(Identifier("_temp_import_Image2").quoted(), "\"_temp_import_Image2\"");
  EXPECT_EQ(Identifier("api_deletedaudio").name(), "api_deletedaudio");
}

TEST(Identifier, RejectsAnythingThatCouldLeaveItsQuotes) {
  for (const char* bad : {"", "1image", "image;drop", "ima\"ge", "image name", "image-1", "schema.table", "imäge",
                          "image\n", "x'y"}) {
    EXPECT_THROW(Identifier{bad}, InvalidIdentifier) << bad;
    EXPECT_FALSE(Identifier::is_valid(bad)) << bad;
  }
}

TEST(Identifier, AcceptsSixtyThreeBytesAndRejectsSixtyFour) {
  EXPECT_EQ(Identifier(std::string(63, 'a')).name().size(), 63u);
  EXPECT_THROW(Identifier(std::string(64, 'a')), InvalidIdentifier);
}

TEST(Identifier, ErrorMessageNamesWhatAndTheRejectedText) {
  try {
    Identifier("bad name", "table name");
    FAIL() << "accepted an invalid name";
  } catch (const InvalidIdentifier& e) {
    std::string message = e.what();
    EXPECT_NE(message.find("table name"), std::string::npos) << message;
    EXPECT_NE(message.find("'bad name'"), std::string::npos) << message;
    EXPECT_NE(message.find("[A-Za-z_]"), std::string::npos) << message;
  }
}

TEST(Identifier, DerivedNamesAreValidatedAgain) {
  EXPECT_EQ(Identifier("image").with_prefix("temp_import_").quoted(), "\"temp_import_image\"");
  EXPECT_EQ(Identifier("image_pkey").with_suffix("_old").name(), "image_pkey_old");
  EXPECT_THROW(Identifier(std::string(60, 'a')).with_prefix("temp_import_"), InvalidIdentifier);
  EXPECT_THROW(Identifier("image").with_prefix("bad prefix"), InvalidIdentifier);
}

TEST(QualifiedName, ParsesSchemaAndNameAndQuotesBoth) {
  EXPECT_EQ(QualifiedName::parse("upstream_schema.image").quoted(), "\"upstream_schema\".\"image\"");
  EXPECT_EQ(QualifiedName::parse("image").text(), "public.image");
  EXPECT_THROW(QualifiedName::parse("a.b.c"), InvalidIdentifier);
  EXPECT_THROW(QualifiedName::parse(".image"), InvalidIdentifier);
}

TEST(QuoteLiteral, DoublesQuotesAndUsesEscapeFormForBackslashes) {
  EXPECT_EQ(quote_literal("127.0.0.1"), "'127.0.0.1'");
  EXPECT_EQ(quote_literal("it's"), "'it''s'");
  EXPECT_EQ(quote_literal("a\\b'c"), "E'a\\\\b''c'");
  EXPECT_THROW(quote_literal(std::string("a\0b", 3)), InvalidIdentifier);
}

}  // namespace
}  // namespace datarefresh::pg
