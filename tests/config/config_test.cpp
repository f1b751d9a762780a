#include <fstream>

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "core/config/config.h"
#include "tests/config/test_support.h"

namespace datarefresh::config {
namespace {

using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::SizeIs;
using testing::kMinimalYaml;
using testing::minimal_env;
using testing::minimal_yaml_with;
using testing::problems_of;

TEST(LoadConfig, MinimalFileGetsEveryDefault) {
  Config c = load_config_from_string(kMinimalYaml, minimal_env());
  EXPECT_EQ(c.environment, "local");
  EXPECT_EQ(c.logging.level, LogLevel::kInfo);
  EXPECT_EQ(c.logging.format, LogFormat::kJson);
  EXPECT_EQ(c.service.shutdown_grace, std::chrono::seconds(50));
  EXPECT_EQ(c.kafka.bootstrap_servers, "127.0.0.1:9092");
  EXPECT_EQ(c.kafka.topic_name(Topic::kShardJobs), "datarefresh.shard-jobs");
  EXPECT_EQ(c.kafka.topics.shard_jobs.partitions, 12);
  EXPECT_EQ(c.kafka.topics.events.partitions, 3);
  EXPECT_EQ(c.kafka.topics.dead_letter.replication_factor, 3);
  EXPECT_EQ(c.kafka.consumer.session_timeout, std::chrono::seconds(30));
  EXPECT_EQ(c.kafka.consumer.assignment_strategy, AssignmentStrategy::kCooperativeSticky);
  EXPECT_EQ(c.kafka.producer.linger, std::chrono::milliseconds(5));
  EXPECT_EQ(c.postgres.api.dsn.reveal(), "postgresql://api:s3cret-api@127.0.0.1/api");
  EXPECT_EQ(c.postgres.fdw.port, 5432);
  EXPECT_EQ(c.postgres.statement_timeout, Duration(0));
  EXPECT_EQ(c.postgres.copy_timeout, std::chrono::hours(12));
  EXPECT_EQ(c.search.bulk.max_bytes, 8388608);
  EXPECT_EQ(c.search.bulk.backoff_initial, std::chrono::milliseconds(500));
  EXPECT_EQ(c.refresh.rows_per_shard, 200000);
  EXPECT_DOUBLE_EQ(c.refresh.filtered_index.requests_per_second, 20000);
  EXPECT_EQ(c.refresh.filtered_index.slices, "auto");
  EXPECT_TRUE(c.http.token.empty());

  ASSERT_THAT(c.media_types, SizeIs(2));
  const MediaTypeConfig& image = c.media_type("image");
  EXPECT_EQ(image.table, "image");
  EXPECT_EQ(image.index_settings, "image.index.json");
  EXPECT_EQ(image.alias, "image");
  EXPECT_EQ(image.filtered_alias, "image-filtered");
  EXPECT_TRUE(image.extra_tables.empty());
  const MediaTypeConfig& audio = c.media_type("audio");
  ASSERT_THAT(audio.extra_tables, SizeIs(1));
  EXPECT_EQ(audio.extra_tables[0], (ExtraTableConfig{"audioset_view", "audioset", CopyMode::kBasic}));
}

TEST(LoadConfig, TableDefaultsEqualTheStructInitialisers) {
  // The key table is the source of defaults; the struct initialisers must not tell another story.
  Config loaded = load_config_from_string(kMinimalYaml, minimal_env());
  Config expected;
  expected.kafka.bootstrap_servers = loaded.kafka.bootstrap_servers;
  expected.postgres = loaded.postgres;
  expected.postgres.connect_timeout = std::chrono::seconds(10);
  expected.search.url = loaded.search.url;
  expected.media_types = loaded.media_types;
  EXPECT_EQ(dump_effective_config(loaded), dump_effective_config(expected));
  EXPECT_TRUE(loaded == expected);
}

TEST(LoadConfig, UnknownKeyIsNamedWithASuggestion) {
  auto problems = problems_of(std::string(kMinimalYaml) + "logging: {levle: info}\nkafak: {}\n");
  EXPECT_THAT(problems, Contains("logging.levle: unknown key; did you mean logging.level? (line 7)"));
  EXPECT_THAT(problems, Contains(HasSubstr("kafak: unknown key; did you mean kafka?")));
}

TEST(LoadConfig, UnknownKeyFarFromAnyListsTheValidOnes) {
  auto problems = problems_of(std::string(kMinimalYaml) + "notify: {pager: x}\n");
  EXPECT_THAT(problems, ElementsAre("notify.pager: unknown key; valid keys here: attempts, level, slack_webhook, timeout (line 7)"));
}

TEST(LoadConfig, WrongTypeNamesTheKeyPathAndTheValue) {
  auto problems = problems_of(std::string(kMinimalYaml) + "refresh: {rows_per_shard: lots, filtered_index: {enabled: maybe}}\n");
  EXPECT_THAT(problems, Contains("refresh.rows_per_shard: expected a positive integer, got \"lots\" (line 7)"));
  EXPECT_THAT(problems, Contains("refresh.filtered_index.enabled: expected true or false, got \"maybe\" (line 7)"));
}

TEST(LoadConfig, NonIntegerPartitionsReadLikeTheBriefSays) {
  auto problems = problems_of("kafka:\n  bootstrap_servers: x\n  topics:\n    shard_jobs:\n      partitions: twelve\n"
                              "postgres: {api: {dsn: {env: API_DSN}}, upstream: {dsn: {env: UPSTREAM_DSN}}}\nsearch: {url: 'http://s'}\n");
  EXPECT_THAT(problems, ElementsAre("kafka.topics.shard_jobs.partitions: expected a positive integer, got \"twelve\" (line 5)"));
}

TEST(LoadConfig, MissingRequiredKeysSayHowToSetThem) {
  auto problems = problems_of("environment: staging\n", {});
  EXPECT_THAT(problems, ElementsAre("kafka.bootstrap_servers is required: set it in the config file or DATAREFRESH_KAFKA_BOOTSTRAP_SERVERS",
                                    "postgres.api.dsn is required: set it in the config file as {env: VAR} or {file: PATH}, or "
                                    "DATAREFRESH_POSTGRES_API_DSN",
                                    "postgres.upstream.dsn is required: set it in the config file as {env: VAR} or {file: PATH}, or "
                                    "DATAREFRESH_POSTGRES_UPSTREAM_DSN",
                                    "search.url is required: set it in the config file or DATAREFRESH_SEARCH_URL"));
}

TEST(LoadConfig, BadDurationIsRejected) {
  auto problems = problems_of(std::string(kMinimalYaml) + "refresh: {shard_stall_timeout: 10}\npostgres: {lock_timeout: soon}\n");
  EXPECT_THAT(problems, Contains(HasSubstr("refresh.shard_stall_timeout: expected a duration such as \"30s\"")));
  EXPECT_THAT(problems, Contains(HasSubstr("got 10 (line 7)")));
}

TEST(LoadConfig, OutOfRangeNumbersAreRejected) {
  auto problems = problems_of(std::string(kMinimalYaml) +
                              "http: {api_port: 70000}\nrefresh: {dead_letter_budget: 1.5, filtered_index: {requests_per_second: 0}}\n");
  EXPECT_THAT(problems, Contains("http.api_port: expected an integer between 0 and 65535, got 70000 (line 7)"));
  EXPECT_THAT(problems, Contains("refresh.dead_letter_budget: expected a number between 0 and 1, got 1.5 (line 8)"));
  EXPECT_THAT(problems, Contains("refresh.filtered_index.requests_per_second: expected a positive number, or -1 for unthrottled, got 0 (line 8)"));
}

TEST(LoadConfig, ABadScheduleNamesTheMediaTypeAndTheCronField) {
  auto problems = problems_of(std::string(kMinimalYaml) +
                              "media_types: {image: {schedule: \"61 3 * * *\"}, audio: {schedule: \"@daily\"}}\n");
  EXPECT_THAT(problems, ElementsAre(HasSubstr("media_types.image.schedule: minute field '61': 61 is out of range 0-59")));
  auto config = load_config_from_string(std::string(kMinimalYaml) + "media_types: {audio: {schedule: \"0 3 * * 1\"}}\n",
                                        minimal_env());
  EXPECT_EQ(config.media_types.at("audio").schedule, "0 3 * * 1");
}

TEST(LoadConfig, IncrementalRefreshesHaveTheirOwnScheduleAndOverlap) {
  auto problems = problems_of(std::string(kMinimalYaml) +
                              "media_types: {image: {incremental_schedule: \"0 25 * * *\"}}\n"
                              "refresh: {incremental: {overlap: soon}}\n");
  EXPECT_THAT(problems, Contains(HasSubstr(
                            "media_types.image.incremental_schedule: hour field '25': 25 is out of range 0-23")));
  EXPECT_THAT(problems, Contains(HasSubstr("refresh.incremental.overlap: expected a duration such as \"30s\"")));

  Config defaults = load_config_from_string(kMinimalYaml, minimal_env());
  EXPECT_EQ(defaults.refresh.incremental.overlap, std::chrono::hours(1));
  EXPECT_EQ(defaults.media_types.at("image").incremental_schedule, "");

  Environment env = minimal_env();
  env["DATAREFRESH_REFRESH_INCREMENTAL_OVERLAP"] = "15m";
  env["DATAREFRESH_MEDIA_TYPES_AUDIO_INCREMENTAL_SCHEDULE"] = "@hourly";
  Config c = load_config_from_string(std::string(kMinimalYaml) + "media_types: {image: {schedule: \"0 3 * * 1\", "
                                     "incremental_schedule: \"0 * * * *\"}, audio: {}}\n", env);
  EXPECT_EQ(c.refresh.incremental.overlap, std::chrono::minutes(15));
  EXPECT_EQ(c.media_types.at("image").schedule, "0 3 * * 1");
  EXPECT_EQ(c.media_types.at("image").incremental_schedule, "0 * * * *");
  EXPECT_EQ(c.media_types.at("audio").incremental_schedule, "@hourly");
}

TEST(LoadConfig, BadEnumValueListsTheChoicesAndSuggestsOne) {
  auto problems = problems_of(minimal_yaml_with("security_protocol: sasl-ssl", ""));
  EXPECT_THAT(problems, ElementsAre("kafka.security_protocol: expected one of plaintext, ssl, sasl_plaintext, sasl_ssl, got \"sasl-ssl\"; "
                                    "did you mean sasl_ssl? (line 2)"));
}

TEST(LoadConfig, UnsafeIdentifiersInMediaTypesAreRejected) {
  auto problems = problems_of(std::string(kMinimalYaml) +
                              "media_types:\n  video: {table: \"video; drop table x\", alias: Video}\n  Bad: {}\n");
  EXPECT_THAT(problems, Contains(HasSubstr("media_types.video.table: \"video; drop table x\" is not a safe identifier")));
  EXPECT_THAT(problems, Contains(HasSubstr("media_types.video.alias: \"Video\" is not a valid index or alias name")));
  EXPECT_THAT(problems, Contains(HasSubstr("media_types.Bad: media type name \"Bad\" is not a safe identifier")));
}

TEST(LoadConfig, EveryProblemIsReportedAtOnce) {
  try {
    load_config_from_string("kafka: {client_id: 5, topics: {events: {partitions: 0}}}\nlogging: {format: xml}\nsearch: {url: x}\nbogus: 1\n",
                            {}, nullptr, "bad.yaml");
    FAIL() << "expected InvalidConfig";
  } catch (const InvalidConfig& e) {
    // unknown key, 3 bad values, bad url, 3 missing required keys
    EXPECT_THAT(e.problems(), SizeIs(7));
    std::string what = e.what();
    EXPECT_THAT(what, HasSubstr("invalid configuration in bad.yaml (7 problems):"));
    for (const auto& p : e.problems()) EXPECT_THAT(what, HasSubstr("\n  " + p));
  }
}

TEST(LoadConfig, DuplicateKeysAreRejected) {
  auto problems = problems_of(std::string(kMinimalYaml) + "logging: {level: info}\nlogging: {level: debug}\n");
  EXPECT_THAT(problems, ElementsAre("logging: duplicate key; keep one (line 8)"));
}

TEST(LoadConfig, YamlSyntaxErrorNamesTheLine) {
  auto problems = problems_of("kafka:\n  bootstrap_servers: [unclosed\n");
  ASSERT_THAT(problems, SizeIs(1));
  EXPECT_THAT(problems[0], HasSubstr("YAML syntax error at line"));
}

TEST(EnvOverride, WinsOverTheFileAndDefaults) {
  Environment env = minimal_env();
  env["DATAREFRESH_KAFKA_BOOTSTRAP_SERVERS"] = "broker-a:9092,broker-b:9092";
  env["DATAREFRESH_KAFKA_TOPICS_SHARD_JOBS_PARTITIONS"] = "48";
  env["DATAREFRESH_REFRESH_FILTERED_INDEX_ENABLED"] = "false";
  env["DATAREFRESH_MEDIA_TYPES_AUDIO_ALIAS"] = "audio-live";
  env["DATAREFRESH_KAFKA_PROPERTIES"] = "{socket.keepalive.enable: 'true'}";
  Config c = load_config_from_string(kMinimalYaml, env);
  EXPECT_EQ(c.kafka.bootstrap_servers, "broker-a:9092,broker-b:9092");
  EXPECT_EQ(c.kafka.topics.shard_jobs.partitions, 48);
  EXPECT_FALSE(c.refresh.filtered_index.enabled);
  EXPECT_EQ(c.media_type("audio").alias, "audio-live");
  EXPECT_EQ(c.kafka.properties, (std::map<std::string, std::string>{{"socket.keepalive.enable", "true"}}));
}

TEST(EnvOverride, IsValidatedAndNamedInTheError) {
  Environment env = minimal_env();
  env["DATAREFRESH_KAFKA_TOPICS_SHARD_JOBS_PARTITIONS"] = "twelve";
  env["DATAREFRESH_LOGGING_LEVEL"] = "loud";
  auto problems = problems_of(kMinimalYaml, env);
  EXPECT_THAT(problems, Contains("kafka.topics.shard_jobs.partitions: expected a positive integer, got \"twelve\" "
                                 "(from DATAREFRESH_KAFKA_TOPICS_SHARD_JOBS_PARTITIONS)"));
  EXPECT_THAT(problems, Contains(HasSubstr("logging.level: expected one of debug, info, warn, error, got \"loud\" (from DATAREFRESH_LOGGING_LEVEL)")));
}

TEST(EnvOverride, SatisfiesARequiredKey) {
  Environment env = minimal_env();
  env["DATAREFRESH_SEARCH_URL"] = "https://search.internal:9200";
  Config c = load_config_from_string("kafka: {bootstrap_servers: k:9092}\npostgres: {api: {dsn: {env: API_DSN}}, upstream: {dsn: {env: UPSTREAM_DSN}}}\n", env);
  EXPECT_EQ(c.search.url, "https://search.internal:9200");
}

class SecretsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    secret_file_ = std::filesystem::temp_directory_path() / fmt::format("datarefresh-secret-{}", ::getpid());
    std::ofstream(secret_file_) << "token-from-file-XYZ\n";
  }
  void TearDown() override { std::filesystem::remove(secret_file_); }
  std::filesystem::path secret_file_;
};

TEST_F(SecretsTest, ComeFromEnvFileOrDeliberateLiteral) {
  Environment env = minimal_env();
  env["SLACK_URL"] = "https://hooks.slack.example/T0/B0/zzz";
  Warnings warnings;
  Config c = load_config_from_string(minimal_yaml_with("", "password: {value: pw-literal}",
                                                       fmt::format("http: {{token: {{file: {}}}}}\nnotify: {{slack_webhook: {{env: SLACK_URL}}}}\n",
                                                                   secret_file_.string())),
                                     env, &warnings);
  EXPECT_EQ(c.http.token.reveal(), "token-from-file-XYZ");  // trailing newline stripped
  EXPECT_EQ(c.http.token.source(), "file " + secret_file_.string());
  EXPECT_EQ(c.notify.slack_webhook.reveal(), "https://hooks.slack.example/T0/B0/zzz");
  EXPECT_EQ(c.search.password.reveal(), "pw-literal");
  EXPECT_TRUE(warnings.empty()) << warnings.front();
}

TEST_F(SecretsTest, PlainLiteralInTheFileWarnsButWorks) {
  Warnings warnings;
  Config c = load_config_from_string(std::string(kMinimalYaml) + "http: {token: plain-literal-token}\n", minimal_env(), &warnings);
  EXPECT_EQ(c.http.token.reveal(), "plain-literal-token");
  ASSERT_THAT(warnings, SizeIs(1));
  EXPECT_THAT(warnings[0], HasSubstr("http.token: a secret is written as a plain literal in the file"));
  EXPECT_THAT(warnings[0], Not(HasSubstr("plain-literal-token")));
}

TEST(ConfigLoad, ARetiredKeyStillLoadsWithAWarningSayingWhyItWent) {
  Warnings unset;
  load_config_from_string(kMinimalYaml, minimal_env(), &unset);
  EXPECT_THAT(unset, IsEmpty());
  Warnings set;
  load_config_from_string(minimal_yaml_with("", "bulk: {max_retries: 3, deadline: 10m}"), minimal_env(), &set);
  ASSERT_THAT(set, SizeIs(1));
  EXPECT_THAT(set[0], HasSubstr("search.bulk.max_retries: no longer used"));
  EXPECT_THAT(set[0], HasSubstr("retried until search.bulk.deadline"));
  EXPECT_THAT(problems_of(minimal_yaml_with("", "bulk: {max_retrys: 3}")),
              Contains(HasSubstr("search.bulk.max_retrys: unknown key")))
      << "a misspelling is still an error";
}

TEST_F(SecretsTest, AreNeverPrinted) {
  Environment env = minimal_env();
  env["DATAREFRESH_HTTP_TOKEN"] = "tok-ABC-123";
  Config c = load_config_from_string(minimal_yaml_with("sasl_password: {value: kafka-pw-Q}", ""), env);
  std::string dump = dump_effective_config(c);
  for (const char* secret : {"s3cret-api", "s3cret-up", "tok-ABC-123", "kafka-pw-Q"}) EXPECT_THAT(dump, Not(HasSubstr(secret)));
  EXPECT_THAT(dump, HasSubstr("dsn: \"***\""));
  EXPECT_THAT(dump, HasSubstr("token: \"***\""));

  std::ostringstream os;
  os << c.http.token;
  EXPECT_EQ(os.str(), "***");
  EXPECT_EQ(fmt::format("{}", c.postgres.api.dsn), "***");
  EXPECT_EQ(nlohmann::json(c.kafka.sasl_password).dump(), "\"***\"");
}

TEST_F(SecretsTest, ErrorsNeverContainTheValue) {
  Environment env = minimal_env();
  env["DATAREFRESH_HTTP_API_BIND"] = "0.0.0.0";
  auto problems = problems_of(minimal_yaml_with("sasl_password: {file: /nonexistent/hunter4}", "password: {vaule: hunter2}, api_key: [hunter3]",
                                                "notify: {slack_webhook: {env: UNSET_VAR}}\n"),
                              env);
  std::string all;
  for (const auto& p : problems) all += p + "\n";
  EXPECT_THAT(all, HasSubstr("search.password: unknown secret source \"vaule\": expected {env: VAR}, {file: PATH} or {value: TEXT}; "
                             "did you mean value?"));
  EXPECT_THAT(all, HasSubstr("search.api_key: expected a secret as {env: VAR}, {file: PATH} or {value: TEXT}, got a list"));
  EXPECT_THAT(all, HasSubstr("notify.slack_webhook: environment variable UNSET_VAR (named by {env: UNSET_VAR}) is not set"));
  EXPECT_THAT(all, HasSubstr("kafka.sasl_password: cannot read secret file /nonexistent/hunter4"));
  EXPECT_THAT(all, Not(HasSubstr("hunter2")));
  EXPECT_THAT(all, Not(HasSubstr("hunter3")));
}

TEST_F(SecretsTest, RequiredSecretMayNotBeEmpty) {
  Environment env = minimal_env();
  env["API_DSN"] = "";
  auto problems = problems_of(kMinimalYaml, env);
  EXPECT_THAT(problems, ElementsAre("postgres.api.dsn: is empty (env API_DSN): set a non-empty value (line 4)"));
}

TEST(CrossKeyRules, TokenIsRequiredWhenABindIsNotLoopback) {
  auto problems = problems_of(std::string(kMinimalYaml) + "http: {api_bind: 0.0.0.0}\n");
  EXPECT_THAT(problems, ElementsAre("http.token is required because http.api_bind is 0.0.0.0 (not loopback): set http.token as "
                                    "{env: VAR} or {file: PATH}, or bind http.api_bind to 127.0.0.1"));
  Environment env = minimal_env();
  env["TOKEN"] = "t";
  Config c = load_config_from_string(std::string(kMinimalYaml) + "http: {api_bind: 0.0.0.0, metrics_bind: 10.0.0.5, token: {env: TOKEN}}\n", env);
  EXPECT_EQ(c.http.api_bind, "0.0.0.0");
  EXPECT_NO_THROW(load_config_from_string(std::string(kMinimalYaml) + "http: {api_bind: localhost, metrics_bind: 127.0.0.2}\n", minimal_env()));
}

TEST(ShutdownGrace, IsReadFromTheFileOrTheEnvironmentAndMustBeAtLeastOneSecond) {
  Config c = load_config_from_string(std::string(kMinimalYaml) + "service: {shutdown_grace: 80s}\n", minimal_env());
  EXPECT_EQ(c.service.shutdown_grace, std::chrono::seconds(80));
  Environment env = minimal_env();
  env["DATAREFRESH_SERVICE_SHUTDOWN_GRACE"] = "5s";
  EXPECT_EQ(load_config_from_string(kMinimalYaml, env).service.shutdown_grace, std::chrono::seconds(5));

  EXPECT_THAT(
      problems_of(std::string(kMinimalYaml) + "service: {shutdown_grace: 500ms}\n"),
      ElementsAre("service.shutdown_grace (500ms) is under 1s, too short to hand anything back: use at least 1s "
                  "(the default is 50s)"));
  EXPECT_THAT(problems_of(std::string(kMinimalYaml) + "service: {shutdown_grace: soon}\n"),
              Contains(HasSubstr("service.shutdown_grace: expected a duration such as \"30s\"")));
  EXPECT_THAT(problems_of(std::string(kMinimalYaml) + "service: {shutdown_timeout: 5s}\n"),
              Contains(HasSubstr("service.shutdown_timeout: unknown key; valid keys here: shutdown_grace")));
}

TEST(CrossKeyRules, SaslNeedsCredentialsAndAliasesMustBeDistinct) {
  auto problems = problems_of(minimal_yaml_with("security_protocol: sasl_ssl", "", "media_types: {image: {}, photo: {table: photo, alias: image}}\n"));
  EXPECT_THAT(problems, Contains(HasSubstr("kafka.sasl_username is required because kafka.security_protocol is sasl_ssl")));
  EXPECT_THAT(problems, Contains(HasSubstr("kafka.sasl_password is required because kafka.security_protocol is sasl_ssl")));
  EXPECT_THAT(problems, Contains("media_types.image.alias and media_types.photo.alias are both \"image\": every alias must be distinct"));
}

TEST(LoadConfig, MissingFileIsAConfigErrorNamingThePath) {
  try {
    load_config("/nonexistent/datarefresh.yaml", {});
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_THAT(std::string(e.what()), HasSubstr("cannot read config file /nonexistent/datarefresh.yaml"));
  }
}

TEST(LoadConfig, UnknownMediaTypeLookupListsConfiguredOnes) {
  Config c = load_config_from_string(kMinimalYaml, minimal_env());
  try {
    c.media_type("video");
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_THAT(std::string(e.what()), HasSubstr("media type \"video\" is not configured (configured: audio, image)"));
  }
}

}  // namespace
}  // namespace datarefresh::config
