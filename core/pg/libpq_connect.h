#pragma once

// Internal to datarefresh::pg: the one place libpq connections are opened, with retries.
// Not for other modules (they use Database, CopyOutStream or connect_pqxx).

#include <functional>
#include <string>

#include <libpq-fe.h>

#include "core/pg/connection.h"

namespace datarefresh::pg::detail {

// Owns a PGconn.
struct PgConnCloser {
  void operator()(PGconn* conn) const noexcept { PQfinish(conn); }
};

// Opens a connection with retry and backoff and applies the session settings. Throws
// ConnectionError after the last attempt.
PGconn* open_connection(const ConnectionOptions& options);

// The retry loop shared by every connect path: calls try_once until it returns true, logging each
// failure (try_once sets `error`, which must not contain the password), backing off between
// attempts, stopping early on failures retrying cannot fix. Throws ConnectionError at the end.
void retry_connect(const ConnectionOptions& options, const std::function<bool(std::string& error)>& try_once);

// Throws SqlError for a failed result (and clears it); returns the result otherwise.
PGresult* check_result(PGconn* conn, PGresult* result, const std::string& target, std::string_view sql);

// A short, secret-free quote of a statement for error messages.
std::string statement_excerpt(std::string_view sql);

}  // namespace datarefresh::pg::detail
