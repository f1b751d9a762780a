// `datarefresh demo --keep` as a script runs it: stdout is a file, not a terminal, and the script
// waits for the block that says how to reach the stack before it goes on (issue 14). The cheap
// path: --check-only --keep brings up only the infrastructure.
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <thread>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include "devstack/process/child_process.h"

namespace datarefresh::e2e {
namespace {

using namespace std::chrono_literals;
using SteadyClock = std::chrono::steady_clock;

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

TEST(DemoKeep, PrintsHowToReachTheStackAtOnceWhenStdoutIsNotATerminal) {
  const char* binary = std::getenv("DATAREFRESH_BINARY");
  ASSERT_NE(binary, nullptr) << "run through ctest, which sets DATAREFRESH_BINARY";
  const auto dir = std::filesystem::temp_directory_path() / fmt::format("datarefresh-demo-test-{}", ::getpid());
  std::filesystem::create_directories(dir);
  // This test's directory, and the demo's run directory (the demo keeps its logs): removed after
  // the demo stopped, which the ChildProcess below does first when it goes out of scope.
  struct RemoveDirs {
    std::filesystem::path dir, run_dir;
    ~RemoveDirs() {
      std::error_code ec;
      std::filesystem::remove_all(dir, ec);
      if (!run_dir.empty()) std::filesystem::remove_all(run_dir, ec);
    }
  } remove_dirs{dir, {}};
  const auto out = dir / "demo.out";
  devprocess::ChildOptions o;
  o.argv = {binary, "demo", "--check-only", "--keep", "--rows", "100", "--audio-rows", "20", "--seed", "3"};
  o.log_file = out;  // stdout and stderr: a file, fully buffered unless flushed
  devprocess::ChildProcess demo(std::move(o));

  const auto deadline = SteadyClock::now() + 180s;
  std::string text;
  while (true) {
    text = read_file(out);
    if (const auto logs = text.find("datarefresh demo: logs in ");
        logs != std::string::npos && remove_dirs.run_dir.empty() && text.find('\n', logs) != std::string::npos) {
      const auto start = logs + std::string("datarefresh demo: logs in ").size();
      remove_dirs.run_dir = text.substr(start, text.find('\n', logs) - start);
    }
    const auto block = text.find("the stack keeps running until Ctrl-C:");
    if (block != std::string::npos && text.find("  logs: ", block) != std::string::npos) break;
    ASSERT_TRUE(demo.running()) << "the demo exited before printing how to reach the stack:\n" << text;
    ASSERT_LT(SteadyClock::now(), deadline) << "no access block within 180 s while the demo runs:\n" << text;
    std::this_thread::sleep_for(100ms);
  }
  EXPECT_TRUE(demo.running()) << "the block must come while the stack runs";
  EXPECT_FALSE(remove_dirs.run_dir.empty()) << "the demo did not say where its logs are:\n" << text;
  EXPECT_NE(text.find("  kafka bootstrap: 127.0.0.1:"), std::string::npos) << text;
  EXPECT_NE(text.find("  curl http://127.0.0.1:"), std::string::npos) << text;
  EXPECT_EQ(text.find("/v1/refreshes"), std::string::npos) << "no planner runs with --check-only:\n" << text;

  demo.signal(SIGTERM);
  const auto code = demo.wait_for(60s);
  ASSERT_TRUE(code.has_value()) << "the demo did not stop within 60 s of SIGTERM";
  EXPECT_EQ(*code, 0) << read_file(out);
  EXPECT_NE(read_file(out).find("dev stack stopped cleanly"), std::string::npos);
}

}  // namespace
}  // namespace datarefresh::e2e
