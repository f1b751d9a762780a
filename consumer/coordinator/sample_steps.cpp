#include "consumer/coordinator/sample_steps.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <numeric>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "core/common/crash_point.h"
#include "core/common/shutdown.h"
#include "core/refresh/step_error.h"

namespace datarefresh::coordinator {
namespace {

using refresh::StepError;
using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

// More distinct providers or sources than this is not a catalog this step was written for: the
// terms aggregation would leave buckets out (sum_other_doc_count), and the sample is refused.
constexpr int kMaxValues = 10000;

// target * count needs more than 64 bits past about 3 billion documents.
__extension__ typedef __int128 Wide;

constexpr const char* kPlanStep = "sample_index:plan";

std::string task_step(std::size_t group) {
  return fmt::format("sample_index:task:{}", group);
}
std::string group_step(std::size_t group) {
  return fmt::format("sample_index:group:{}", group);
}

// The query of one group: the documents whose field holds `value`, or (null) those without it.
nlohmann::json group_query(const std::string& field, const nlohmann::json& value) {
  if (value.is_null()) return {{"bool", {{"must_not", nlohmann::json::array({{{"exists", {{"field", field}}}}})}}}};
  return {{"term", {{field, value}}}};
}

std::string group_name(const nlohmann::json& value) {
  return value.is_null() ? std::string("(none)") : value.get<std::string>();
}

// Forgets every copy of this sample (tasks and finished groups) and deletes its index: a group
// copied in part cannot be completed by copying it again (max_docs takes the first documents the
// engine reads, which need not be the same ones), so the copies start over on the next attempt.
void start_over(StepContext& c) {
  c.db.exec_params(
      "DELETE FROM datarefresh.steps WHERE refresh_id = $1::uuid AND (step LIKE 'sample_index:task:%' OR "
      "step LIKE 'sample_index:group:%')",
      {c.run.refresh_id});
  auto d = c.services.search.delete_index(*c.run.new_index);
  if (!d.ok() && d.error().http_status != 404) refresh::check(d, "deleting " + *c.run.new_index);
}

// Reads the source's documents per value of the field and records what each group gets. Recorded
// once: a resumed run copies what it planned.
nlohmann::json plan_sample(StepContext& c) {
  if (auto plan = c.ledger.step_details(c.run.refresh_id, kPlanStep)) return *plan;
  const auto& run = c.run;
  auto& search = c.services.search;
  auto preflight = c.ledger.step_details(run.refresh_id, "preflight").value_or(nlohmann::json::object());
  const std::string source = preflight.value("source_index", "");
  if (source.empty()) throw StepError("the preflight of sample " + run.refresh_id + " recorded no source_index", false);
  const std::string field = run.options.value("sample_by", "provider");
  if (field != "provider" && field != "source") {
    throw StepError("options.sample_by must be \"provider\" or \"source\", got \"" + field + "\"", false);
  }
  const auto sample = run.options.value("sample", nlohmann::json::object());
  std::optional<double> percent;
  std::optional<std::int64_t> rows;
  if (sample.contains("percent") && sample["percent"].is_number()) percent = sample["percent"].get<double>();
  if (sample.contains("rows") && sample["rows"].is_number_integer()) rows = sample["rows"].get<std::int64_t>();
  if (percent.has_value() == rows.has_value()) {
    throw StepError("options.sample of sample " + run.refresh_id + " must hold exactly one of percent and rows, got " +
                        sample.dump(),
                    false);
  }

  auto total = refresh::check(search.count(source), "counting " + source);
  auto terms = refresh::check(search.terms_counts(source, field, kMaxValues), "counting " + source + " by " + field);
  if (terms.sum_other_doc_count != 0) {
    throw StepError(fmt::format("{} has more than {} values of {} ({} documents under the others): a sample by {} "
                                "is not possible",
                                source, kMaxValues, field, terms.sum_other_doc_count, field),
                    false);
  }
  const nlohmann::json none = {{"bool", {{"must_not", nlohmann::json::array({{{"exists", {{"field", field}}}}})}}}};
  auto without =
      refresh::check(search.count(source, none), "counting the documents of " + source + " without " + field);
  std::vector<nlohmann::json> values;
  std::vector<std::int64_t> counts;
  for (const auto& [value, n] : terms.buckets) {
    values.emplace_back(value);
    counts.push_back(n);
  }
  if (without > 0) {
    values.emplace_back(nullptr);
    counts.push_back(without);
  }
  const auto grouped = std::accumulate(counts.begin(), counts.end(), std::int64_t{0});
  if (grouped != total) {
    throw StepError(fmt::format("{} holds {} documents, but its values of {} count {} (with {} without one): a "
                                "document with several values, or the index changed meanwhile",
                                source, total, field, grouped, without),
                    false);
  }
  const auto target = sample_target(total, percent, rows);
  if (target < 1) {
    throw StepError(fmt::format("a sample of {} of the {} documents of {} holds no document",
                                percent ? fmt::format("{}%", *percent) : fmt::format("{} rows", *rows), total, source),
                    false);
  }
  const auto quotas = sample_quotas(counts, target);
  nlohmann::json groups = nlohmann::json::array();
  for (std::size_t i = 0; i < values.size(); ++i) {
    groups.push_back({{"value", values[i]}, {"documents", counts[i]}, {"quota", quotas[i]}});
  }
  nlohmann::json plan = {
      {"source_index", source}, {"by", field}, {"total", total}, {"target", target}, {"groups", groups}};
  if (percent) plan["percent"] = *percent;
  if (rows) plan["rows"] = *rows;
  c.ledger.mark_step(run.refresh_id, kPlanStep, 0, plan);
  c.log.info("sample planned", {{"refresh_id", run.refresh_id},
                                {"source_index", source},
                                {"by", field},
                                {"documents", total},
                                {"target", target},
                                {"values", values.size()}});
  return plan;
}

// Polls the copy of group `i` to its end. A task the engine no longer knows, or that failed,
// starts the whole sample over (retryable).
void wait_for_group(StepContext& c, std::size_t i, const std::string& task) {
  auto& search = c.services.search;
  while (true) {
    auto status = search.get_task(task);
    if (!status.ok()) {
      if (status.error().http_status == 404) {
        start_over(c);
        throw StepError("sample reindex task " + task + " is unknown to the engine; starting the sample again", true);
      }
      throw StepError("polling sample reindex task " + task + ": " + status.error().describe(),
                      status.error().retryable);
    }
    if (status.value().completed) {
      if (status.value().error || !status.value().failures.empty()) {
        std::string why = status.value().error.value_or(status.value().failures.front());
        start_over(c);
        throw StepError(fmt::format("the sample reindex of group {} failed: {}; starting the sample again", i, why),
                        true);
      }
      return;
    }
    // A cancel is handled by the rollback, whose compensation stops the engine's copy first.
    c.check_cancel();
    if (wait_for_shutdown(std::chrono::milliseconds(200))) throw StepError("stopping", true);
  }
}

}  // namespace

std::int64_t sample_target(std::int64_t total, std::optional<double> percent, std::optional<std::int64_t> rows) {
  if (total <= 0) return 0;
  if (percent) {
    auto t = static_cast<std::int64_t>(std::llround(static_cast<double>(total) * *percent / 100.0));
    return std::clamp<std::int64_t>(t, 0, total);
  }
  return std::clamp<std::int64_t>(rows.value_or(0), 0, total);
}

std::vector<std::int64_t> sample_quotas(const std::vector<std::int64_t>& counts, std::int64_t target) {
  const auto total = std::accumulate(counts.begin(), counts.end(), std::int64_t{0});
  std::vector<std::int64_t> quotas(counts.size(), 0);
  if (total <= 0 || target <= 0) return quotas;
  target = std::min(target, total);
  std::vector<std::int64_t> remainders(counts.size(), 0);
  std::int64_t given = 0;
  for (std::size_t i = 0; i < counts.size(); ++i) {
    // target * count / total exactly: both are at most the total, so the product fits in 128 bits.
    const auto product = static_cast<Wide>(target) * counts[i];
    quotas[i] = static_cast<std::int64_t>(product / total);
    remainders[i] = static_cast<std::int64_t>(product % total);
    given += quotas[i];
  }
  std::vector<std::size_t> order(counts.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    if (remainders[a] != remainders[b]) return remainders[a] > remainders[b];
    return counts[a] > counts[b];
  });
  // Fewer documents are left than groups with a remainder: each of those gets at most one more.
  for (std::size_t k = 0; given < target && k < order.size(); ++k) {
    if (remainders[order[k]] == 0) continue;
    ++quotas[order[k]];
    ++given;
  }
  return quotas;
}

StepResult build_sample_index(StepContext& c) {
  const auto& run = c.run;
  auto& search = c.services.search;
  const auto& fc = c.services.config.refresh.filtered_index;
  c.enter_phase("building_sample_index");
  auto started = Clock::now();
  const auto plan = plan_sample(c);
  const std::string source = plan["source_index"];
  const std::string field = plan["by"];
  const auto& groups = plan["groups"];

  // The index, from the media's index settings, with the load settings (replicas and refresh
  // come back in restore_settings).
  {  // again on a resume: an index that exists already is the one this run created
    auto path = c.services.context.resolve(c.services.config.refresh.index_settings_dir + "/" + c.media.index_settings);
    nlohmann::json overrides = {{"number_of_replicas", 0}, {"refresh_interval", "-1"}};
    if (c.media.number_of_shards > 0) overrides["number_of_shards"] = c.media.number_of_shards;
    auto created = search.create_index_from_file(*run.new_index, path.string(), overrides);
    if (!created.ok() && created.error().type != "resource_already_exists_exception") {
      throw StepError("creating " + *run.new_index + ": " + created.error().describe(), created.error().retryable);
    }
  }

  // One throttled `_reindex` per group, the group's quota its max_docs. Not sliced: Elasticsearch
  // splits max_docs between slices rounding down, and a slice short of documents leaves its share
  // uncopied, so a sliced copy could hold fewer documents than asked.
  for (std::size_t i = 0; i < groups.size(); ++i) {
    const auto& g = groups[i];
    const auto quota = g["quota"].get<std::int64_t>();
    if (c.ledger.step_done(run.refresh_id, group_step(i))) continue;
    auto group_started = Clock::now();
    if (quota > 0) {  // max_docs must be positive: a group without documents to copy has no copy
      std::string task;
      if (auto d = c.ledger.step_details(run.refresh_id, task_step(i))) task = (*d)["task"];
      if (task.empty()) {
        nlohmann::json body = {{"max_docs", quota},
                               {"source", {{"index", source}, {"query", group_query(field, g["value"])}}},
                               {"dest", {{"index", *run.new_index}}}};
        task = refresh::check(search.start_reindex(body, fc.requests_per_second, "1"),
                              "starting the sample reindex of " + group_name(g["value"]) + " into " + *run.new_index);
        c.ledger.mark_step(run.refresh_id, task_step(i), 0, {{"task", task}, {"value", g["value"]}});
        crash_point("coordinator.sample_index_running");
      }
      wait_for_group(c, i, task);
    }
    c.ledger.mark_step(run.refresh_id, group_step(i), seconds_since(group_started),
                       {{"value", g["value"]}, {"documents", quota}});
    c.check_cancel();
  }

  // Each group must hold exactly its quota, or the staging alias stays where it is.
  refresh::check(search.refresh(*run.new_index), "refreshing " + *run.new_index);
  nlohmann::json per_value = nlohmann::json::object();
  std::vector<std::string> wrong;
  std::int64_t documents = 0;
  for (const auto& g : groups) {
    const auto quota = g["quota"].get<std::int64_t>();
    auto held = refresh::check(search.count(*run.new_index, group_query(field, g["value"])),
                               "counting the documents of " + group_name(g["value"]) + " in " + *run.new_index);
    if (held != quota) wrong.push_back(fmt::format("{}: {} instead of {}", group_name(g["value"]), held, quota));
    const std::string key = g["value"].is_null() ? std::string() : g["value"].get<std::string>();
    per_value[key] = per_value.value(key, std::int64_t{0}) + quota;
    documents += quota;
  }
  auto total = refresh::check(search.count(*run.new_index), "counting " + *run.new_index);
  if (total != plan["target"].get<std::int64_t>()) {
    wrong.push_back(fmt::format("{} documents in all instead of {}", total, plan["target"].get<std::int64_t>()));
  }
  if (!wrong.empty()) {
    throw StepError(fmt::format("the sample index {} does not hold the planned documents per {} ({}); the staging "
                                "alias {} was not moved",
                                *run.new_index, field, fmt::join(wrong, "; "), run.alias.value_or("")),
                    false);
  }
  nlohmann::json details = {{"documents", documents},
                            {"per_value", per_value},
                            {"by", field},
                            {"source_index", source},
                            {"source_documents", plan["total"]}};
  if (plan.contains("percent")) details["percent"] = plan["percent"];
  if (plan.contains("rows")) details["rows"] = plan["rows"];
  c.ledger.mark_step(run.refresh_id, "sample_index", seconds_since(started), details);
  c.log.info("sample index built",
             {{"refresh_id", run.refresh_id}, {"index", *run.new_index}, {"documents", documents}, {"by", field}});
  return StepResult::kDone;
}

void stop_sample_reindex(StepContext& c) {
  if (c.ledger.step_done(c.run.refresh_id, "sample_index")) return;
  auto plan = c.ledger.step_details(c.run.refresh_id, kPlanStep);
  if (!plan) return;
  for (std::size_t i = 0; i < (*plan)["groups"].size(); ++i) {
    if (c.ledger.step_done(c.run.refresh_id, group_step(i))) continue;
    auto d = c.ledger.step_details(c.run.refresh_id, task_step(i));
    if (!d) continue;
    cancel_engine_task(c, (*d)["task"], "sample reindex");
  }
}

}  // namespace datarefresh::coordinator
