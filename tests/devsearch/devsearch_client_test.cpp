#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <set>
#include <thread>

#include <nlohmann/json.hpp>

#include "core/common/error.h"
#include "tests/devsearch/devsearch_fixture.h"

namespace datarefresh::devsearch::testing {
namespace {

using search::AliasAction;
using search::BulkBodyBuilder;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::UnorderedElementsAre;

nlohmann::json one_shard(const std::string& refresh_interval) {
  return {{"number_of_shards", 1}, {"number_of_replicas", 0}, {"refresh_interval", refresh_interval}};
}

std::string image_doc(int id, const std::string& title, const std::vector<std::string>& tags = {}) {
  nlohmann::json d = {{"id", id}, {"title", title}, {"identifier", "id-" + std::to_string(id)},
                      {"created_on", "2022-01-01T00:00:00Z"}, {"standardized_popularity", 1.5}};
  d["tags"] = nlohmann::json::array();
  for (const auto& t : tags) d["tags"].push_back({{"name", t}});
  return d.dump();
}

class DevSearchClient : public DevSearchTest {
 protected:
  void create_image_index(const std::string& name, const std::string& refresh_interval = "-1") {
    auto r = client_->create_index_from_file(name, source_dir() + "/schemas/image.index.json", one_shard(refresh_interval));
    ASSERT_TRUE(r.ok()) << r.error().describe();
  }
};

TEST_F(DevSearchClient, ReportsClusterInfoAndRefusesToCreateAnIndexTwice) {
  auto info = client_->info();
  ASSERT_TRUE(info.ok()) << info.error().describe();
  EXPECT_EQ(info->version, "8.13.4");  // devsearch's default major; --es-major 7 claims 7.10.2
  create_image_index("image-twice");
  auto again = client_->create_index("image-twice", nlohmann::json::object());
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().http_status, 400);
  EXPECT_EQ(again.error().type, "resource_already_exists_exception");
  EXPECT_FALSE(again.error().retryable);
  auto exists = client_->index_exists("image-twice");
  ASSERT_TRUE(exists.ok());
  EXPECT_TRUE(*exists);
  EXPECT_FALSE(*client_->index_exists("image-never"));
  auto settings = client_->get_settings("image-twice");
  ASSERT_TRUE(settings.ok());
  EXPECT_EQ((*settings)["index"]["number_of_shards"], "1");
  EXPECT_EQ((*settings)["index"]["refresh_interval"], "-1");
}

TEST_F(DevSearchClient, MappingRejectionsRefuseTheSameDocumentsForGoodAndAreNotRetryable) {
  create_image_index("image-mapping");
  server_->faults().set(FaultConfig{.mapping_reject_fraction = 0.1});
  std::vector<std::set<std::string>> refused(2);
  for (auto& ids : refused) {
    BulkBodyBuilder builder;
    for (int i = 0; i < 300; ++i) builder.add_index("image-mapping", std::to_string(i), image_doc(i, "doc"));
    auto r = client_->bulk(builder.take());
    ASSERT_TRUE(r.ok()) << r.error().describe();
    for (const auto& item : r->items) {
      if (item.ok()) continue;
      EXPECT_EQ(item.status, 400);
      EXPECT_EQ(item.error_type, "mapper_parsing_exception");
      EXPECT_FALSE(item.retryable);
      ids.insert(std::to_string(item.position));  // the answer is filtered: items are matched by position
    }
  }
  EXPECT_GT(refused[0].size(), 10u);
  EXPECT_LT(refused[0].size(), 60u);
  EXPECT_EQ(refused[0], refused[1]) << "a mapping conflict refuses the same documents every time";
  server_->faults().clear();
}

TEST_F(DevSearchClient, BulkWithPartialRejectionsMarksOnlyRejectedItemsRetryable) {
  create_image_index("image-bulk");
  server_->faults().set(FaultConfig{.bulk_reject_fraction = 0.5});
  BulkBodyBuilder builder;
  for (int i = 0; i < 200; ++i) builder.add_index("image-bulk", std::to_string(i), image_doc(i, "doc"));
  auto first = client_->bulk(builder.take());
  ASSERT_TRUE(first.ok()) << first.error().describe();
  ASSERT_EQ(first->items.size(), 200u);
  EXPECT_TRUE(first->errors);
  std::vector<int> rejected;
  for (const auto& item : first->items) {
    if (item.ok()) {
      EXPECT_EQ(item.status, 201);
      EXPECT_FALSE(item.retryable);
    } else {
      EXPECT_EQ(item.status, 429);
      EXPECT_EQ(item.error_type, "es_rejected_execution_exception");
      EXPECT_TRUE(item.retryable);
      rejected.push_back(static_cast<int>(item.position));
    }
  }
  EXPECT_GT(rejected.size(), 40u);
  EXPECT_LT(rejected.size(), 160u);

  server_->faults().clear();
  for (int i : rejected) builder.add_index("image-bulk", std::to_string(i), image_doc(i, "doc"));
  auto retry = client_->bulk(builder.take());
  ASSERT_TRUE(retry.ok());
  EXPECT_FALSE(retry->errors);
  EXPECT_EQ(retry->count_failed(), 0u);
  ASSERT_TRUE(client_->refresh("image-bulk").ok());
  EXPECT_EQ(*client_->count("image-bulk"), 200);
}

// The bulk answer written with filter_path equals the full answer filtered afterwards, and is
// what the indexers ask for (status and error only).
TEST_F(DevSearchClient, FilterPathCutsTheBulkAnswerLikeElasticsearch) {
  create_image_index("image-filter");
  server_->faults().set(FaultConfig{.bulk_reject_fraction = 0.5});
  BulkBodyBuilder builder;
  for (int i = 0; i < 40; ++i) builder.add_index("image-filter", std::to_string(i), image_doc(i, "doc"));
  auto body = builder.take();
  auto cut = client_->perform("POST", "/_bulk?filter_path=errors,items.*.status,items.*.error", body,
                              "application/x-ndjson");
  ASSERT_TRUE(cut.ok());
  auto j = nlohmann::json::parse(cut->body);
  ASSERT_EQ(j["items"].size(), 40u) << cut->body;
  EXPECT_TRUE(j["errors"].get<bool>());
  EXPECT_FALSE(j.contains("took"));
  for (const auto& item : j["items"]) {
    const auto& fields = item["index"];
    EXPECT_TRUE(fields.contains("status"));
    EXPECT_EQ(fields.size(), fields["status"] == 429 ? 2u : 1u) << fields.dump();
  }
  server_->faults().clear();
  // Per field while writing, or the whole answer afterwards: the same result.
  auto again = client_->perform("POST", "/_bulk?filter_path=items.*._id,items.*.result", body, "application/x-ndjson");
  auto deep = client_->perform("POST", "/_bulk?filter_path=items.*._shards.total", body, "application/x-ndjson");
  ASSERT_TRUE(again.ok() && deep.ok());
  auto a = nlohmann::json::parse(again->body);
  const auto& first = a["items"][0]["index"];  // created or updated: the first request rejected some
  EXPECT_EQ(first.size(), 2u) << again->body;
  EXPECT_EQ(first["_id"], "0");
  EXPECT_TRUE(first["result"] == "created" || first["result"] == "updated") << again->body;
  EXPECT_EQ(nlohmann::json::parse(deep->body)["items"][0], nlohmann::json::parse(R"({"index":{"_shards":{"total":1}}})"));
  auto none = client_->perform("POST", "/_bulk?filter_path=items.*.error", body, "application/x-ndjson");
  EXPECT_EQ(none->body, "{}");
  auto error = client_->perform("GET", "/no-such-index/_count?filter_path=status");
  EXPECT_EQ(error->status, 404);
  EXPECT_EQ(error->body, R"({"status":404})");
}

// Documents are checked before the store's lock against the mapping as it was; a field that an
// earlier document of the same request added is still enforced on the ones after it.
TEST_F(DevSearchClient, AFieldAddedByOneDocumentBindsTheNextOnesOfTheSameRequest) {
  ASSERT_TRUE(client_->create_index("dynamic-x", {{"mappings", {{"dynamic", "true"}, {"properties", nlohmann::json::object()}}}}).ok());
  BulkBodyBuilder b;
  b.add_index("dynamic-x", "1", R"({"x": 7})");
  b.add_index("dynamic-x", "2", R"({"x": "seven"})");
  b.add_index("dynamic-x", "3", R"({"x": 8})");
  auto r = client_->bulk(b.take());
  ASSERT_TRUE(r.ok()) << r.error().describe();
  ASSERT_EQ(r->items.size(), 3u);
  EXPECT_EQ(r->items[0].status, 201);
  EXPECT_EQ(r->items[1].status, 400);
  EXPECT_EQ(r->items[1].error_type, "mapper_parsing_exception");
  EXPECT_EQ(r->items[2].status, 201);
}

TEST_F(DevSearchClient, BulkMappingErrorsArePermanentPerItem) {
  create_image_index("image-mapping");
  BulkBodyBuilder b;
  b.add_index("image-mapping", "1", R"({"id":"not-a-number"})");
  b.add_index("image-mapping", "2", R"({"id":2,"standardized_popularity":0})");
  b.add_index("image-mapping", "3", R"({"id":3,"created_on":"2022-13-01"})");
  b.add_index("image-mapping", "4", R"({"id":4,"mature":"maybe"})");
  b.add_index("image-mapping", "5", R"({"id":5,"tags":"flat"})");
  b.add_index("image-mapping", "6", R"({"id":6,"unmapped":{"deep":[1,2]},"created_on":1650000000000})");
  auto r = client_->bulk(b.take());
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->items.size(), 6u);
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(r->items[i].status, 400) << "item " << i;
    EXPECT_EQ(r->items[i].error_type, "mapper_parsing_exception") << "item " << i;
    EXPECT_FALSE(r->items[i].retryable);
  }
  EXPECT_THAT(r->items[1].error_reason, HasSubstr("[standardized_popularity] of type [rank_feature]"));
  EXPECT_EQ(r->items[5].status, 201);  // dynamic:false ignores unmapped fields; epoch millis is a date
}

TEST_F(DevSearchClient, AtomicAliasSwapAndARefusedActionLeavesAliasesUnchanged) {
  create_image_index("image-a");
  create_image_index("image-b");
  ASSERT_TRUE(client_->update_aliases({AliasAction::add("image-a", "image")}).ok());
  auto swap = client_->update_aliases({AliasAction::remove("image-a", "image"), AliasAction::add("image-b", "image")});
  ASSERT_TRUE(swap.ok()) << swap.error().describe();
  auto after = client_->get_alias("image");
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->size(), 1u);
  EXPECT_THAT(after->at("image-b"), ElementsAre("image"));

  // The second action is refused (an alias may not be named like an index), so the first must not apply.
  auto refused = client_->update_aliases({AliasAction::add("image-a", "image-filtered"),
                                          AliasAction::add("image-b", "image-a")});
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().http_status, 400);
  EXPECT_EQ(refused.error().type, "invalid_alias_name_exception");
  EXPECT_TRUE(client_->get_alias("image-filtered")->empty());
  EXPECT_THAT(client_->get_alias("image")->at("image-b"), ElementsAre("image"));
  EXPECT_THAT(*client_->get_index_aliases("image-b"), ElementsAre("image"));

  auto missing = client_->update_aliases({AliasAction::remove("image-a", "image")});
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().http_status, 404);
  EXPECT_EQ(missing.error().type, "aliases_not_found_exception");
}

TEST_F(DevSearchClient, ReindexWithMustNotTermsCopiesExactlyTheCleanDocuments) {
  create_image_index("image-src");
  create_image_index("image-src-filtered");
  BulkBodyBuilder b;
  b.add_index("image-src", "1", image_doc(1, "A Bird in the Sky", {"bird"}));
  b.add_index("image-src", "2", image_doc(2, "Mountain Lake", {"Lake View"}));
  b.add_index("image-src", "3", image_doc(3, "City", {"NSFWTERM", "city"}));
  b.add_index("image-src", "4", image_doc(4, "Badterm's garden"));         // token "badterm's": kept
  b.add_index("image-src", "5", image_doc(5, "an awful BADTERM here"));   // token "badterm": dropped
  b.add_index("image-src", "6", R"({"id":6,"description":"lake nsfwterm."})");
  b.add_index("image-src", "7", R"({"id":7,"title":"Lake viewing"})");
  for (int i = 8; i < 40; ++i) b.add_index("image-src", std::to_string(i), image_doc(i, "plain"));
  ASSERT_FALSE(client_->bulk(b.take())->errors);
  ASSERT_TRUE(client_->refresh("image-src").ok());

  nlohmann::json terms = {"nsfwterm", "badterm", "lake view"};
  nlohmann::json body = {
      {"source",
       {{"index", "image-src"},
        {"query",
         {{"bool",
           {{"must_not",
             {{{"terms", {{"tags.name.raw", terms}}}},
              {{"terms", {{"title.raw", terms}}}},
              {{"terms", {{"description.raw", terms}}}}}}}}}}}},
      {"dest", {{"index", "image-src-filtered"}}}};
  auto task_id = client_->start_reindex(body, 2000.0, "auto");
  ASSERT_TRUE(task_id.ok()) << task_id.error().describe();
  EXPECT_THAT(*task_id, HasSubstr(":"));
  search::TaskStatus status;
  ASSERT_TRUE(eventually(
      [&] {
        auto t = client_->get_task(*task_id);
        if (t.ok()) status = *t;
        return t.ok() && t->completed;
      },
      std::chrono::seconds(10)));
  EXPECT_EQ(status.total, 36);
  EXPECT_EQ(status.created, 36);
  EXPECT_TRUE(status.failures.empty());
  EXPECT_FALSE(status.error.has_value());
  ASSERT_TRUE(client_->refresh("image-src-filtered").ok());

  auto ids = client_->perform("POST", "/image-src-filtered/_search",
                              R"({"query":{"match_all":{}},"_source":false,"size":100,"sort":[{"id":"asc"}]})");
  ASSERT_TRUE(ids.ok());
  auto hits = nlohmann::json::parse(ids->body)["hits"]["hits"];
  std::set<std::string> got;
  for (const auto& h : hits) got.insert(h["_id"].get<std::string>());
  EXPECT_EQ(got.count("3"), 0u);
  EXPECT_EQ(got.count("5"), 0u);
  EXPECT_EQ(got.count("6"), 0u);
  EXPECT_EQ(got.count("1"), 1u);
  EXPECT_EQ(got.count("2"), 1u);  // "Lake View" is two tokens: the phrase term never matches
  EXPECT_EQ(got.count("4"), 1u);
  EXPECT_EQ(got.count("7"), 1u);
  EXPECT_EQ(got.size(), 36u);

  auto rows = client_->cat_indices();
  ASSERT_TRUE(rows.ok());
  bool tasks_index = std::any_of(rows->begin(), rows->end(), [](const auto& r) { return r.index == ".tasks"; });
  EXPECT_TRUE(tasks_index);
}

TEST_F(DevSearchClient, ReindexHonoursRequestsPerSecond) {
  create_image_index("image-slow");
  BulkBodyBuilder b;
  for (int i = 0; i < 40; ++i) b.add_index("image-slow", std::to_string(i), image_doc(i, "x"));
  ASSERT_FALSE(client_->bulk(b.take())->errors);
  ASSERT_TRUE(client_->refresh("image-slow").ok());
  auto start = std::chrono::steady_clock::now();
  nlohmann::json body = {{"source", {{"index", "image-slow"}, {"size", 10}}}, {"dest", {{"index", "image-slow-copy"}}}};
  auto task_id = client_->start_reindex(body, 50.0, "1");  // 40 docs in batches of 10 at 50/s: >= 0.6 s
  ASSERT_TRUE(task_id.ok());
  ASSERT_TRUE(eventually([&] { return client_->get_task(*task_id)->completed; }, std::chrono::seconds(10)));
  auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_GE(elapsed, std::chrono::milliseconds(550));
  EXPECT_EQ(client_->get_task(*task_id)->created, 40);
}

TEST_F(DevSearchClient, CountSeesDocumentsOnlyAfterARefreshOrTheRefreshInterval) {
  create_image_index("image-manual", "-1");
  create_image_index("image-timed", "300ms");
  BulkBodyBuilder b;
  for (int i = 0; i < 5; ++i) {
    b.add_index("image-manual", std::to_string(i), image_doc(i, "x"));
    b.add_index("image-timed", std::to_string(i), image_doc(i, "x"));
  }
  ASSERT_FALSE(client_->bulk(b.take())->errors);
  EXPECT_EQ(*client_->count("image-manual"), 0);
  ASSERT_TRUE(eventually([&] { return *client_->count("image-timed") == 5; }, std::chrono::seconds(2)));
  EXPECT_EQ(*client_->count("image-manual"), 0);  // still: refresh_interval -1 never refreshes by itself
  ASSERT_TRUE(client_->refresh("image-manual").ok());
  EXPECT_EQ(*client_->count("image-manual"), 5);
  EXPECT_EQ(*client_->count("image-manual", nlohmann::json{{"term", {{"id", 3}}}}), 1);
  EXPECT_EQ(*client_->count("image-manual", nlohmann::json{{"term", {{"title.raw", "x"}}}}), 5);

  auto missing = client_->count("image-none");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().http_status, 404);
  EXPECT_EQ(missing.error().type, "index_not_found_exception");
}

TEST_F(DevSearchClient, HealthWaitForGreenTimesOutWhileReplicasCannotBeAssigned) {
  ASSERT_TRUE(client_->create_index("with-replica", {{"settings", {{"number_of_replicas", 1}}}}).ok());
  auto yellow = client_->cluster_health("with-replica", "green", std::chrono::milliseconds(300));
  ASSERT_TRUE(yellow.ok()) << yellow.error().describe();
  EXPECT_EQ(yellow->status, "yellow");
  EXPECT_TRUE(yellow->timed_out);
  EXPECT_EQ(yellow->http_status, 408);
  ASSERT_TRUE(client_->update_settings("with-replica", {{"index", {{"number_of_replicas", 0}}}}).ok());
  auto green = client_->cluster_health("with-replica", "green", std::chrono::seconds(1));
  ASSERT_TRUE(green.ok());
  EXPECT_EQ(green->status, "green");
  EXPECT_FALSE(green->timed_out);
  auto frozen = client_->update_settings("with-replica", {{"index", {{"number_of_shards", 3}}}});
  ASSERT_FALSE(frozen.ok());
  EXPECT_EQ(frozen.error().type, "illegal_argument_exception");
}

TEST_F(DevSearchClient, InjectedFailuresAreRetryableAndExpire) {
  auto set = client_->perform("POST", "/_devsearch/faults", R"({"fail_fraction":1.0,"duration":"300ms"})");
  ASSERT_TRUE(set.ok());
  ASSERT_EQ(set->status, 200);
  auto failed = client_->info();
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.error().http_status, 503);
  EXPECT_TRUE(failed.error().retryable);
  ASSERT_TRUE(eventually([&] { return client_->info().ok(); }, std::chrono::seconds(2)));

  ASSERT_EQ(client_->perform("POST", "/_devsearch/faults", R"({"drop_fraction":1.0})")->status, 200);
  auto dropped = client_->info();
  ASSERT_FALSE(dropped.ok());
  EXPECT_EQ(dropped.error().http_status, 0);
  EXPECT_TRUE(dropped.error().retryable);
  ASSERT_EQ(client_->perform("DELETE", "/_devsearch/faults")->status, 200);
  EXPECT_TRUE(client_->info().ok());

  auto stats = nlohmann::json::parse(client_->perform("GET", "/_devsearch/stats")->body);
  EXPECT_GE(stats["injected_failures"].get<int>(), 1);
  // libcurl resends once on a fresh connection when a reused one closes without an answer.
  EXPECT_GE(stats["dropped_connections"].get<int>(), 1);
  EXPECT_LE(stats["dropped_connections"].get<int>(), 2);
}

TEST_F(DevSearchClient, OneClientServesConcurrentBulksFromSeveralThreads) {
  create_image_index("image-threads");
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int batch = 0; batch < 10; ++batch) {
        BulkBodyBuilder b;
        for (int i = 0; i < 50; ++i) {
          int id = t * 10000 + batch * 100 + i;
          b.add_index("image-threads", std::to_string(id), image_doc(id, "t"));
        }
        auto r = client_->bulk(b.take());
        if (!r.ok() || r->errors) ++failures;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  ASSERT_TRUE(client_->refresh("image-threads").ok());
  EXPECT_EQ(*client_->count("image-threads"), 2000);
}

TEST(DevSearchServerStart, RefusesANonLoopbackHostWithoutAllowRemote) {
  DevSearchOptions o;
  o.host = "0.0.0.0";
  DevSearchServer server(o);
  EXPECT_THROW(server.start(0), ConfigError);
}

class DevSearchSink : public DevSearchTest {
 protected:
  DevSearchOptions server_options() const override {
    DevSearchOptions o;
    o.sink = true;
    return o;
  }
};

TEST_F(DevSearchSink, ValidatesAndCountsWithoutKeepingSources) {
  ASSERT_TRUE(client_->create_index_from_file("image-sink", source_dir() + "/schemas/image.index.json",
                                              {{"number_of_shards", 1}})
                  .ok());
  BulkBodyBuilder b;
  for (int i = 0; i < 1000; ++i) b.add_index("image-sink", std::to_string(i % 900), image_doc(i, "s"));
  b.add_index("image-sink", "bad", R"({"id":"x"})");
  auto r = client_->bulk(b.take());
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->count_failed(), 1u);
  EXPECT_EQ(r->items.back().error_type, "mapper_parsing_exception");
  EXPECT_EQ(r->items[950].status, 200);  // updated
  EXPECT_EQ(*client_->count("image-sink"), 0);
  ASSERT_TRUE(client_->refresh("image-sink").ok());
  EXPECT_EQ(*client_->count("image-sink"), 900);
  auto doc = client_->perform("GET", "/image-sink/_doc/1");
  ASSERT_TRUE(doc.ok());
  EXPECT_EQ(doc->status, 400);
  EXPECT_THAT(doc->body, HasSubstr("sink"));
}

}  // namespace
}  // namespace datarefresh::devsearch::testing
