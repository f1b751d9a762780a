#include "devstack/postgres/local_postgres.h"

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>
#include <thread>

#include <fmt/format.h>
#include <libpq-fe.h>

#include "core/common/log.h"
#include "core/common/net.h"
#include "core/pg/database.h"
#include "core/pg/identifier.h"
#include "devstack/postgres/child_process.h"

namespace datarefresh::devpg {
namespace fs = std::filesystem;
namespace {

const Logger& logger() {
  static const Logger kLogger("devpg");
  return kLogger;
}

constexpr const char* kSuperuser = "datarefresh";

// Stops the postmaster named in <data>/postmaster.pid and removes the instance directory when the
// pipe on its stdin closes, i.e. when the owning process is gone however it went.
constexpr const char* kWatchdogScript = R"sh(read _ignored
pidfile="$1/postmaster.pid"
if [ -f "$pidfile" ]; then
  pid=$(head -n 1 "$pidfile")
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill -INT "$pid" 2>/dev/null
    i=0
    while kill -0 "$pid" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
    if kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid" 2>/dev/null; fi
  fi
fi
if [ -n "$2" ]; then rm -rf "$2"; fi
)sh";

std::string random_hex(std::size_t bytes) {
  std::random_device rd;
  std::string out;
  for (std::size_t i = 0; i < bytes; ++i) out += fmt::format("{:02x}", rd() & 0xff);
  return out;
}

std::string conninfo_value(const std::string& v) {
  std::string out = "'";
  for (char c : v) {
    if (c == '\'' || c == '\\') out += '\\';
    out += c;
  }
  return out + "'";
}

bool is_executable(const fs::path& p) { return ::access(p.c_str(), X_OK) == 0; }

std::string capture_command(const std::string& command) {
  std::string out;
  if (FILE* f = ::popen(command.c_str(), "r")) {
    char buf[512];
    while (std::fgets(buf, sizeof buf, f)) out += buf;
    ::pclose(f);
  }
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  return out;
}

fs::path find_bin_dir(const fs::path& configured) {
  if (!configured.empty()) {
    if (is_executable(configured / "initdb")) return configured;
    throw ConfigError(fmt::format("no executable initdb in {}: point bin_dir at PostgreSQL's bin directory",
                                  configured.string()));
  }
  for (const char* dir : {"/usr/lib/postgresql/15/bin", "/usr/lib/postgresql/16/bin", "/usr/lib/postgresql/17/bin"}) {
    if (is_executable(fs::path(dir) / "initdb")) return dir;
  }
  std::string from_pg_config = capture_command("pg_config --bindir 2>/dev/null");
  if (!from_pg_config.empty() && is_executable(fs::path(from_pg_config) / "initdb")) return from_pg_config;
  if (const char* path = std::getenv("PATH")) {
    std::string_view rest = path;
    while (!rest.empty()) {
      auto colon = rest.find(':');
      fs::path dir(std::string(rest.substr(0, colon)));
      if (is_executable(dir / "initdb")) return dir;
      if (colon == std::string_view::npos) break;
      rest.remove_prefix(colon + 1);
    }
  }
  throw Error("PostgreSQL server binaries not found (looked for initdb in /usr/lib/postgresql/<15|16|17>/bin, "
              "`pg_config --bindir` and PATH): install postgresql-15 (apt-get install postgresql-15) or attach to an "
              "existing server");
}

fs::path default_root_dir() {
  const char* tmp = std::getenv("TMPDIR");
  return fs::path(tmp && *tmp ? tmp : "/tmp") / "datarefresh-pg";
}

int read_pid_file(const fs::path& path) {
  std::ifstream in(path);
  int pid = -1;
  if (in) in >> pid;
  return in ? pid : -1;
}

bool process_alive(int pid) { return pid > 0 && (::kill(pid, 0) == 0 || errno == EPERM); }

bool is_postgres_process(int pid) {
  std::ifstream comm("/proc/" + std::to_string(pid) + "/comm");
  std::string name;
  std::getline(comm, name);
  return name.rfind("postgres", 0) == 0;
}

// SIGINT = fast shutdown; escalate to SIGKILL if it does not go within the deadline.
void stop_postmaster_by_pid(int pid, Duration deadline) {
  if (!process_alive(pid) || !is_postgres_process(pid)) return;
  ::kill(pid, SIGINT);
  auto until = std::chrono::steady_clock::now() + deadline;
  while (process_alive(pid) && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  if (process_alive(pid) && is_postgres_process(pid)) ::kill(pid, SIGKILL);
}

void write_file(const fs::path& path, const std::string& text, mode_t mode) {
  std::ofstream out(path, std::ios::trunc);
  out << text;
  out.close();
  if (!out) throw Error(fmt::format("cannot write {}: {}", path.string(), std::strerror(errno)));
  ::chmod(path.c_str(), mode);
}

void chown_to(const fs::path& path, const std::optional<RunAs>& run_as) {
  if (run_as && ::chown(path.c_str(), run_as->uid, run_as->gid) != 0) {
    throw Error(fmt::format("cannot hand {} to user {}: {}", path.string(), run_as->name, std::strerror(errno)));
  }
}

pg::ConnectionOptions admin_options(const std::string& dsn) {
  pg::ConnectionOptions options;
  options.dsn = dsn;
  options.connect_attempts = 10;
  options.backoff = BackoffPolicy{std::chrono::milliseconds(100), std::chrono::seconds(2), 2.0, 0.2};
  options.application_name = "datarefresh-devpg";
  return options;
}

std::string parsed_value(const std::string& dsn, std::string_view key) {
  char* err = nullptr;
  PQconninfoOption* options = PQconninfoParse(dsn.c_str(), &err);
  if (!options) {
    std::string message = err ? err : "out of memory";
    if (err) PQfreemem(err);
    throw ConfigError("cannot parse the DSN given to attach to PostgreSQL: " + message);
  }
  std::string value;
  for (auto* o = options; o->keyword; ++o) {
    if (o->val && key == o->keyword) value = o->val;
  }
  PQconninfoFree(options);
  return value;
}

}  // namespace

std::string PostgresEndpoint::dsn(const std::string& dbname) const {
  return fmt::format("host={} port={} dbname={} user={} password={} sslmode=disable", conninfo_value(host), port,
                     conninfo_value(dbname), conninfo_value(user), conninfo_value(password));
}

std::string PostgresEndpoint::psql_command(const std::string& dbname) const {
  return fmt::format("PGPASSWORD='{}' psql -h {} -p {} -U {} {}", password, host, port, user, dbname);
}

int clean_stale_instances(const fs::path& root_dir) {
  std::error_code ec;
  if (!fs::is_directory(root_dir, ec)) return 0;
  int cleaned = 0;
  for (const auto& entry : fs::directory_iterator(root_dir, ec)) {
    if (!entry.is_directory(ec)) continue;
    int owner = read_pid_file(entry.path() / "owner.pid");
    if (owner <= 0 || process_alive(owner)) continue;
    int postmaster = read_pid_file(entry.path() / "data" / "postmaster.pid");
    if (postmaster > 0) stop_postmaster_by_pid(postmaster, std::chrono::seconds(10));
    fs::remove_all(entry.path(), ec);
    if (ec) {
      logger().warn("could not remove a stale PostgreSQL instance directory",
                    {{"dir", entry.path().string()}, {"error", ec.message()}});
      continue;
    }
    logger().info("cleaned up a PostgreSQL instance left behind by a dead process",
                  {{"dir", entry.path().string()}, {"owner_pid", owner}});
    ++cleaned;
  }
  return cleaned;
}

void load_catalog_schema(const std::string& catalog_dsn) {
  auto db = pg::Database::connect(admin_options(catalog_dsn));
  db.exec(catalog_schema_sql());
}

void load_api_schema(const std::string& api_dsn) {
  auto db = pg::Database::connect(admin_options(api_dsn));
  db.exec(api_schema_sql());
}

std::unique_ptr<LocalPostgres> LocalPostgres::start(const LocalPostgresOptions& options) {
  std::unique_ptr<LocalPostgres> server(new LocalPostgres());
  // If initialize() throws, the unique_ptr's destructor stops whatever was started.
  server->initialize(options);
  return server;
}

std::unique_ptr<LocalPostgres> LocalPostgres::attach(const AttachOptions& options) {
  if (options.catalog_dsn.empty() || options.api_dsn.empty()) {
    throw ConfigError("attaching to PostgreSQL needs both the catalog DSN and the API DSN");
  }
  std::unique_ptr<LocalPostgres> server(new LocalPostgres());
  server->catalog_dsn_ = options.catalog_dsn;
  server->api_dsn_ = options.api_dsn;
  auto& e = server->endpoint_;
  e.host = parsed_value(options.api_dsn, "host");
  if (e.host.empty()) e.host = "127.0.0.1";
  std::string port = parsed_value(options.api_dsn, "port");
  e.port = static_cast<std::uint16_t>(port.empty() ? 5432 : std::stoi(port));
  e.user = parsed_value(options.api_dsn, "user");
  e.password = parsed_value(options.api_dsn, "password");
  e.api_dbname = parsed_value(options.api_dsn, "dbname");
  e.catalog_dbname = parsed_value(options.catalog_dsn, "dbname");
  server->running_ = true;
  if (options.load_schemas) {
    load_catalog_schema(options.catalog_dsn);
    load_api_schema(options.api_dsn);
  }
  return server;
}

void LocalPostgres::initialize(const LocalPostgresOptions& options) {
  owns_server_ = true;
  keep_dir_ = options.keep_dir;
  bin_dir_ = find_bin_dir(options.bin_dir);
  fs::path root = options.root_dir.empty() ? default_root_dir() : options.root_dir;
  std::error_code ec;
  if (fs::create_directories(root, ec) || ::geteuid() == 0) {
    ::chmod(root.c_str(), 01777);  // shared like /tmp: root and users may both keep instances here
  }
  if (ec) throw Error(fmt::format("cannot create {}: {}; set TMPDIR to a writable place", root.string(), ec.message()));
  clean_stale_instances(root);

  fs::path dir = root / fmt::format("{}-{}", ::getpid(), random_hex(4));
  if (!fs::create_directory(dir, ec) || ec) {
    throw Error(fmt::format("cannot create the instance directory {}: {}", dir.string(), ec.message()));
  }
  dir_ = dir;
  write_file(dir / "owner.pid", std::to_string(::getpid()) + "\n", 0644);

  auto run_as = unprivileged_account();
  chown_to(dir, run_as);
  ::chmod(dir.c_str(), 0700);

  endpoint_.user = kSuperuser;
  endpoint_.password = random_hex(16);
  fs::path pwfile = dir / "pwfile";
  write_file(pwfile, endpoint_.password + "\n", 0600);
  chown_to(pwfile, run_as);

  fs::path data = dir / "data";
  fs::path log = dir / "server.log";
  int rc = run_process({(bin_dir_ / "initdb").string(), "-D", data.string(), "-U", kSuperuser,
                        "--pwfile=" + pwfile.string(), "--auth-local=trust", "--auth-host=scram-sha-256", "-E",
                        "UTF8", "--locale=C", "--no-sync", "--no-instructions"},
                       run_as, dir, log, options.start_timeout);
  fs::remove(pwfile, ec);
  if (rc != 0) {
    throw Error(fmt::format("initdb into {} failed (exit {}); its output:\n{}", data.string(), rc, tail_of_file(log)));
  }

  // Durability is off: this server holds throwaway data and must be fast to load.
  std::string settings =
      "\n# datarefresh dev server\n"
      "listen_addresses = '127.0.0.1'\n"
      "unix_socket_directories = '" + dir.string() + "'\n"
      "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n"
      "wal_level = minimal\nmax_wal_senders = 0\nmax_wal_size = '4GB'\ncheckpoint_timeout = '30min'\n"
      "shared_buffers = '256MB'\nwork_mem = '32MB'\nmaintenance_work_mem = '256MB'\n"
      "max_connections = 200\nautovacuum = off\ntrack_counts = on\n"
      "logging_collector = off\nlog_min_messages = warning\n";
  for (const auto& extra : options.extra_settings) settings += extra + "\n";

  // The port is picked before the server binds it; if another process takes it meanwhile, the
  // start fails with "could not bind" and we try another one.
  for (int attempt = 1;; ++attempt) {
    endpoint_.port = pick_free_loopback_port();
    {
      std::ofstream conf(data / "postgresql.conf", std::ios::app);
      conf << settings << "port = " << endpoint_.port << "\n";
    }
    auto timeout_s = std::to_string(std::max<long long>(5, options.start_timeout.count() / 1000));
    rc = run_process({(bin_dir_ / "pg_ctl").string(), "-D", data.string(), "-l", log.string(), "-w", "-t", timeout_s,
                      "-s", "start"},
                     run_as, dir, dir / "pg_ctl.log", options.start_timeout + std::chrono::seconds(5));
    if (rc == 0) break;
    std::string tail = tail_of_file(log);
    if (attempt < 3 && tail.find("could not bind") != std::string::npos) continue;
    int pid = read_pid_file(data / "postmaster.pid");
    if (pid > 0) stop_postmaster_by_pid(pid, std::chrono::seconds(10));
    throw Error(fmt::format("PostgreSQL did not start on 127.0.0.1:{} from {} (pg_ctl exit {}); server log:\n{}",
                            endpoint_.port, data.string(), rc, tail));
  }
  running_ = true;
  postmaster_pid_ = read_pid_file(data / "postmaster.pid");

  Watchdog watchdog = start_watchdog(kWatchdogScript, {data.string(), keep_dir_ ? std::string() : dir.string()});
  watchdog_pid_ = watchdog.pid;
  watchdog_fd_ = watchdog.write_fd;

  {
    auto admin = pg::Database::connect(admin_options(endpoint_.dsn("postgres")));
    for (const auto& name : {endpoint_.catalog_dbname, endpoint_.api_dbname}) {
      admin.exec("CREATE DATABASE " + pg::Identifier(name, "database name").quoted());
    }
  }
  catalog_dsn_ = endpoint_.catalog_dsn();
  api_dsn_ = endpoint_.api_dsn();
  if (options.load_schemas) {
    load_catalog_schema(catalog_dsn_);
    load_api_schema(api_dsn_);
  }
  logger().info("PostgreSQL dev server started",
                {{"port", endpoint_.port}, {"dir", dir_.string()}, {"run_as", run_as ? run_as->name : "self"}});
}

void LocalPostgres::stop() {
  if (!owns_server_) {
    running_ = false;
    return;
  }
  fs::path data = dir_ / "data";
  if (running_) {
    auto run_as = unprivileged_account();
    int rc = run_process({(bin_dir_ / "pg_ctl").string(), "-D", data.string(), "-m", "fast", "-w", "-t", "30", "-s",
                          "stop"},
                         run_as, dir_, dir_ / "pg_ctl.log", std::chrono::seconds(40));
    if (rc != 0) {
      logger().warn("pg_ctl stop failed; signalling the postmaster directly",
                    {{"dir", dir_.string()}, {"exit", rc}, {"pid", postmaster_pid_}});
      stop_postmaster_by_pid(postmaster_pid_, std::chrono::seconds(10));
    }
    running_ = false;
  }
  if (!dir_.empty() && !keep_dir_) {
    std::error_code ec;
    fs::remove_all(dir_, ec);
    if (ec) logger().warn("could not remove the PostgreSQL instance directory", {{"dir", dir_.string()}, {"error", ec.message()}});
  }
  if (watchdog_pid_ > 0 || watchdog_fd_ >= 0) {
    Watchdog watchdog{watchdog_pid_, watchdog_fd_};
    release_watchdog(watchdog, std::chrono::seconds(5));
    watchdog_pid_ = -1;
    watchdog_fd_ = -1;
  }
}

LocalPostgres::~LocalPostgres() {
  try {
    stop();
  } catch (const std::exception& e) {
    logger().error("stopping the PostgreSQL dev server failed; it may still be running",
                   {{"dir", dir_.string()}, {"pid", postmaster_pid_}, {"error", e.what()}});
  }
}

}  // namespace datarefresh::devpg
