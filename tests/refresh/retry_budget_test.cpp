#include "core/refresh/retry_budget.h"

#include <gtest/gtest.h>

namespace datarefresh::refresh {
namespace {

using std::chrono::seconds;

TEST(RetryBudget, RetriesUntilTheDeadlinePassedSinceTheFirstFailure) {
  RetryBudget budget(seconds(60));
  auto t0 = RetryBudget::Clock::time_point{} + seconds(1000);
  EXPECT_TRUE(budget.may_retry("a", t0));
  EXPECT_TRUE(budget.may_retry("a", t0 + seconds(30)));
  EXPECT_TRUE(budget.may_retry("b", t0 + seconds(59)));
  EXPECT_EQ(budget.attempts("a"), 2);
  EXPECT_TRUE(budget.may_retry("a", t0 + seconds(60)));
  EXPECT_FALSE(budget.may_retry("a", t0 + seconds(61))) << "60 s of failures";
  EXPECT_EQ(budget.attempts("a"), 0) << "forgotten once given up";
  EXPECT_TRUE(budget.may_retry("b", t0 + seconds(61))) << "b started failing later";
}

TEST(RetryBudget, ASuccessStartsTheCountAgain) {
  RetryBudget budget(seconds(10));
  auto t0 = RetryBudget::Clock::time_point{} + seconds(1000);
  EXPECT_TRUE(budget.may_retry("a", t0));
  budget.reset("a");
  EXPECT_TRUE(budget.may_retry("a", t0 + seconds(15)));
  EXPECT_TRUE(budget.may_retry("a", t0 + seconds(25)));
  EXPECT_FALSE(budget.may_retry("a", t0 + seconds(26)));
}

}  // namespace
}  // namespace datarefresh::refresh
