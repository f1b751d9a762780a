#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "core/search/client.h"
#include "devstack/devsearch/dev_search_server.h"

namespace datarefresh::devsearch::testing {

// Runs devsearch in-process on a free loopback port and gives each test a real client to it.
// The server is stopped in TearDown, also when a test fails. It answers as Elasticsearch 8
// (devsearch's default) unless server_options() or es_major() say otherwise.
class DevSearchTest : public ::testing::Test {
 protected:
  // The Elasticsearch major devsearch imitates (DevSearchOptions::es_major).
  virtual int es_major() const { return 8; }
  virtual DevSearchOptions server_options() const {
    DevSearchOptions o;
    o.es_major = es_major();
    return o;
  }

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

  // One raw exchange: HTTP status and the body parsed as JSON (null when empty, a string when not
  // JSON). Fails the test on a transport error.
  struct Exchange {
    int status = 0;
    nlohmann::json body;
  };
  Exchange call(const std::string& method, const std::string& path, const nlohmann::json& body = nullptr) {
    std::string text = body.is_null() ? std::string() : body.dump();
    auto r = client_->perform(method, path, text);
    EXPECT_TRUE(r.ok()) << method << " " << path << ": " << (r.ok() ? "" : r.error().describe());
    if (!r.ok()) return {};
    Exchange e{r->status, nullptr};
    if (!r->body.empty()) {
      e.body = nlohmann::json::parse(r->body, nullptr, false);
      if (e.body.is_discarded()) e.body = r->body;
    }
    return e;
  }
  Exchange call_ndjson(const std::string& path, const std::string& ndjson) {
    auto r = client_->perform("POST", path, ndjson, "application/x-ndjson");
    EXPECT_TRUE(r.ok()) << "POST " << path << ": " << (r.ok() ? "" : r.error().describe());
    if (!r.ok()) return {};
    return {r->status, nlohmann::json::parse(r->body, nullptr, false)};
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

// The same, answering as Elasticsearch 7.10.2 (`datarefresh devsearch --es-major 7`).
class DevSearch7Test : public DevSearchTest {
 protected:
  int es_major() const override { return 7; }
};

}  // namespace datarefresh::devsearch::testing
