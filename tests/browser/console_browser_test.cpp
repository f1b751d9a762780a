// The planner's web console in a real browser (ctest label browser): headless Chromium (Debian's
// package), driven by console_test.js through playwright-core, against a dev stack whose bulk
// requests are slowed so that a refresh's progress visibly moves for several seconds. The script
// requests a refresh from the page, watches its progress bar and shard grid, opens its completed
// report, and checks that without the token (or with a wrong one) the page's buttons are refused;
// each claim is checked through the API too. Screenshots go to the build folder
// (build/tests/browser/screenshots).
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <thread>

#include <gtest/gtest.h>
#include <httplib.h>

#include "core/refresh/naming.h"
#include "devstack/demo/dev_stack.h"
#include "devstack/process/child_process.h"

namespace datarefresh::browser {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

const std::string kToken = "console-" + refresh::new_uuid();

std::string env_or(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return v && *v ? v : fallback;
}

TEST(ConsoleInABrowser, ShowsARefreshRequestedFromThePageMovingToItsReportAndRefusesButtonsWithoutTheToken) {
  const std::string chromium = env_or("DATAREFRESH_CHROMIUM", "/usr/bin/chromium");
  ASSERT_TRUE(fs::exists(chromium)) << chromium
                                    << " not found: install Debian's chromium (./dev test does), or point "
                                       "DATAREFRESH_CHROMIUM at a Chromium";
  const fs::path source = env_or("DATAREFRESH_SOURCE_DIR", DATAREFRESH_TEST_SOURCE_DIR);
  const fs::path work = DATAREFRESH_BROWSER_WORK_DIR;
  const fs::path screenshots = work / "screenshots";
  fs::create_directories(screenshots);
  ASSERT_EQ(std::system(("bash '" + (source / "tests/browser/install_modules.sh").string() + "' '" +
                         (work / "npm").string() + "'")
                            .c_str()),
            0)
      << "the browser test's npm packages could not be installed (see above)";

  demo::DevStackOptions o;
  o.image_rows = 6000;
  o.audio_rows = 300;
  o.seed = 20261207;
  // Small shards and bulks, each bulk answered after 150 ms: about 10 s of indexing to watch.
  o.devsearch_args = {"--latency", "150ms"};
  o.env = {{"DATAREFRESH_REFRESH_ROWS_PER_SHARD", "300"}, {"DATAREFRESH_SEARCH_BULK_MAX_DOCS", "50"},
           {"DATAREFRESH_SEARCH_BULK_CONCURRENCY", "1"},  {"DATAREFRESH_LOGGING_FORMAT", "json"},
           {"DATAREFRESH_REFRESH_KEEP_PREVIOUS", "1h"},   {"DATAREFRESH_HTTP_TOKEN", kToken}};
  demo::DevStack stack(o);
  std::cout << "service logs: " << stack.run_dir().string() << " (kept if the test fails)\n";
  stack.start_infrastructure();
  stack.start_services(2);

  bool up = false;
  for (auto end = std::chrono::steady_clock::now() + 60s; !up && std::chrono::steady_clock::now() < end;
       std::this_thread::sleep_for(200ms)) {
    httplib::Client client(stack.api_url());
    auto r = client.Get("/v1/refreshes", {{"Authorization", "Bearer " + kToken}});
    up = r && r->status == 200;
  }
  ASSERT_TRUE(up) << "the planner's API did not answer at " << stack.api_url();

  devprocess::ChildOptions node;
  node.argv = {"/usr/bin/env", "node", (source / "tests/browser/console_test.js").string()};
  node.env = {{"CONSOLE_URL", stack.api_url()},
              {"CONSOLE_TOKEN", kToken},
              {"CONSOLE_CHROMIUM", chromium},
              {"CONSOLE_SCREENSHOTS", screenshots.string()},
              {"NODE_PATH", (work / "npm/node_modules").string()}};
  devprocess::ChildProcess script(node);
  auto code = script.wait_for(420s);
  if (!code) {
    script.stop(5s);
    FAIL() << "console_test.js did not finish within 420 s";
  }
  EXPECT_EQ(*code, 0) << "console_test.js failed (its output is above); screenshots in " << screenshots.string();
  stack.set_remove_run_dir(!::testing::Test::HasFailure());
}

}  // namespace
}  // namespace datarefresh::browser
