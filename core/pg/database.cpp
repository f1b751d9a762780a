#include "core/pg/database.h"

#include <random>

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

struct ResultCloser {
  void operator()(PGresult* r) const noexcept { PQclear(r); }
};
using ResultPtr = std::unique_ptr<PGresult, ResultCloser>;

ResultSet to_result_set(PGresult* result) {
  ResultSet out;
  int nfields = PQnfields(result);
  int ntuples = PQntuples(result);
  out.columns.reserve(static_cast<std::size_t>(nfields));
  for (int c = 0; c < nfields; ++c) out.columns.emplace_back(PQfname(result, c));
  out.rows.reserve(static_cast<std::size_t>(ntuples));
  for (int r = 0; r < ntuples; ++r) {
    auto& row = out.rows.emplace_back();
    row.reserve(static_cast<std::size_t>(nfields));
    for (int c = 0; c < nfields; ++c) {
      if (PQgetisnull(result, r, c)) row.emplace_back(std::nullopt);
      else row.emplace_back(std::string(PQgetvalue(result, r, c), static_cast<std::size_t>(PQgetlength(result, r, c))));
    }
  }
  const char* affected = PQcmdTuples(result);
  if (affected && *affected) out.affected_rows = std::stoull(affected);
  return out;
}

}  // namespace

struct Database::Impl {
  std::unique_ptr<PGconn, detail::PgConnCloser> pg;
};

std::size_t ResultSet::column(std::string_view name) const {
  for (std::size_t i = 0; i < columns.size(); ++i) {
    if (columns[i] == name) return i;
  }
  throw InvariantError(fmt::format("query result has no column '{}'", name));
}

Database::Database(std::unique_ptr<Impl> impl, std::string target) : impl_(std::move(impl)), target_(std::move(target)) {}
Database::Database(Database&&) noexcept = default;
Database& Database::operator=(Database&&) noexcept = default;
Database::~Database() = default;

Database Database::connect(const ConnectionOptions& options) {
  auto impl = std::make_unique<Impl>();
  impl->pg.reset(detail::open_connection(options));
  return Database(std::move(impl), describe_dsn(options.dsn));
}

ResultSet Database::exec(std::string_view sql) {
  std::string text(sql);
  PGconn* pg = impl_->pg.get();
  ResultPtr result(detail::check_result(pg, PQexec(pg, text.c_str()), target_, sql));
  return to_result_set(result.get());
}

ResultSet Database::exec_params(std::string_view sql, const std::vector<SqlParam>& params) {
  std::string text(sql);
  std::vector<const char*> values;
  values.reserve(params.size());
  for (const auto& p : params) values.push_back(p ? p->c_str() : nullptr);
  PGconn* pg = impl_->pg.get();
  ResultPtr result(detail::check_result(
      pg, PQexecParams(pg, text.c_str(), static_cast<int>(values.size()), nullptr, values.data(), nullptr, nullptr, 0),
      target_, sql));
  return to_result_set(result.get());
}

std::optional<std::string> Database::query_value(std::string_view sql, const std::vector<SqlParam>& params) {
  ResultSet rs = params.empty() ? exec(sql) : exec_params(sql, params);
  if (rs.rows.empty() || rs.rows.front().empty()) return std::nullopt;
  return rs.rows.front().front();
}

std::vector<std::string> Database::table_columns(const std::string& table) {
  auto rs = exec_params(
      "SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = $1 "
      "ORDER BY ordinal_position",
      {table});
  std::vector<std::string> cols;
  for (const auto& r : rs.rows) cols.push_back(r[0].value_or(""));
  return cols;
}

void Database::transact(const std::function<void(Database&)>& body, const TransactionOptions& options) {
  if (in_transaction_) throw InvariantError("Database::transact called inside a transaction on " + target_);
  std::mt19937_64 rng(std::random_device{}());
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  const int attempts = std::max(1, options.attempts);
  for (int attempt = 1;; ++attempt) {
    try {
      exec("BEGIN");
      in_transaction_ = true;
      if (options.lock_timeout.count() > 0) exec(fmt::format("SET LOCAL lock_timeout = {}", options.lock_timeout.count()));
      body(*this);
      exec("COMMIT");
      in_transaction_ = false;
      return;
    } catch (const SqlError& e) {
      in_transaction_ = false;
      if (PQstatus(impl_->pg.get()) == CONNECTION_OK) {
        PQclear(PQexec(impl_->pg.get(), "ROLLBACK"));
      }
      bool lock_race = e.sqlstate() == "55P03" || e.sqlstate() == "40P01" || e.sqlstate() == "40001";
      if (!lock_race || attempt >= attempts) throw;
      auto delay = backoff_delay(options.backoff, static_cast<std::uint32_t>(attempt), unit(rng));
      logger().warn("transaction lost a lock race; retrying",
                    {{"target", target_}, {"attempt", attempt}, {"of", attempts}, {"sqlstate", e.sqlstate()},
                     {"retry_in_ms", delay.count()}});
      if (wait_for_shutdown(delay)) throw;
    } catch (...) {
      in_transaction_ = false;
      if (PQstatus(impl_->pg.get()) == CONNECTION_OK) PQclear(PQexec(impl_->pg.get(), "ROLLBACK"));
      throw;
    }
  }
}

std::uint64_t Database::copy_in(std::string_view copy_sql, const std::function<bool(std::string& chunk)>& produce) {
  std::string text(copy_sql);
  PGconn* pg = impl_->pg.get();
  ResultPtr start(detail::check_result(pg, PQexec(pg, text.c_str()), target_, copy_sql));
  if (PQresultStatus(start.get()) != PGRES_COPY_IN) {
    throw SqlError(fmt::format("'{}' on {} did not start a COPY FROM STDIN", detail::statement_excerpt(copy_sql), target_),
                   "");
  }
  std::string chunk;
  bool more = true;
  while (more) {
    chunk.clear();
    more = produce(chunk);
    if (!chunk.empty() && PQputCopyData(pg, chunk.data(), static_cast<int>(chunk.size())) != 1) {
      std::string message = PQerrorMessage(pg);
      PQputCopyEnd(pg, "client failed to send data");
      while (PGresult* r = PQgetResult(pg)) PQclear(r);
      throw SqlError(fmt::format("sending COPY data to {} failed: {}", target_, message), "08006");
    }
  }
  if (PQputCopyEnd(pg, nullptr) != 1) {
    throw SqlError(fmt::format("finishing COPY on {} failed: {}", target_, PQerrorMessage(pg)), "08006");
  }
  ResultPtr result(PQgetResult(pg));
  std::uint64_t rows = 0;
  std::string error;
  std::string sqlstate;
  if (!result || PQresultStatus(result.get()) != PGRES_COMMAND_OK) {
    error = result ? PQresultErrorMessage(result.get()) : PQerrorMessage(pg);
    const char* state = result ? PQresultErrorField(result.get(), PG_DIAG_SQLSTATE) : nullptr;
    sqlstate = state ? state : "";
  } else {
    const char* affected = PQcmdTuples(result.get());
    if (affected && *affected) rows = std::stoull(affected);
  }
  result.reset();
  while (PGresult* r = PQgetResult(pg)) PQclear(r);
  if (!error.empty()) {
    while (!error.empty() && (error.back() == '\n' || error.back() == ' ')) error.pop_back();
    throw SqlError(fmt::format("COPY into {} failed (SQLSTATE {}): {} [statement: {}]", target_, sqlstate, error,
                               detail::statement_excerpt(copy_sql)),
                   sqlstate);
  }
  return rows;
}

}  // namespace datarefresh::pg
