#include "core/common/backoff.h"

#include <gtest/gtest.h>

namespace datarefresh {
namespace {

TEST(BackoffDelay, DoublesUntilTheCap) {
  BackoffPolicy p{std::chrono::milliseconds(100), std::chrono::milliseconds(1000), 2.0, 0.0};
  EXPECT_EQ(backoff_delay(p, 1, 0.7).count(), 100);
  EXPECT_EQ(backoff_delay(p, 2, 0.7).count(), 200);
  EXPECT_EQ(backoff_delay(p, 4, 0.7).count(), 800);
  EXPECT_EQ(backoff_delay(p, 5, 0.7).count(), 1000);
  EXPECT_EQ(backoff_delay(p, 50, 0.7).count(), 1000);
}

TEST(BackoffDelay, JitterShortensWithinTheConfiguredFraction) {
  BackoffPolicy p{std::chrono::milliseconds(1000), std::chrono::milliseconds(10'000), 2.0, 0.5};
  EXPECT_EQ(backoff_delay(p, 1, 0.0).count(), 1000);
  EXPECT_EQ(backoff_delay(p, 1, 1.0).count(), 500);
  EXPECT_EQ(backoff_delay(p, 1, 0.5).count(), 750);
}

TEST(BackoffDelay, NoDelayBeforeTheFirstRetry) {
  EXPECT_EQ(backoff_delay(BackoffPolicy{}, 0, 0.3).count(), 0);
}

}  // namespace
}  // namespace datarefresh
