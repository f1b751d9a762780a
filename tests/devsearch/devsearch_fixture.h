#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>

#include "core/search/client.h"
#include "devstack/devsearch/dev_search_server.h"

namespace datarefresh::devsearch::testing {

// Runs devsearch in-process on a free loopback port and gives each test a real client to it.
// The server is stopped in TearDown, also when a test fails.
class DevSearchTest : public ::testing::Test {
 protected:
  virtual DevSearchOptions server_options() const { return {}; }

  void SetUp() override {
    server_ = std::make_unique<DevSearchServer>(server_options());
    server_->start(0);
    search::ClientOptions o;
    o.url = server_->url();
    o.connect_timeout = std::chrono::seconds(2);
    o.request_timeout = std::chrono::seconds(10);
    client_ = std::make_unique<search::Client>(o);
  }
  void TearDown() override {
    client_.reset();
    server_->stop();
  }

  static std::string source_dir() {
    const char* dir = std::getenv("DATAREFRESH_SOURCE_DIR");
    return dir != nullptr ? dir : DATAREFRESH_TEST_SOURCE_DIR;
  }

  // Polls `check` until it returns true or `timeout` passes.
  template <typename F>
  static bool eventually(F check, std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      if (check()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return check();
  }

  std::unique_ptr<DevSearchServer> server_;
  std::unique_ptr<search::Client> client_;
};

}  // namespace datarefresh::devsearch::testing
