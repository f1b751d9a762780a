#include "core/kafka/client_options.h"

#include <gtest/gtest.h>

#include "core/common/error.h"

namespace datarefresh::kafka {
namespace {

std::string validation_message(const ClientOptions& options, std::string_view prefix = "kafka") {
  try {
    validate(options, prefix);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

TEST(ClientOptionsValidation, EmptyBootstrapServersNamesTheKeyAndTheEnvironmentVariable) {
  ClientOptions options;
  EXPECT_EQ(validation_message(options),
            "kafka.bootstrap_servers is empty: set it in config or DATAREFRESH_KAFKA_BOOTSTRAP_SERVERS");
  EXPECT_EQ(validation_message(options, "indexer.kafka"),
            "indexer.kafka.bootstrap_servers is empty: set it in config or "
            "DATAREFRESH_INDEXER_KAFKA_BOOTSTRAP_SERVERS");
}

TEST(ClientOptionsValidation, ManagedPropertiesCannotBeOverridden) {
  ClientOptions options;
  options.bootstrap_servers = "localhost:9092";
  options.properties["enable.auto.commit"] = "true";
  const auto message = validation_message(options);
  EXPECT_NE(message.find("kafka.properties.enable.auto.commit is managed by datarefresh"), std::string::npos)
      << message;
}

TEST(ClientOptionsValidation, SecurityPropertiesPassThrough) {
  ClientOptions options;
  options.bootstrap_servers = "broker-1:9093,broker-2:9093";
  options.properties = {{"security.protocol", "SASL_SSL"},
                        {"sasl.mechanisms", "SCRAM-SHA-512"},
                        {"sasl.username", "indexer"},
                        {"sasl.password", "hunter2"}};
  EXPECT_EQ(validation_message(options), "");
}

TEST(ClientOptionsRedaction, SecretValuesAreMaskedAndOthersKept) {
  ClientOptions options;
  options.properties = {{"sasl.username", "indexer"},
                        {"sasl.password", "hunter2"},
                        {"ssl.key.password", "k3y"},
                        {"sasl.oauthbearer.client.secret", "s3cret"},
                        {"security.protocol", "SASL_SSL"}};
  const auto shown = redacted_properties(options);
  EXPECT_EQ(shown.at("sasl.username"), "indexer");
  EXPECT_EQ(shown.at("security.protocol"), "SASL_SSL");
  EXPECT_EQ(shown.at("sasl.password"), "***");
  EXPECT_EQ(shown.at("ssl.key.password"), "***");
  EXPECT_EQ(shown.at("sasl.oauthbearer.client.secret"), "***");
  EXPECT_TRUE(is_secret_property("ssl.keystore.password"));
  EXPECT_FALSE(is_secret_property("ssl.ca.location"));
}

}  // namespace
}  // namespace datarefresh::kafka
