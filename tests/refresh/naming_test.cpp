#include "core/refresh/naming.h"

#include <set>

#include <gtest/gtest.h>

namespace datarefresh::refresh {
namespace {

TEST(RefreshNames, DeriveIndexNamesFromTheRefreshId) {
  auto n = refresh_names("image", "0A1B2C3D-0000-4000-8000-00000000000F");
  EXPECT_EQ(n.new_index, "image-0a1b2c3d00004000800000000000000f");
  EXPECT_EQ(n.filtered_index, "image-0a1b2c3d00004000800000000000000f-filtered");
  EXPECT_EQ(n.fdw_server.name(), "datarefresh_fdw_0a1b2c3d0000");
}

TEST(IsRefreshIndex, RecognisesOnlyIndicesARefreshOfThatMediaTypeMade) {
  EXPECT_TRUE(is_refresh_index("image", "image-0a1b2c3d000040008000000000000000"));
  EXPECT_TRUE(is_refresh_index("image", "image-0a1b2c3d000040008000000000000000-filtered"));
  EXPECT_FALSE(is_refresh_index("image", "audio-0a1b2c3d000040008000000000000000"));
  EXPECT_FALSE(is_refresh_index("image", "image-products"));
  EXPECT_FALSE(is_refresh_index("image", "image"));
  EXPECT_FALSE(is_refresh_index("image", "image-0A1B2C3D000040008000000000000000"));
}

TEST(RefreshIdOfIndex, RecoversTheRefreshIdFromItsIndicesOnly) {
  const std::string id = "0a1b2c3d-0000-4000-8000-00000000000f";
  auto n = refresh_names("audio", id);
  EXPECT_EQ(refresh_id_of_index("audio", n.new_index), id);
  EXPECT_EQ(refresh_id_of_index("audio", n.filtered_index), id);
  EXPECT_EQ(refresh_id_of_index("image", n.new_index), std::nullopt);
  EXPECT_EQ(refresh_id_of_index("audio", "audio"), std::nullopt);
}

TEST(NewUuid, IsAVersion4UuidAndUnique) {
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) {
    auto u = new_uuid();
    ASSERT_EQ(u.size(), 36u);
    EXPECT_EQ(u[14], '4');
    EXPECT_TRUE(u[19] == '8' || u[19] == '9' || u[19] == 'a' || u[19] == 'b');
    seen.insert(u);
  }
  EXPECT_EQ(seen.size(), 1000u);
}

}  // namespace
}  // namespace datarefresh::refresh
