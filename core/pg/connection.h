#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "core/common/backoff.h"
#include "core/common/duration.h"
#include "core/common/error.h"

namespace datarefresh::pg {

// How to reach one PostgreSQL database and how each session is set up. The DSN is a libpq
// connection string (key=value or postgresql:// URI) and may hold a password: it is never logged
// or put in a message; use describe_dsn() for that.
struct ConnectionOptions {
  std::string dsn;
  Duration connect_timeout{std::chrono::seconds(10)};  // per attempt (libpq connect_timeout, >= 2 s)
  int connect_attempts = 5;
  BackoffPolicy backoff{};
  Duration statement_timeout{Duration::zero()};  // 0 = no limit
  Duration lock_timeout{Duration::zero()};       // 0 = no limit
  std::string application_name = "datarefresh";
  // Schemas for unqualified names, first one for new tables ("" keeps the server's default).
  // Set it: with the default "$user", public, a role named like one of our schemas (e.g. a
  // role "datarefresh" owning the ledger schema) would have new tables land in that schema.
  std::vector<std::string> search_path;
  // Further session settings, set after connecting (SET name = 'value'), e.g. {"jit", "off"}.
  std::vector<std::pair<std::string, std::string>> settings;
};

// Connecting failed after every attempt (or for a reason retrying cannot fix). The message names
// host, port, database and user, never the password.
class ConnectionError : public Error {
 public:
  using Error::Error;
};

// A statement failed. sqlstate() is the five-character SQLSTATE ("" if the connection broke
// before the server answered); retryable() says whether running it again may succeed
// (lock timeout, deadlock, serialization failure, lost connection).
class SqlError : public Error {
 public:
  SqlError(const std::string& message, std::string sqlstate);
  const std::string& sqlstate() const noexcept { return sqlstate_; }
  bool retryable() const noexcept;
  bool lock_timeout() const noexcept { return sqlstate_ == "55P03"; }

 private:
  std::string sqlstate_;
};

// "host=127.0.0.1 port=5432 dbname=api user=deploy": the DSN's target without secrets, for logs
// and error messages. Unparseable DSNs give "<unparseable DSN: reason>" (the reason never quotes
// the DSN's password).
std::string describe_dsn(const std::string& dsn);

// The DSN with `password` removed (other keys kept), for logs that need every option.
std::string redact_dsn(const std::string& dsn);

// The DSN rewritten as a key=value conninfo string with connect_timeout and application_name from
// `options` added (overriding the DSN's own). Contains the password if the DSN does: never log it.
std::string build_conninfo(const ConnectionOptions& options);

// SQL that applies statement_timeout and lock_timeout for the session ("SET ...; SET ...").
std::string session_setup_sql(const ConnectionOptions& options);

}  // namespace datarefresh::pg
