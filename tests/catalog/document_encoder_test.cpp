#include "core/catalog/document_encoder.h"

#include <optional>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace datarefresh::catalog {
namespace {

using nlohmann::json;
using Opt = std::optional<std::string>;

// A shard-query row with sensible defaults; tests override single columns.
struct RowBuilder {
  explicit RowBuilder(MediaKind kind) : values(kind == MediaKind::kImage ? col::kImageCount : col::kAudioCount) {
    values[col::kId] = "7";
    values[col::kIdentifier] = "00000000-0000-0000-0000-000000000007";
    values[col::kCreatedOn] = "2022-01-02 03:04:05.123+00";
    values[col::kLicense] = "BY-SA";
    values[col::kProvider] = "flickr";
    values[col::kSource] = "flickr";
    values[col::kTitle] = "A Bird";
    values[col::kMetaData] = R"({"description": "Blue sky"})";
    values[col::kCreator] = "someone";
    values[col::kPopularity] = "0.105";
    values[col::kTags] = R"([{"name": "bird"}, {"name": "sky", "accuracy": 0.95, "provider": "clarifai"}])";
    values[col::kUrl] = "https://example.org/a/b.JPG";
    values[col::kRemovedFromSource] = "f";
    values[col::kDeleted] = "f";
    values[col::kMature] = "f";
    if (kind == MediaKind::kImage) {
      values[col::kWidth] = "1000";
      values[col::kHeight] = "800";
    } else {
      values[col::kDuration] = "45000";
      values[col::kFiletype] = "mp3";
    }
  }
  RowBuilder& set(int column, Opt v) {
    values[column] = std::move(v);
    return *this;
  }
  std::vector<FieldView> fields() const {
    std::vector<FieldView> out;
    for (const auto& v : values) out.push_back(v ? FieldView{*v, false} : FieldView{{}, true});
    return out;
  }
  std::vector<Opt> values;
};

json encode(MediaKind kind, const RowBuilder& row) {
  DocumentEncoder encoder(kind);
  std::string out;
  std::int64_t id = 0;
  auto fields = row.fields();
  EXPECT_EQ(encoder.encode(fields, out, id), RowOutcome::kIndexed);
  return json::parse(out);
}

json image(const RowBuilder& row) { return encode(MediaKind::kImage, row); }
RowBuilder image_row() { return RowBuilder(MediaKind::kImage); }

TEST(DocumentEncoder, WritesEveryCommonFieldOfAnImage) {
  auto doc = image(image_row());
  EXPECT_EQ(doc["id"], 7);
  EXPECT_EQ(doc["identifier"], "00000000-0000-0000-0000-000000000007");
  EXPECT_EQ(doc["created_on"], "2022-01-02T03:04:05.123000+00:00");
  EXPECT_EQ(doc["mature"], false);
  EXPECT_EQ(doc["license"], "by-sa");
  EXPECT_EQ(doc["provider"], "flickr");
  EXPECT_EQ(doc["source"], "flickr");
  EXPECT_TRUE(doc["category"].is_null());
  EXPECT_EQ(doc["title"], "A Bird");
  EXPECT_EQ(doc["description"], "Blue sky");
  EXPECT_EQ(doc["creator"], "someone");
  EXPECT_EQ(doc["url"], "https://example.org/a/b.JPG");
  EXPECT_DOUBLE_EQ(doc["standardized_popularity"].get<double>(), 10.5);
  EXPECT_EQ(doc["authority_boost"], 75.0);
  EXPECT_EQ(doc["max_boost"], 75.0);
  EXPECT_DOUBLE_EQ(doc["min_boost"].get<double>(), 10.5);
  EXPECT_EQ(doc["tags"], json::parse(R"([{"name":"bird"},{"name":"sky","accuracy":0.95}])"));
  EXPECT_EQ(doc["aspect_ratio"], "wide");
  EXPECT_EQ(doc["size"], "medium");
  EXPECT_EQ(doc["extension"], "jpg");
}

TEST(DocumentEncoder, SkipsDeletedAndRemovedRowsAndStillReportsTheirId) {
  DocumentEncoder encoder(MediaKind::kImage);
  std::string out;
  std::int64_t id = 0;
  auto deleted = image_row().set(col::kDeleted, "t");
  EXPECT_EQ(encoder.encode(deleted.fields(), out, id), RowOutcome::kSkippedDeleted);
  EXPECT_EQ(id, 7);
  auto removed = image_row().set(col::kRemovedFromSource, "t");
  EXPECT_EQ(encoder.encode(removed.fields(), out, id), RowOutcome::kSkippedRemoved);
  EXPECT_TRUE(out.empty());
}

TEST(DocumentEncoder, MatureComesFromMetaDataAndIsForcedByTheSensitiveList) {
  EXPECT_EQ(image(image_row().set(col::kMetaData, R"({"mature": true})"))["mature"], true);
  EXPECT_EQ(image(image_row().set(col::kMetaData, R"({"mature": false})"))["mature"], false);
  // Always a boolean: what Elasticsearch's boolean field makes of the catalog's value.
  EXPECT_EQ(image(image_row().set(col::kMetaData, R"({"mature": "true"})"))["mature"], true);
  EXPECT_EQ(image(image_row().set(col::kMetaData, R"({"mature": [false, true]})"))["mature"], true);
  EXPECT_EQ(image(image_row().set(col::kMetaData, R"({"mature": "false"})"))["mature"], false);
  EXPECT_EQ(image(image_row().set(col::kMetaData, R"({"mature": 1})"))["mature"], true);
  EXPECT_EQ(image(image_row().set(col::kMetaData, R"({"mature": 0})"))["mature"], false);
  EXPECT_EQ(image(image_row().set(col::kMetaData, R"({"mature": "yes"})"))["mature"], false);
  EXPECT_EQ(image(image_row().set(col::kMetaData, R"({"mature": null})"))["mature"], false);
  EXPECT_EQ(image(image_row().set(col::kMetaData, R"({"mature": false})").set(col::kMature, "t"))["mature"], true);
  EXPECT_EQ(image(image_row().set(col::kMetaData, std::nullopt))["mature"], false);
}

TEST(DocumentEncoder, DescriptionIsCutToTwoThousandCharactersNotBytes) {
  std::string long_text;
  for (int i = 0; i < 2500; ++i) long_text += "\xC3\xA9";  // é, two bytes each
  auto doc = image(image_row().set(col::kMetaData, json({{"description", long_text}}).dump()));
  auto d = doc["description"].get<std::string>();
  EXPECT_EQ(d.size(), 4000u);
  EXPECT_EQ(d, long_text.substr(0, 4000));
  EXPECT_TRUE(image(image_row().set(col::kMetaData, R"({"description": 12})"))["description"].is_null());
  EXPECT_TRUE(image(image_row().set(col::kMetaData, "{}"))["description"].is_null());
}

TEST(DocumentEncoder, ADescriptionListIsIndexedAsItsFirstTwoThousandElements) {
  auto described = [](const std::string& description) {
    return image(image_row().set(col::kMetaData, R"({"description": )" + description + "}"))["description"];
  };
  EXPECT_EQ(described(R"(["Blue", "sky", 3, true, null, ["deep"]])"),
            json::parse(R"(["Blue", "sky", 3, true, null, ["deep"]])"));
  json long_list = json::array();
  for (int i = 0; i < 2500; ++i) long_list.push_back(std::string(2100, 'x'));  // elements are not cut
  auto cut = described(long_list.dump());
  ASSERT_EQ(cut.size(), 2000u);
  EXPECT_EQ(cut[1999], std::string(2100, 'x'));
  EXPECT_EQ(described("[]"), json::array());
  // A text field refuses objects: no description rather than a refused document.
  EXPECT_TRUE(described(R"(["a", {"b": "c"}])").is_null());
  EXPECT_TRUE(described(R"({"b": "c"})").is_null());
  EXPECT_TRUE(described("null").is_null());
  EXPECT_TRUE(described("true").is_null());
}

TEST(DocumentEncoder, CreatedOnIsWrittenAsPythonsIsoformatWritesIt) {
  auto created = [](const char* text) { return image(image_row().set(col::kCreatedOn, text))["created_on"]; };
  EXPECT_EQ(created("2022-01-02 03:04:05.5+00"), "2022-01-02T03:04:05.500000+00:00");
  EXPECT_EQ(created("2022-01-02 03:04:05.000001+00"), "2022-01-02T03:04:05.000001+00:00");
  EXPECT_EQ(created("2022-01-02 03:04:05.12345+00"), "2022-01-02T03:04:05.123450+00:00");
  EXPECT_EQ(created("2022-01-02 03:04:05+00"), "2022-01-02T03:04:05+00:00");
  EXPECT_EQ(created("2022-01-02 03:04:05.25+05:30"), "2022-01-02T03:04:05.250000+05:30");
  EXPECT_TRUE(image(image_row().set(col::kCreatedOn, std::nullopt))["created_on"].is_null());
}

TEST(DocumentEncoder, LicenseAndExtensionAreLowerCasedAsPythonDoes) {
  EXPECT_EQ(image(image_row().set(col::kLicense, "BY-\u212A"))["license"], "by-k");
  EXPECT_EQ(image(image_row().set(col::kUrl, "https://x.org/a.JP\u00C9G"))["extension"], "jp\u00e9g");
  EXPECT_EQ(image(image_row().set(col::kUrl, "https://x.org/a.\u0130"))["extension"], "i\u0307");
  auto audio = encode(MediaKind::kAudio, RowBuilder(MediaKind::kAudio).set(col::kLicense, "CC\u212A"));
  EXPECT_EQ(audio["license"], "cck");
}

TEST(DocumentEncoder, PopularityIsScaledClampedAndNullWhenNotPositive) {
  EXPECT_TRUE(image(image_row().set(col::kPopularity, std::nullopt))["standardized_popularity"].is_null());
  EXPECT_TRUE(image(image_row().set(col::kPopularity, "0"))["standardized_popularity"].is_null());
  EXPECT_TRUE(image(image_row().set(col::kPopularity, "-0.5"))["standardized_popularity"].is_null());
  EXPECT_EQ(image(image_row().set(col::kPopularity, "3.5"))["standardized_popularity"], 100.0);
  EXPECT_EQ(image(image_row().set(col::kPopularity, "Infinity"))["standardized_popularity"], 100.0);
  EXPECT_EQ(image(image_row().set(col::kPopularity, "1e+308"))["standardized_popularity"], 100.0);
  EXPECT_TRUE(image(image_row().set(col::kPopularity, "-Infinity"))["standardized_popularity"].is_null());
  EXPECT_TRUE(image(image_row().set(col::kPopularity, "NaN"))["standardized_popularity"].is_null());
  // Too small for a normal float: a rank_feature field refuses it.
  EXPECT_TRUE(image(image_row().set(col::kPopularity, "1e-300"))["standardized_popularity"].is_null());
  EXPECT_DOUBLE_EQ(image(image_row().set(col::kPopularity, "1e-30"))["standardized_popularity"].get<double>(), 1e-28);
  auto zero = image(image_row().set(col::kPopularity, "0").set(col::kProvider, "nobody"));
  EXPECT_EQ(zero["max_boost"], 1.0);
  EXPECT_EQ(zero["min_boost"], 1.0);
}

TEST(DocumentEncoder, AuthorityComesFromMetaDataClampedOrElseFromTheProviderTable) {
  auto with_meta = [](const char* meta) { return image(image_row().set(col::kMetaData, meta))["authority_boost"]; };
  EXPECT_EQ(with_meta(R"({"authority_boost": 42})"), 42.0);
  EXPECT_EQ(with_meta(R"({"authority_boost": "42.5"})"), 42.5);
  EXPECT_EQ(with_meta(R"({"authority_boost": 250})"), 100.0);
  EXPECT_TRUE(with_meta(R"({"authority_boost": 0})").is_null());
  EXPECT_TRUE(with_meta(R"({"authority_boost": -3})").is_null());
  EXPECT_TRUE(with_meta(R"({"authority_boost": "abc"})").is_null());
  EXPECT_TRUE(with_meta(R"({"authority_boost": [1]})").is_null());
  EXPECT_TRUE(with_meta(R"({"authority_boost": null})").is_null());  // set, to None: the provider's does not apply
  EXPECT_EQ(with_meta(R"({"description": "x"})"), 75.0);             // not set: the provider table applies
  EXPECT_EQ(image(image_row().set(col::kProvider, "met"))["authority_boost"], 90.0);
  EXPECT_EQ(image(image_row().set(col::kProvider, "stocksnap"))["authority_boost"], 85.0);
  EXPECT_TRUE(image(image_row().set(col::kProvider, "wikimedia"))["authority_boost"].is_null());
}

TEST(DocumentEncoder, AuthorityFromMetaDataIsWhatPythonsFloatMakesOfTheValue) {
  auto with_boost = [](const char* value) {
    return image(
        image_row().set(col::kMetaData, std::string(R"({"authority_boost": )") + value + "}"))["authority_boost"];
  };
  EXPECT_EQ(with_boost(R"("inf")"), 100.0);
  EXPECT_EQ(with_boost(R"(" +Infinity\n")"), 100.0);
  EXPECT_EQ(with_boost("true"), 1.0);
  EXPECT_EQ(with_boost(R"("4_2")"), 42.0);
  EXPECT_EQ(with_boost(R"(" 42 ")"), 42.0);
  EXPECT_EQ(with_boost(R"("\u0664\u0662")"), 42.0);
  EXPECT_EQ(with_boost("1e400"), 100.0);
  EXPECT_EQ(with_boost(("1" + std::string(400, '0')).c_str()), 100.0);  // as PostgreSQL writes 1e400
  EXPECT_EQ(with_boost("12345678901234567890123"), 100.0);
  // Not positive or not a number: no rank feature (the catalog writes 0 for these, which a
  // rank_feature field refuses).
  for (const char* none : {"false", R"("nan")", R"("-inf")", "-1e400", R"("4__2")", R"("0x10")", "{}", R"("")"}) {
    EXPECT_TRUE(with_boost(none).is_null()) << none;
  }
  auto doc = image(image_row().set(col::kMetaData, R"({"authority_boost": "inf"})").set(col::kPopularity, "0.5"));
  EXPECT_EQ(doc["max_boost"], 100.0);
  EXPECT_EQ(doc["min_boost"], 50.0);
}

TEST(DocumentEncoder, TheProviderTableIsTheIndexerWorkersAuthorityTable) {
  const std::vector<std::pair<std::string, double>> table = {{"thorvaldsensmuseum", 90},
                                                             {"svgsilh", 90},
                                                             {"smithsonian", 90},
                                                             {"rijksmuseum", 90},
                                                             {"museumsvictoria", 90},
                                                             {"met", 90},
                                                             {"mccordsmuseum", 90},
                                                             {"digitaltmuseum", 90},
                                                             {"clevelandmuseum", 90},
                                                             {"brooklynmuseum", 90},
                                                             {"stocksnap", 85},
                                                             {"rawpixel", 85},
                                                             {"flickr", 75},
                                                             {"behance", 75},
                                                             {"thingiverse", 75},
                                                             {"sketchfab", 75},
                                                             {"deviantart", 75}};
  for (const auto& [provider, boost] : table) {
    EXPECT_EQ(provider_authority(provider), boost) << provider;
    EXPECT_EQ(image(image_row().set(col::kProvider, provider).set(col::kMetaData, "{}"))["authority_boost"], boost)
        << provider;
  }
  EXPECT_LT(provider_authority("Flickr"), 0);
  EXPECT_LT(provider_authority("wikimedia"), 0);
}

TEST(DocumentEncoder, ANumberBeyondADoubleCostsThatValueOnly) {
  const std::string huge = "1" + std::string(400, '0');  // PostgreSQL's text of a jsonb 1e400
  for (MediaKind kind : {MediaKind::kImage, MediaKind::kAudio}) {
    for (const std::string& number : {std::string("1e400"), huge, "-" + huge}) {
      SCOPED_TRACE(std::string(media_kind_name(kind)) + " " + number.substr(0, 8));
      auto doc =
          encode(kind, RowBuilder(kind).set(col::kMetaData, R"({"huge": )" + number +
                                                                R"(, "mature": true, "description": "Blue sky"})"));
      EXPECT_EQ(doc["mature"], true);
      EXPECT_EQ(doc["description"], "Blue sky");
      EXPECT_EQ(doc["authority_boost"], 75.0);
      auto tags = encode(kind, RowBuilder(kind).set(col::kTags, R"([{"name": "a", "accuracy": )" + number +
                                                                    R"(}, {"name": "b", "accuracy": 0.95}])"));
      EXPECT_EQ(tags["tags"], json::parse(R"([{"name": "a", "accuracy": null}, {"name": "b", "accuracy": 0.95}])"));
    }
  }
  auto alt =
      encode(MediaKind::kAudio,
             RowBuilder(MediaKind::kAudio).set(col::kAltFiles, R"([{"filetype": "ogg", "filesize": )" + huge + "}]"));
  EXPECT_EQ(alt["extension"], json::parse(R"(["ogg"])"));
  auto listed = image(image_row().set(col::kMetaData, R"({"description": ["a", )" + huge + "]}"));
  EXPECT_EQ(listed["description"], json::parse(R"(["a", null])"));
}

TEST(DocumentEncoder, TagAccuraciesAFloatFieldCannotHoldAreWrittenAsNull) {
  auto tags = image(image_row().set(
      col::kTags,
      R"([{"name": "a", "accuracy": 1e39}, {"name": "b", "accuracy": "1e400"}, {"name": "c", "accuracy": " -1E39 "},
                      {"name": "d", "accuracy": 3.4e38}, {"name": "e", "accuracy": "0.95\n"}, {"name": "f", "accuracy": 1e-20}])"))
      ["tags"];
  EXPECT_EQ(tags, json::parse(R"([{"name": "a", "accuracy": null}, {"name": "b", "accuracy": null},
      {"name": "c", "accuracy": null}, {"name": "d", "accuracy": 3.4e38}, {"name": "e", "accuracy": "0.95\n"},
      {"name": "f", "accuracy": 1e-20}])"));
}

TEST(DocumentEncoder, BoostsTakeMaxAndMinOfPopularityAndAuthorityDefaultingToOne) {
  auto doc = image(image_row().set(col::kProvider, "wikimedia").set(col::kPopularity, "0.3"));
  EXPECT_DOUBLE_EQ(doc["max_boost"].get<double>(), 30.0);
  EXPECT_EQ(doc["min_boost"], 1.0);
}

TEST(DocumentEncoder, TagsKeepNameAndAccuracyOfNamedEntriesOnly) {
  auto doc = image(image_row().set(
      col::kTags, R"([{"name":"a","provider":"clarifai","accuracy":0.99},{"accuracy":0.95},"junk",{"name":"b","accuracy":null}])"));
  EXPECT_EQ(doc["tags"], json::parse(R"([{"name":"a","accuracy":0.99},{"name":"b","accuracy":null}])"));
  EXPECT_EQ(image(image_row().set(col::kTags, std::nullopt))["tags"], json::array());
  EXPECT_EQ(image(image_row().set(col::kTags, "[]"))["tags"], json::array());
}

TEST(DocumentEncoder, AspectRatioAndSizeFollowThePixelBuckets) {
  auto dims = [](const char* w, const char* h) { return image(image_row().set(col::kWidth, w).set(col::kHeight, h)); };
  EXPECT_EQ(dims("100", "200")["aspect_ratio"], "tall");
  EXPECT_EQ(dims("200", "100")["aspect_ratio"], "wide");
  EXPECT_EQ(dims("200", "200")["aspect_ratio"], "square");
  EXPECT_EQ(dims("639", "480")["size"], "small");
  EXPECT_EQ(dims("640", "480")["size"], "medium");
  EXPECT_EQ(dims("1599", "900")["size"], "medium");
  EXPECT_EQ(dims("1600", "900")["size"], "large");
  auto unknown = image(image_row().set(col::kWidth, std::nullopt));
  EXPECT_TRUE(unknown["aspect_ratio"].is_null());
  EXPECT_TRUE(unknown["size"].is_null());
}

TEST(DocumentEncoder, ExtensionIsTheLowerCasedLastDotSegmentUnlessItHoldsASlash) {
  auto ext = [](Opt url) { return image(image_row().set(col::kUrl, std::move(url)))["extension"]; };
  EXPECT_EQ(ext("https://x.org/a.PNG"), "png");
  EXPECT_EQ(ext("https://x.org/a.JPÉG"), "jpég");
  EXPECT_TRUE(ext("https://x.org/dir.v2/file").is_null());
  EXPECT_TRUE(ext("https://x.org/file.").is_null());
  EXPECT_TRUE(ext(std::nullopt).is_null());
}

TEST(DocumentEncoder, AudioLengthBucketsFiletypeAndAlternativeExtensions) {
  auto audio = [](RowBuilder r) { return encode(MediaKind::kAudio, r); };
  auto row = [] { return RowBuilder(MediaKind::kAudio); };
  EXPECT_EQ(audio(row().set(col::kDuration, "29999"))["length"], "shortest");
  EXPECT_EQ(audio(row().set(col::kDuration, "30000"))["length"], "short");
  EXPECT_EQ(audio(row().set(col::kDuration, "119999"))["length"], "short");
  EXPECT_EQ(audio(row().set(col::kDuration, "120000"))["length"], "medium");
  EXPECT_EQ(audio(row().set(col::kDuration, "600000"))["length"], "long");
  EXPECT_TRUE(audio(row().set(col::kDuration, std::nullopt))["length"].is_null());
  EXPECT_TRUE(audio(row().set(col::kDuration, "0"))["length"].is_null());  // `if not duration`
  EXPECT_EQ(audio(row().set(col::kDuration, "1"))["length"], "shortest");
  auto plain = audio(row());
  EXPECT_EQ(plain["filetype"], "mp3");
  EXPECT_EQ(plain["extension"], "mp3");
  EXPECT_FALSE(plain.contains("aspect_ratio"));
  auto alt = audio(row().set(col::kAltFiles, R"([{"filetype":"ogg","url":"u"},{"filetype":"flac"}])"));
  EXPECT_EQ(alt["extension"], json::parse(R"(["ogg","flac"])"));
  EXPECT_EQ(audio(row().set(col::kAltFiles, "[]"))["extension"], "mp3");
  // Alternative files without a filetype have the row's.
  EXPECT_EQ(
      audio(row().set(col::kAltFiles, R"([{"filetype":"ogg"},{"url":"u"},null,{"filetype":{"x":1}}])"))["extension"],
      json::parse(R"(["ogg","mp3","mp3","mp3"])"));
  EXPECT_EQ(audio(row().set(col::kAltFiles, R"([{"url":"u"}])").set(col::kFiletype, std::nullopt))["extension"],
            json::parse("[null]"));
  EXPECT_EQ(audio(row().set(col::kAltFiles, R"({"filetype":"ogg"})"))["extension"], "mp3");  // not a list
}

TEST(DocumentEncoder, RejectsRowsOurQueryCannotProduce) {
  DocumentEncoder encoder(MediaKind::kImage);
  std::string out;
  std::int64_t id = 0;
  std::vector<FieldView> short_row(3);
  EXPECT_THROW(encoder.encode(short_row, out, id), RowError);
  auto bad_id = image_row().set(col::kId, "x1");
  EXPECT_THROW(encoder.encode(bad_id.fields(), out, id), RowError);
}

TEST(DocumentEncoder, ReusesItsBuffersAcrossRowsWithoutLeakingState) {
  DocumentEncoder encoder(MediaKind::kImage);
  std::string first, second;
  std::int64_t id = 0;
  auto a = image_row().set(col::kMetaData, R"({"mature": true, "description": "first"})");
  auto b = image_row().set(col::kMetaData, std::nullopt);
  encoder.encode(a.fields(), first, id);
  encoder.encode(b.fields(), second, id);
  auto doc = json::parse(second);
  EXPECT_EQ(doc["mature"], false);
  EXPECT_TRUE(doc["description"].is_null());
}

}  // namespace
}  // namespace datarefresh::catalog
