#include "core/common/net.h"

#include <gtest/gtest.h>

namespace datarefresh {
namespace {

TEST(PickFreeLoopbackPort, ReturnsANonPrivilegedPort) {
  auto port = pick_free_loopback_port();
  EXPECT_GT(port, 1023);
}

TEST(IsLoopbackHost, RecognisesLoopbackAndRejectsOthers) {
  EXPECT_TRUE(is_loopback_host("127.0.0.1"));
  EXPECT_TRUE(is_loopback_host("127.5.0.9"));
  EXPECT_TRUE(is_loopback_host("localhost"));
  EXPECT_TRUE(is_loopback_host("::1"));
  EXPECT_FALSE(is_loopback_host("0.0.0.0"));
  EXPECT_FALSE(is_loopback_host("10.0.0.1"));
}

}  // namespace
}  // namespace datarefresh
