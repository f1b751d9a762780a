// Crashes in the middle of multi-step work (docs/reliability.md, scenarios 4, 5 and 14): the
// coordinator and the planner are killed with SIGKILL at named points (crash_point(), armed with
// DATAREFRESH_CRASH_AT for that one process) and restarted; a copy that runs out of time or disk
// fails cleanly. Every test checks the end state exactly.
#include <chrono>
#include <fstream>
#include <set>
#include <thread>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "core/ledger/ledger.h"
#include "core/pg/database.h"
#include "devstack/demo/dev_stack.h"
#include "tests/fault/fault_support.h"

namespace datarefresh::fault {
namespace {

using nlohmann::json;
using std::chrono::seconds;

class Crashes : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    demo::DevStackOptions o;
    o.image_rows = 2000;
    o.audio_rows = 600;
    o.seed = 7;
    o.env = {{"DATAREFRESH_REFRESH_ROWS_PER_SHARD", "500"},
             {"DATAREFRESH_REFRESH_TAG_FILTER_BATCH_ROWS", "400"},
             {"DATAREFRESH_LOGGING_FORMAT", "text"}};
    stack_ = start_suite_stack(o, 2);
  }
  static void TearDownTestSuite() {
    stop_suite_stack(stack_);
  }
  static pg::Database api() { return pg::Database::connect(stack_->api_db_options()); }
  static std::string table_oid(const std::string& table) {
    return api().query_value("SELECT to_regclass($1)::oid::text", {table}).value_or("");
  }

  static demo::DevStack* stack_;
};

demo::DevStack* Crashes::stack_ = nullptr;

// Scenario 4: the coordinator dies at each finalization step in turn, during one refresh that
// replaces a previous one. Each restart resumes where the ledger says; the table is promoted once,
// the aliases move once, the old indices go, and at every crash the live side is whole.
TEST_F(Crashes, TheCoordinatorKilledAtEachFinalizationStepResumesAndPromotesOnce) {
  auto first = stack_->trigger("audio");
  ASSERT_EQ(stack_->wait(first, seconds(180)).run.status, ledger::RunStatus::kCompleted);
  auto before = live_state(*stack_, "audio");
  const auto old_oid = table_oid("audio");

  const std::vector<std::string> points{
      "coordinator.filtered_index_running", "coordinator.constraints_half_applied",
      "coordinator.before_promote_table",   "coordinator.after_promote_table",
      "coordinator.before_promote_aliases", "coordinator.after_promote_aliases",
      "coordinator.before_delete_old_index", "coordinator.before_finish_run"};
  stack_->start_coordinator({{"DATAREFRESH_CRASH_AT", points[0]}});
  auto id = stack_->trigger("audio");
  std::set<std::string> oids{old_oid};
  for (std::size_t i = 0; i < points.size(); ++i) {
    ASSERT_TRUE(died_at(*stack_, *stack_->coordinator(), "coordinator", points[i], seconds(180)))
        << "the coordinator did not reach " << points[i];
    // Whatever step it died in, the live side is whole: each alias points at exactly one index,
    // the old one or the new one, and the live table is the old one or the promoted copy.
    auto db = api();
    auto run = *ledger::Ledger(db).run(id);
    EXPECT_EQ(run.status, ledger::RunStatus::kRunning);
    auto alias = alias_target(*stack_, "audio");
    EXPECT_TRUE(alias == before.alias_target || alias == *run.new_index) << points[i] << ": " << alias;
    auto oid = table_oid("audio");
    EXPECT_FALSE(oid.empty()) << "a live table exists at " << points[i];
    oids.insert(oid);
    bool promoted = i >= 3;  // after_promote_table and later
    EXPECT_EQ(oid != old_oid, promoted) << points[i];
    EXPECT_EQ(alias == *run.new_index, i >= 5) << points[i];
    stack_->start_coordinator(i + 1 < points.size()
                                  ? std::map<std::string, std::string>{{"DATAREFRESH_CRASH_AT", points[i + 1]}}
                                  : std::map<std::string, std::string>{});
  }
  auto p = stack_->wait(id, seconds(180));
  expect_completed_exactly(*stack_, id, "audio");
  const auto new_oid = table_oid("audio");
  EXPECT_NE(new_oid, old_oid);
  EXPECT_EQ(oids, (std::set<std::string>{old_oid, new_oid})) << "the table was promoted exactly once";
  EXPECT_TRUE(p.run.report.is_object());
  EXPECT_EQ(indices(*stack_).count(before.alias_target), 0u) << "the old index is deleted";
  // The completion event was published before the ledger said so; the crash just before the
  // ledger write makes it come twice, never zero times.
  int completed = 0;
  for (const auto& e : read_topic(*stack_, "events", 0, seconds(0))) {
    if (e.value("type", "") == "refresh.completed" && e.value("refresh_id", "") == id) ++completed;
  }
  EXPECT_GE(completed, 1);
}

// Scenario 5: the planner dies during the copy's setup, after the first of the copy's parts
// committed, and after publishing half of the shard jobs. Each restart resumes from the ledger (the
// setup, uncommitted, is simply gone; committed parts are not copied again); the refresh completes
// exactly, and a new request after it succeeds too.
TEST_F(Crashes, ThePlannerKilledDuringCopyFilteringAndPublishingResumes) {
  const std::vector<std::string> points{"planner.copy_uncommitted", "planner.copy_part_committed",
                                        "planner.shard_jobs_half_published"};
  stack_->start_planner({{"DATAREFRESH_CRASH_AT", points[0]}});
  auto id = stack_->trigger("image");
  for (std::size_t i = 0; i < points.size(); ++i) {
    ASSERT_TRUE(died_at(*stack_, *stack_->planner(), "planner", points[i], seconds(120)))
        << "the planner did not reach " << points[i];
    auto db = api();
    bool copied = db.query_value("SELECT to_regclass('public.temp_import_image')::text").has_value();
    EXPECT_EQ(copied, i > 0) << "a copy killed before its setup's commit leaves no table: " << points[i];
    if (i == 1) {
      auto parts = std::stoi(db.query_value("SELECT count(*) FROM datarefresh.steps WHERE refresh_id = $1::uuid "
                                            "AND step LIKE 'copy\\_part:image:%'",
                                            {id})
                                 .value_or("0"));
      EXPECT_GE(parts, 1) << "a part of the copy was committed before the crash";
      EXPECT_FALSE(ledger::Ledger(db).step_done(id, "copy:image"));
    }
    stack_->start_planner(i + 1 < points.size()
                              ? std::map<std::string, std::string>{{"DATAREFRESH_CRASH_AT", points[i + 1]}}
                              : std::map<std::string, std::string>{});
  }
  stack_->wait(id, seconds(240));
  expect_completed_exactly(*stack_, id, "image");
  // The restart copied (and filtered) only the parts not yet done: the ledger's totals equal those
  // of a second, uninterrupted refresh of the same rows.
  auto again = stack_->trigger("image");
  stack_->wait(again, seconds(240));
  expect_completed_exactly(*stack_, again, "image");
  auto db = api();
  ledger::Ledger ledger(db);
  EXPECT_EQ(ledger.run(again)->tags_rows_changed, ledger.run(id)->tags_rows_changed);
  EXPECT_EQ(ledger.run(again)->tags_removed, ledger.run(id)->tags_removed);
  EXPECT_EQ(ledger.run(again)->rows_copied, ledger.run(id)->rows_copied);
  EXPECT_GT(ledger.run(id)->tags_rows_changed.value_or(0), 0);
}

// Scenario 14: the copy hits its statement timeout, then the disk fills up (PostgreSQL's own
// disk_full error, raised by a trigger on the temp table): each refresh fails cleanly and is
// rolled back, the failure names the cause, and nothing live changes.
TEST_F(Crashes, ACopyThatTimesOutOrFillsTheDiskFailsCleanly) {
  auto before = live_state(*stack_, "image");
  stack_->start_planner({{"DATAREFRESH_POSTGRES_COPY_TIMEOUT", "1ms"}});
  auto timed_out = stack_->trigger("image");
  stack_->wait(timed_out, seconds(120));
  expect_failed_cleanly(*stack_, timed_out, before, "image", "statement timeout");

  auto db = api();
  db.exec(R"sql(
    CREATE FUNCTION fault_disk_full() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      RAISE EXCEPTION 'could not extend file "base/16384/1": No space left on device'
        USING ERRCODE = 'disk_full', HINT = 'Check free disk space.';
    END $$;
    CREATE FUNCTION fault_arm_disk_full() RETURNS event_trigger LANGUAGE plpgsql AS $$
    DECLARE r record;
    BEGIN
      FOR r IN SELECT * FROM pg_event_trigger_ddl_commands() WHERE command_tag = 'CREATE TABLE' LOOP
        IF r.object_identity LIKE '%temp_import_%' THEN
          EXECUTE format('CREATE TRIGGER fault_disk_full BEFORE INSERT ON %s FOR EACH STATEMENT '
                         'EXECUTE FUNCTION fault_disk_full()', r.object_identity);
        END IF;
      END LOOP;
    END $$;
    CREATE EVENT TRIGGER fault_disk_full ON ddl_command_end EXECUTE FUNCTION fault_arm_disk_full();
  )sql");
  stack_->start_planner();
  auto full = stack_->trigger("image");
  stack_->wait(full, seconds(120));
  db.exec("DROP EVENT TRIGGER fault_disk_full; DROP FUNCTION fault_arm_disk_full(); DROP FUNCTION fault_disk_full()");
  expect_failed_cleanly(*stack_, full, before, "image", "No space left on device");

  // And the next request, with room and time, succeeds.
  auto ok = stack_->trigger("image");
  stack_->wait(ok, seconds(240));
  expect_completed_exactly(*stack_, ok, "image");
}

}  // namespace
}  // namespace datarefresh::fault
