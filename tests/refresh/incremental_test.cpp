#include "core/refresh/incremental.h"

#include <gtest/gtest.h>

#include "producer/copy_sql.h"

namespace datarefresh::refresh {
namespace {

std::string joined(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += x + ";\n";
  return s;
}

TEST(Buckets, CoverTheUuidSpaceInOrderWithoutGapsOrOverlaps) {
  for (int bits : {8, 16, 19, 26}) {
    const std::int64_t total = std::int64_t{1} << bits;
    EXPECT_EQ(bucket_low(0, bits), "00000000-0000-0000-0000-000000000000");
    EXPECT_EQ(bucket_high(total - 1, bits), "ffffffff-ffff-ffff-ffff-ffffffffffff");
    for (std::int64_t b : {std::int64_t{0}, std::int64_t{1}, total / 2 - 1, total / 2, total - 2}) {
      EXPECT_LT(bucket_low(b, bits), bucket_high(b, bits)) << bits << " " << b;
      EXPECT_LT(bucket_high(b, bits), bucket_low(b + 1, bits)) << bits << " " << b;
      // The next bucket starts right after this one ends: its first 32 bits are one more.
      const auto high_top = std::stoull(bucket_high(b, bits).substr(0, 8), nullptr, 16);
      const auto next_top = std::stoull(bucket_low(b + 1, bits).substr(0, 8), nullptr, 16);
      EXPECT_EQ(high_top + 1, next_top) << bits << " " << b;
    }
  }
  EXPECT_EQ(bucket_low(0x123, 12), "12300000-0000-0000-0000-000000000000");
  EXPECT_EQ(bucket_high(0x123, 12), "123fffff-ffff-ffff-ffff-ffffffffffff");
}

TEST(Buckets, HoldAboutSixteenRowsWithinBounds) {
  EXPECT_EQ(choose_bucket_bits(0), 8);
  EXPECT_EQ(choose_bucket_bits(3000), 8);
  EXPECT_EQ(choose_bucket_bits(1'000'000), 16);
  EXPECT_EQ(choose_bucket_bits(5'000'000), 19);
  EXPECT_EQ(choose_bucket_bits(800'000'000), 26);
  EXPECT_EQ(choose_bucket_bits(1e12), 26) << "at most 2^26 buckets";
}

TEST(Buckets, SqlUsesTheSameBitsAsTheRanges) {
  EXPECT_EQ(bucket_sql("u.identifier", 16),
            "((('x' || substr((u.identifier)::text, 1, 8))::bit(32)::bigint >> 16)::integer)");
  EXPECT_NE(bucket_low_sql("bucket", 16).find("<< 16"), std::string::npos);
  EXPECT_NE(bucket_high_sql("bucket", 16).find("-ffff-ffff-ffff-ffffffffffff"), std::string::npos);
}

TEST(Baseline, KeepsTheBucketSizeAndWhetherItIsWhole) {
  Baseline b;
  b.watermark = "2026-01-01 00:00:00";
  b.bucket_bits = 19;
  b.complete = false;
  auto back = Baseline::from_json(b.to_json());
  EXPECT_EQ(back.bucket_bits, 19);
  EXPECT_FALSE(back.complete);
  auto old = Baseline::from_json({{"watermark", "x"}});
  EXPECT_EQ(old.bucket_bits, 0) << "a baseline from before row versions has no buckets (an incremental refuses)";
  EXPECT_TRUE(old.complete);
}

TEST(Baseline, AFullSnapshotReplacesItAndAnIncrementalOneUpdatesItInPlace) {
  const std::string id = "0123456789ab-cdef-0123-4567-89abcdef0123";
  auto full = joined(promote_baseline_sql("image", id, false, 16));
  EXPECT_NE(full.find("RENAME TO \"rowversion_image\""), std::string::npos) << full;
  EXPECT_NE(full.find("RENAME TO \"rowbucket_image\""), std::string::npos) << full;
  EXPECT_NE(full.find("RENAME TO \"deleted_image\""), std::string::npos) << full;
  EXPECT_NE(full.find("DROP TABLE IF EXISTS datarefresh.\"rowhash_image\""), std::string::npos)
      << "the old format goes";
  auto incremental = joined(promote_baseline_sql("image", id, true, 16));
  EXPECT_EQ(incremental.find("RENAME TO \"rowversion_image\""), std::string::npos) << incremental;
  EXPECT_NE(incremental.find("WHERE mismatched"), std::string::npos) << "the mismatched buckets' rows are replaced";
  EXPECT_NE(incremental.find("ON CONFLICT (identifier) DO UPDATE"), std::string::npos) << incremental;
  EXPECT_NE(incremental.find("RENAME TO \"rowbucket_image\""), std::string::npos) << incremental;
}

TEST(Baseline, AFullCopyRecordsVersionsOfCopiedAndLeftOutRows) {
  planner::TableCopy copy{pg::Identifier("image"),
                          pg::Identifier("image"),
                          true,
                          std::nullopt,
                          pg::Identifier("datarefresh_fdw_abc"),
                          pg::Identifier("datarefresh_upstream_abc_image"),
                          true};
  copy.baseline_into = snapshot_tables("image", "0123456789ab-cdef");
  copy.bucket_bits = 16;
  auto plan = planner::copy_plan(copy, {"upstream.example", 5432, "openledger", "deploy", "pw"},
                                 {pg::Identifier("identifier"), pg::Identifier("tags")}, 2, true);
  auto setup = joined(plan.setup);
  EXPECT_NE(setup.find("ADD COLUMN \"datarefresh_row_version\" xid OPTIONS (column_name 'xmin')"), std::string::npos)
      << setup;
  for (const auto& part : plan.parts) EXPECT_NE(part.find("datarefresh_row_version"), std::string::npos) << part;
  auto finish = joined(plan.finish);
  EXPECT_NE(finish.find("api_deletedimage"), std::string::npos) << "the rows the copy leaves out are upstream rows too";
  EXPECT_NE(finish.find("INSERT INTO " + copy.baseline_into->deleted), std::string::npos) << finish;
  EXPECT_NE(finish.find("bit_xor"), std::string::npos) << finish;
}

}  // namespace
}  // namespace datarefresh::refresh
