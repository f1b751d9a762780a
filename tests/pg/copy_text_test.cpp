#include <string>

#include <gtest/gtest.h>

#include "core/pg/copy_text.h"

namespace datarefresh::pg {
namespace {

// Parses a copy of `line` (parsing rewrites its buffer) and keeps the buffer alive with the row.
struct Parsed {
  std::string buffer;
  CopyRowView row;
  bool ok = false;
};

Parsed parse(const std::string& line) {
  Parsed p;
  p.buffer = line;
  p.ok = parse_copy_text_row(p.buffer.data(), p.buffer.size(), p.row);
  return p;
}

TEST(CopyText, SplitsFieldsOnTabsAndIgnoresTheTrailingNewline) {
  auto p = parse("42\tflickr\thttps://x/y.jpg\n");
  ASSERT_TRUE(p.ok);
  ASSERT_EQ(p.row.size(), 3u);
  EXPECT_EQ(p.row[0], "42");
  EXPECT_EQ(p.row[1], "flickr");
  EXPECT_EQ(p.row[2], "https://x/y.jpg");
  EXPECT_FALSE(p.row.is_null(1));
}

TEST(CopyText, TellsNullFromEmptyString) {
  auto p = parse("\\N\t\t\\N\n");
  ASSERT_TRUE(p.ok);
  ASSERT_EQ(p.row.size(), 3u);
  EXPECT_TRUE(p.row.is_null(0));
  EXPECT_FALSE(p.row.is_null(1));
  EXPECT_EQ(p.row[1], "");
  EXPECT_TRUE(p.row.is_null(2));
}

TEST(CopyText, DecodesBackslashEscapes) {
  auto p = parse("a\\tb\tline\\nnext\tback\\\\slash\t\\r\\b\\f\\v\n");
  ASSERT_TRUE(p.ok);
  ASSERT_EQ(p.row.size(), 4u);
  EXPECT_EQ(p.row[0], "a\tb");
  EXPECT_EQ(p.row[1], "line\nnext");
  EXPECT_EQ(p.row[2], "back\\slash");
  EXPECT_EQ(p.row[3], "\r\b\f\v");
}

TEST(CopyText, DecodesOctalHexAndUnknownEscapes) {
  auto p = parse("\\101\\0621\t\\x41\\x4a2\t\\q\\N\t\\xZ\n");
  ASSERT_TRUE(p.ok);
  EXPECT_EQ(p.row[0], "A21");   // \101 = 'A', \062 = '2', then a literal 1
  EXPECT_EQ(p.row[1], "AJ2");   // \x41 = 'A', \x4a = 'J' (at most two hex digits)
  EXPECT_EQ(p.row[2], "qN");    // \N inside a longer field is just 'N', not NULL
  EXPECT_EQ(p.row[3], "xZ");    // \x without hex digits is a literal x
  EXPECT_FALSE(p.row.is_null(2));
}

TEST(CopyText, EscapedBackslashBeforeNIsTextNotNull) {
  auto p = parse("\\\\N\n");
  ASSERT_TRUE(p.ok);
  ASSERT_EQ(p.row.size(), 1u);
  EXPECT_FALSE(p.row.is_null(0));
  EXPECT_EQ(p.row[0], "\\N");
}

TEST(CopyText, KeepsUtf8AndTrailingEmptyField) {
  auto p = parse("caf\xc3\xa9\t\n");
  ASSERT_TRUE(p.ok);
  ASSERT_EQ(p.row.size(), 2u);
  EXPECT_EQ(p.row[0], "caf\xc3\xa9");
  EXPECT_EQ(p.row[1], "");
}

TEST(CopyText, RejectsARowEndingInALoneBackslash) {
  EXPECT_FALSE(parse("abc\\").ok);
}

TEST(CopyText, ReusesTheRowViewAcrossRows) {
  CopyRowView row;
  std::string first = "1\t2\t3\n";
  std::string second = "x\n";
  ASSERT_TRUE(parse_copy_text_row(first.data(), first.size(), row));
  EXPECT_EQ(row.size(), 3u);
  ASSERT_TRUE(parse_copy_text_row(second.data(), second.size(), row));
  ASSERT_EQ(row.size(), 1u);
  EXPECT_EQ(row[0], "x");
}

// Fields of every length from 0 to 40 with a tab, a backslash escape or nothing at every
// position: the vector scan finds the same boundaries as a byte-by-byte one would, whatever the
// alignment of the field in the line.
TEST(CopyText, FindsEveryFieldBoundaryWhateverTheFieldLengthAndPlace) {
  for (std::size_t lead = 0; lead < 17; ++lead) {
    for (std::size_t len = 0; len <= 40; ++len) {
      for (std::size_t at = 0; at <= len; ++at) {
        std::string value(len, 'a');
        std::string escaped = value;
        if (at < len) {
          value[at] = '\t';  // a tab inside the value is written escaped
          escaped = value.substr(0, at) + "\\t" + value.substr(at + 1);
        }
        const std::string line = std::string(lead, 'x') + "\t" + escaped + "\t" + std::string(len, 'z') + "\n";
        auto p = parse(line);
        ASSERT_TRUE(p.ok) << line;
        ASSERT_EQ(p.row.size(), 3u) << line;
        EXPECT_EQ(p.row[0], std::string(lead, 'x'));
        EXPECT_EQ(p.row[1], value) << "lead " << lead << " len " << len << " at " << at;
        EXPECT_EQ(p.row[2], std::string(len, 'z'));
      }
    }
  }
}

}  // namespace
}  // namespace datarefresh::pg
