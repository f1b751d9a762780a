// Stopping Kafka clients whose broker went away (issue 14): the broker runs as a `datarefresh
// broker` child process that the test stops with SIGSTOP, so its connections stay open and
// unanswered, as when a broker host disappears. With librdkafka 2.0.2 a synchronous commit then
// never returns, and a consumer close with a commit pending never does either; the clients must
// still stop within the shutdown grace.
#include "core/common/shutdown.h"

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <future>
#include <memory>
#include <optional>
#include <thread>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include "core/kafka/group_consumer.h"
#include "core/kafka/producer.h"
#include "core/kafka/topics.h"
#include "devstack/process/child_process.h"

namespace datarefresh::kafka {
namespace {

using namespace std::chrono_literals;
using SteadyClock = std::chrono::steady_clock;

// `datarefresh broker` with one topic, in a temporary directory; killed (stopped or not) at the end.
class BrokerProcess {
 public:
  explicit BrokerProcess(const std::string& topic)
      : dir_(std::filesystem::temp_directory_path() / fmt::format("datarefresh-shutdown-test-{}", ::getpid())) {
    std::filesystem::create_directories(dir_);
    const char* binary = std::getenv("DATAREFRESH_BINARY");
    if (binary == nullptr) throw std::runtime_error("DATAREFRESH_BINARY is not set: run this test through ctest");
    devprocess::ChildOptions o;
    o.argv = {binary,
              "broker",
              "--brokers",
              "1",
              "--no-default-topics",
              "--topic",
              topic + ":1",
              "--bootstrap-file",
              (dir_ / "bootstrap").string()};
    o.log_file = dir_ / "broker.log";
    child_.emplace(std::move(o));
    bootstrap_ = devprocess::wait_for_file_line(dir_ / "bootstrap", 30s, &*child_, "the broker");
  }
  ~BrokerProcess() {
    child_->signal(SIGKILL);  // also ends a stopped process
    child_->wait_for(10s);
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  const std::string& bootstrap() const { return bootstrap_; }
  void go_away() { child_->signal(SIGSTOP); }
  void come_back() { child_->signal(SIGCONT); }

 private:
  std::filesystem::path dir_;
  std::optional<devprocess::ChildProcess> child_;
  std::string bootstrap_;
};

// The process-wide shutdown state is left as found.
class ShutdownWithTheBrokerGoneAway : public ::testing::Test {
 protected:
  void TearDown() override {
    reset_shutdown_for_tests();
    set_shutdown_grace(0ms);
  }
};

bool wait_until(const std::atomic<bool>& flag, std::chrono::seconds timeout) {
  const auto deadline = SteadyClock::now() + timeout;
  while (!flag.load()) {
    if (SteadyClock::now() > deadline) return false;
    std::this_thread::sleep_for(10ms);
  }
  return true;
}

// A job finishes after the broker went away, so its commit cannot be answered; then SIGTERM. The
// consumer and the producer must be gone within the grace (5 s; asserted with a wide margin),
// leaving the uncommitted job and the group membership to the group.
TEST_F(ShutdownWithTheBrokerGoneAway, AConsumerAndAProducerStopWithinTheGraceWithACommitPending) {
  const std::string topic = fmt::format("shutdown-test-{}", ::getpid());
  BrokerProcess broker(topic);
  ClientOptions client;
  client.bootstrap_servers = broker.bootstrap();
  client.client_id = "shutdown-test";

  ProducerOptions po;
  po.client = client;
  po.delivery_timeout = 60s;
  auto producer = std::make_unique<Producer>(po);
  const auto sent = producer->produce_sync(topic, "k", "job", 30s);
  ASSERT_TRUE(sent.ok()) << sent.error->message;

  std::atomic<bool> job_started{false}, release{false}, job_returned{false};
  ConsumerOptions co;
  co.client = client;
  co.group_id = fmt::format("shutdown-test-{}", ::getpid());
  co.topics = {topic};
  co.session_timeout = 10s;
  co.heartbeat_interval = 1s;
  co.stall_timeout = 0ms;
  auto consumer = std::make_unique<GroupConsumer>(co, [&](const Message&, const CancelToken&) {
    job_started.store(true);
    wait_until(release, 60s);
    job_returned.store(true);
    return JobOutcome::kDone;
  });
  auto run = std::async(std::launch::async, [&] { consumer->run(); });
  ASSERT_TRUE(wait_until(job_started, 60s)) << "the consumer never got the message";

  broker.go_away();
  // Something queued for a broker that does not answer.
  auto pending = producer->produce(topic, "k", "undeliverable");
  release.store(true);
  ASSERT_TRUE(wait_until(job_returned, 10s));
  std::this_thread::sleep_for(300ms);  // the poll loop is now committing the finished job

  constexpr auto kGrace = 5s;
  set_shutdown_grace(kGrace);
  const auto sigterm = SteadyClock::now();
  request_shutdown();
  if (run.wait_for(30s) != std::future_status::ready) {
    ADD_FAILURE() << "the consumer did not stop within 30 s of the shutdown request (grace 5 s)";
    broker.come_back();  // lets the commit return, so the test can end
    run.wait();
  }
  const auto run_returned = SteadyClock::now() - sigterm;
  consumer.reset();
  producer.reset();
  const auto all_gone = SteadyClock::now() - sigterm;
  EXPECT_LT(run_returned, 20s) << "grace 5 s";
  EXPECT_LT(all_gone, 20s) << "grace 5 s";
  ASSERT_EQ(pending.wait_for(0s), std::future_status::ready) << "the undeliverable message was never reported";
  const auto report = pending.get();
  EXPECT_FALSE(report.ok());
}

}  // namespace
}  // namespace datarefresh::kafka
