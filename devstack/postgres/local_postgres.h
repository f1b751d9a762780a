#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "core/common/duration.h"
#include "core/common/error.h"

namespace datarefresh::devpg {

// Where the two databases of the dev stack live and how to log in. The catalog ("upstream") and
// the API database are on the same server, so the upstream address as seen from the API database
// (needed for the postgres_fdw server definition) is this same host and port.
struct PostgresEndpoint {
  std::string host = "127.0.0.1";
  std::uint16_t port = 5432;
  std::string user;
  std::string password;
  std::string catalog_dbname = "catalog";
  std::string api_dbname = "api";

  // libpq key=value DSN for any database on this server (contains the password: never log it).
  std::string dsn(const std::string& dbname) const;
  std::string catalog_dsn() const { return dsn(catalog_dbname); }
  std::string api_dsn() const { return dsn(api_dbname); }
  // `psql` command line for a terminal, password passed through PGPASSWORD.
  std::string psql_command(const std::string& dbname) const;
};

struct LocalPostgresOptions {
  // Root for instance directories; a fixed place so a later run can find and stop servers whose
  // owner was killed. Default: $TMPDIR (or /tmp) + "/datarefresh-pg".
  std::filesystem::path root_dir;
  // Directory holding initdb/pg_ctl/postgres. Default: /usr/lib/postgresql/15/bin, then
  // `pg_config --bindir`, then PATH.
  std::filesystem::path bin_dir;
  bool keep_dir = false;       // leave the data directory behind after stopping (debugging)
  bool load_schemas = true;    // create catalog + api and load schemas/sql/{catalog,api}.sql
  Duration start_timeout{std::chrono::seconds(60)};
  std::vector<std::string> extra_settings;  // appended to postgresql.conf, "name = value"
};

// Connecting to a server someone else runs (real PostgreSQL): the two databases must exist.
struct AttachOptions {
  std::string catalog_dsn;
  std::string api_dsn;
  bool load_schemas = false;  // create the tables (IF NOT EXISTS) from schemas/sql
};

// A throwaway PostgreSQL 15 server for development and tests, or an attachment to an existing
// one. start() runs initdb into a fresh directory under root_dir (as an unprivileged account when
// we are root), listens on a free 127.0.0.1 port with its unix socket in that directory and
// durability off for speed, creates a superuser with a random password and the databases
// `catalog` and `api`, and loads our schemas.
//
// Stopping: the destructor (or stop()) runs `pg_ctl stop -m fast` and removes the directory. If
// the owning process dies without running it (SIGKILL, crash, a test killed by ctest's timeout),
// a watchdog process started alongside the server notices its pipe closing, stops the postmaster
// and removes the directory; and every start() first sweeps root_dir for instances whose owner
// pid is gone and stops/removes them. A process that wants SIGINT/SIGTERM to stop the server
// cleanly calls install_shutdown_handlers() and lets the object go out of scope (devdb does).
// Not thread-safe; create and destroy on one thread.
class LocalPostgres {
 public:
  static std::unique_ptr<LocalPostgres> start(const LocalPostgresOptions& options = {});
  static std::unique_ptr<LocalPostgres> attach(const AttachOptions& options);

  ~LocalPostgres();
  LocalPostgres(const LocalPostgres&) = delete;
  LocalPostgres& operator=(const LocalPostgres&) = delete;

  // Stops the server and removes its directory (no-op when attached or already stopped).
  void stop();

  const PostgresEndpoint& endpoint() const noexcept { return endpoint_; }
  std::string catalog_dsn() const { return catalog_dsn_; }
  std::string api_dsn() const { return api_dsn_; }
  // DSN for another database on the same server (e.g. "postgres" for creating test databases).
  std::string dsn(const std::string& dbname) const { return endpoint_.dsn(dbname); }
  bool owns_server() const noexcept { return owns_server_; }
  bool running() const noexcept { return running_; }
  // Instance directory (data/, socket, server.log); empty when attached.
  const std::filesystem::path& directory() const noexcept { return dir_; }
  int postmaster_pid() const noexcept { return postmaster_pid_; }

 private:
  LocalPostgres() = default;
  void initialize(const LocalPostgresOptions& options);

  PostgresEndpoint endpoint_;
  std::string catalog_dsn_;
  std::string api_dsn_;
  bool owns_server_ = false;
  bool running_ = false;
  bool keep_dir_ = false;
  std::filesystem::path dir_;
  std::filesystem::path bin_dir_;
  int postmaster_pid_ = -1;
  int watchdog_pid_ = -1;
  int watchdog_fd_ = -1;
};

// Stops and removes instances under root_dir whose owner process no longer exists. Returns how
// many were cleaned. Safe to call any time (start() calls it).
int clean_stale_instances(const std::filesystem::path& root_dir);

// Creates (IF NOT EXISTS) the tables of the catalog and API databases.
void load_catalog_schema(const std::string& catalog_dsn);
void load_api_schema(const std::string& api_dsn);

// The embedded SQL of schemas/sql/catalog.sql and api.sql (compiled in, so the binary needs no
// source tree at run time).
const char* catalog_schema_sql();
const char* api_schema_sql();

}  // namespace datarefresh::devpg
