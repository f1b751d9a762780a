#include "tests/fault/fault_support.h"

#include <unistd.h>

#include <fstream>
#include <iostream>
#include <thread>

#include <gtest/gtest.h>
#include <httplib.h>

#include "core/kafka/producer.h"
#include "core/kafka/topics.h"
#include "core/ledger/ledger.h"
#include "core/pg/database.h"
#include "core/pg/identifier.h"
#include "core/search/client.h"

namespace datarefresh::fault {

using nlohmann::json;

namespace {

pg::Database api(demo::DevStack& stack) { return pg::Database::connect(stack.api_db_options()); }

}  // namespace

demo::DevStack* start_suite_stack(demo::DevStackOptions options, int indexers) {
  auto* stack = new demo::DevStack(std::move(options));
  std::cout << "service logs: " << stack->run_dir().string() << " (kept if a test fails)\n";
  stack->start_infrastructure();
  stack->start_services(indexers);
  return stack;
}

void stop_suite_stack(demo::DevStack*& stack) {
  stack->set_remove_run_dir(::testing::UnitTest::GetInstance()->Passed());
  delete stack;
  stack = nullptr;
}

void produce(demo::DevStack& stack, const std::string& topic, const std::string& key, const std::string& value) {
  kafka::ProducerOptions o;
  o.client.bootstrap_servers = stack.bootstrap_servers();
  kafka::Producer p(o);
  auto r = p.produce_sync("datarefresh." + topic, key, value, std::chrono::seconds(20));
  ASSERT_TRUE(r.ok()) << r.error->message;
}

std::vector<std::pair<std::string, std::string>> read_raw(demo::DevStack& stack, const std::string& topic,
                                                          std::size_t at_least, std::chrono::seconds timeout) {
  kafka::ClientOptions o;
  o.bootstrap_servers = stack.bootstrap_servers();
  auto deadline = std::chrono::steady_clock::now() + timeout;
  std::vector<std::pair<std::string, std::string>> out;
  while (true) {
    out.clear();
    for (auto& m : kafka::read_topic(o, "datarefresh." + topic, std::chrono::seconds(30))) {
      out.emplace_back(std::move(m.key), std::move(m.payload));
    }
    if (out.size() >= at_least || std::chrono::steady_clock::now() > deadline) return out;
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
  }
}

std::vector<json> read_topic(demo::DevStack& stack, const std::string& topic, std::size_t at_least,
                             std::chrono::seconds timeout) {
  std::vector<json> out;
  for (const auto& [key, payload] : read_raw(stack, topic, at_least, timeout)) {
    out.push_back(json::parse(payload, nullptr, false));
  }
  return out;
}

std::string admin(const std::string& base_url, const std::string& method, const std::string& path,
                  const std::string& body) {
  httplib::Client client(base_url);
  client.set_read_timeout(30, 0);
  auto r = method == "DELETE" ? client.Delete(path)
           : method == "GET"  ? client.Get(path)
                              : client.Post(path, body, "application/json");
  EXPECT_TRUE(r) << method << " " << base_url << path << ": no answer";
  if (!r) return "";
  EXPECT_LT(r->status, 300) << method << " " << base_url << path << ": " << r->body;
  return r->body;
}

bool all_services_running(demo::DevStack& stack) {
  bool ok = stack.planner()->running() && stack.coordinator()->running();
  for (auto& i : stack.indexers()) ok = ok && i.running();
  return ok;
}

std::set<std::string> indices(demo::DevStack& stack) {
  std::set<std::string> out;
  search::Client client(stack.search_options());
  auto rows = client.cat_indices();
  EXPECT_TRUE(rows.ok());
  if (rows.ok()) {
    for (const auto& r : rows.value()) {
      if (r.index[0] != '.') out.insert(r.index);
    }
  }
  return out;
}

std::string alias_target(demo::DevStack& stack, const std::string& alias) {
  search::Client client(stack.search_options());
  auto targets = client.get_alias(alias);
  EXPECT_TRUE(targets.ok());
  if (!targets.ok() || targets.value().empty()) return "";
  EXPECT_EQ(targets.value().size(), 1u) << "alias " << alias << " points at several indices";
  return targets.value().begin()->first;
}

std::int64_t table_rows(demo::DevStack& stack, const std::string& table) {
  auto db = api(stack);
  return std::stoll(db.query_value("SELECT count(*) FROM " + pg::Identifier(table).quoted()).value_or("-1"));
}

std::int64_t eligible_rows(demo::DevStack& stack, const std::string& table) {
  auto db = api(stack);
  auto t = pg::Identifier(table);
  return std::stoll(db.query_value("SELECT count(*) FROM " + t.quoted() +
                                   " t WHERE NOT removed_from_source AND NOT EXISTS (SELECT 1 FROM " +
                                   t.with_prefix("api_deleted").quoted() + " d WHERE d.identifier = t.identifier)")
                        .value_or("-1"));
}

std::vector<std::string> leftovers(demo::DevStack& stack) {
  auto db = api(stack);
  auto rs = db.exec(
"SELECT 'table ' || relname FROM pg_class WHERE (relname LIKE 'temp\\_import\\_%' OR relname LIKE "
      "'temp\\_delete\\_%') AND relkind = 'r' "
      "UNION ALL SELECT 'table datarefresh.' || c.relname FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = "
      "c.relnamespace WHERE n.nspname = 'datarefresh' AND c.relkind = 'r' AND (c.relname LIKE 'snap%' OR c.relname "
      "LIKE 'stage\\_%') "
      "UNION ALL SELECT 'server ' || srvname FROM pg_foreign_server WHERE srvname LIKE 'datarefresh\\_fdw\\_%' "
      "UNION ALL SELECT 'schema ' || nspname FROM pg_namespace WHERE nspname LIKE 'datarefresh\\_upstream\\_%'");
  std::vector<std::string> out;
  for (const auto& r : rs.rows) out.push_back(r[0].value_or(""));
  return out;
}

LedgerCounts ledger_counts(demo::DevStack& stack, const std::string& refresh_id) {
  auto db = api(stack);
  ledger::Ledger ledger(db);
  LedgerCounts c;
  for (const auto& s : ledger.shards(refresh_id)) {
    c.rows_read += s.counts.rows_read;
    c.indexed += s.counts.indexed;
    c.skipped += s.counts.skipped_deleted + s.counts.skipped_removed + s.counts.dead_lettered;
    c.dead_lettered += s.counts.dead_lettered;
  }
  return c;
}

void expect_completed_exactly(demo::DevStack& stack, const std::string& refresh_id, const std::string& media) {
  auto p = stack.progress(refresh_id);
  ASSERT_EQ(p.run.status, ledger::RunStatus::kCompleted) << p.run.error.value_or("");
  auto c = ledger_counts(stack, refresh_id);
  EXPECT_EQ(c.rows_read, p.run.expected_rows.value_or(-1)) << "every row of the temp table read once";
  EXPECT_EQ(c.rows_read, c.indexed + c.skipped);
  search::Client client(stack.search_options());
  auto count = client.count(media);
  ASSERT_TRUE(count.ok());
  EXPECT_EQ(count.value(), c.indexed) << "the alias serves every acknowledged document, once";
  EXPECT_EQ(eligible_rows(stack, media), c.indexed + c.dead_lettered)
      << "every eligible row of the promoted table indexed exactly once (or dead-lettered)";
  EXPECT_EQ(table_rows(stack, media), p.run.expected_rows.value_or(-1)) << "the promoted table is live";
  EXPECT_EQ(alias_target(stack, media), p.run.new_index.value_or("?"));
  EXPECT_EQ(alias_target(stack, media + "-filtered"), p.run.filtered_index.value_or("?"));
  std::set<std::string> of_media;
  for (const auto& i : indices(stack)) {
    if (i.rfind(media, 0) == 0) of_media.insert(i);
  }
  EXPECT_EQ(of_media, (std::set<std::string>{*p.run.new_index, *p.run.filtered_index}))
      << "old and orphaned indices are deleted";
  EXPECT_EQ(leftovers(stack), std::vector<std::string>{}) << "no temp table, FDW server or import schema left";
  EXPECT_TRUE(all_services_running(stack));
}

std::string service_log(demo::DevStack& stack, const std::string& name) {
  std::ifstream in(stack.run_dir() / (name + ".log"));
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

bool died_at(demo::DevStack& stack, devprocess::ChildProcess& process, const std::string& log,
             const std::string& point, std::chrono::seconds timeout) {
  auto rc = process.wait_for(timeout);
  if (!rc) return false;
  EXPECT_EQ(*rc, 128 + 9) << "killed by SIGKILL";
  EXPECT_NE(service_log(stack, log).find("crash point " + point), std::string::npos);
  return true;
}

void expect_no_write_block(demo::DevStack& stack, const std::vector<std::string>& indices) {
  search::Client client(stack.search_options());
  for (const auto& index : indices) {
    if (index.empty()) continue;
    auto settings = client.get_settings(index);
    ASSERT_TRUE(settings.ok()) << index;
    const auto& s = settings.value();
    EXPECT_FALSE(s.contains("index") && s["index"].contains("blocks")) << index << " is blocked: " << s.dump();
  }
}

LiveState live_state(demo::DevStack& stack, const std::string& media) {
  return {alias_target(stack, media), alias_target(stack, media + "-filtered"), table_rows(stack, media),
          indices(stack)};
}

void expect_failed_cleanly(demo::DevStack& stack, const std::string& refresh_id, const LiveState& before,
                           const std::string& media, const std::string& error_contains, ledger::RunStatus status) {
  auto p = stack.progress(refresh_id);
  ASSERT_EQ(p.run.status, status);
  ASSERT_TRUE(p.run.error);
  EXPECT_NE(p.run.error->find(error_contains), std::string::npos) << *p.run.error;
  auto now = live_state(stack, media);
  EXPECT_EQ(now.alias_target, before.alias_target) << "the alias did not move";
  EXPECT_EQ(now.filtered_alias_target, before.filtered_alias_target);
  EXPECT_EQ(now.rows, before.rows) << "the live table is untouched";
  EXPECT_EQ(now.indices, before.indices) << "the refresh's indices are deleted, nothing else";
  EXPECT_EQ(leftovers(stack), std::vector<std::string>{}) << "no temp table, FDW server or import schema left";
  expect_no_write_block(stack, {now.alias_target, now.filtered_alias_target});
  // The failure event names the cause.
  bool found = false;
  for (const auto& e : read_topic(stack, "events", 0, std::chrono::seconds(0))) {
    if (e.is_object() && e.value("type", "") == "refresh.failed" && e.value("refresh_id", "") == refresh_id) {
      found = true;
      EXPECT_NE(e.value("error", "").find(error_contains), std::string::npos) << e.dump();
      EXPECT_EQ(e.value("cancelled", false), status == ledger::RunStatus::kCancelled) << e.dump();
    }
  }
  EXPECT_TRUE(found) << "a refresh.failed event for " << refresh_id;
  EXPECT_TRUE(all_services_running(stack));
}

}  // namespace datarefresh::fault
