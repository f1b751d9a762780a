#include <filesystem>
#include <fstream>
#include <sstream>

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include "core/config/check_config.h"
#include "tests/config/test_support.h"

namespace datarefresh::config {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using testing::kMinimalYaml;
using testing::minimal_env;

// A config file in the temp directory, removed at the end of the test.
class TempConfigFile {
 public:
  explicit TempConfigFile(const std::string& text)
      : path_(std::filesystem::temp_directory_path() / fmt::format("datarefresh-check-{}-{}.yaml", ::getpid(), counter_++)) {
    std::ofstream(path_) << text;
  }
  ~TempConfigFile() { std::filesystem::remove(path_); }
  std::string path() const { return path_.string(); }

 private:
  static inline int counter_ = 0;
  std::filesystem::path path_;
};

TEST(CheckConfig, ValidFileSaysOkAndExitsZero) {
  TempConfigFile file(kMinimalYaml);
  std::ostringstream out, err;
  EXPECT_EQ(run_check_config(file.path(), false, minimal_env(), out, err), 0);
  EXPECT_EQ(out.str(), file.path() + ": ok\n");
  EXPECT_EQ(err.str(), "");
}

TEST(CheckConfig, PrintShowsTheEffectiveConfigWithSecretsRedacted) {
  TempConfigFile file(std::string(kMinimalYaml) + "refresh: {rows_per_shard: 1000}\n");
  std::ostringstream out, err;
  EXPECT_EQ(run_check_config(file.path(), true, minimal_env(), out, err), 0);
  EXPECT_THAT(out.str(), HasSubstr(file.path() + ": ok\n"));
  EXPECT_THAT(out.str(), HasSubstr("rows_per_shard: 1000"));
  EXPECT_THAT(out.str(), HasSubstr("session_timeout: 30s"));
  EXPECT_THAT(out.str(), HasSubstr("dsn: \"***\""));
  EXPECT_THAT(out.str(), Not(HasSubstr("s3cret")));
}

TEST(CheckConfig, InvalidFilePrintsEveryProblemOnItsOwnLineAndExitsOne) {
  TempConfigFile file(std::string(kMinimalYaml) + "logging: {level: loud}\nrefresh: {row_limit: -5}\n");
  std::ostringstream out, err;
  EXPECT_EQ(run_check_config(file.path(), true, minimal_env(), out, err), 1);
  EXPECT_EQ(out.str(), "");
  EXPECT_EQ(err.str(), fmt::format("{0}: logging.level: expected one of debug, info, warn, error, got \"loud\" (line 7)\n"
                                   "{0}: refresh.row_limit: expected a non-negative integer, got -5 (line 8)\n",
                                   file.path()));
}

TEST(CheckConfig, LiteralSecretIsAWarningNotAFailure) {
  TempConfigFile file(std::string(kMinimalYaml) + "notify: {slack_webhook: 'https://hooks.example/very-secret'}\n");
  std::ostringstream out, err;
  EXPECT_EQ(run_check_config(file.path(), true, minimal_env(), out, err), 0);
  EXPECT_THAT(err.str(), HasSubstr(file.path() + ": warning: notify.slack_webhook: a secret is written as a plain literal"));
  EXPECT_THAT(out.str() + err.str(), Not(HasSubstr("very-secret")));
}

TEST(CheckConfig, UnreadableFileExitsTwo) {
  std::ostringstream out, err;
  EXPECT_EQ(run_check_config("/nonexistent/x.yaml", false, {}, out, err), 2);
  EXPECT_THAT(err.str(), HasSubstr("cannot read config file /nonexistent/x.yaml"));
}

TEST(CheckConfig, LocalDevConfigIsValid) {
  std::ostringstream out, err;
  int rc = run_check_config((testing::source_dir() / "config/local.yaml").string(), false,
                            {{"API_DATABASE_URL", "postgresql:///api"}, {"UPSTREAM_DATABASE_URL", "postgresql:///up"}}, out, err);
  EXPECT_EQ(rc, 0) << err.str();
  EXPECT_EQ(err.str(), "");
}

}  // namespace
}  // namespace datarefresh::config
