#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "core/pg/database.h"
#include "tests/devstack/shared_server.h"

namespace datarefresh::devpg {
namespace testing {
namespace {

std::unique_ptr<LocalPostgres> g_shared;

class SharedServerEnvironment : public ::testing::Environment {
 public:
  void SetUp() override { g_shared = LocalPostgres::start(); }
  void TearDown() override { g_shared.reset(); }
};

const auto* const kEnvironment = ::testing::AddGlobalTestEnvironment(new SharedServerEnvironment);

}  // namespace

LocalPostgres& shared_server() { return *g_shared; }

}  // namespace testing

namespace {

using namespace std::chrono_literals;
using testing::shared_server;

pg::Database connect(const std::string& dsn) {
  pg::ConnectionOptions options;
  options.dsn = dsn;
  options.connect_attempts = 2;
  return pg::Database::connect(options);
}

std::set<std::string> column_values(pg::Database& db, const std::string& sql) {
  std::set<std::string> out;
  for (const auto& row : db.exec(sql).rows) out.insert(row.at(0).value_or("NULL"));
  return out;
}

bool process_alive(int pid) { return pid > 0 && ::kill(pid, 0) == 0; }

uid_t process_uid(int pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("Uid:", 0) == 0) return static_cast<uid_t>(std::stoul(line.substr(4)));
  }
  return static_cast<uid_t>(-1);
}

// Polls `done` every 50 ms for at most `limit`.
template <typename F>
bool eventually(F done, std::chrono::milliseconds limit) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(50ms);
  }
  return done();
}

TEST(LocalPostgres, RunsTheServerAsAnUnprivilegedAccountOnLoopback) {
  auto& server = shared_server();
  ASSERT_TRUE(server.running());
  EXPECT_EQ(server.endpoint().host, "127.0.0.1");
  EXPECT_TRUE(std::filesystem::is_directory(server.directory() / "data"));
  if (::geteuid() == 0) {
    EXPECT_NE(process_uid(server.postmaster_pid()), 0u) << "postmaster runs as root";
  }
  auto db = connect(server.dsn("postgres"));
  EXPECT_EQ(db.query_value("SHOW listen_addresses"), "127.0.0.1");
  EXPECT_EQ(db.query_value("SHOW fsync"), "off");
  EXPECT_EQ(db.query_value("SELECT rolsuper::text FROM pg_roles WHERE rolname = current_user"), "true");
  EXPECT_EQ(column_values(db, "SELECT datname FROM pg_database WHERE datname IN ('catalog', 'api')"),
            (std::set<std::string>{"api", "catalog"}));
}

TEST(LocalPostgres, CatalogHasTheUpstreamTablesAndTheAudiosetView) {
  auto db = connect(shared_server().catalog_dsn());
  EXPECT_EQ(column_values(db, "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"),
            (std::set<std::string>{"audio", "audioset_view", "image"}));
  EXPECT_EQ(db.query_value("SELECT table_type FROM information_schema.tables WHERE table_name = 'audioset_view'"),
            "VIEW");
  // No id upstream: the key is identifier, and standardized_popularity is a column.
  EXPECT_EQ(db.query_value("SELECT count(*) FROM information_schema.columns WHERE table_name = 'image' AND "
                           "column_name = 'id'"),
            "0");
  EXPECT_EQ(db.query_value("SELECT data_type FROM information_schema.columns WHERE table_name = 'image' AND "
                           "column_name = 'standardized_popularity'"),
            "double precision");
}

TEST(LocalPostgres, ApiHasTheLiveIndexesAndConstraintsByName) {
  auto db = connect(shared_server().api_dsn());
  auto image_indexes = column_values(db, "SELECT indexname FROM pg_indexes WHERE tablename = 'image'");
  EXPECT_EQ(image_indexes, (std::set<std::string>{"image_pkey",
                                                  "image_identifier_key",
                                                  "image_url_key",
                                                  "unique_provider_image",
                                                  "image_url_c6aabda2_like",
                                                  "image_category_daa5d91c",
                                                  "image_category_daa5d91c_like",
                                                  "image_foreign_identifier_4c72d3ee",
                                                  "image_foreign_identifier_4c72d3ee_like",
                                                  "image_last_synced_with_source_187adf09",
                                                  "image_provider_7d11f847",
                                                  "image_provider_7d11f847_like",
                                                  "image_source_d5a89e97",
                                                  "image_source_d5a89e97_like"}));
  EXPECT_NE(db.query_value("SELECT indexdef FROM pg_indexes WHERE indexname = 'image_provider_7d11f847_like'")
                .value_or("")
                .find("varchar_pattern_ops"),
            std::string::npos);
  EXPECT_EQ(column_values(db, "SELECT conname || ':' || contype::text FROM pg_constraint WHERE conrelid = 'audio'::regclass"),
            (std::set<std::string>{"audio_pkey:p", "audio_identifier_key:u", "audio_url_key:u",
                                   "unique_provider_audio:u"}));
  EXPECT_EQ(column_values(db, "SELECT conname || ':' || contype::text FROM pg_constraint WHERE conrelid = 'audioset'::regclass"),
            (std::set<std::string>{"audioset_pkey:p", "audioset_url_key:u", "unique_provider_audioset:u"}));
  // Foreign keys into each media table's identifier, deferrable, for the re-pointing step.
  EXPECT_EQ(db.query_value("SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = "
                           "'api_imagereport_media_obj_id_fk_image_identifier'"),
            "FOREIGN KEY (media_obj_id) REFERENCES image(identifier) DEFERRABLE INITIALLY DEFERRED");
  EXPECT_EQ(db.query_value("SELECT confrelid::regclass::text FROM pg_constraint WHERE conname = "
                           "'api_audioreport_media_obj_id_fk_audio_identifier'"),
            "audio");
  EXPECT_EQ(column_values(db, "SELECT conname FROM pg_constraint WHERE contype = 'p' AND conrelid::regclass::text "
                              "LIKE 'api_%'"),
            (std::set<std::string>{"api_audioreport_pkey", "api_deletedaudio_pkey", "api_deletedimage_pkey",
                                   "api_imagereport_pkey", "api_matureaudio_pkey", "api_matureimages_pkey"}));
}

TEST(LocalPostgres, StopsTheServerAndRemovesItsDirectoryOnDestruction) {
  std::filesystem::path dir;
  int pid = -1;
  {
    LocalPostgresOptions options;
    options.load_schemas = false;
    auto server = LocalPostgres::start(options);
    dir = server->directory();
    pid = server->postmaster_pid();
    ASSERT_TRUE(process_alive(pid));
    ASSERT_TRUE(std::filesystem::exists(dir));
  }
  EXPECT_TRUE(eventually([&] { return !process_alive(pid); }, 5s)) << "postmaster " << pid << " still running";
  EXPECT_FALSE(std::filesystem::exists(dir)) << dir;
}

TEST(LocalPostgres, ServerDoesNotOutliveAnOwnerKilledWithSigkill) {
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  pid_t owner = ::fork();
  ASSERT_GE(owner, 0);
  if (owner == 0) {
    ::close(fds[0]);
    int status = 0;
    try {
      LocalPostgresOptions options;
      options.load_schemas = false;
      auto server = LocalPostgres::start(options);
      std::string report = std::to_string(server->postmaster_pid()) + " " + server->directory().string() + "\n";
      if (::write(fds[1], report.data(), report.size()) < 0) status = 3;
      ::sleep(60);  // killed long before
    } catch (const std::exception&) {
      status = 2;
    }
    _exit(status);
  }
  ::close(fds[1]);
  std::string report;
  char buf[512];
  ssize_t n;
  while (report.find('\n') == std::string::npos && (n = ::read(fds[0], buf, sizeof buf)) > 0) report.append(buf, static_cast<std::size_t>(n));
  ::close(fds[0]);
  ASSERT_FALSE(report.empty()) << "the owner process failed to start a server";
  int pid = std::stoi(report.substr(0, report.find(' ')));
  std::filesystem::path dir = report.substr(report.find(' ') + 1, report.find('\n') - report.find(' ') - 1);
  ASSERT_TRUE(process_alive(pid));
  ::kill(owner, SIGKILL);
  ::waitpid(owner, nullptr, 0);
  EXPECT_TRUE(eventually([&] { return !process_alive(pid); }, 15s)) << "postmaster " << pid << " outlived its owner";
  EXPECT_TRUE(eventually([&] { return !std::filesystem::exists(dir); }, 5s)) << dir << " left behind";
}

TEST(LocalPostgres, AttachesToAnExistingServerThroughItsDsns) {
  AttachOptions options;
  options.catalog_dsn = shared_server().catalog_dsn();
  options.api_dsn = shared_server().api_dsn();
  auto attached = LocalPostgres::attach(options);
  EXPECT_FALSE(attached->owns_server());
  EXPECT_EQ(attached->endpoint().port, shared_server().endpoint().port);
  EXPECT_EQ(attached->endpoint().password, shared_server().endpoint().password);
  EXPECT_EQ(attached->endpoint().api_dbname, "api");
  attached.reset();  // must not stop the shared server
  auto db = connect(shared_server().api_dsn());
  EXPECT_EQ(db.query_value("SELECT 1"), "1");
}

}  // namespace
}  // namespace datarefresh::devpg
