// What a staging sample asks of the engine: a terms aggregation per provider (or source) and a
// `_reindex` limited by max_docs, answered as Elasticsearch answers them, errors included.
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "core/search/bulk.h"
#include "tests/devsearch/devsearch_fixture.h"

namespace datarefresh::devsearch::testing {
namespace {

using nlohmann::json;

const json kIndex = {{"settings", {{"index", {{"number_of_shards", 2}, {"number_of_replicas", 0}}}}},
                     {"mappings",
                      {{"dynamic", false},
                       {"properties",
                        {{"title", {{"type", "text"}}},
                         {"provider", {{"type", "keyword"}}},
                         {"source", {{"type", "keyword"}, {"ignore_above", 8}}},
                         {"width", {{"type", "integer"}}}}}}}};

class SampleSupport : public DevSearchTest {
 protected:
  // 10 documents: flickr 5, wikimedia 3, smk 1 and one without a provider; sources with one value
  // longer than ignore_above.
  void SetUp() override {
    DevSearchTest::SetUp();
    ASSERT_TRUE(client_->create_index("src", kIndex).ok());
    search::BulkBodyBuilder b;
    const char* providers[] = {"flickr",    "flickr", "wikimedia", "flickr", "smk",
                               "wikimedia", "flickr", nullptr,     "flickr", "wikimedia"};
    for (int i = 0; i < 10; ++i) {
      json doc = {{"title", "photo " + std::to_string(i)}, {"width", 100 + i % 2}};
      if (providers[i] != nullptr) doc["provider"] = providers[i];
      doc["source"] = i == 0 ? "a_very_long_source" : (i % 2 ? "odd" : "even");
      b.add_index("src", std::to_string(i), doc.dump());
    }
    auto r = client_->bulk(b.take());
    ASSERT_TRUE(r.ok());
    ASSERT_FALSE(r->errors);
    ASSERT_TRUE(client_->refresh("src").ok());
  }

  json terms(const json& spec, const std::string& key = "aggs") {
    auto e = call("POST", "/src/_search", {{"size", 0}, {key, {{"by", {{"terms", spec}}}}}});
    EXPECT_EQ(e.status, 200) << e.body.dump();
    return e.body.value("aggregations", json::object()).value("by", json::object());
  }

  // Runs a reindex to its end (wait_for_completion) and answers its HTTP status and body.
  Exchange reindex(const json& body, const std::string& params = "") {
    return call("POST", "/_reindex" + params, body);
  }
};

TEST_F(SampleSupport, TermsAggregationCountsPerKeywordValueMostFirstThenByKey) {
  auto by = terms({{"field", "provider"}, {"size", 100}});
  EXPECT_EQ(by["doc_count_error_upper_bound"], 0);
  EXPECT_EQ(by["sum_other_doc_count"], 0);
  EXPECT_EQ(by["buckets"], json::parse(R"([{"key":"flickr","doc_count":5},{"key":"wikimedia","doc_count":3},
                                          {"key":"smk","doc_count":1}])"));
}

TEST_F(SampleSupport, TermsAggregationSizeDefaultsToTenAndCountsTheRestInSumOtherDocCount) {
  auto two = terms({{"field", "provider"}, {"size", 2}});
  EXPECT_EQ(two["buckets"].size(), 2u);
  EXPECT_EQ(two["sum_other_doc_count"], 1);
  auto dflt = terms({{"field", "provider"}}, "aggregations");
  EXPECT_EQ(dflt["buckets"].size(), 3u);
}

TEST_F(SampleSupport, TermsAggregationMissingCountsDocumentsWithoutAValue) {
  auto by = terms({{"field", "provider"}, {"missing", "(none)"}});
  EXPECT_EQ(by["buckets"].back(), json::parse(R"({"key":"smk","doc_count":1})"));
  bool found = false;
  for (const auto& b : by["buckets"]) {
    if (b["key"] == "(none)") {
      found = true;
      EXPECT_EQ(b["doc_count"], 1);
    }
  }
  EXPECT_TRUE(found) << by.dump();
  // A value longer than ignore_above is not indexed: the document counts as missing.
  auto sources = terms({{"field", "source"}, {"missing", "-"}});
  EXPECT_EQ(sources["buckets"], json::parse(R"([{"key":"odd","doc_count":5},{"key":"even","doc_count":4},
                                               {"key":"-","doc_count":1}])"));
}

TEST_F(SampleSupport, TermsAggregationOnNumbersHasNumericKeysAndFollowsTheQuery) {
  auto e = call("POST", "/src/_search",
                {{"size", 0},
                 {"query", {{"term", {{"provider", "flickr"}}}}},
                 {"aggs", {{"w", {{"terms", {{"field", "width"}}}}}}}});
  ASSERT_EQ(e.status, 200) << e.body.dump();
  std::int64_t sum = 0;
  for (const auto& b : e.body["aggregations"]["w"]["buckets"]) {
    EXPECT_TRUE(b["key"].is_number_integer()) << b.dump();
    sum += b["doc_count"].get<std::int64_t>();
  }
  EXPECT_EQ(sum, 5);
  EXPECT_EQ(e.body["hits"]["hits"], json::array());
}

TEST_F(SampleSupport, TermsAggregationOnATextFieldIsRefusedAsElasticsearchRefusesIt) {
  auto e = call("POST", "/src/_search", {{"size", 0}, {"aggs", {{"by", {{"terms", {{"field", "title"}}}}}}}});
  EXPECT_EQ(e.status, 400);
  EXPECT_EQ(e.body["error"]["type"], "search_phase_execution_exception");
  EXPECT_EQ(e.body["error"]["root_cause"][0]["type"], "illegal_argument_exception");
  EXPECT_NE(e.body["error"]["caused_by"]["reason"].get<std::string>().find("Text fields are not optimised"),
            std::string::npos);
}

TEST_F(SampleSupport, MalformedAggregationsAreRefused) {
  auto unknown = call("POST", "/src/_search", {{"aggs", {{"by", {{"histogram", {{"field", "width"}}}}}}}});
  EXPECT_EQ(unknown.status, 400);
  EXPECT_EQ(unknown.body["error"]["type"], "parsing_exception");
  auto no_field = call("POST", "/src/_search", {{"aggs", {{"by", {{"terms", json::object()}}}}}});
  EXPECT_EQ(no_field.status, 400);
  auto zero = call("POST", "/src/_search", {{"aggs", {{"by", {{"terms", {{"field", "provider"}, {"size", 0}}}}}}}});
  EXPECT_EQ(zero.status, 400);
  EXPECT_EQ(zero.body["error"]["type"], "illegal_argument_exception");
  EXPECT_EQ(zero.body["error"]["reason"], "[size] must be greater than 0. Found [0] in [by]");
  auto unknown_param =
      call("POST", "/src/_search", {{"aggs", {{"by", {{"terms", {{"field", "provider"}, {"shard_sizes", 1}}}}}}}});
  EXPECT_EQ(unknown_param.status, 400);
}

TEST_F(SampleSupport, TheClientReadsTheTermsCounts) {
  auto counts = client_->terms_counts("src", "provider", 100);
  ASSERT_TRUE(counts.ok()) << counts.error().describe();
  EXPECT_EQ(counts->buckets, (std::map<std::string, std::int64_t>{{"flickr", 5}, {"smk", 1}, {"wikimedia", 3}}));
  EXPECT_EQ(counts->sum_other_doc_count, 0);
  auto with_missing = client_->terms_counts("src", "provider", 1, std::string("?"));
  ASSERT_TRUE(with_missing.ok());
  EXPECT_EQ(with_missing->buckets.size(), 1u);
  EXPECT_EQ(with_missing->sum_other_doc_count, 5);
  auto text = client_->terms_counts("src", "title", 10);
  ASSERT_FALSE(text.ok());
  EXPECT_EQ(text.error().http_status, 400);
  EXPECT_FALSE(text.error().retryable);
}

TEST_F(SampleSupport, ReindexMaxDocsCopiesAtMostThatManyOfTheMatches) {
  auto r = reindex({{"max_docs", 3},
                    {"source", {{"index", "src"}, {"query", {{"term", {{"provider", "flickr"}}}}}}},
                    {"dest", {{"index", "dst"}}}},
                   "?refresh=true");
  ASSERT_EQ(r.status, 200) << r.body.dump();
  EXPECT_EQ(r.body["total"], 3);
  EXPECT_EQ(r.body["created"], 3);
  auto n = client_->count("dst", json{{"term", {{"provider", "flickr"}}}});
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 3);
  // More than there are: all of them.
  r = reindex({{"max_docs", 50},
               {"source", {{"index", "src"}, {"query", {{"term", {{"provider", "smk"}}}}}}},
               {"dest", {{"index", "dst"}}}},
              "?refresh=true");
  ASSERT_EQ(r.status, 200) << r.body.dump();
  EXPECT_EQ(r.body["total"], 1);
}

TEST_F(SampleSupport, ReindexSizeIsTheDeprecatedNameOfMaxDocsAndSourceSizeTheBatch) {
  auto r = reindex({{"size", 4}, {"source", {{"index", "src"}, {"size", 1}}}, {"dest", {{"index", "dst"}}}});
  ASSERT_EQ(r.status, 200) << r.body.dump();
  EXPECT_EQ(r.body["total"], 4);
  EXPECT_EQ(r.body["batches"], 4);
  auto both = reindex({{"size", 4}, {"max_docs", 5}, {"source", {{"index", "src"}}}, {"dest", {{"index", "dst2"}}}});
  EXPECT_EQ(both.status, 400);
  // Elasticsearch names them in the order the body gives them; devsearch reads the body unordered.
  const std::string reason = both.body["error"].value("reason", "");
  EXPECT_TRUE(reason == "[max_docs] set to two different values [4] and [5]" ||
              reason == "[max_docs] set to two different values [5] and [4]")
      << reason;
}

TEST_F(SampleSupport, ReindexMaxDocsIsSplitBetweenSlicesRoundingDown) {
  auto r = reindex({{"max_docs", 5}, {"source", {{"index", "src"}}}, {"dest", {{"index", "dst"}}}}, "?slices=2");
  ASSERT_EQ(r.status, 200) << r.body.dump();
  EXPECT_LE(r.body["total"].get<int>(), 4);  // 2 per slice at most
  auto few = reindex({{"max_docs", 1}, {"source", {{"index", "src"}}}, {"dest", {{"index", "dst"}}}}, "?slices=2");
  EXPECT_EQ(few.status, 400);
  EXPECT_EQ(few.body["error"]["type"], "illegal_argument_exception");
  EXPECT_EQ(few.body["error"]["reason"], "[max_docs] should be >= [slices]");
}

TEST_F(SampleSupport, ReindexMaxDocsMustBeAPositiveInteger) {
  for (const json& bad : {json(0), json(-2)}) {
    auto r = reindex({{"max_docs", bad}, {"source", {{"index", "src"}}}, {"dest", {{"index", "dst"}}}});
    EXPECT_EQ(r.status, 400) << bad;
    EXPECT_EQ(r.body["error"]["type"], "illegal_argument_exception") << r.body.dump();
  }
  auto text = reindex({{"max_docs", "ten"}, {"source", {{"index", "src"}}}, {"dest", {{"index", "dst"}}}});
  EXPECT_EQ(text.status, 400);
  auto none = client_->index_exists("dst");
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(*none);
}

}  // namespace
}  // namespace datarefresh::devsearch::testing
