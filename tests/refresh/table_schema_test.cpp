#include "consumer/coordinator/table_schema.h"

#include <algorithm>

#include <gtest/gtest.h>

namespace datarefresh::coordinator {
namespace {

TableSchema image_schema() {
  TableSchema s;
  s.table = "image";
  s.primary_key = "image_pkey";
  s.id_sequence = "public.image_id_seq";
  s.indexes = {{"image_provider_7d11f847", "CREATE INDEX image_provider_7d11f847 ON public.image USING btree (provider)"},
               {"image_identifier_key", "CREATE UNIQUE INDEX image_identifier_key ON public.image USING btree (identifier)"}};
  s.referencing = {{"api_imagereport_fk", 'f', "api_imagereport",
                    "FOREIGN KEY (media_obj_id) REFERENCES image(identifier) DEFERRABLE INITIALLY DEFERRED",
                    {"media_obj_id"}, {"identifier"}}};
  return s;
}

std::size_t position(const std::vector<std::string>& v, const std::string& needle) {
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (v[i].find(needle) != std::string::npos) return i;
  }
  ADD_FAILURE() << "no statement contains: " << needle;
  return v.size();
}

TEST(ReapplyIndexSql, RecreatesTheIndexOnTheTempTableUnderATemporaryName) {
  EXPECT_EQ(reapply_index_sql(image_schema().indexes[1], "temp_import_image", "dr_x_i1"),
            "CREATE UNIQUE INDEX IF NOT EXISTS \"dr_x_i1\" ON \"temp_import_image\" USING btree (identifier)");
  EXPECT_EQ(reapply_index_sql({"p", "CREATE INDEX p ON public.image USING btree (url varchar_pattern_ops) WHERE (x > 1)"},
                              "temp_import_image", "dr_x_i2"),
            "CREATE INDEX IF NOT EXISTS \"dr_x_i2\" ON \"temp_import_image\" USING btree (url varchar_pattern_ops) WHERE (x > 1)");
}

TEST(PromotionStatements, SwapTablesThenRestoreNamesThenRepointForeignKeys) {
  PromotedTable t{image_schema(), "temp_import_image",
                  {{"index", "dr_x_i0", "image_provider_7d11f847"}, {"index", "dr_x_i1", "image_identifier_key"}}};
  auto s = promotion_statements({t});
  auto drop_fk = position(s, "ALTER TABLE \"api_imagereport\" DROP CONSTRAINT \"api_imagereport_fk\"");
  auto drop = position(s, "DROP TABLE \"image\"");
  auto rename = position(s, "ALTER TABLE \"temp_import_image\" RENAME TO \"image\"");
  auto seq = position(s, "RENAME TO \"image_id_seq\"");
  auto pk = position(s, "RENAME CONSTRAINT \"temp_import_image_pkey\" TO \"image_pkey\"");
  auto idx = position(s, "ALTER INDEX \"dr_x_i1\" RENAME TO \"image_identifier_key\"");
  auto orphans = position(s, "DELETE FROM \"api_imagereport\" AS fk WHERE fk.\"media_obj_id\" IS NOT NULL AND NOT EXISTS "
                             "(SELECT 1 FROM image AS r WHERE r.\"identifier\" = fk.\"media_obj_id\")");
  auto add_fk = position(s, "ALTER TABLE \"api_imagereport\" ADD CONSTRAINT \"api_imagereport_fk\" FOREIGN KEY");
  EXPECT_LT(drop_fk, drop);
  EXPECT_LT(drop, rename);
  EXPECT_LT(rename, seq);
  EXPECT_LT(rename, pk);
  EXPECT_LT(rename, idx);
  EXPECT_LT(idx, orphans) << "the unique index the key needs exists before the key is added";
  EXPECT_LT(orphans, add_fk);
}

TEST(PromotionStatements, AKeptGenerationMovesTheLiveTableAsideInsteadOfDroppingIt) {
  PromotedTable t{image_schema(), "temp_import_image", {{"index", "dr_x_i1", "image_identifier_key"}}};
  auto s = promotion_statements({t}, std::string("datarefresh_kept"));
  EXPECT_EQ(std::count_if(s.begin(), s.end(), [](const std::string& x) { return x.rfind("DROP TABLE", 0) == 0; }), 0);
  auto drop_fk = position(s, "ALTER TABLE \"api_imagereport\" DROP CONSTRAINT \"api_imagereport_fk\"");
  auto schema = position(s, "CREATE SCHEMA IF NOT EXISTS \"datarefresh_kept\"");
  auto aside = position(s, "ALTER TABLE \"image\" SET SCHEMA \"datarefresh_kept\"");
  auto rename = position(s, "ALTER TABLE \"temp_import_image\" RENAME TO \"image\"");
  auto idx = position(s, "ALTER INDEX \"dr_x_i1\" RENAME TO \"image_identifier_key\"");
  auto add_fk = position(s, "ALTER TABLE \"api_imagereport\" ADD CONSTRAINT \"api_imagereport_fk\" FOREIGN KEY");
  EXPECT_LT(drop_fk, aside) << "the kept table keeps no foreign key";
  EXPECT_LT(schema, aside);
  EXPECT_LT(aside, rename);
  EXPECT_LT(aside, idx) << "its index names are free once it moved";
  EXPECT_LT(idx, add_fk);
}

TEST(RestoreStatements, DropTheLiveTablesMoveTheKeptOnesBackThenRepointForeignKeys) {
  auto s = restore_statements({image_schema()}, "datarefresh_kept", "public");
  auto drop_fk = position(s, "ALTER TABLE \"api_imagereport\" DROP CONSTRAINT \"api_imagereport_fk\"");
  auto drop = position(s, "DROP TABLE \"image\"");
  auto back = position(s, "ALTER TABLE \"datarefresh_kept\".\"image\" SET SCHEMA \"public\"");
  auto orphans = position(s, "DELETE FROM \"api_imagereport\" AS fk WHERE fk.\"media_obj_id\" IS NOT NULL");
  auto add_fk = position(s, "ALTER TABLE \"api_imagereport\" ADD CONSTRAINT \"api_imagereport_fk\" FOREIGN KEY");
  EXPECT_LT(drop_fk, drop);
  EXPECT_LT(drop, back);
  EXPECT_LT(back, orphans);
  EXPECT_LT(orphans, add_fk);
  EXPECT_EQ(s.size(), 5u);
}

TEST(PromotionStatements, AKeyBetweenTwoPromotedTablesIsRecreatedOnceWithoutDeletingRows) {
  TableSchema audio;
  audio.table = "audio";
  audio.foreign_keys = {{"audio_set_fk", 'f', "audio", "FOREIGN KEY (set_id) REFERENCES audioset(id)", {"set_id"}, {"id"}}};
  TableSchema audioset;
  audioset.table = "audioset";
  audioset.referencing = audio.foreign_keys;
  auto s = promotion_statements({{audio, "temp_import_audio", {}}, {audioset, "temp_import_audioset", {}}});
  EXPECT_EQ(std::count_if(s.begin(), s.end(), [](const std::string& x) { return x.find("ADD CONSTRAINT \"audio_set_fk\"") != std::string::npos; }), 1);
  EXPECT_EQ(std::count_if(s.begin(), s.end(), [](const std::string& x) { return x.rfind("DELETE", 0) == 0; }), 0);
}

TEST(TableSchema, SurvivesAJsonRoundTrip) {
  auto s = image_schema();
  EXPECT_EQ(table_schema_from_json(to_json(s)), s);
}

}  // namespace
}  // namespace datarefresh::coordinator
