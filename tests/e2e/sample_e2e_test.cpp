// A staging sample over real processes: a full refresh of generated images, then a sample of 10%
// by provider requested through the HTTP API and a sample of 500 documents by source requested
// through the CLI. Each must hold every value's exact share of the live index to within one
// document, move only the staging alias (atomically, the previous sample deleted), and leave the
// production aliases where they were.
#include <chrono>
#include <cmath>
#include <fstream>
#include <iostream>
#include <regex>
#include <thread>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "core/search/client.h"
#include "devstack/demo/dev_stack.h"
#include "devstack/process/child_process.h"
#include "tests/fault/fault_support.h"

namespace datarefresh::e2e {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

class StagingSample : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    demo::DevStackOptions o;
    o.image_rows = 3000;
    o.audio_rows = 200;
    o.seed = 20261207;
    o.env = {{"DATAREFRESH_REFRESH_ROWS_PER_SHARD", "1000"}};
    stack_ = fault::start_suite_stack(o, 1);
    auto id = stack_->trigger("image");
    auto p = stack_->wait(id, 300s);
    full_refresh_ = id;
    ASSERT_EQ(p.run.status, ledger::RunStatus::kCompleted) << p.run.error.value_or("");
  }
  static void TearDownTestSuite() {
    if (stack_ != nullptr) fault::stop_suite_stack(stack_);
  }

  void SetUp() override {
    ASSERT_NE(stack_, nullptr);
    ASSERT_FALSE(full_refresh_.empty());
    client_ = std::make_unique<search::Client>(stack_->search_options());
  }

  // POST /v1/refreshes with `body`; the HTTP status and the answer.
  static std::pair<int, json> post(const json& body) {
    httplib::Client client(stack_->api_url());
    client.set_read_timeout(60, 0);
    auto r = client.Post("/v1/refreshes", body.dump(), "application/json");
    if (!r) return {0, json()};
    return {r->status, json::parse(r->body, nullptr, false)};
  }

  static json get(const std::string& path) {
    httplib::Client client(stack_->api_url());
    auto r = client.Get(path.c_str());
    return r && r->status == 200 ? json::parse(r->body, nullptr, false) : json::object();
  }

  // Runs `datarefresh trigger image <args>`; its exit code and output.
  static std::pair<int, std::string> trigger(const std::vector<std::string>& args, const std::string& log) {
    std::vector<std::string> argv{"trigger", "image", "-c", stack_->config_file().string()};
    argv.insert(argv.end(), args.begin(), args.end());
    auto child = stack_->spawn(argv, log);
    auto code = child.wait_for(60s);
    if (!code) child.stop();
    std::ifstream in(stack_->run_dir() / (log + ".log"));
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    return {code.value_or(-1), text};
  }

  std::int64_t count(const std::string& index, const std::optional<json>& query = std::nullopt) {
    auto n = client_->count(index, query);
    EXPECT_TRUE(n.ok()) << index << ": " << (n.ok() ? "" : n.error().describe());
    return n.ok() ? *n : -1;
  }

  // The sample behind the staging alias holds `target` documents, each value of `field` within one
  // document of its exact share of the live main index (documents without the field included).
  void expect_proportional(const std::string& field, std::int64_t target) {
    const auto live_total = count("image");
    auto live = client_->terms_counts("image", field, 1000);
    ASSERT_TRUE(live.ok()) << live.error().describe();
    ASSERT_EQ(live->sum_other_doc_count, 0);
    ASSERT_GT(live->buckets.size(), 1u) << "the generated data has one " << field << " only: nothing to check";
    EXPECT_EQ(count("image-staging"), target);
    auto check = [&](const std::string& what, std::int64_t in_live, std::int64_t in_sample) {
      const double exact = static_cast<double>(target) * static_cast<double>(in_live) / static_cast<double>(live_total);
      std::cout << fmt::format("  {} {}: {} of {} live, {} in the sample (exact {:.2f})\n", field, what, in_live,
                               live_total, in_sample, exact);
      EXPECT_LE(std::abs(static_cast<double>(in_sample) - exact), 1.0)
          << field << " " << what << ": " << in_sample << " in the sample, exact share " << exact << " (" << in_live
          << " of " << live_total << ")";
    };
    std::int64_t seen = 0;
    for (const auto& [value, n] : live->buckets) {
      check(value, n, count("image-staging", json{{"term", {{field, value}}}}));
      seen += n;
    }
    const json none = {{"bool", {{"must_not", json::array({{{"exists", {{"field", field}}}}})}}}};
    EXPECT_EQ(count("image", none), live_total - seen);
    check("(none)", live_total - seen, count("image-staging", none));
  }

  static demo::DevStack* stack_;
  static std::string full_refresh_;
  std::unique_ptr<search::Client> client_;
};

demo::DevStack* StagingSample::stack_ = nullptr;
std::string StagingSample::full_refresh_;

TEST_F(StagingSample, TheApiAndTheCliRefuseWhatIsNotASample) {
  const std::vector<json> bad = {
      {{"media_type", "image"}, {"options", {{"sample", {{"percent", 10}}}}}},  // no mode sample
      {{"media_type", "image"}, {"mode", "sample"}},                            // no size
      {{"media_type", "image"}, {"mode", "sample"}, {"options", {{"sample", {{"percent", 10}, {"rows", 5}}}}}},
      {{"media_type", "image"}, {"mode", "sample"}, {"options", {{"sample", {{"percent", 0}}}}}},
      {{"media_type", "image"}, {"mode", "sample"}, {"options", {{"sample", {{"percent", 100.5}}}}}},
      {{"media_type", "image"}, {"mode", "sample"}, {"options", {{"sample", {{"rows", 0}}}}}},
      {{"media_type", "image"}, {"mode", "sample"}, {"options", {{"sample", {{"rows", 2.5}}}}}},
      {{"media_type", "image"}, {"mode", "sample"}, {"options", {{"sample", {{"rows", 10}}}, {"sample_by", "title"}}}},
  };
  for (const auto& body : bad) {
    auto [status, answer] = post(body);
    EXPECT_EQ(status, 400) << body.dump() << " -> " << answer.dump();
  }
  auto [code, out] = trigger({"--sample", "0%"}, "trigger-bad-percent");
  EXPECT_NE(code, 0);
  EXPECT_NE(out.find("--sample"), std::string::npos) << out;
  EXPECT_NE(out.find("10%"), std::string::npos) << out;
  std::tie(code, out) = trigger({"--sample", "10%", "--full"}, "trigger-sample-full");
  EXPECT_NE(code, 0) << out;
  std::tie(code, out) = trigger({"--by", "source"}, "trigger-by-alone");
  EXPECT_NE(code, 0) << out;
}

TEST_F(StagingSample, ASampleKeepsEveryShareMovesOnlyTheStagingAliasAndReplacesThePreviousOne) {
  const auto main_before = fault::alias_target(*stack_, "image");
  const auto filtered_before = fault::alias_target(*stack_, "image-filtered");
  ASSERT_FALSE(main_before.empty());
  ASSERT_FALSE(filtered_before.empty());
  const auto live_total = count("image");

  // 10% by provider, through the HTTP API.
  auto [status, answer] = post({{"media_type", "image"},
                                {"mode", "sample"},
                                {"options", {{"sample", {{"percent", 10}}}, {"sample_by", "provider"}}}});
  ASSERT_EQ(status, 202) << answer.dump();
  const std::string first_id = answer.value("refresh_id", "");
  auto first = stack_->wait(first_id, 120s);
  ASSERT_EQ(first.run.status, ledger::RunStatus::kCompleted) << first.run.error.value_or("");
  ASSERT_TRUE(first.run.new_index);
  const auto first_index = *first.run.new_index;
  EXPECT_EQ(fault::alias_target(*stack_, "image-staging"), first_index);
  EXPECT_EQ(fault::alias_target(*stack_, "image"), main_before);
  EXPECT_EQ(fault::alias_target(*stack_, "image-filtered"), filtered_before);
  EXPECT_TRUE(fault::indices(*stack_).count(main_before));
  expect_proportional("provider", std::llround(static_cast<double>(live_total) * 0.10));
  auto report = get("/v1/refreshes/" + first_id);
  EXPECT_EQ(report.value("mode", ""), "sample") << report.dump();
  EXPECT_EQ(report.value("report", json::object()).value("documents_indexed", std::int64_t{-1}),
            std::llround(static_cast<double>(live_total) * 0.10))
      << report.dump();
  EXPECT_EQ(count("image"), live_total);  // the live index is only read

  // 500 documents by source, through the CLI: the staging alias moves to the new sample and the
  // previous one is deleted.
  auto [code, out] = trigger({"--sample", "500", "--by", "source"}, "trigger-sample-rows");
  ASSERT_EQ(code, 0) << out;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(out, m, std::regex("[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")))
      << out;
  auto second = stack_->wait(m[0], 120s);
  ASSERT_EQ(second.run.status, ledger::RunStatus::kCompleted) << second.run.error.value_or("");
  ASSERT_TRUE(second.run.new_index);
  EXPECT_NE(*second.run.new_index, first_index);
  EXPECT_EQ(second.run.old_index.value_or(""), first_index);
  EXPECT_EQ(fault::alias_target(*stack_, "image-staging"), *second.run.new_index);
  auto aliases = client_->get_alias("image-staging");
  ASSERT_TRUE(aliases.ok());
  EXPECT_EQ(aliases->size(), 1u) << "the staging alias points at more than the new sample";
  EXPECT_FALSE(fault::indices(*stack_).count(first_index))
      << "the previous sample " << first_index << " is still there";
  EXPECT_EQ(fault::alias_target(*stack_, "image"), main_before);
  EXPECT_EQ(fault::alias_target(*stack_, "image-filtered"), filtered_before);
  expect_proportional("source", 500);
  EXPECT_TRUE(fault::leftovers(*stack_).empty());
}

// The coordinator killed (SIGKILL) right after it started a group's copy: restarted, it picks the
// engine's task up from the ledger instead of copying again, and the sample is still exact.
TEST_F(StagingSample, ACoordinatorKilledWhileASampleCopiesResumesItExactly) {
  const auto main_before = fault::alias_target(*stack_, "image");
  const auto point = "coordinator.sample_index_running";
  stack_->start_coordinator({{"DATAREFRESH_CRASH_AT", point}});
  auto [status, answer] =
      post({{"media_type", "image"}, {"mode", "sample"}, {"options", {{"sample", {{"rows", 300}}}}}});
  ASSERT_EQ(status, 202) << answer.dump();
  const std::string id = answer.value("refresh_id", "");
  ASSERT_TRUE(fault::died_at(*stack_, *stack_->coordinator(), "coordinator", point, 120s))
      << "the coordinator did not reach " << point;
  EXPECT_EQ(stack_->progress(id).run.status, ledger::RunStatus::kRunning);
  stack_->start_coordinator();
  auto p = stack_->wait(id, 120s);
  ASSERT_EQ(p.run.status, ledger::RunStatus::kCompleted) << p.run.error.value_or("");
  EXPECT_EQ(fault::alias_target(*stack_, "image-staging"), p.run.new_index.value_or("?"));
  EXPECT_EQ(fault::alias_target(*stack_, "image"), main_before);
  expect_proportional("provider", 300);
}

}  // namespace
}  // namespace datarefresh::e2e
