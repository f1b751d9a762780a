// A small run of `datarefresh bench` so that the benchmark cannot rot: it must run end to end and
// write every key docs/performance.md reads. Timings are not checked (benchmarks never fail CI).
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "devstack/process/child_process.h"

namespace datarefresh {
namespace {

namespace fs = std::filesystem;

TEST(BenchSmoke, ASmallBenchmarkRunsEndToEndAndWritesItsResult) {
  const char* binary = std::getenv("DATAREFRESH_BINARY");
  ASSERT_NE(binary, nullptr) << "run through ctest (DATAREFRESH_BINARY)";
  auto out = fs::temp_directory_path() / ("datarefresh-bench-smoke-" + std::to_string(::getpid()));
  devprocess::ChildOptions o;
  o.argv = {binary, "bench", "--rows", "10000", "--indexers", "1", "2", "--out", out.string()};
  o.log_file = out.string() + ".log";
  devprocess::ChildProcess bench(std::move(o));
  auto rc = bench.wait_for(std::chrono::minutes(8));
  std::ifstream log_in(out.string() + ".log");
  std::string log((std::istreambuf_iterator<char>(log_in)), std::istreambuf_iterator<char>());
  ASSERT_TRUE(rc) << "the benchmark did not finish:\n" << log;
  ASSERT_EQ(*rc, 0) << log;
  std::ifstream in(out / "bench-10000-rows.json");
  ASSERT_TRUE(in) << log;
  auto r = nlohmann::json::parse(in);
  EXPECT_EQ(r["rows"], 10000);
  for (const char* key : {"read_limit_rows_per_s", "indexing_rows_per_s_1_indexer", "indexing_rows_per_s_2_indexers",
                          "encode_docs_per_s_per_core", "indexer_peak_rss_mb"}) {
    ASSERT_TRUE(r.contains(key)) << key;
    ASSERT_TRUE(r[key].is_number()) << key << ": " << r[key].dump();
    EXPECT_GT(r[key].get<double>(), 0) << key;
  }
  for (const char* phase : {"copy", "create_index", "indexing", "filtered_index", "promotion"}) {
    EXPECT_TRUE(r["phases"].contains(phase)) << phase << " in " << r["phases"].dump();
  }
  EXPECT_GT(r["baselines"]["insert_select_seconds"].get<double>(), 0);
  // Tags are filtered inside the copy: their cost is the copy's parts filtering less the same parts not.
  EXPECT_GT(r["baselines"]["copy_parts_seconds"].get<double>(), 0);
  EXPECT_GT(r["baselines"]["copy_parts_filtering_tags_seconds"].get<double>(), 0);
  EXPECT_EQ(r["baselines"]["copy_parallelism"], 2);
  EXPECT_DOUBLE_EQ(r["tag_filter_seconds"].get<double>(),
                   std::max(0.0, r["baselines"]["copy_parts_filtering_tags_seconds"].get<double>() -
                                     r["baselines"]["copy_parts_seconds"].get<double>()));
  ASSERT_EQ(r["runs"].size(), 2u);
  // Each refresh is compared with a read limit measured right after it; the target uses the
  // 2-indexer refresh's own.
  for (const auto& run : r["runs"]) {
    EXPECT_GT(run["read_limit"]["rows_per_s"].get<double>(), 0) << run.dump();
    EXPECT_DOUBLE_EQ(run["indexing_over_read_limit"].get<double>(),
                     run["indexing_rows_per_s"].get<double>() / run["read_limit"]["rows_per_s"].get<double>());
  }
  EXPECT_EQ(r["runs"][1]["indexers"], 2);
  EXPECT_DOUBLE_EQ(r["targets"]["indexing_2_over_read_limit"].get<double>(),
                   r["runs"][1]["indexing_over_read_limit"].get<double>());
  EXPECT_EQ(r["read_limit"], r["runs"][1]["read_limit"]);
  std::error_code ignored;
  fs::remove_all(out, ignored);
  fs::remove(out.string() + ".log", ignored);
}

}  // namespace
}  // namespace datarefresh
