// The search client's credentials and TLS settings against local HTTP(S) servers: basic auth and
// API keys arrive as Elasticsearch expects them; a certificate is verified against ca_file, a
// server the CA does not vouch for is refused, and tls_verify: false skips the check.
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>

#include <gtest/gtest.h>
#include <httplib.h>

#include "core/search/client.h"

namespace datarefresh::search {
namespace {

constexpr const char* kRoot = R"({"name":"n1","cluster_name":"c1","version":{"number":"8.11.0"},"tagline":"You Know, for Search"})";

// Answers GET / like Elasticsearch and remembers the Authorization header it got.
template <typename Server>
class Root {
 public:
  template <typename... Args>
  explicit Root(Args&&... args) : server_(std::forward<Args>(args)...) {
    server_.Get("/", [this](const httplib::Request& req, httplib::Response& res) {
      std::lock_guard lock(mutex_);
      authorization_ = req.get_header_value("Authorization");
      res.set_content(kRoot, "application/json");
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
  }
  ~Root() {
    server_.stop();
    thread_.join();
  }
  int port() const { return port_; }
  std::string authorization() {
    std::lock_guard lock(mutex_);
    return authorization_;
  }
  bool valid() const { return server_.is_valid() && port_ > 0; }

 private:
  Server server_;
  std::mutex mutex_;
  std::string authorization_;
  int port_ = 0;
  std::thread thread_;
};

TEST(SearchClientAuth, SendsBasicCredentialsAndApiKeys) {
  Root<httplib::Server> root;
  ClientOptions o;
  o.url = "http://127.0.0.1:" + std::to_string(root.port());
  o.username = "refresher";
  o.password = "pa:ss";
  auto info = Client(o).info();
  ASSERT_TRUE(info.ok()) << info.error().describe();
  EXPECT_EQ(info.value().version, "8.11.0");
  EXPECT_EQ(root.authorization(), "Basic cmVmcmVzaGVyOnBhOnNz");  // base64("refresher:pa:ss")

  ClientOptions k;
  k.url = o.url;
  k.api_key = "VnVhQ2ZHY0JDZGJrUW0tZTVhT3g6dWkybHAyYXhUTm1zeWFrdzl0dk5udw==";
  ASSERT_TRUE(Client(k).info().ok());
  EXPECT_EQ(root.authorization(), "ApiKey VnVhQ2ZHY0JDZGJrUW0tZTVhT3g6dWkybHAyYXhUTm1zeWFrdzl0dk5udw==");
}

class SearchClientTls : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("datarefresh-tls-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
    std::string cmd = "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1 "
                      "-addext subjectAltName=IP:127.0.0.1 -keyout '" + (dir_ / "key.pem").string() + "' -out '" +
                      (dir_ / "cert.pem").string() + "' > '" + (dir_ / "openssl.log").string() + "' 2>&1";
    if (std::system(cmd.c_str()) != 0) GTEST_SKIP() << "openssl could not make a test certificate";
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string cert() const { return (dir_ / "cert.pem").string(); }
  std::string key() const { return (dir_ / "key.pem").string(); }
  std::filesystem::path dir_;
};

TEST_F(SearchClientTls, VerifiesTheServerAgainstTheConfiguredCa) {
  Root<httplib::SSLServer> root(cert().c_str(), key().c_str());
  ASSERT_TRUE(root.valid());
  ClientOptions o;
  o.url = "https://127.0.0.1:" + std::to_string(root.port());
  o.ca_file = cert();
  o.username = "refresher";
  o.password = "pw";
  auto trusted = Client(o).info();
  ASSERT_TRUE(trusted.ok()) << trusted.error().describe();
  EXPECT_EQ(root.authorization(), "Basic cmVmcmVzaGVyOnB3");

  o.ca_file.clear();  // the system's CAs do not know this certificate
  auto refused = Client(o).info();
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.error().describe().find("certificate"), std::string::npos) << refused.error().describe();

  o.tls_verify = false;
  auto unverified = Client(o).info();
  EXPECT_TRUE(unverified.ok()) << unverified.error().describe();
}

}  // namespace
}  // namespace datarefresh::search
