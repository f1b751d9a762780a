// Checking documents against a mapping: what it adds, and the errors it names.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <rapidjson/document.h>

#include "devstack/devsearch/mapping.h"

namespace datarefresh::devsearch {
namespace {

Mapping image_mapping() {
  return Mapping::parse(nlohmann::json::parse(R"({"properties": {
      "title": {"type": "text", "fields": {"raw": {"type": "keyword"}}},
      "created_on": {"type": "date"},
      "tags": {"properties": {"name": {"type": "text"}, "accuracy": {"type": "float"}}},
      "meta": {"properties": {"inner": {"properties": {"size": {"type": "integer"}}}}}}})"),
                        {"standard"});
}

std::optional<nlohmann::ordered_json> check(const Mapping& m, const char* source, Mapping& additions) {
  rapidjson::Document doc;
  doc.Parse(source);
  return m.check(doc, "7", additions);
}

TEST(MappingCheck, ADocumentThatFitsAddsNothingEvenThroughObjectsAndArraysOfThem) {
  // Anything added would make the index copy its mapping for this document.
  auto m = image_mapping();
  Mapping additions;
  EXPECT_FALSE(check(m, R"({"title": "a", "created_on": "2020-01-02T03:04:05Z",
      "tags": [{"name": "cat", "accuracy": 0.9}, {"name": "dog"}, null, [{"name": "x"}]],
      "meta": {"inner": {"size": 3}}})",
                     additions));
  EXPECT_TRUE(additions.empty());
  EXPECT_FALSE(check(m, R"({"tags": [], "meta": null, "title": null})", additions));
  EXPECT_TRUE(additions.empty());
}

TEST(MappingCheck, NewFieldsAreAddedWhereTheyAppearAndNowhereElse) {
  auto m = image_mapping();
  Mapping additions;
  EXPECT_FALSE(check(m, R"({"title": "a", "tags": [{"name": "cat", "source": "ml"}], "meta": {"inner": {"flag": true}},
      "views": 5})",
                     additions));
  ASSERT_FALSE(additions.empty());
  m.merge(additions);
  auto j = m.to_json();
  EXPECT_EQ(j["properties"]["tags"]["properties"]["source"]["type"], "text");
  EXPECT_EQ(j["properties"]["meta"]["properties"]["inner"]["properties"]["flag"]["type"], "boolean");
  EXPECT_EQ(j["properties"]["views"]["type"], "long");
  EXPECT_EQ(j["properties"]["tags"]["properties"]["accuracy"]["type"], "float");
  // Checked again, the same document adds nothing.
  Mapping again;
  EXPECT_FALSE(check(m, R"({"tags": [{"name": "cat", "source": "ml"}], "meta": {"inner": {"flag": true}}, "views": 6})",
                     again));
  EXPECT_TRUE(again.empty());
}

// One lookup cache through a run of documents, as a bulk request uses it: every verdict and
// every addition is the one checking without it gives.
TEST(MappingCheck, ALookupCacheAcrossDocumentsChangesNoVerdict) {
  const auto m = image_mapping();
  FieldLookupCache cache;
  const char* docs[] = {
      R"({"title": "a", "tags": [{"name": "cat", "accuracy": 0.9}], "meta": {"inner": {"size": 3}}})",
      R"({"tags": [{"name": "cat", "source": "ml", "extra": {"deep": 1}}], "views": 5})",
      R"({"tags": [{"accuracy": "high"}]})",
      R"({"meta": {"inner": {"size": 3000000000}}})",
      R"({"title": "b", "tags": [{"name": "dog", "source": 7}], "meta": {"inner": {"size": 4, "flag": true}}})",
      R"({"title": {"a": 1}})",
      R"({"title": "a", "tags": [{"name": "cat", "accuracy": 0.9}], "meta": {"inner": {"size": 3}}})",
  };
  for (int round = 0; round < 2; ++round) {
    for (const char* source : docs) {
      rapidjson::Document doc;
      doc.Parse(source);
      Mapping plain_additions, cached_additions;
      auto plain = m.check(doc, "7", plain_additions);
      auto cached = m.check(doc, "7", cached_additions, &cache);
      EXPECT_EQ(plain.has_value(), cached.has_value()) << source;
      if (plain && cached) {
        EXPECT_EQ(plain->dump(), cached->dump()) << source;
      }
      EXPECT_EQ(plain_additions.to_json(), cached_additions.to_json()) << source;
    }
  }
}

TEST(MappingCheck, ErrorsNameTheFullPathOfTheField) {
  auto m = image_mapping();
  Mapping additions;
  auto err = check(m, R"({"tags": [{"name": "cat"}, {"accuracy": "high"}]})", additions);
  ASSERT_TRUE(err);
  EXPECT_EQ((*err)["type"], "mapper_parsing_exception");
  EXPECT_NE((*err)["reason"].get<std::string>().find("failed to parse field [tags.accuracy] of type [float]"),
            std::string::npos)
      << err->dump();
  err = check(m, R"({"meta": {"inner": {"size": 3000000000}}})", additions);
  ASSERT_TRUE(err);
  EXPECT_NE((*err)["reason"].get<std::string>().find("[meta.inner.size]"), std::string::npos) << err->dump();
  err = check(m, R"({"tags": ["cat"]})", additions);
  ASSERT_TRUE(err);
  EXPECT_NE((*err)["reason"].get<std::string>().find("object mapping for [tags] tried to parse field [tags] as object"),
            std::string::npos)
      << err->dump();
  err = check(m, R"({"title": {"a": 1}})", additions);
  ASSERT_TRUE(err);
  EXPECT_NE((*err)["reason"].get<std::string>().find("failed to parse field [title] of type [text]"), std::string::npos)
      << err->dump();
}

// Numbers given as strings: what Elasticsearch's number parsing accepts for each field type.
TEST(MappingCheck, NumbersGivenAsStringsAreParsedAsElasticsearchParsesThem) {
  auto m = Mapping::parse(nlohmann::json::parse(R"({"properties": {
      "accuracy": {"type": "float"}, "ratio": {"type": "double"}, "half": {"type": "half_float"},
      "count": {"type": "long"}, "small": {"type": "integer"}, "boost": {"type": "rank_feature"}}})"),
                          {"standard"});
  auto verdict = [&](const std::string& field, const std::string& value) {
    Mapping additions;
    const std::string source = "{\"" + field + "\": " + value + "}";
    rapidjson::Document doc;
    doc.Parse(source.c_str());
    EXPECT_FALSE(doc.HasParseError()) << source;
    auto err = m.check(doc, "7", additions);
    return err ? (*err)["caused_by"]["type"].get<std::string>() + ": " +
                     (*err)["caused_by"]["reason"].get<std::string>()
               : std::string("ok");
  };
  // Float.parseFloat / Double.parseDouble trim what String.trim() trims.
  EXPECT_EQ(verdict("accuracy", R"("0.95\n")"), "ok");
  EXPECT_EQ(verdict("accuracy", R"(" 0.95\t")"), "ok");
  EXPECT_EQ(verdict("accuracy", R"("0.95f")"), "ok");
  EXPECT_EQ(verdict("ratio", R"("\r\n1e3\u001f")"), "ok");
  EXPECT_EQ(verdict("small", R"(" 42.7\n")"), "ok");
  EXPECT_EQ(verdict("boost", R"("42\n")"), "ok");
  EXPECT_EQ(verdict("accuracy", R"("\u00a00.95")"), "number_format_exception: For input string: \"\u00a00.95\"");
  EXPECT_EQ(verdict("accuracy", R"("nan")"), "number_format_exception: For input string: \"nan\"");
  EXPECT_EQ(verdict("accuracy", R"("  ")"), "number_format_exception: empty String");
  EXPECT_EQ(verdict("accuracy", R"("1e39")"),
            "illegal_argument_exception: [float] supports only finite values, but got [Infinity]");
  EXPECT_EQ(verdict("accuracy", R"("NaN")"),
            "illegal_argument_exception: [float] supports only finite values, but got [NaN]");
  EXPECT_EQ(verdict("accuracy", "1e39"),
            "illegal_argument_exception: [float] supports only finite values, but got [Infinity]");
  EXPECT_EQ(verdict("ratio", R"("-Infinity")"),
            "illegal_argument_exception: [double] supports only finite values, but got [-Infinity]");
  EXPECT_EQ(verdict("ratio", R"("1e39")"), "ok");
  EXPECT_NE(verdict("half", R"("70000")").find("[half_float] supports only finite values"), std::string::npos);
  EXPECT_EQ(verdict("half", R"("65504")"), "ok");
  // long: Long.parseLong or a BigDecimal, neither of which trims.
  EXPECT_EQ(verdict("count", R"("42")"), "ok");
  EXPECT_EQ(verdict("count", R"("42.9")"), "ok");
  EXPECT_EQ(verdict("count", R"("42\n")"), "illegal_argument_exception: For input string: \"42\n\"");
  EXPECT_EQ(verdict("count", R"("1e19")"), "illegal_argument_exception: Value [1e19] is out of range for a long");
  EXPECT_EQ(verdict("small", R"("2147483648")"),
            "illegal_argument_exception: Value [2147483648] is out of range for an integer");
  EXPECT_EQ(verdict("small", R"("2147483647")"), "ok");
  // rank_feature: a positive normal float.
  EXPECT_NE(verdict("boost", R"("0")").find("featureValue must be a positive normal float"), std::string::npos);
  EXPECT_NE(verdict("boost", R"("Infinity")").find("featureValue must be a positive normal float"), std::string::npos);
  EXPECT_EQ(verdict("boost", R"("abc")"), "number_format_exception: For input string: \"abc\"");
}

}  // namespace
}  // namespace datarefresh::devsearch
