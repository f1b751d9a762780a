#include "core/pg/connection.h"

#include "core/pg/identifier.h"

#include <algorithm>
#include <functional>
#include <cctype>
#include <memory>
#include <random>
#include <thread>

#include <fmt/format.h>

#include "core/common/log.h"
#include "core/common/shutdown.h"
#include "core/pg/libpq_connect.h"

namespace datarefresh::pg {
namespace {

const Logger& logger() {
  static const Logger kLogger("pg");
  return kLogger;
}

struct ConninfoFree {
  void operator()(PQconninfoOption* options) const noexcept { PQconninfoFree(options); }
};
using ConninfoPtr = std::unique_ptr<PQconninfoOption, ConninfoFree>;

// Parses a DSN; on failure returns nullptr and sets `error`.
ConninfoPtr parse_dsn(const std::string& dsn, std::string& error) {
  char* err = nullptr;
  ConninfoPtr parsed(PQconninfoParse(dsn.c_str(), &err));
  if (!parsed) {
    error = err ? std::string(err) : std::string("out of memory");
    if (err) PQfreemem(err);
    while (!error.empty() && std::isspace(static_cast<unsigned char>(error.back()))) error.pop_back();
  }
  return parsed;
}

std::string conninfo_quote(std::string_view value) {
  std::string out = "'";
  for (char c : value) {
    if (c == '\'' || c == '\\') out += '\\';
    out += c;
  }
  return out + "'";
}

std::string trimmed(const char* text) {
  std::string s = text ? text : "";
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
  return s;
}

bool is_permanent_connect_failure(const std::string& message) {
  // Retrying cannot fix wrong credentials, a missing database or role, or an hba rejection.
  return message.find("password authentication failed") != std::string::npos ||
         message.find("does not exist") != std::string::npos ||
         message.find("no pg_hba.conf entry") != std::string::npos ||
         message.find("invalid connection option") != std::string::npos;
}

// Server notices (e.g. "table does not exist, skipping") go to the debug log, not raw stderr.
void log_notice(void*, const char* message) { logger().debug("PostgreSQL notice", {{"notice", trimmed(message)}}); }

}  // namespace

SqlError::SqlError(const std::string& message, std::string sqlstate)
    : Error(message), sqlstate_(std::move(sqlstate)) {}

bool SqlError::retryable() const noexcept {
  return sqlstate_.empty() || sqlstate_ == "55P03" || sqlstate_ == "40P01" || sqlstate_ == "40001" ||
         sqlstate_.rfind("08", 0) == 0 || sqlstate_ == "57P01";
}

std::string describe_dsn(const std::string& dsn) {
  std::string error;
  auto parsed = parse_dsn(dsn, error);
  if (!parsed) return "<unparseable DSN: " + error + ">";
  std::string host, hostaddr, port, dbname, user;
  for (auto* o = parsed.get(); o->keyword; ++o) {
    if (!o->val) continue;
    std::string_view key = o->keyword;
    if (key == "host") host = o->val;
    else if (key == "hostaddr") hostaddr = o->val;
    else if (key == "port") port = o->val;
    else if (key == "dbname") dbname = o->val;
    else if (key == "user") user = o->val;
  }
  if (host.empty()) host = hostaddr.empty() ? "(default socket)" : hostaddr;
  return fmt::format("host={} port={} dbname={} user={}", host, port.empty() ? "5432" : port,
                     dbname.empty() ? "(default)" : dbname, user.empty() ? "(default)" : user);
}

std::string redact_dsn(const std::string& dsn) {
  std::string error;
  auto parsed = parse_dsn(dsn, error);
  if (!parsed) return "<unparseable DSN: " + error + ">";
  std::string out;
  for (auto* o = parsed.get(); o->keyword; ++o) {
    if (!o->val || std::string_view(o->keyword) == "password") continue;
    if (!out.empty()) out += ' ';
    out += std::string(o->keyword) + "=" + conninfo_quote(o->val);
  }
  return out;
}

std::string build_conninfo(const ConnectionOptions& options) {
  std::string error;
  auto parsed = parse_dsn(options.dsn, error);
  if (!parsed) throw ConnectionError("cannot parse the PostgreSQL DSN: " + error +
                                     "; use key=value pairs or a postgresql:// URI");
  auto timeout_s = std::max<long long>(2, (options.connect_timeout.count() + 999) / 1000);
  std::string out;
  for (auto* o = parsed.get(); o->keyword; ++o) {
    if (!o->val) continue;
    std::string_view key = o->keyword;
    if (key == "connect_timeout" || (key == "application_name" && !options.application_name.empty())) continue;
    out += std::string(key) + "=" + conninfo_quote(o->val) + " ";
  }
  out += "connect_timeout=" + std::to_string(timeout_s);
  if (!options.application_name.empty()) out += " application_name=" + conninfo_quote(options.application_name);
  return out;
}

std::string session_setup_sql(const ConnectionOptions& options) {
  // Only non-zero limits are set, so a server or role default stays in force otherwise.
  std::string sql;
  if (options.statement_timeout.count() > 0)
    sql += fmt::format("SET statement_timeout = {};", options.statement_timeout.count());
  if (options.lock_timeout.count() > 0) sql += fmt::format("SET lock_timeout = {};", options.lock_timeout.count());
  if (!options.search_path.empty()) {
    std::string path;
    for (const auto& schema : options.search_path) path += (path.empty() ? "" : ", ") + Identifier(schema, "schema name").quoted();
    sql += "SET search_path TO " + path + ";";
  }
  for (const auto& [name, value] : options.settings) {
    sql += "SET " + Identifier(name, "setting name").quoted() + " = " + quote_literal(value) + ";";
  }
  return sql;
}

namespace detail {

std::string statement_excerpt(std::string_view sql) {
  std::string lowered(sql.substr(0, 4096));
  std::transform(lowered.begin(), lowered.end(), lowered.begin(), [](unsigned char c) { return std::tolower(c); });
  if (lowered.find("password") != std::string::npos) return "<statement withheld: it may contain a secret>";
  std::string out;
  for (char c : sql.substr(0, 160)) out += (c == '\n' || c == '\t') ? ' ' : c;
  if (sql.size() > 160) out += "...";
  return out;
}

PGresult* check_result(PGconn* conn, PGresult* result, const std::string& target, std::string_view sql) {
  auto status = result ? PQresultStatus(result) : PGRES_FATAL_ERROR;
  if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK || status == PGRES_COPY_IN ||
      status == PGRES_COPY_OUT || status == PGRES_EMPTY_QUERY) {
    return result;
  }
  std::string sqlstate;
  std::string message;
  if (result) {
    const char* state = PQresultErrorField(result, PG_DIAG_SQLSTATE);
    sqlstate = state ? state : "";
    message = trimmed(PQresultErrorMessage(result));
    PQclear(result);
  }
  if (message.empty()) message = trimmed(PQerrorMessage(conn));
  if (PQstatus(conn) == CONNECTION_BAD && sqlstate.empty()) sqlstate = "08006";
  throw SqlError(fmt::format("PostgreSQL statement failed on {} (SQLSTATE {}): {} [statement: {}]", target,
                             sqlstate.empty() ? "none" : sqlstate, message, statement_excerpt(sql)),
                 sqlstate);
}

void retry_connect(const ConnectionOptions& options, const std::function<bool(std::string& error)>& try_once) {
  const std::string target = describe_dsn(options.dsn);
  const int attempts = std::max(1, options.connect_attempts);
  std::mt19937_64 rng(std::random_device{}());
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  std::string last_error;
  for (int attempt = 1; attempt <= attempts; ++attempt) {
    last_error.clear();
    if (try_once(last_error)) {
      if (attempt > 1) logger().info("connected to PostgreSQL", {{"target", target}, {"attempt", attempt}});
      return;
    }
    while (!last_error.empty() && std::isspace(static_cast<unsigned char>(last_error.back()))) last_error.pop_back();
    logger().warn("PostgreSQL connection attempt failed",
                  {{"target", target}, {"attempt", attempt}, {"of", attempts}, {"error", last_error}});
    if (is_permanent_connect_failure(last_error) || attempt == attempts) break;
    auto delay = backoff_delay(options.backoff, static_cast<std::uint32_t>(attempt), unit(rng));
    if (wait_for_shutdown(delay)) {
      throw ConnectionError(fmt::format("gave up connecting to PostgreSQL at {}: shutdown requested", target));
    }
  }
  throw ConnectionError(fmt::format(
      "could not connect to PostgreSQL at {} ({}): {}; check that the server is running and reachable from "
      "here, and that the DSN's database, user and password are right",
      target, is_permanent_connect_failure(last_error) ? "not retried" : fmt::format("{} attempts", attempts),
      last_error));
}

PGconn* open_connection(const ConnectionOptions& options) {
  const std::string target = describe_dsn(options.dsn);
  const std::string conninfo = build_conninfo(options);
  const std::string setup = session_setup_sql(options);
  std::unique_ptr<PGconn, PgConnCloser> result;
  retry_connect(options, [&](std::string& error) {
    std::unique_ptr<PGconn, PgConnCloser> conn(PQconnectdb(conninfo.c_str()));
    if (!conn || PQstatus(conn.get()) != CONNECTION_OK) {
      error = conn ? PQerrorMessage(conn.get()) : "out of memory";
      return false;
    }
    PQsetNoticeProcessor(conn.get(), log_notice, nullptr);
    if (!setup.empty()) PQclear(check_result(conn.get(), PQexec(conn.get(), setup.c_str()), target, setup));
    result = std::move(conn);
    return true;
  });
  return result.release();
}

}  // namespace detail
}  // namespace datarefresh::pg
