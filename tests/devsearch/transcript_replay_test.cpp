#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <set>
#include <thread>

#include <nlohmann/json.hpp>

#include "core/search/bulk.h"
#include "tests/devsearch/devsearch_fixture.h"

namespace datarefresh::devsearch::testing {
namespace {

using nlohmann::json;

// The masking rules of /work/shared/spec/es-transcripts/compare.py: volatile keys are compared by
// type only (numbers of any kind are one type), `_type` is ignored, lists must match in length.
const std::set<std::string>& volatile_keys() {
  static const std::set<std::string> keys = {
      "took", "cluster_uuid", "cluster_name", "name", "uuid", "index_uuid", "_seq_no", "_primary_term", "task", "node",
      "build_hash", "build_date", "build_flavor", "build_type", "lucene_version",
      "minimum_wire_compatibility_version", "minimum_index_compatibility_version", "tagline", "_shards", "max_score",
      "_score", "reason", "caused_by", "root_cause", "start_time_in_millis", "running_time_in_nanos",
      "throttled_millis", "throttled_until_millis", "requests_per_second", "active_primary_shards", "active_shards",
      "unassigned_shards", "active_shards_percent_as_number", "number_of_pending_tasks",
      "task_max_waiting_in_queue_millis", "number", "_version", "headers", "description", "resource.id", "routing",
      "creation_date", "provided_name", "version", "slice_id", "slices", "id", "type_", "batches", "status_",
      "throttled", "throttled_until"};
  return keys;
}

int type_class(const json& v) {
  if (v.is_number()) return 1;
  return static_cast<int>(v.type()) + 10;
}

void diff(const std::string& path, const json& expected, const json& actual, std::vector<std::string>& out) {
  if (expected.is_object()) {
    if (!actual.is_object()) {
      out.push_back(path + ": expected object, got " + actual.dump().substr(0, 80));
      return;
    }
    for (const auto& [k, v] : expected.items()) {
      if (k == "_type") continue;
      auto it = actual.find(k);
      if (it == actual.end()) {
        out.push_back(path + "." + k + ": missing");
        continue;
      }
      if (volatile_keys().count(k) > 0) {
        if (type_class(v) != type_class(*it)) out.push_back(path + "." + k + ": type differs");
        continue;
      }
      diff(path + "." + k, v, *it, out);
    }
  } else if (expected.is_array()) {
    if (!actual.is_array() || actual.size() != expected.size()) {
      out.push_back(path + ": expected list of " + std::to_string(expected.size()) + ", got " +
                    actual.dump().substr(0, 80));
      return;
    }
    for (std::size_t i = 0; i < expected.size(); ++i) diff(path + "[" + std::to_string(i) + "]", expected[i], actual[i], out);
  } else if (expected != actual) {
    out.push_back(path + ": " + actual.dump().substr(0, 60) + " != expected " + expected.dump().substr(0, 60));
  }
}

json load(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot read " + path);
  return json::parse(in);
}

// Where `_type` is present in one answer and not in the other (the masking ignores `_type`).
void type_presence(const std::string& path, const json& expected, const json& actual, std::vector<std::string>& out) {
  if (expected.is_object() && actual.is_object()) {
    if (expected.contains("_type") != actual.contains("_type")) out.push_back(path + "._type");
    for (const auto& [k, v] : expected.items()) {
      if (k != "_type" && actual.contains(k)) type_presence(path + "." + k, v, actual[k], out);
    }
  } else if (expected.is_array() && actual.is_array()) {
    for (std::size_t i = 0; i < std::min(expected.size(), actual.size()); ++i) {
      type_presence(path + "[" + std::to_string(i) + "]", expected[i], actual[i], out);
    }
  }
}

// Every path where `answer` holds an object with `_type`.
void type_paths(const std::string& path, const json& answer, std::vector<std::string>& out) {
  if (answer.is_object()) {
    if (answer.contains("_type")) out.push_back(path + "._type");
    for (const auto& [k, v] : answer.items()) type_paths(path + "." + k, v, out);
  } else if (answer.is_array()) {
    for (std::size_t i = 0; i < answer.size(); ++i) type_paths(path + "[" + std::to_string(i) + "]", answer[i], out);
  }
}

// Document 7. The recording acknowledges bulk item "7" of "bulk mapping error and ok item" as
// created (201, _seq_no 4) and refreshes image-aaa right after, yet every later answer counts
// image-aaa without it: 5 hits, 3 documents after filtering (ids 1, 2, 5; "ok" matches no
// excluded term), 5 reindexed, _cat docs.count 5. No Elasticsearch behaviour explains this:
//  - not refresh visibility: POST image-aaa/_refresh follows the write, and _cat/indices reads
//    Lucene's own document count;
//  - not routing: no routing was given and match_all, count and reindex read every shard;
//  - not an alias: image-aaa had no alias before "add alias", and the writes name the index;
//  - not a repeated id: the bulk holds ids 6 and 7 once each, and 7 is in no other request;
//  - not the failed item 6: a parse failure takes no sequence number and affects no other item.
// The recorded exchanges are all marked "public": the recording most likely held exchanges left
// out of the published transcript (a deletion of document 7 would give exactly these answers),
// and the server was not a stock 7.10.2 ("-rebuilt-local" build, Lucene 8.8.1 where 7.10.2 ships
// 8.7.0). devsearch therefore keeps document 7, and these exchanges must differ from the
// recording exactly by it: each listed value is asserted, nothing else may differ.
struct Document7Effect {
  std::string pointer;  // into the answer
  json value;           // what devsearch answers there (the recording has one document fewer)
};
const std::map<std::string, std::vector<Document7Effect>>& document7_effects() {
  static const std::map<std::string, std::vector<Document7Effect>> effects = {
      {"search match_all", {{"/hits/total/value", 6}}},
      {"task status", {{"/response/total", 4}, {"/response/created", 4}}},
      {"count filtered", {{"/count", 4}}},
      {"filtered ids", {{"/hits/total/value", 4}}},
      {"reindex sync", {{"/total", 6}, {"/created", 6}}},
  };
  return effects;
}

std::string diff_path(const std::string& pointer) {
  std::string p = pointer;
  std::replace(p.begin(), p.end(), '/', '.');
  return p;
}

// What replaying the recording gave.
struct Replay {
  int exchanges = 0;
  std::vector<std::string> failures;            // exchanges that differ beyond the known effects
  std::vector<std::string> type_differences;    // paths where `_type` presence differs
  std::vector<std::string> recorded_type_paths;  // paths where the recording has `_type`
  std::map<std::string, json> answers;           // devsearch's answers by exchange name
};

// The recorded server already held these indices; build the same state through the API.
void set_up_recording_precondition(search::Client& client) {
  ASSERT_TRUE(client.create_index("final_check", {{"settings", {{"number_of_replicas", 1}}}}).ok());
  ASSERT_TRUE(client.create_index("products", {{"settings", {{"number_of_replicas", 0}}}}).ok());
  search::BulkBodyBuilder b;
  b.add_index("final_check", "1", R"({"check":"ok"})");
  b.add_index("image-autocreated", "1", R"({"title":"auto-created by a bulk"})");  // 1 shard, 1 replica
  b.add_index("products", "1", R"({"name":"first"})");
  b.add_index("products", "2", R"({"name":"second"})");
  auto r = client.bulk(b.take());
  ASSERT_TRUE(r.ok());
  ASSERT_FALSE(r->errors);
  ASSERT_TRUE(client.refresh("final_check,image-autocreated,products").ok());
}

// Replays `recorded_file` (exchanges with their answers); `scenarios_file` adds what the replay
// does around each request (waits, saved task ids), by exchange name.
void replay(search::Client& client, const std::string& source_dir, Replay& out,
            const std::string& recorded_file = "es-7.10.2.json", const std::string& scenarios_file = "scenarios.json") {
  std::string dir = source_dir + "/tests/testdata/es-transcripts/";
  json scenarios = load(dir + scenarios_file);
  json recorded = load(dir + recorded_file);
  std::map<std::string, json> by_name;
  for (const auto& s : scenarios) by_name[s["name"].get<std::string>()] = s;
  ASSERT_EQ(recorded.size(), scenarios.size());

  std::string task;
  for (const auto& x : recorded) {
    const std::string name = x["name"];
    const json& scenario = by_name[name];
    if (scenario.contains("wait")) {
      std::this_thread::sleep_for(std::chrono::milliseconds(static_cast<int>(scenario["wait"].get<double>() * 1000)));
    }
    std::string path = x["path"];
    if (auto p = path.find("{task}"); p != std::string::npos) path.replace(p, 6, task);
    std::string body;
    std::string content_type = "application/json";
    if (x.contains("body") && !x["body"].is_null()) {
      const json& b = x["body"];
      if (b.is_array()) {
        for (const auto& line : b) body += line.dump() + "\n";
        content_type = "application/x-ndjson";
      } else if (b.is_string()) {
        body = b.get<std::string>();
        content_type = "application/x-ndjson";
      } else {
        body = b.dump();
      }
    }
    auto r = client.perform(x["method"], path, body, content_type);
    ASSERT_TRUE(r.ok()) << name << ": " << r.error().describe();
    ++out.exchanges;
    json actual = nullptr;
    if (!r->body.empty()) {
      actual = json::parse(r->body, nullptr, false);
      if (actual.is_discarded()) actual = r->body;
    }
    out.answers[name] = actual;
    if (scenario.value("save_task", false) && actual.is_object() && actual.contains("task")) task = actual["task"];

    std::vector<std::string> diffs;
    if (r->status != x["status"].get<int>()) {
      diffs.push_back("status " + std::to_string(r->status) + " != expected " + x["status"].dump());
    }
    if (name == "cat indices") {
      auto names = [](const json& rows) {
        std::vector<std::string> n;
        for (const auto& row : rows) n.push_back(row.value("index", ""));
        std::sort(n.begin(), n.end());
        return n;
      };
      if (!actual.is_array() || names(actual) != names(x["response"])) diffs.push_back("index names differ");
    } else if (!x["response"].is_null()) {
      diff("", x["response"], actual, diffs);
      type_presence(name + ":", x["response"], actual, out.type_differences);
      type_paths(name + ":", x["response"], out.recorded_type_paths);
    }
    if (auto known = document7_effects().find(name); known != document7_effects().end()) {
      for (const auto& effect : known->second) {
        std::erase_if(diffs, [&](const std::string& d) { return d.substr(0, d.find(':')) == diff_path(effect.pointer); });
        json::json_pointer ptr(effect.pointer);
        if (!actual.is_object() || !actual.contains(ptr) || actual.at(ptr) != effect.value) {
          diffs.push_back(diff_path(effect.pointer) + ": document 7 is not counted as expected (" +
                          effect.value.dump() + ")");
        }
      }
      if (name == "filtered ids") {
        // The recorded list (ids 1, 2, 5) with document 7 after them.
        std::erase_if(diffs, [](const std::string& d) { return d.rfind(".hits.hits:", 0) == 0; });
        std::vector<std::string> ids;
        for (const auto& h : actual["hits"]["hits"]) ids.push_back(h.value("_id", ""));
        if (ids != std::vector<std::string>{"1", "2", "5", "7"}) diffs.push_back(".hits.hits: ids differ");
        json head = actual["hits"]["hits"];
        if (head.is_array() && head.size() == 4) {
          head.erase(3);
          diff(".hits.hits", x["response"]["hits"]["hits"], head, diffs);
        }
      }
    }
    if (!diffs.empty()) {
      std::string line = name + ":";
      for (const auto& d : diffs) line += " " + d + ";";
      out.failures.push_back(line);
    }
  }
}

std::vector<std::string> sorted(std::vector<std::string> v) {
  std::sort(v.begin(), v.end());
  return v;
}

class TranscriptReplay7 : public DevSearch7Test {};
class TranscriptReplay8 : public DevSearchTest {};

TEST_F(TranscriptReplay7, EveryRecordedElasticsearch710ExchangeMatchesExactly) {
  set_up_recording_precondition(*client_);
  Replay r;
  replay(*client_, source_dir(), r);
  EXPECT_EQ(r.exchanges, 34);
  EXPECT_THAT(r.failures, ::testing::IsEmpty());
  EXPECT_THAT(r.type_differences, ::testing::IsEmpty()) << "7.10 answers carry _type: _doc";
  EXPECT_GT(r.recorded_type_paths.size(), 10u);
  EXPECT_EQ(r.answers["root"]["version"]["number"], "7.10.2");
}

// The default (Elasticsearch 8) mode differs from the 7.10 recording only where 8.x differs:
// its answers carry no `_type` (every recorded `_type` is absent, none is added), and GET / names
// 8.13.4. Everything else, masked as above, matches.
TEST_F(TranscriptReplay8, DiffersFromTheRecordingOnlyByTheTypeFieldsElasticsearch8Removed) {
  set_up_recording_precondition(*client_);
  Replay r;
  replay(*client_, source_dir(), r);
  EXPECT_EQ(r.exchanges, 34);
  EXPECT_THAT(r.failures, ::testing::IsEmpty());
  EXPECT_GT(r.recorded_type_paths.size(), 10u);
  EXPECT_EQ(sorted(r.type_differences), sorted(r.recorded_type_paths));
  EXPECT_EQ(r.answers["root"]["version"]["number"], "8.13.4");
  EXPECT_EQ(r.answers["get doc"].count("_type"), 0u);
  EXPECT_EQ(r.answers["task status"]["task"]["description"], "reindex from [image-aaa] to [image-aaa-filtered]");
}

// The exchanges an incremental refresh relies on (write block, _clone refused and done, block
// lifted with null, a bulk delete of a missing id), built from the Elasticsearch documentation's
// examples and answers, not recorded (es-docs-clone.json says where each comes from). Both modes
// must answer them alike; `_type` is ignored as above.
TEST_F(TranscriptReplay8, AnswersTheDocumentedCloneAndBulkDeleteExamples) {
  Replay r;
  replay(*client_, source_dir(), r, "es-docs-clone.json", "es-docs-clone.json");
  EXPECT_EQ(r.exchanges, 8);
  EXPECT_THAT(r.failures, ::testing::IsEmpty());
  EXPECT_EQ(r.answers["bulk with a delete of a missing document"]["errors"], false);
}

TEST_F(TranscriptReplay7, AnswersTheDocumentedCloneAndBulkDeleteExamples) {
  Replay r;
  replay(*client_, source_dir(), r, "es-docs-clone.json", "es-docs-clone.json");
  EXPECT_EQ(r.exchanges, 8);
  EXPECT_THAT(r.failures, ::testing::IsEmpty());
  EXPECT_EQ(r.answers["bulk with a delete of a missing document"]["items"][1]["delete"]["_type"], "_doc");
}

}  // namespace
}  // namespace datarefresh::devsearch::testing
