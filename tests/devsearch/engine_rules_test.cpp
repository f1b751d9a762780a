#include <gtest/gtest.h>

#include "core/common/error.h"
#include "devstack/devsearch/engine_profile.h"

namespace datarefresh::devsearch {
namespace {

TEST(EngineProfile, OnlyMajors7And8Exist) {
  EXPECT_EQ(EngineProfile::for_major(7).version_number, "7.10.2");
  EXPECT_TRUE(EngineProfile::for_major(7).type_in_responses);
  EXPECT_EQ(EngineProfile::for_major(8).version_number, "8.13.4");
  EXPECT_FALSE(EngineProfile::for_major(8).type_in_responses);
  EXPECT_THROW(EngineProfile::for_major(6), ConfigError);
}

}  // namespace
}  // namespace datarefresh::devsearch
