// Kafka SASL/TLS and search-engine auth/TLS settings reach the clients exactly as configured, and
// librdkafka accepts what datarefresh hands it.
#include <gtest/gtest.h>

#include "core/kafka/producer.h"
#include "core/service/service_context.h"
#include "tests/config/test_support.h"

namespace datarefresh::service {
namespace {

using config::testing::minimal_env;
using config::testing::minimal_yaml_with;

TEST(SecurityOptions, KafkaSaslOverTlsReachesLibrdkafka) {
  auto env = minimal_env();
  env["KAFKA_PASSWORD"] = "kafka-pw-Z";
  auto c = config::load_config_from_string(
      minimal_yaml_with("security_protocol: sasl_ssl, sasl_mechanism: SCRAM-SHA-512, sasl_username: refresher, "
                        "sasl_password: {env: KAFKA_PASSWORD}, ssl_ca_location: /etc/ssl/certs/ca-certificates.crt",
                        ""),
      env);
  auto o = kafka_client_options(c);
  EXPECT_EQ(o.properties.at("security.protocol"), "sasl_ssl");
  EXPECT_EQ(o.properties.at("sasl.mechanism"), "SCRAM-SHA-512");
  EXPECT_EQ(o.properties.at("sasl.username"), "refresher");
  EXPECT_EQ(o.properties.at("sasl.password"), "kafka-pw-Z");
  EXPECT_EQ(o.properties.at("ssl.ca.location"), "/etc/ssl/certs/ca-certificates.crt");
  // librdkafka validates the properties when the client is created (it connects only when used).
  auto p = kafka_producer_options(c);
  p.close_timeout = std::chrono::milliseconds(100);
  EXPECT_NO_THROW(kafka::Producer producer(p));
}

TEST(SecurityOptions, KafkaTlsWithoutSaslSetsNoCredentials) {
  auto c = config::load_config_from_string(minimal_yaml_with("security_protocol: ssl", ""), minimal_env());
  auto o = kafka_client_options(c);
  EXPECT_EQ(o.properties.at("security.protocol"), "ssl");
  EXPECT_EQ(o.properties.count("sasl.mechanism"), 0u);
  EXPECT_EQ(o.properties.count("sasl.password"), 0u);
}

TEST(SecurityOptions, SearchCredentialsAndTlsReachTheClient) {
  auto env = minimal_env();
  env["SEARCH_PASSWORD"] = "search-pw-Y";
  env["SEARCH_KEY"] = "key-X";
  auto c = config::load_config_from_string(
      minimal_yaml_with("", "username: refresher, password: {env: SEARCH_PASSWORD}, api_key: {env: SEARCH_KEY}, "
                            "tls_verify: false, ca_file: /etc/ssl/certs/ca-certificates.crt"),
      env);
  auto o = search_client_options(c);
  EXPECT_EQ(o.username, "refresher");
  EXPECT_EQ(o.password, "search-pw-Y");
  EXPECT_EQ(o.api_key, "key-X");
  EXPECT_FALSE(o.tls_verify);
  EXPECT_EQ(o.ca_file, "/etc/ssl/certs/ca-certificates.crt");
  EXPECT_TRUE(search_client_options(config::load_config_from_string(config::testing::kMinimalYaml, minimal_env()))
                  .tls_verify);
}

}  // namespace
}  // namespace datarefresh::service
