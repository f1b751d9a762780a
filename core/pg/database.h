#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/pg/connection.h"

namespace datarefresh::pg {

using SqlParam = std::optional<std::string>;  // nullopt binds NULL

// A fully read, text-format query result. Small results only (ledger rows, catalog queries):
// stream big ones with CopyOutStream.
struct ResultSet {
  std::vector<std::string> columns;
  std::vector<std::vector<std::optional<std::string>>> rows;
  std::uint64_t affected_rows = 0;  // for INSERT/UPDATE/DELETE/COPY...

  std::size_t size() const noexcept { return rows.size(); }
  bool empty() const noexcept { return rows.empty(); }
  // Column index by name; throws InvariantError naming the column if absent.
  std::size_t column(std::string_view name) const;
};

// How Database::transact retries a transaction that lost a lock race.
struct TransactionOptions {
  Duration lock_timeout{std::chrono::seconds(5)};  // SET LOCAL lock_timeout; 0 keeps the session's
  int attempts = 5;
  BackoffPolicy backoff{std::chrono::milliseconds(500), std::chrono::seconds(10), 2.0, 0.5};
};

// One PostgreSQL session for the ledger, DDL and small queries (autocommit unless inside
// transact()). Parameters are bound ($1, $2, ...), never spliced; names go through Identifier.
// Owned by one thread at a time; movable. Closing happens on destruction.
class Database {
 public:
  // Connects with retry/backoff and applies the session settings. Throws ConnectionError.
  static Database connect(const ConnectionOptions& options);

  Database(Database&&) noexcept;
  Database& operator=(Database&&) noexcept;
  ~Database();

  // Runs one or more statements without parameters (a DDL script); returns the last result.
  ResultSet exec(std::string_view sql);
  ResultSet exec_params(std::string_view sql, const std::vector<SqlParam>& params);
  // The first column of the first row, nullopt for no row or NULL.
  std::optional<std::string> query_value(std::string_view sql, const std::vector<SqlParam>& params = {});
  // The column names of `table` in the current schema, in their order; empty when there is no
  // such table.
  std::vector<std::string> table_columns(const std::string& table);

  // Runs body inside BEGIN ... COMMIT with SET LOCAL lock_timeout. If the body or the commit fails
  // with a retryable error (lock timeout, deadlock, serialization failure) the transaction is
  // rolled back and run again after a backoff, up to options.attempts; any other error rolls back
  // and propagates. The body must therefore be safe to re-run (it only talks to this Database).
  void transact(const std::function<void(Database&)>& body, const TransactionOptions& options = {});

  // Bulk load: COPY <target> FROM STDIN with the rows already in COPY text format (lines ending in
  // '\n'). `copy_sql` is the full COPY ... FROM STDIN statement. Returns the rows loaded.
  std::uint64_t copy_in(std::string_view copy_sql, const std::function<bool(std::string& chunk)>& produce);

  // host=... port=... dbname=... user=... (no password).
  const std::string& target() const noexcept { return target_; }
  bool in_transaction() const noexcept { return in_transaction_; }

 private:
  struct Impl;
  explicit Database(std::unique_ptr<Impl> impl, std::string target);
  std::unique_ptr<Impl> impl_;
  std::string target_;
  bool in_transaction_ = false;
};

}  // namespace datarefresh::pg
