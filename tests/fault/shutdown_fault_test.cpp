// Bounded shutdown (issue 14): the broker goes away without closing its connections (SIGSTOP: a
// host that vanished), then every service gets SIGTERM. Each must exit within its
// service.shutdown_grace (5 s here; asserted with a wide margin for loaded machines), whatever
// librdkafka does with a broker that never answers.
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <iterator>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <signal.h>

#include "core/common/shutdown.h"
#include "devstack/demo/dev_stack.h"

namespace datarefresh::fault {
namespace {

using namespace std::chrono_literals;
using SteadyClock = std::chrono::steady_clock;

std::string read_log(const demo::DevStack& stack, const std::string& name) {
  std::ifstream in(stack.run_dir() / (name + ".log"));
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

TEST(BoundedShutdown, EveryServiceExitsWithinItsGraceAfterTheBrokerWentAway) {
  demo::DevStackOptions o;
  o.image_rows = 200;
  o.audio_rows = 50;
  o.seed = 11;
  o.env = {{"DATAREFRESH_SERVICE_SHUTDOWN_GRACE", "5s"}, {"DATAREFRESH_LOGGING_FORMAT", "text"}};
  demo::DevStack stack(o);
  std::cout << "service logs: " << stack.run_dir().string() << " (kept if the test fails)\n";
  stack.start_infrastructure();
  stack.start_services(1);

  // Each service is in its consumer group with partitions, its clients connected.
  const std::vector<std::string> names{"planner", "coordinator", "indexer-1"};
  const auto ready_by = SteadyClock::now() + 120s;
  for (const auto& name : names) {
    while (read_log(stack, name).find("partitions assigned") == std::string::npos) {
      ASSERT_LT(SteadyClock::now(), ready_by) << name << " never joined its consumer group; see its log";
      std::this_thread::sleep_for(100ms);
    }
  }

  stack.broker()->signal(SIGSTOP);
  std::this_thread::sleep_for(2s);  // the clients' requests now go unanswered
  std::vector<devprocess::ChildProcess*> services{stack.planner(), stack.coordinator(), stack.indexer("indexer-1")};
  const auto sigterm = SteadyClock::now();
  for (auto* s : services) s->signal(SIGTERM);
  for (std::size_t i = 0; i < services.size(); ++i) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(sigterm + 20s - SteadyClock::now());
    const auto code = services[i]->wait_for(std::max(left, std::chrono::milliseconds(0)));
    const auto took = std::chrono::duration<double>(SteadyClock::now() - sigterm).count();
    ASSERT_TRUE(code.has_value()) << names[i] << " still ran 20 s after SIGTERM (grace 5 s)";
    std::cout << names[i] << " exited with " << *code << " after " << took << " s\n";
    // 0: stopped by itself, leaving what it could not hand back; 3: ended by its watchdog.
    EXPECT_TRUE(*code == 0 || *code == ShutdownWatchdog::kExitCode) << names[i] << " exited with " << *code << ":\n"
                                                                    << read_log(stack, names[i]);
  }
  stack.broker()->signal(SIGKILL);  // stopped: it would not answer SIGTERM
  stack.set_remove_run_dir(!::testing::Test::HasFailure() && std::getenv("KEEP_RUN_DIR") == nullptr);
}

}  // namespace
}  // namespace datarefresh::fault
