#include "core/common/shutdown.h"

#include <chrono>
#include <thread>

#include <gtest/gtest.h>

namespace datarefresh {
namespace {

using namespace std::chrono_literals;
using SteadyClock = std::chrono::steady_clock;

// Each test leaves the process as it found it: no stop requested, no grace.
class ShutdownDeadline : public ::testing::Test {
 protected:
  void TearDown() override {
    reset_shutdown_for_tests();
    set_shutdown_grace(0ms);
  }
};

TEST_F(ShutdownDeadline, IsUnboundedUntilAStopIsRequestedWithAGrace) {
  EXPECT_EQ(shutdown_deadline(), SteadyClock::time_point::max());
  EXPECT_EQ(shutdown_budget(10s), 10s);
  set_shutdown_grace(5s);
  EXPECT_EQ(shutdown_deadline(), SteadyClock::time_point::max()) << "no stop requested yet";
  set_shutdown_grace(0ms);
  request_shutdown();
  EXPECT_EQ(shutdown_deadline(), SteadyClock::time_point::max()) << "no grace set";
  EXPECT_EQ(shutdown_budget(10s), 10s);
}

TEST_F(ShutdownDeadline, IsTheRequestTimePlusTheGraceLessAReserveForExiting) {
  set_shutdown_grace(5s);
  const auto before = SteadyClock::now();
  request_shutdown();
  const auto after = SteadyClock::now();
  // A fifth of 5 s is kept for exiting.
  EXPECT_GE(shutdown_deadline(), before + 4s);
  EXPECT_LE(shutdown_deadline(), after + 4s);
  EXPECT_EQ(shutdown_budget(1s), 1s);
  const auto budget = shutdown_budget(60s);
  EXPECT_LE(budget, 4s);
  EXPECT_GE(budget, std::chrono::duration_cast<std::chrono::milliseconds>(shutdown_deadline() - SteadyClock::now()));
}

TEST_F(ShutdownDeadline, ALongGraceKeepsOneSecondAndAPassedDeadlineLeavesNoBudget) {
  set_shutdown_grace(50s);
  const auto before = SteadyClock::now();
  request_shutdown();
  EXPECT_GE(shutdown_deadline(), before + 49s);
  EXPECT_LE(shutdown_budget(60s), 49s);
  set_shutdown_grace(1ms);
  std::this_thread::sleep_for(5ms);
  EXPECT_EQ(shutdown_budget(10s), 0ms);
}

TEST_F(ShutdownDeadline, TheFirstRequestCountsNotTheLastOne) {
  set_shutdown_grace(5s);
  request_shutdown();
  const auto first = shutdown_deadline();
  std::this_thread::sleep_for(20ms);
  request_shutdown();
  EXPECT_EQ(shutdown_deadline(), first);
}

TEST(ShutdownWatchdogDeathTest, EndsAProcessThatOverrunsItsGraceWithExitCode3) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        ShutdownWatchdog watchdog(300ms, "test-service");
        request_shutdown();
        std::this_thread::sleep_for(60s);  // a clean-up that blocks
        std::_Exit(0);
      },
      ::testing::ExitedWithCode(ShutdownWatchdog::kExitCode), "did not stop within service.shutdown_grace");
}

TEST(ShutdownWatchdogDeathTest, LeavesAProcessAloneThatStopsInTime) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        {
          ShutdownWatchdog watchdog(2s, "test-service");
          request_shutdown();
          std::this_thread::sleep_for(100ms);
        }
        std::this_thread::sleep_for(3s);  // past the grace: disarmed with its owner
        std::_Exit(0);
      },
      ::testing::ExitedWithCode(0), "");
}

}  // namespace
}  // namespace datarefresh
