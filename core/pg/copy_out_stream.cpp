#include "core/pg/copy_out_stream.h"

#include <fmt/format.h>

#include "core/pg/libpq_connect.h"

namespace datarefresh::pg {

struct CopyOutStream::Connection {
  std::unique_ptr<PGconn, detail::PgConnCloser> pg;
};

CopyOutStream::CopyOutStream(const ConnectionOptions& options, std::string_view select_query)
    : conn_(std::make_unique<Connection>()), target_(describe_dsn(options.dsn)) {
  conn_->pg.reset(detail::open_connection(options));
  std::string sql = fmt::format("COPY ({}) TO STDOUT", select_query);
  PGresult* result = detail::check_result(conn_->pg.get(), PQexec(conn_->pg.get(), sql.c_str()), target_, sql);
  auto status = PQresultStatus(result);
  PQclear(result);
  if (status != PGRES_COPY_OUT) {
    throw SqlError(fmt::format("COPY on {} did not start a copy-out stream (status {}) [statement: {}]", target_,
                               PQresStatus(status), detail::statement_excerpt(sql)),
                   "");
  }
}

CopyOutStream::~CopyOutStream() { release_buffer(); }

void CopyOutStream::release_buffer() noexcept {
  if (buffer_) {
    PQfreemem(buffer_);
    buffer_ = nullptr;
  }
}

bool CopyOutStream::next(CopyRowView& row) {
  if (finished_) return false;
  release_buffer();
  PGconn* pg = conn_->pg.get();
  int n = PQgetCopyData(pg, &buffer_, 0);
  if (n > 0) {
    ++rows_read_;
    bytes_read_ += static_cast<std::uint64_t>(n);
    if (!parse_copy_text_row(buffer_, static_cast<std::size_t>(n), row)) fail("a row ended in a lone backslash");
    return true;
  }
  if (n == -1) {
    // End of the copy: the final result says whether the statement succeeded (a statement
    // timeout or an error in the query's later rows surfaces here).
    PGresult* result = PQgetResult(pg);
    auto status = result ? PQresultStatus(result) : PGRES_FATAL_ERROR;
    std::string message = result ? PQresultErrorMessage(result) : "";
    const char* state = result ? PQresultErrorField(result, PG_DIAG_SQLSTATE) : nullptr;
    std::string sqlstate = state ? state : "";
    if (result) PQclear(result);
    while (PGresult* extra = PQgetResult(pg)) PQclear(extra);
    if (status != PGRES_COMMAND_OK) {
      if (message.empty()) message = PQerrorMessage(pg);
      while (!message.empty() && (message.back() == '\n' || message.back() == ' ')) message.pop_back();
      throw CopyStreamError(fmt::format("COPY stream from {} broke after {} rows (SQLSTATE {}): {}; retry the range "
                                        "from its start",
                                        target_, rows_read_, sqlstate.empty() ? "none" : sqlstate, message),
                            sqlstate.empty() ? "08006" : sqlstate, rows_read_);
    }
    finished_ = true;
    return false;
  }
  fail(PQerrorMessage(pg));
}

void CopyOutStream::fail(const std::string& what) {
  std::string message = what;
  while (!message.empty() && (message.back() == '\n' || message.back() == ' ')) message.pop_back();
  throw CopyStreamError(
      fmt::format("COPY stream from {} broke after {} rows: {}; retry the range from its start", target_, rows_read_,
                  message),
      PQstatus(conn_->pg.get()) == CONNECTION_BAD ? "08006" : "", rows_read_);
}

}  // namespace datarefresh::pg
