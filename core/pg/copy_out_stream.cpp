#include "core/pg/copy_out_stream.h"

#include <fmt/format.h>

#include "core/pg/libpq_connect.h"

namespace datarefresh::pg {

struct CopyConnection::State {
  std::unique_ptr<PGconn, detail::PgConnCloser> pg;
};

CopyConnection::CopyConnection(ConnectionOptions options)
    : options_(std::move(options)), state_(std::make_unique<State>()) {}

CopyConnection::~CopyConnection() = default;

bool CopyConnection::connected() const noexcept {
  return state_->pg && PQstatus(state_->pg.get()) == CONNECTION_OK;
}

CopyOutStream::CopyOutStream(const ConnectionOptions& options, std::string_view select_query)
    : own_(std::make_unique<CopyConnection>(options)), conn_(own_.get()), target_(describe_dsn(options.dsn)) {
  start(select_query);
}

CopyOutStream::CopyOutStream(CopyConnection& connection, std::string_view select_query)
    : conn_(&connection), target_(describe_dsn(connection.options_.dsn)) {
  start(select_query);
}

PGconn* CopyOutStream::pg() const noexcept { return conn_->state_->pg.get(); }

void CopyOutStream::start(std::string_view select_query) {
  auto& kept = conn_->state_->pg;
  auto connect = [&] {
    kept.reset();
    kept.reset(detail::open_connection(conn_->options_));
    ++conn_->connects_;
  };
  const bool reused = conn_->connected() && PQtransactionStatus(kept.get()) == PQTRANS_IDLE;
  if (!reused) connect();
  std::string sql = fmt::format("COPY ({}) TO STDOUT", select_query);
  PGresult* raw = PQexec(kept.get(), sql.c_str());
  if (reused && PQstatus(kept.get()) == CONNECTION_BAD) {
    // The kept connection died while idle: connect again, once.
    if (raw) PQclear(raw);
    connect();
    raw = PQexec(kept.get(), sql.c_str());
  }
  try {
    PGresult* result = detail::check_result(kept.get(), raw, target_, sql);
    auto status = PQresultStatus(result);
    PQclear(result);
    if (status != PGRES_COPY_OUT) {
      throw SqlError(fmt::format("COPY on {} did not start a copy-out stream (status {}) [statement: {}]", target_,
                                 PQresStatus(status), detail::statement_excerpt(sql)),
                     "");
    }
  } catch (...) {
    kept.reset();  // whatever state it is in, the next stream starts afresh
    throw;
  }
}

CopyOutStream::~CopyOutStream() {
  release_buffer();
  // Stopped before its end: the connection is mid-COPY. Closing it makes the server abort it.
  if (!finished_ && conn_ != nullptr) conn_->state_->pg.reset();
}

void CopyOutStream::release_buffer() noexcept {
  if (buffer_) {
    PQfreemem(buffer_);
    buffer_ = nullptr;
  }
}

bool CopyOutStream::next(CopyRowView& row) {
  if (finished_) return false;
  release_buffer();
  PGconn* pg = this->pg();
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
      PQstatus(pg()) == CONNECTION_BAD ? "08006" : "", rows_read_);
}

}  // namespace datarefresh::pg
