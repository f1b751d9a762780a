// The operator's day two (docs/reliability.md, scenarios 31-33): with refresh.keep_previous set,
// a rollback after a full and after an incremental refresh brings back exactly the table and
// indices of before; a coordinator killed midway resumes it; what cannot be rolled back is
// refused with its reason. A filtered-only run rebuilds the filtered index from the live one
// after the sensitive terms changed.
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <set>
#include <thread>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>
#include <unistd.h>

#include "core/ledger/ledger.h"
#include "core/pg/database.h"
#include "core/search/client.h"
#include "devstack/demo/dev_stack.h"
#include "tests/e2e/expected_documents.h"
#include "tests/fault/fault_support.h"

namespace datarefresh {
namespace {

using json = nlohmann::json;
using std::chrono::seconds;

// What the API serves of one media type: the table's rows by id, both aliases' targets and
// documents.
struct Generation {
  std::map<std::string, std::string> rows;
  std::string index, filtered_index;
  std::map<std::string, json> documents, filtered_documents;
  bool operator==(const Generation&) const = default;
};

class RollbackEndToEnd : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    demo::DevStackOptions o;
    o.image_rows = 2500;
    o.audio_rows = 300;
    o.seed = 20261207;
    run_dir_ = std::filesystem::temp_directory_path() / ("datarefresh-rollback-terms-" + std::to_string(::getpid()));
    std::filesystem::create_directories(run_dir_);
    terms_file_ = run_dir_ / "sensitive_terms.txt";
    std::filesystem::copy_file(demo::DevStack::find_source_dir() / "devstack" / "datagen" / "sensitive_terms.txt",
                               terms_file_, std::filesystem::copy_options::overwrite_existing);
    o.env = {{"DATAREFRESH_REFRESH_ROWS_PER_SHARD", "500"},
             {"DATAREFRESH_LOGGING_FORMAT", "text"},
             {"DATAREFRESH_REFRESH_KEEP_PREVIOUS", "1h"},
             {"DATAREFRESH_REFRESH_LEFTOVER_SWEEP_INTERVAL", "1s"},
             {"DATAREFRESH_REFRESH_SENSITIVE_TERMS_FILE", terms_file_.string()}};
    stack_ = new demo::DevStack(o);
    std::cout << "service logs: " << stack_->run_dir().string() << " (kept if a test fails)\n";
    stack_->start_infrastructure();
    stack_->start_services(2);
  }
  static void TearDownTestSuite() {
    stack_->set_remove_run_dir(::testing::UnitTest::GetInstance()->Passed());
    delete stack_;
    stack_ = nullptr;
    std::filesystem::remove_all(run_dir_);
  }

  static pg::Database api() { return pg::Database::connect(stack_->api_db_options()); }

  static std::map<std::string, json> documents(const std::string& alias) {
    search::Client client(stack_->search_options());
    client.refresh(alias);
    json query = {{"query", {{"match_all", json::object()}}}, {"size", 10000}};
    auto r = client.perform("POST", "/" + alias + "/_search", query.dump());
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().describe());
    std::map<std::string, json> out;
    if (!r.ok()) return out;
    auto body = json::parse(r.value().body);
    for (const auto& hit : body["hits"]["hits"]) out[hit["_id"].get<std::string>()] = hit["_source"];
    EXPECT_FALSE(out.empty()) << alias << ": " << r.value().body.substr(0, 300);
    return out;
  }

  static Generation live(const std::string& media) {
    Generation g;
    auto db = api();
    for (const auto& r : db.exec("SELECT id::text, row_to_json(t)::text FROM " + media + " AS t").rows)
      g.rows[*r[0]] = *r[1];
    g.index = fault::alias_target(*stack_, media);
    g.filtered_index = fault::alias_target(*stack_, media + "-filtered");
    g.documents = documents(media);
    g.filtered_documents = documents(media + "-filtered");
    return g;
  }

  static ledger::Run run_to_end(const std::string& media, const std::string& mode) {
    auto id = stack_->trigger(media, std::nullopt, mode);
    return stack_->wait(id, seconds(240)).run;
  }

  static void expect_same(const Generation& want, const Generation& got) {
    EXPECT_EQ(got.index, want.index);
    EXPECT_EQ(got.filtered_index, want.filtered_index);
    EXPECT_EQ(got.rows.size(), want.rows.size());
    int shown = 0;
    for (const auto& [id, row] : want.rows) {
      auto it = got.rows.find(id);
      if (it == got.rows.end() || it->second != row) {
        ADD_FAILURE() << "row " << id << ": want " << row << ", got " << (it == got.rows.end() ? "none" : it->second);
        if (++shown > 5) break;
      }
    }
    EXPECT_TRUE(got.documents == want.documents) << "documents differ";
    EXPECT_TRUE(got.filtered_documents == want.filtered_documents) << "filtered documents differ";
  }

  static std::optional<std::string> kept_by(const std::string& media) {
    auto db = api();
    return db.query_value("SELECT refresh_id::text FROM datarefresh.kept WHERE media_type = $1", {media});
  }

  static demo::DevStack* stack_;
  static std::filesystem::path run_dir_, terms_file_;
};

demo::DevStack* RollbackEndToEnd::stack_ = nullptr;
std::filesystem::path RollbackEndToEnd::run_dir_;
std::filesystem::path RollbackEndToEnd::terms_file_;

TEST_F(RollbackEndToEnd, ARollbackWithNothingKeptIsRefusedWithItsReason) {
  auto run = run_to_end("audio", "rollback");
  EXPECT_EQ(run.status, ledger::RunStatus::kRefused);
  EXPECT_NE(run.error.value_or("").find("nothing of audio is kept to roll back to"), std::string::npos)
      << run.error.value_or("");
  // The command line refuses it before sending anything, saying why, with exit code 2.
  auto cli = stack_->spawn({"rollback", "audio", "--config", stack_->config_file().string()}, "rollback-cli");
  EXPECT_EQ(cli.wait_for(seconds(60)), std::optional<int>(2));
  std::ifstream log(stack_->run_dir() / "rollback-cli.log");
  std::string text((std::istreambuf_iterator<char>(log)), std::istreambuf_iterator<char>());
  EXPECT_NE(text.find("rollback of audio refused: nothing of audio is kept to roll back to"), std::string::npos) << text;
}

TEST_F(RollbackEndToEnd, ARollbackAfterAFullRefreshRestoresTheTableAndIndicesOfBefore) {
  auto first = run_to_end("image", "full");
  ASSERT_EQ(first.status, ledger::RunStatus::kCompleted) << first.error.value_or("");
  const auto before = live("image");
  ASSERT_GT(before.rows.size(), 1000u);
  auto up = pg::Database::connect(stack_->catalog_db_options());
  up.exec(
      "UPDATE image SET title = coalesce(title, '') || ' (second)' WHERE identifier IN (SELECT identifier FROM "
      "image ORDER BY identifier LIMIT 40)");
  up.exec("DELETE FROM image WHERE identifier IN (SELECT identifier FROM image ORDER BY identifier DESC LIMIT 15)");
  auto second = run_to_end("image", "full");
  ASSERT_EQ(second.status, ledger::RunStatus::kCompleted) << second.error.value_or("");
  const auto after = live("image");
  ASSERT_NE(after.index, before.index);
  EXPECT_EQ(after.rows.size() + 15, before.rows.size());
  // Kept: the previous indices are still there, the previous table in datarefresh_kept.
  EXPECT_EQ(kept_by("image"), std::optional<std::string>(second.refresh_id));
  auto names = fault::indices(*stack_);
  EXPECT_TRUE(names.count(before.index) && names.count(before.filtered_index));
  // A second rollback request while one runs is refused by the lock.
  auto rollback = run_to_end("image", "rollback");
  ASSERT_EQ(rollback.status, ledger::RunStatus::kCompleted) << rollback.error.value_or("");
  EXPECT_EQ(rollback.mode, "rollback");
  expect_same(before, live("image"));
  names = fault::indices(*stack_);
  EXPECT_FALSE(names.count(after.index)) << "the rolled-back generation is deleted";
  EXPECT_FALSE(names.count(after.filtered_index));
  EXPECT_FALSE(kept_by("image"));
  auto db = api();
  EXPECT_FALSE(db.query_value("SELECT to_regclass('datarefresh_kept.image')::text"));
  EXPECT_EQ(rollback.report["rows_after"].get<std::int64_t>(), static_cast<std::int64_t>(before.rows.size()));
  // Nothing is kept any more: another rollback is refused, and an incremental refresh asks for a
  // full one (the baseline described the rolled-back generation).
  auto again = run_to_end("image", "rollback");
  EXPECT_EQ(again.status, ledger::RunStatus::kRefused);
  auto incremental = run_to_end("image", "auto");
  ASSERT_EQ(incremental.status, ledger::RunStatus::kCompleted) << incremental.error.value_or("");
  EXPECT_EQ(incremental.mode, "full");
}

TEST_F(RollbackEndToEnd, ARollbackAfterAnIncrementalRefreshRestoresTheRowsItChanged) {
  auto up = pg::Database::connect(stack_->catalog_db_options());
  up.exec("UPDATE image SET updated_on = now() - interval '3 days'");
  auto base = run_to_end("image", "full");
  ASSERT_EQ(base.status, ledger::RunStatus::kCompleted) << base.error.value_or("");
  const auto before = live("image");
  auto pick = [](int offset, int n) {
    return fmt::format("(SELECT identifier FROM image ORDER BY identifier OFFSET {} LIMIT {})", offset, n);
  };
  up.exec("UPDATE image SET title = coalesce(title, '') || ' (revised)', updated_on = now() WHERE identifier IN " +
          pick(100, 20));
  up.exec("UPDATE image SET standardized_popularity = 0.5 WHERE identifier IN " + pick(300, 10));  // silent
  up.exec(
      "INSERT INTO image SELECT (jsonb_populate_record(NULL::image, to_jsonb(i) || jsonb_build_object('identifier', "
      "gen_random_uuid(), 'url', i.url || '?copy', 'foreign_identifier', i.foreign_identifier || '-copy', "
      "'updated_on', now()))).* FROM image AS i WHERE identifier IN " +
      pick(500, 12));
  up.exec("DELETE FROM image WHERE identifier IN " + pick(700, 8));
  auto incremental = run_to_end("image", "incremental");
  ASSERT_EQ(incremental.status, ledger::RunStatus::kCompleted) << incremental.error.value_or("");
  ASSERT_EQ(incremental.mode, "incremental");
  EXPECT_EQ(kept_by("image"), std::optional<std::string>(incremental.refresh_id));
  EXPECT_NE(live("image").rows, before.rows);

  // The coordinator is killed once the table is restored, before the aliases move: a restarted
  // one finishes the rollback.
  stack_->start_coordinator({{"DATAREFRESH_CRASH_AT", "coordinator.after_restore_table"}});
  auto id = stack_->trigger("image", std::nullopt, "rollback");
  ASSERT_TRUE(
      fault::died_at(*stack_, *stack_->coordinator(), "coordinator", "coordinator.after_restore_table", seconds(120)));
  {
    auto db = api();
    auto run = *ledger::Ledger(db).run(id);
    EXPECT_EQ(run.status, ledger::RunStatus::kRunning);
    // Past its point of no return: a cancel is refused as too late.
    EXPECT_EQ(ledger::Ledger(db).request_cancel(id, "test").kind, ledger::CancelOutcome::Kind::kTooLate);
  }
  stack_->start_coordinator();
  auto rollback = stack_->wait(id, seconds(180)).run;
  ASSERT_EQ(rollback.status, ledger::RunStatus::kCompleted) << rollback.error.value_or("");
  expect_same(before, live("image"));
  EXPECT_FALSE(kept_by("image"));
  auto refused = run_to_end("image", "incremental");
  EXPECT_EQ(refused.status, ledger::RunStatus::kRefused);
  EXPECT_NE(refused.error.value_or("").find("rolled back"), std::string::npos) << refused.error.value_or("");
}

TEST_F(RollbackEndToEnd, AFilteredOnlyRunAppliesNewSensitiveTermsToTheLiveIndex) {
  auto full = run_to_end("audio", "full");
  ASSERT_EQ(full.status, ledger::RunStatus::kCompleted) << full.error.value_or("");
  const auto before = live("audio");
  // A tag that some documents carry and others not becomes a sensitive term.
  std::map<std::string, int> tag_counts;
  for (const auto& [_, doc] : before.filtered_documents) {
    for (const auto& tag : doc.value("tags", json::array())) tag_counts[tag.value("name", "")]++;
  }
  std::string term;
  int most = 0;
  for (const auto& [name, n] : tag_counts) {
    if (!name.empty() && n > most && n < static_cast<int>(before.filtered_documents.size()) / 2) {
      term = name;
      most = n;
    }
  }
  ASSERT_FALSE(term.empty()) << "no tag to make sensitive among " << tag_counts.size() << " tag names";
  {
    std::ofstream out(terms_file_, std::ios::app);
    out << "\n" << term << "\n";
  }
  auto run = run_to_end("audio", "filtered_only");
  ASSERT_EQ(run.status, ledger::RunStatus::kCompleted) << run.error.value_or("");
  const auto after = live("audio");
  EXPECT_EQ(after.index, before.index) << "the main alias stays";
  EXPECT_EQ(after.rows, before.rows) << "the table stays";
  EXPECT_NE(after.filtered_index, before.filtered_index);
  EXPECT_FALSE(fault::indices(*stack_).count(before.filtered_index)) << "the old filtered index is deleted";
  std::set<std::string> terms;
  std::ifstream in(terms_file_);
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line[0] == '#') continue;
    for (auto& ch : line) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    terms.insert(line);
  }
  std::set<std::string> want, got;
  for (const auto& [id, doc] : after.documents) {
    if (e2e::passes_sensitive_filter(doc, terms)) want.insert(id);
  }
  for (const auto& [id, _] : after.filtered_documents) got.insert(id);
  EXPECT_EQ(got, want);
  EXPECT_LT(want.size(), before.filtered_documents.size()) << "the new term matches documents";
  EXPECT_EQ(run.report["filtered_out"].get<std::int64_t>(),
            static_cast<std::int64_t>(after.documents.size() - want.size()));
}

TEST_F(RollbackEndToEnd, AnIncompleteKeptGenerationIsRefusedAndAnExpiredOneIsSwept) {
  auto first = run_to_end("image", "full");
  ASSERT_EQ(first.status, ledger::RunStatus::kCompleted) << first.error.value_or("");
  auto second = run_to_end("image", "full");
  ASSERT_EQ(second.status, ledger::RunStatus::kCompleted) << second.error.value_or("");
  ASSERT_EQ(kept_by("image"), std::optional<std::string>(second.refresh_id));
  const std::string kept_index = *second.old_index, kept_filtered = *second.old_filtered_index;
  httplib::Client http(stack_->api_url());
  auto media = http.Get("/v1/media");
  ASSERT_TRUE(media && media->status == 200);
  json image;
  const auto listed = json::parse(media->body);
  for (const auto& m : listed["media"]) {
    if (m["media_type"] == "image") image = m;
  }
  ASSERT_TRUE(image["kept"].is_object()) << media->body;
  EXPECT_EQ(image["kept"]["index"], kept_index);
  EXPECT_EQ(image["kept"]["complete"], true);
  EXPECT_EQ(image["live_index"], *second.new_index);
  // Someone deleted the kept filtered index: the rollback is refused, saying so, by the API and
  // by the planner.
  search::Client client(stack_->search_options());
  ASSERT_TRUE(client.delete_index(kept_filtered).ok());
  auto refused = http.Post("/v1/media/image/rollback", "", "application/json");
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 409);
  EXPECT_NE(refused->body.find("the previous filtered index " + kept_filtered + " is gone"), std::string::npos)
      << refused->body;
  auto run = run_to_end("image", "rollback");
  EXPECT_EQ(run.status, ledger::RunStatus::kRefused);
  EXPECT_NE(run.error.value_or("").find("is gone"), std::string::npos) << run.error.value_or("");
  EXPECT_EQ(live("image").index, *second.new_index) << "nothing changed";
  auto unknown = http.Post("/v1/media/video/rollback", "", "application/json");
  ASSERT_TRUE(unknown);
  EXPECT_EQ(unknown->status, 404);
  // Its time is up: the sweeper deletes what is kept, indices and tables, and forgets it.
  api().exec("UPDATE datarefresh.kept SET kept_until = now() - interval '1 second' WHERE media_type = 'image'");
  const auto deadline = std::chrono::steady_clock::now() + seconds(60);
  while (kept_by("image") && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(seconds(1));
  EXPECT_FALSE(kept_by("image"));
  EXPECT_FALSE(fault::indices(*stack_).count(kept_index));
  EXPECT_FALSE(api().query_value("SELECT to_regclass('datarefresh_kept.image')::text"));
  EXPECT_EQ(live("image").index, *second.new_index);
}

TEST_F(RollbackEndToEnd, ACancelledFilteredOnlyRunLeavesTheLiveSideAsItWasAndNothingBehind) {
  const auto before = live("audio");
  const auto indices_before = fault::indices(*stack_);
  auto id = stack_->trigger("audio", std::nullopt, "filtered_only");
  // Its `_reindex` slowed to a crawl in the engine, then the operator cancels.
  auto db = api();
  std::optional<std::string> task;
  const auto deadline = std::chrono::steady_clock::now() + seconds(60);
  while (!task && std::chrono::steady_clock::now() < deadline) {
    task = db.query_value("SELECT details->>'task' FROM datarefresh.steps WHERE refresh_id = $1::uuid AND step = "
                          "'filtered_index:task'",
                          {id});
    if (!task) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_TRUE(task) << "the filtered-only run started no reindex";
  search::Client client(stack_->search_options());
  client.perform("POST", "/_reindex/" + *task + "/_rethrottle?requests_per_second=0.01");
  EXPECT_EQ(ledger::Ledger(db).request_cancel(id, "test").kind, ledger::CancelOutcome::Kind::kAccepted);
  auto run = stack_->wait(id, seconds(60)).run;
  EXPECT_EQ(run.status, ledger::RunStatus::kCancelled) << run.error.value_or("");
  expect_same(before, live("audio"));
  EXPECT_EQ(fault::indices(*stack_), indices_before) << "the new filtered index is deleted";
}

}  // namespace
}  // namespace datarefresh
