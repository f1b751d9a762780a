// The whole refresh over real processes: a throwaway PostgreSQL with generated catalog data, the
// embedded Kafka-protocol broker, devsearch, and `datarefresh planner|indexer|coordinator` as
// separate processes (two indexers). Every check compares against an independent computation
// from the generated rows (tests/e2e/expected_documents.cpp).
#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <set>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "core/ledger/ledger.h"
#include "core/pg/database.h"
#include "core/search/client.h"
#include "devstack/demo/dev_stack.h"
#include "tests/e2e/expected_documents.h"

namespace datarefresh::e2e {
namespace {

using nlohmann::json;
using std::chrono::seconds;

constexpr std::uint64_t kImageRows = 3000;
constexpr std::uint64_t kAudioRows = 600;

struct Catalog {
  std::vector<CatalogRow> rows;
  std::set<std::string> deleted;
  std::set<std::string> sensitive;
};

class RefreshEndToEnd : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    demo::DevStackOptions o;
    o.image_rows = kImageRows;
    o.audio_rows = kAudioRows;
    o.seed = 20261121;
    // ctest runs this suite twice: against devsearch's default (Elasticsearch 8.13) and, with
    // DATAREFRESH_TEST_ES_MAJOR=7, as Elasticsearch 7.10, whose _aliases semantics differ.
    if (const char* major = std::getenv("DATAREFRESH_TEST_ES_MAJOR")) o.search_es_major = std::atoi(major);
    o.env = {{"DATAREFRESH_REFRESH_ROWS_PER_SHARD", "500"},
             {"DATAREFRESH_LOGGING_FORMAT", "text"},
             {"DATAREFRESH_SEARCH_BULK_MAX_DOCS", "400"}};
    stack_ = new demo::DevStack(o);
    std::cout << "service logs: " << stack_->run_dir().string() << " (kept if a test fails)\n";
    stack_->start_infrastructure();
    stack_->start_services(2);
  }
  static void TearDownTestSuite() {
    // Keep the services' logs (the path is in the failure messages) only when something failed.
    stack_->set_remove_run_dir(::testing::UnitTest::GetInstance()->Passed());
    delete stack_;
    stack_ = nullptr;
  }

  static pg::Database api() { return pg::Database::connect(stack_->api_db_options()); }
  static pg::Database catalog_db() { return pg::Database::connect(stack_->catalog_db_options()); }
  static search::Client search_client() { return search::Client(stack_->search_options()); }

  static Catalog read_catalog(const std::string& media) {
    Catalog c;
    auto db = catalog_db();
    std::string extra = media == "image" ? ", width::text, height::text" : ", duration::text, filetype, alt_files::text";
    auto rs = db.exec("SELECT identifier::text, (created_on AT TIME ZONE 'UTC')::text AS created_on, license, provider, "
                      "source, category, title, meta_data::text, creator, standardized_popularity::text, tags::text, "
                      "url, CASE WHEN removed_from_source THEN 't' ELSE 'f' END AS removed_from_source" +
                      extra + " FROM " + media);
    for (const auto& r : rs.rows) {
      CatalogRow row;
      for (std::size_t i = 0; i < rs.columns.size(); ++i) row.columns[rs.columns[i]] = r[i];
      c.rows.push_back(std::move(row));
    }
    auto a = api();
    for (const auto& r : a.exec("SELECT identifier::text FROM api_deleted" + media).rows) c.deleted.insert(*r[0]);
    for (const auto& r : a.exec("SELECT identifier::text FROM api_mature" + media).rows) c.sensitive.insert(*r[0]);
    return c;
  }

  static std::map<std::string, json> documents(const std::string& index_or_alias) {
    auto client = search_client();
    client.refresh(index_or_alias);
    json query = {{"query", {{"match_all", json::object()}}}, {"size", 10000}, {"sort", {{{"id", "asc"}}}}};
    auto r = client.perform("POST", "/" + index_or_alias + "/_search", query.dump());
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().describe());
    std::map<std::string, json> out;
    if (!r.ok()) return out;
    auto body = json::parse(r.value().body);
    for (const auto& hit : body["hits"]["hits"]) {
      json src = hit["_source"];
      EXPECT_EQ(hit["_id"].get<std::string>(), std::to_string(src["id"].get<std::int64_t>()));
      out[src["identifier"].get<std::string>()] = src;
    }
    return out;
  }

  static std::set<std::string> schema_names(pg::Database& db, const std::string& table) {
    std::set<std::string> names;
    for (const auto& r : db.exec("SELECT indexname FROM pg_indexes WHERE schemaname = 'public' AND tablename = '" + table + "'").rows) {
      names.insert("index " + *r[0]);
    }
    for (const auto& r : db.exec("SELECT conname FROM pg_constraint WHERE conrelid = 'public." + table + "'::regclass").rows) {
      names.insert("constraint " + *r[0]);
    }
    return names;
  }

  static std::set<std::string> sensitive_terms() {
    std::ifstream in(stack_->source_dir() / "devstack" / "datagen" / "sensitive_terms.txt");
    std::set<std::string> terms;
    std::string line;
    while (std::getline(in, line)) {
      if (line.empty() || line[0] == '#') continue;
      for (auto& ch : line) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
      terms.insert(line);
    }
    return terms;
  }

  // The generated rows on which Openverse's transform does something unusual (row_generator.cpp's
  // EdgeRow) are among the documents compared: every kind has at least one indexed row.
  static void expect_edge_rows_indexed(const std::string& media, const Catalog& catalog,
                                       const std::map<std::string, json>& expected) {
    auto has = [](const std::optional<std::string>& v, const std::string& part) {
      return v && v->find(part) != std::string::npos;
    };
    using Check = std::function<bool(const CatalogRow&)>;
    std::vector<std::pair<std::string, Check>> kinds = {
        {"a number beyond a double in meta_data",
         [&](const CatalogRow& r) { return has(r.at("meta_data"), "\"huge\": 1000"); }},
        {"authority_boost \"inf\"",
         [&](const CatalogRow& r) { return has(r.at("meta_data"), "\"authority_boost\": \"inf\""); }},
        {"authority_boost true",
         [&](const CatalogRow& r) { return has(r.at("meta_data"), "\"authority_boost\": true"); }},
        {"authority_boost \"4_2\"",
         [&](const CatalogRow& r) { return has(r.at("meta_data"), "\"authority_boost\": \"4_2\""); }},
        {"a license with the Kelvin sign", [&](const CatalogRow& r) { return has(r.at("license"), "\u212A"); }},
        {"popularity Infinity",
         [&](const CatalogRow& r) {
           return r.at("standardized_popularity") == std::optional<std::string>("Infinity");
         }},
        {"a description list", [&](const CatalogRow& r) { return has(r.at("meta_data"), "\"description\": ["); }},
        {"a tag accuracy \"0.95\\n\"", [&](const CatalogRow& r) { return has(r.at("tags"), "\"0.95\\n\""); }},
        {"created_on with a fraction", [&](const CatalogRow& r) { return has(r.at("created_on"), "."); }},
    };
    if (media == "image") {
      kinds.push_back({"authority_boost null",
                       [&](const CatalogRow& r) { return has(r.at("meta_data"), "\"authority_boost\": null"); }});
      kinds.push_back({"a url ending in .JPÉG", [&](const CatalogRow& r) { return has(r.at("url"), ".JPÉG"); }});
      kinds.push_back({"provider rawpixel", [&](const CatalogRow& r) {
                         return r.at("provider") == std::optional<std::string>("rawpixel");
                       }});
    } else {
      kinds.push_back(
          {"duration 0", [&](const CatalogRow& r) { return r.at("duration") == std::optional<std::string>("0"); }});
      kinds.push_back({"an alternative file without a filetype",
                       [&](const CatalogRow& r) { return has(r.at("alt_files"), "\"filesize\": 1000}"); }});
    }
    for (const auto& [kind, matches] : kinds) {
      bool indexed = std::any_of(catalog.rows.begin(), catalog.rows.end(), [&](const CatalogRow& r) {
        return matches(r) && expected.count(*r.at("identifier"));
      });
      EXPECT_TRUE(indexed) << media << ": no indexed row with " << kind;
    }
  }

  // Checks every document of the media type against the independent expectation.
  static void expect_documents_match(const std::string& media, const ledger::Run& run) {
    auto catalog = read_catalog(media);
    auto docs = documents(media);  // through the alias
    std::map<std::string, json> expected;
    for (const auto& row : catalog.rows) {
      const std::string id = *row.at("identifier");
      if (auto doc = expected_document(media, row, catalog.deleted.count(id) > 0, catalog.sensitive.count(id) > 0)) {
        expected[id] = *doc;
      }
    }
    ASSERT_GT(expected.size(), 0u);
    expect_edge_rows_indexed(media, catalog, expected);
    EXPECT_EQ(docs.size(), expected.size()) << "documents in alias " << media;
    int mismatches = 0;
    for (const auto& [id, want] : expected) {
      auto it = docs.find(id);
      if (it == docs.end()) {
        ADD_FAILURE() << "missing document " << id;
        if (++mismatches > 5) break;
        continue;
      }
      auto d = diff_documents(want, it->second);
      if (!d.empty()) {
        ADD_FAILURE() << "document " << id << ": " << fmt::format("{}", fmt::join(d, "; "));
        if (++mismatches > 5) break;
      }
    }
    for (const auto& [id, _] : docs) {
      if (!expected.count(id)) ADD_FAILURE() << "unexpected document " << id << " (deleted or removed from source?)";
    }
    // The filtered alias holds exactly the documents without sensitive terms.
    auto terms = sensitive_terms();
    std::set<std::string> want_filtered;
    for (const auto& [id, doc] : expected) {
      if (passes_sensitive_filter(doc, terms)) want_filtered.insert(id);
    }
    std::set<std::string> got_filtered;
    for (const auto& [id, _] : documents(media + "-filtered")) got_filtered.insert(id);
    EXPECT_LT(want_filtered.size(), expected.size()) << "the data must exercise the filter";
    EXPECT_EQ(got_filtered, want_filtered);
    EXPECT_EQ(run.report["filtered_out"].get<std::int64_t>(),
              static_cast<std::int64_t>(expected.size() - want_filtered.size()));
    // The promoted API table holds every copied row (deleted ones were never copied).
    auto db = api();
    std::int64_t copied = 0;
    for (const auto& row : catalog.rows) copied += catalog.deleted.count(*row.at("identifier")) ? 0 : 1;
    EXPECT_EQ(std::stoll(*db.query_value("SELECT count(*) FROM " + media)), copied);
  }

  static void expect_ledger_adds_up(const std::string& refresh_id, std::int64_t documents) {
    auto db = api();
    ledger::Ledger ledger(db);
    auto run = ledger.run(refresh_id);
    ASSERT_TRUE(run);
    EXPECT_EQ(run->status, ledger::RunStatus::kCompleted);
    std::int64_t rows = 0, indexed = 0, skipped = 0;
    std::set<std::int64_t> starts;
    std::int64_t covered = 0;
    for (const auto& s : ledger.shards(refresh_id)) {
      EXPECT_EQ(s.status, ledger::ShardStatus::kCompleted);
      rows += s.counts.rows_read;
      indexed += s.counts.indexed;
      skipped += s.counts.skipped_deleted + s.counts.skipped_removed + s.counts.dead_lettered;
      covered += s.id_end - s.id_start;
    }
    EXPECT_EQ(rows, run->expected_rows.value_or(-1));
    EXPECT_EQ(rows, indexed + skipped);
    EXPECT_EQ(indexed, documents);
    EXPECT_EQ(covered, run->id_max.value_or(0) - run->id_min.value_or(0) + 1) << "shards cover every id once";
    EXPECT_EQ(run->report["documents_indexed"].get<std::int64_t>(), documents);
    EXPECT_EQ(run->report["rows_after"].get<std::int64_t>(), run->rows_copied.value_or(-1));
  }

  // The live table against the upstream, as a full refresh would leave it: every upstream row not
  // deleted on request, with the same values and its tags filtered.
  static void expect_table_matches_upstream(const std::string& media) {
    auto up = catalog_db();
    auto db = api();
    std::set<std::string> deleted;
    for (const auto& r : db.exec("SELECT identifier::text FROM api_deleted" + media).rows) deleted.insert(*r[0]);
    const std::string cols =
        "identifier::text, title, meta_data::text, removed_from_source::text, standardized_popularity::text, url, "
        "(updated_on AT TIME ZONE 'UTC')::text, tags::text";
    std::map<std::string, std::vector<std::optional<std::string>>> want, got;
    for (const auto& r : up.exec("SELECT " + cols + " FROM " + media).rows) {
      if (!deleted.count(*r[0])) want[*r[0]] = r;
    }
    for (const auto& r : db.exec("SELECT " + cols + " FROM " + media).rows) got[*r[0]] = r;
    EXPECT_EQ(got.size(), want.size()) << "rows in table " << media;
    int mismatches = 0;
    for (const auto& [id, w] : want) {
      auto it = got.find(id);
      if (it == got.end()) {
        ADD_FAILURE() << media << ": row " << id << " missing from the live table";
        if (++mismatches > 5) return;
        continue;
      }
      const auto& g = it->second;
      for (std::size_t i = 1; i + 1 < w.size(); ++i) {
        if (w[i] != g[i]) {
          ADD_FAILURE() << media << " row " << id << " column " << i << ": upstream " << w[i].value_or("NULL")
                        << ", live " << g[i].value_or("NULL");
          if (++mismatches > 5) return;
        }
      }
      json want_tags = w.back() ? filter_tags(json::parse(*w.back())) : json();
      json got_tags = g.back() ? json::parse(*g.back()) : json();
      if (want_tags != got_tags) {
        ADD_FAILURE() << media << " row " << id << " tags: expected " << want_tags.dump() << ", live " << got_tags.dump();
        if (++mismatches > 5) return;
      }
    }
  }

  static std::map<std::string, std::int64_t> live_ids(const std::string& media) {
    auto db = api();
    std::map<std::string, std::int64_t> out;
    for (const auto& r : db.exec("SELECT identifier::text, id FROM " + media).rows) out[*r[0]] = std::stoll(*r[1]);
    return out;
  }

  static ledger::Run run_to_end(const std::string& media, const std::string& mode) {
    auto id = stack_->trigger(media, std::nullopt, mode);
    auto p = stack_->wait(id, seconds(240));
    return p.run;
  }

  static std::map<std::string, json> without_ids(std::map<std::string, json> docs) {
    for (auto& [_, d] : docs) d.erase("id");
    return docs;
  }

  static demo::DevStack* stack_;
  static std::string first_image_;
  static std::string first_image_index_;
  static std::set<std::string> image_schema_before_;
};

demo::DevStack* RefreshEndToEnd::stack_ = nullptr;
std::string RefreshEndToEnd::first_image_;
std::string RefreshEndToEnd::first_image_index_;
std::set<std::string> RefreshEndToEnd::image_schema_before_;

TEST_F(RefreshEndToEnd, AnImageRefreshCompletes) {
  auto db = api();
  image_schema_before_ = schema_names(db, "image");
  first_image_ = stack_->trigger("image");
  stack_->wait(first_image_, seconds(120), {});
  auto first = stack_->progress(first_image_);
  ASSERT_EQ(first.run.status, ledger::RunStatus::kCompleted) << first.run.error.value_or("");
  first_image_index_ = *first.run.new_index;
}

TEST_F(RefreshEndToEnd, ASecondRequestWhileOneRunsIsRefusedWithItsReason) {
  // The audio refresh must still run when the image request is handled, however fast it is: the
  // test holds a share lock on the live audio table (its promotion waits for it) and requests the
  // image refresh only once the audio one is in the ledger (the two requests are on different
  // partitions, so the planner could otherwise take them in either order).
  auto holder = api();
  holder.exec("BEGIN");
  holder.exec("SELECT 1 FROM audio LIMIT 1");
  auto running = stack_->trigger("audio");
  const auto deadline = std::chrono::steady_clock::now() + seconds(60);
  while (std::chrono::steady_clock::now() < deadline && stack_->progress(running).run.phase == "requested") {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  auto refused = stack_->trigger("image");
  auto r = stack_->wait(refused, seconds(60));
  holder.exec("COMMIT");
  auto a = stack_->wait(running, seconds(180));
  ASSERT_EQ(a.run.status, ledger::RunStatus::kCompleted) << a.run.error.value_or("");
  EXPECT_EQ(r.run.status, ledger::RunStatus::kRefused);
  ASSERT_TRUE(r.run.error);
  EXPECT_NE(r.run.error->find(running), std::string::npos) << *r.run.error;
  EXPECT_NE(r.run.error->find("only one refresh"), std::string::npos) << *r.run.error;
  EXPECT_FALSE(r.run.new_index) << "a refused request leaves no trace";
  auto client = search_client();
  auto leftover = client.index_exists("image-" + std::string(refused.begin(), refused.end()));
  EXPECT_TRUE(leftover.ok() && !leftover.value());
  expect_documents_match("audio", a.run);
  expect_ledger_adds_up(running, static_cast<std::int64_t>(documents("audio").size()));
}

// `datarefresh status` reads the same ledger: the last refresh of each media type with its report.
TEST_F(RefreshEndToEnd, StatusShowsTheLastRefreshOfEachMediaType) {
  auto status = stack_->spawn({"status", "--config", stack_->config_file().string()}, "status");
  auto rc = status.wait_for(seconds(30));
  ASSERT_TRUE(rc);
  EXPECT_EQ(*rc, 0);
  std::ifstream in(stack_->run_dir() / "status.log");
  std::string out((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_NE(out.find("no refresh running"), std::string::npos) << out;
  EXPECT_NE(out.find("last refresh per media type"), std::string::npos) << out;
  auto image = stack_->progress(first_image_);
  EXPECT_NE(out.find("image  completed"), std::string::npos) << out;
  EXPECT_NE(out.find(fmt::format("documents {}", image.run.report.value("documents_indexed", std::int64_t{0}))),
            std::string::npos)
      << out;
}

// A restarted coordinator knows when each media type last succeeded (from the ledger) and shows no
// progress gauges for refreshes that are over.
TEST_F(RefreshEndToEnd, ARestartedCoordinatorServesTheLastSuccessAndNoStaleProgress) {
  auto log_path = stack_->run_dir() / "coordinator.log";
  auto started_lines = [&] {
    std::ifstream in(log_path);
    std::vector<std::string> ports;
    for (std::string line; std::getline(in, line);) {
      auto at = line.find("coordinator started");
      auto port = line.find("metrics_port=", at == std::string::npos ? line.size() : at);
      if (port != std::string::npos) ports.push_back(line.substr(port + 13, line.find_first_not_of("0123456789", port + 13) - port - 13));
    }
    return ports;
  };
  auto before = started_lines().size();
  stack_->start_coordinator();
  std::string port;
  for (int i = 0; i < 300 && port.empty(); ++i) {
    auto ports = started_lines();
    if (ports.size() > before) port = ports.back();
    else std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_FALSE(port.empty()) << "the restarted coordinator did not log its metrics port";
  httplib::Client client("127.0.0.1", std::stoi(port));
  std::string metrics;
  for (int i = 0; i < 50; ++i) {  // the first pass loads the ledger
    auto r = client.Get("/metrics");
    if (r && r->status == 200) metrics = r->body;
    if (metrics.find("datarefresh_last_successful_refresh_timestamp_seconds{") != std::string::npos) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  EXPECT_NE(metrics.find("datarefresh_last_successful_refresh_timestamp_seconds{media_type=\"image\"}"),
            std::string::npos)
      << metrics;
  EXPECT_NE(metrics.find("datarefresh_last_successful_refresh_timestamp_seconds{media_type=\"audio\"}"),
            std::string::npos)
      << metrics;
  EXPECT_EQ(metrics.find("datarefresh_refresh_progress_ratio{"), std::string::npos) << "no refresh runs";
  // Prometheus' own linter on what the coordinator serves (promtool comes with ./dev's packages).
  if (std::system("command -v promtool > /dev/null 2>&1") == 0) {
    auto file = stack_->run_dir() / "coordinator.metrics";
    std::ofstream(file) << metrics;
    auto out = stack_->run_dir() / "promtool.out";
    int rc = std::system(("promtool check metrics < '" + file.string() + "' > '" + out.string() + "' 2>&1").c_str());
    std::ifstream in(out);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    EXPECT_EQ(rc, 0) << text;
  }
}

TEST_F(RefreshEndToEnd, EveryImageDocumentEqualsTheIndependentExpectation) {
  auto p = stack_->progress(first_image_);
  expect_documents_match("image", p.run);
  expect_ledger_adds_up(first_image_, static_cast<std::int64_t>(documents("image").size()));
}

TEST_F(RefreshEndToEnd, PromotedTableKeepsTheLiveIndexesAndConstraintsUnderTheirNames) {
  auto db = api();
  EXPECT_EQ(schema_names(db, "image"), image_schema_before_);
  EXPECT_FALSE(db.query_value("SELECT to_regclass('public.temp_import_image')::text")) << "temp table left behind";
  EXPECT_FALSE(db.query_value("SELECT 1 FROM pg_foreign_server WHERE srvname LIKE 'datarefresh_fdw_%'")) << "FDW left behind";
  auto audio = schema_names(db, "audio");
  EXPECT_TRUE(audio.count("constraint audio_identifier_key")) << "audio keeps its UNIQUE constraint names";
}

TEST_F(RefreshEndToEnd, ASecondRefreshReplacesTheFirstAndRepointsForeignKeys) {
  auto db = api();
  // Reports on two live images; one of them is then deleted on request, so the next refresh does
  // not copy it and its report must go with it when the foreign key is re-pointed.
  auto ids = db.exec("SELECT identifier::text FROM image ORDER BY id LIMIT 2");
  ASSERT_EQ(ids.size(), 2u);
  std::string keep = *ids.rows[0][0], gone = *ids.rows[1][0];
  db.exec_params("INSERT INTO api_imagereport (reason, media_obj_id) VALUES ('mature', $1::uuid), ('dmca', $2::uuid)",
                 {keep, gone});
  db.exec_params("INSERT INTO api_deletedimage (created_on, updated_on, identifier) VALUES (now(), now(), $1::uuid)", {gone});

  auto second = stack_->trigger("image");
  auto p = stack_->wait(second, seconds(180));
  ASSERT_EQ(p.run.status, ledger::RunStatus::kCompleted) << p.run.error.value_or("");
  auto client = search_client();
  auto alias = client.get_alias("image");
  ASSERT_TRUE(alias.ok());
  EXPECT_EQ(alias.value().size(), 1u);
  EXPECT_EQ(alias.value().count(*p.run.new_index), 1u);
  auto filtered = client.get_alias("image-filtered");
  ASSERT_TRUE(filtered.ok());
  EXPECT_EQ(filtered.value().count(*p.run.filtered_index), 1u);
  auto old_exists = client.index_exists(first_image_index_);
  EXPECT_TRUE(old_exists.ok() && !old_exists.value()) << "old index deleted";
  auto old_filtered = client.index_exists(first_image_index_ + "-filtered");
  EXPECT_TRUE(old_filtered.ok() && !old_filtered.value()) << "old filtered index deleted";

  auto reports = db.exec("SELECT media_obj_id::text FROM api_imagereport");
  std::set<std::string> left;
  for (const auto& r : reports.rows) left.insert(*r[0]);
  EXPECT_EQ(left, std::set<std::string>{keep});
  EXPECT_TRUE(db.query_value(
      "SELECT 1 FROM pg_constraint WHERE conname = 'api_imagereport_media_obj_id_fk_image_identifier' "
      "AND confrelid = 'public.image'::regclass"))
      << "the foreign key points at the promoted table";
  EXPECT_EQ(schema_names(db, "image"), image_schema_before_);
  expect_documents_match("image", p.run);
  auto docs = documents("image");
  EXPECT_EQ(docs.count(gone), 0u);
}


// An incremental refresh after changes of every kind leaves the table and both indices as a full
// refresh would; kept rows keep their ids; nothing is left behind; a second one changes nothing,
// and a full refresh right after changes no document.
TEST_F(RefreshEndToEnd, AnIncrementalRefreshEqualsAFullOne) {
  auto up = catalog_db();
  auto db = api();
  // The upstream's rows were written long ago: only what the test changes is recent.
  up.exec("UPDATE image SET updated_on = now() - interval '3 days'");
  auto everything = run_to_end("image", "incremental");
  ASSERT_EQ(everything.status, ledger::RunStatus::kCompleted) << everything.error.value_or("");
  EXPECT_EQ(everything.mode, "incremental");
  expect_table_matches_upstream("image");
  expect_documents_match("image", everything);

  auto ids_before = live_ids("image");
  auto terms = sensitive_terms();
  ASSERT_FALSE(terms.empty());
  auto pick = [&](int offset, int n) {
    return fmt::format("(SELECT identifier FROM image ORDER BY identifier OFFSET {} LIMIT {})", offset, n);
  };
  // Upstream: field, tag and meta_data updates, removed_from_source flips, inserts, hard deletes,
  // and a silent bulk update (no updated_on, as a batched_update may write).
  up.exec("UPDATE image SET title = coalesce(title, '') || ' (revised)', updated_on = now() WHERE identifier IN " + pick(100, 10));
  up.exec_params("UPDATE image SET tags = coalesce(tags, '[]'::jsonb) || jsonb_build_array(jsonb_build_object('name', "
                 "$1::text, 'provider', 'flickr'), jsonb_build_object('name', 'blurry', 'provider', 'clarifai', "
                 "'accuracy', 0.5)), updated_on = now() WHERE identifier IN " + pick(200, 10),
                 {*terms.begin()});
  up.exec("UPDATE image SET meta_data = coalesce(meta_data, '{}'::jsonb) || '{\"views\": 42}', updated_on = now() "
          "WHERE identifier IN " + pick(300, 10));
  up.exec("UPDATE image SET removed_from_source = NOT removed_from_source, updated_on = now() WHERE identifier IN " +
          pick(400, 10));
  up.exec("INSERT INTO image SELECT (jsonb_populate_record(NULL::image, to_jsonb(i) || jsonb_build_object('identifier', "
          "gen_random_uuid(), 'url', i.url || '?copy', 'foreign_identifier', i.foreign_identifier || '-copy', "
          "'updated_on', now()))).* FROM image AS i WHERE identifier IN " + pick(500, 20));
  // Two rows swap their urls (unique in the API table): the promotion's UPDATE must not collide.
  auto pair = up.exec("SELECT identifier::text, url FROM image WHERE identifier IN " + pick(1000, 2) + " ORDER BY 1");
  ASSERT_EQ(pair.size(), 2u);
  up.transact([&](pg::Database& tx) {
    tx.exec_params("UPDATE image SET url = url || '#moving' WHERE identifier = $1::uuid", {*pair.rows[0][0]});
    tx.exec_params("UPDATE image SET url = $2, updated_on = now() WHERE identifier = $1::uuid",
                   {*pair.rows[1][0], *pair.rows[0][1]});
    tx.exec_params("UPDATE image SET url = $2, updated_on = now() WHERE identifier = $1::uuid",
                   {*pair.rows[0][0], *pair.rows[1][1]});
  });
  std::vector<std::string> gone;
  for (const auto& r : up.exec("SELECT identifier::text FROM image WHERE identifier IN " + pick(600, 10) +
                               " AND identifier NOT IN (SELECT identifier FROM image WHERE removed_from_source)").rows) {
    gone.push_back(*r[0]);
  }
  ASSERT_FALSE(gone.empty());
  auto provider = *up.query_value("SELECT provider FROM image GROUP BY 1 ORDER BY count(*), 1 LIMIT 1");
  up.exec_params("UPDATE image SET standardized_popularity = standardized_popularity / 2 WHERE provider = $1", {provider});
  // The API side: reports on rows about to go, deleted-list and sensitive-list additions and removals.
  auto to_delete = db.exec("SELECT identifier::text FROM image ORDER BY identifier OFFSET 700 LIMIT 5");
  std::string kept_report = *db.query_value("SELECT identifier::text FROM image ORDER BY identifier OFFSET 900 LIMIT 1");
  db.exec_params("INSERT INTO api_imagereport (reason, media_obj_id) VALUES ('dmca', $1::uuid), ('mature', $2::uuid), "
                 "('other', $3::uuid)",
                 {gone.front(), *to_delete.rows[0][0], kept_report});
  for (const auto& r : to_delete.rows) {
    db.exec_params("INSERT INTO api_deletedimage (created_on, updated_on, identifier) VALUES (now(), now(), $1::uuid)",
                   {*r[0]});
  }
  for (const auto& id : gone) up.exec_params("DELETE FROM image WHERE identifier = $1::uuid", {id});
  auto restored = db.exec("DELETE FROM api_deletedimage WHERE identifier IN (SELECT identifier FROM api_deletedimage "
                          "WHERE identifier NOT IN (SELECT identifier FROM image) ORDER BY identifier LIMIT 3) RETURNING "
                          "identifier::text");
  db.exec("INSERT INTO api_matureimage (identifier, created_on) SELECT identifier, now() FROM image ORDER BY identifier "
          "OFFSET 800 LIMIT 5 ON CONFLICT DO NOTHING");
  db.exec("DELETE FROM api_matureimage WHERE identifier IN (SELECT identifier FROM api_matureimage ORDER BY identifier "
          "LIMIT 3)");

  auto changed = run_to_end("image", "incremental");
  ASSERT_EQ(changed.status, ledger::RunStatus::kCompleted) << changed.error.value_or("");
  ASSERT_TRUE(changed.report.contains("changes")) << changed.report.dump();
  auto changes = changed.report["changes"];
  EXPECT_GE(changes["created"].get<std::int64_t>(), 20) << changes.dump();
  EXPECT_FALSE(restored.empty());
  std::set<std::string> removed;
  for (const auto& id : gone) {
    if (ids_before.count(id)) removed.insert(id);
  }
  for (const auto& r : to_delete.rows) removed.insert(*r[0]);
  EXPECT_EQ(changes["deleted"].get<std::int64_t>(), static_cast<std::int64_t>(removed.size())) << changes.dump();
  EXPECT_GE(changes["reflagged"].get<std::int64_t>(), 1) << changes.dump();
  EXPECT_GE(changes["updated"].get<std::int64_t>(), 40) << changes.dump();
  {
    // The silent update and the hard deletes were found by their buckets, and only those buckets'
    // rows were read again, not the catalog.
    ledger::Ledger ledger(db);
    auto scan = ledger.step_details(changed.refresh_id, "snapshot").value_or(nlohmann::json::object());
    const auto rows = std::stoll(*up.query_value("SELECT count(*) FROM image"));
    EXPECT_GT(scan.value("buckets_mismatched", 0), 0) << scan.dump();
    EXPECT_GT(scan.value("rows_reread", 0), 0) << scan.dump();
    EXPECT_LT(scan.value("rows_reread", rows), rows / 2) << scan.dump();
    EXPECT_LT(scan.value("recent_rows", rows), rows / 10) << scan.dump();
    std::cout << "incremental scan: " << scan.dump() << " of " << rows << " rows\n";
  }
  expect_table_matches_upstream("image");
  expect_documents_match("image", changed);
  for (const auto& [identifier, id] : live_ids("image")) {
    auto it = ids_before.find(identifier);
    if (it != ids_before.end()) {
      EXPECT_EQ(id, it->second) << "row " << identifier << " kept its id";
    }
  }
  std::set<std::string> reports;
  for (const auto& r : db.exec("SELECT media_obj_id::text FROM api_imagereport").rows) reports.insert(*r[0]);
  EXPECT_EQ(reports.count(gone.front()), 0u) << "a report on a row gone from the upstream goes with it";
  EXPECT_EQ(reports.count(*to_delete.rows[0][0]), 0u) << "a report on a row deleted on request goes with it";
  EXPECT_EQ(reports.count(kept_report), 1u);
  EXPECT_EQ(schema_names(db, "image"), image_schema_before_);
  EXPECT_FALSE(db.query_value("SELECT to_regclass('public.temp_import_image')::text")) << "temp table left behind";
  EXPECT_FALSE(db.query_value("SELECT to_regclass('public.temp_delete_image')::text")) << "delete table left behind";
  auto client = search_client();
  for (const auto& old : {*everything.new_index, *everything.filtered_index}) {
    auto exists = client.index_exists(old);
    EXPECT_TRUE(exists.ok() && !exists.value()) << old << " deleted after promotion";
  }
  for (const auto& live : {*changed.new_index, *changed.filtered_index}) {
    auto settings = client.get_settings(live);
    ASSERT_TRUE(settings.ok());
    EXPECT_FALSE(settings.value().contains("index") && settings.value()["index"].contains("blocks"))
        << live << " carries no block: " << settings.value().dump();
  }
  auto after_changes = documents("image");
  auto filtered_after_changes = documents("image-filtered");

  // Nothing changed since: nothing to do, and no document moves.
  auto idle = run_to_end("image", "incremental");
  ASSERT_EQ(idle.status, ledger::RunStatus::kCompleted) << idle.error.value_or("");
  for (const auto* k : {"created", "updated", "deleted", "reflagged"}) {
    EXPECT_EQ(idle.report["changes"][k].get<std::int64_t>(), 0) << k << ": " << idle.report.dump();
  }
  EXPECT_EQ(documents("image"), after_changes);
  EXPECT_EQ(documents("image-filtered"), filtered_after_changes);

  // A full refresh now produces the same documents (ids aside: a full refresh numbers rows anew).
  auto full = run_to_end("image", "full");
  ASSERT_EQ(full.status, ledger::RunStatus::kCompleted) << full.error.value_or("");
  EXPECT_EQ(without_ids(documents("image")), without_ids(after_changes));
  EXPECT_EQ(without_ids(documents("image-filtered")), without_ids(filtered_after_changes));
}

// What an incremental refresh cannot honour is refused before anything is touched; "auto" then runs
// a full refresh and says why.
TEST_F(RefreshEndToEnd, AnIncrementalRefreshWithoutABaselineIsRefusedAndAutoRunsAFullOne) {
  auto db = api();
  auto client = search_client();
  auto alias_before = client.get_alias("audio");
  ASSERT_TRUE(alias_before.ok());
  db.exec("DROP TABLE datarefresh.rowversion_audio");
  auto refused = run_to_end("audio", "incremental");
  EXPECT_EQ(refused.status, ledger::RunStatus::kRefused);
  ASSERT_TRUE(refused.error);
  EXPECT_NE(refused.error->find("kept no row versions"), std::string::npos) << *refused.error;
  EXPECT_NE(refused.error->find("run a full refresh"), std::string::npos) << *refused.error;
  auto alias_after = client.get_alias("audio");
  ASSERT_TRUE(alias_after.ok());
  EXPECT_EQ(alias_after.value(), alias_before.value()) << "nothing touched";

  auto automatic = run_to_end("audio", "auto");
  ASSERT_EQ(automatic.status, ledger::RunStatus::kCompleted) << automatic.error.value_or("");
  EXPECT_EQ(automatic.mode, "full");
  ASSERT_TRUE(automatic.mode_reason);
  EXPECT_NE(automatic.mode_reason->find("kept no row versions"), std::string::npos) << *automatic.mode_reason;
  // The full refresh kept a baseline again: the next "auto" is incremental.
  auto next = run_to_end("audio", "auto");
  ASSERT_EQ(next.status, ledger::RunStatus::kCompleted) << next.error.value_or("");
  EXPECT_EQ(next.mode, "incremental");
  // The full refresh hashed the rows in its copy (in the API database, through the FDW) and the
  // incremental one on the upstream: the same rows give the same hashes, so nothing is copied again.
  for (const auto* k : {"created", "updated", "deleted", "reflagged"}) {
    EXPECT_EQ(next.report["changes"][k].get<std::int64_t>(), 0) << k << ": " << next.report.dump();
  }
  expect_documents_match("audio", next);
}

}  // namespace
}  // namespace datarefresh::e2e
