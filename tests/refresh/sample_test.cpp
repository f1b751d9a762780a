#include <cmath>
#include <numeric>
#include <random>

#include <gtest/gtest.h>

#include "consumer/coordinator/sample_steps.h"
#include "producer/refresh_request.h"

namespace datarefresh {
namespace {

using coordinator::sample_quotas;
using coordinator::sample_target;

TEST(SampleQuotas, SumToTheTargetAndStayWithinOneDocumentOfTheExactShare) {
  std::mt19937_64 rng(7);
  for (int round = 0; round < 500; ++round) {
    std::vector<std::int64_t> counts(1 + rng() % 12);
    for (auto& n : counts) n = static_cast<std::int64_t>(rng() % 5000);
    const auto total = std::accumulate(counts.begin(), counts.end(), std::int64_t{0});
    const auto target = total == 0 ? 0 : static_cast<std::int64_t>(rng() % (total + 1));
    auto q = sample_quotas(counts, target);
    ASSERT_EQ(q.size(), counts.size());
    EXPECT_EQ(std::accumulate(q.begin(), q.end(), std::int64_t{0}), total == 0 ? 0 : target);
    for (std::size_t i = 0; i < counts.size(); ++i) {
      const double exact = total == 0 ? 0 : static_cast<double>(target) * counts[i] / total;
      EXPECT_LT(std::abs(static_cast<double>(q[i]) - exact), 1.0) << "group " << i << " round " << round;
      EXPECT_LE(q[i], counts[i]);
      EXPECT_GE(q[i], 0);
    }
  }
}

TEST(SampleQuotas, GiveTheLeftoverToTheLargestRemainders) {
  // Exact shares 3.3, 3.3, 3.4 of 10: the third gets the document left over.
  EXPECT_EQ(sample_quotas({33, 33, 34}, 10), (std::vector<std::int64_t>{3, 3, 4}));
  // Equal remainders (0.5 each): the larger group first, then the earlier one.
  EXPECT_EQ(sample_quotas({1, 3}, 2), (std::vector<std::int64_t>{0, 2}));  // 0.5 and 1.5: the larger rounds up
  EXPECT_EQ(sample_quotas({5, 5}, 1), (std::vector<std::int64_t>{1, 0}));
  EXPECT_EQ(sample_quotas({2, 2}, 4), (std::vector<std::int64_t>{2, 2}));
  EXPECT_EQ(sample_quotas({}, 4), (std::vector<std::int64_t>{}));
}

TEST(SampleTarget, RoundsAPercentageAndCapsRowsAtTheTotal) {
  EXPECT_EQ(sample_target(1000, 10.0, std::nullopt), 100);
  EXPECT_EQ(sample_target(1005, 10.0, std::nullopt), 101);  // 100.5 rounds up
  EXPECT_EQ(sample_target(3, 100.0, std::nullopt), 3);
  EXPECT_EQ(sample_target(3, 1.0, std::nullopt), 0);
  EXPECT_EQ(sample_target(1000, std::nullopt, 500), 500);
  EXPECT_EQ(sample_target(100, std::nullopt, 500), 100);
  EXPECT_EQ(sample_target(0, 50.0, std::nullopt), 0);
}

TEST(SampleSize, ReadsAPercentageOrANumberOfDocuments) {
  std::string error;
  auto p = planner::parse_sample_size("10%", error);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->percent, 10.0);
  EXPECT_FALSE(p->rows);
  p = planner::parse_sample_size("2.5%", error);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->percent, 2.5);
  p = planner::parse_sample_size("100%", error);
  ASSERT_TRUE(p);
  auto r = planner::parse_sample_size("5000", error);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->rows, 5000);
  EXPECT_FALSE(r->percent);
}

TEST(SampleSize, RefusesWhatIsNeitherAndSaysWhatToWrite) {
  for (const char* bad :
       {"", "%", "0%", "0", "-5", "101%", "abc", "10 %", "1.5", "10%%", ".5%", "5.%", "1e3", "99999999999999999999"}) {
    std::string error;
    EXPECT_FALSE(planner::parse_sample_size(bad, error)) << bad;
    EXPECT_NE(error.find("--sample"), std::string::npos) << bad << ": " << error;
    EXPECT_NE(error.find("10%"), std::string::npos) << bad << ": " << error;
  }
}

}  // namespace
}  // namespace datarefresh
