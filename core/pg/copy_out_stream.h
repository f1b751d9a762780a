#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "core/common/error.h"
#include "core/pg/connection.h"
#include "core/pg/copy_text.h"

struct pg_conn;

namespace datarefresh::pg {

// The stream broke before its end (connection lost, statement timeout, server error). Says how
// many rows were read before the break, so the caller can report it and retry its range.
class CopyStreamError : public SqlError {
 public:
  CopyStreamError(const std::string& message, std::string sqlstate, std::uint64_t rows_before_break)
      : SqlError(message, std::move(sqlstate)), rows_before_break_(rows_before_break) {}
  std::uint64_t rows_before_break() const noexcept { return rows_before_break_; }

 private:
  std::uint64_t rows_before_break_;
};

// A connection for successive COPY streams, one at a time. The first stream connects and later
// ones reuse it: a new backend per stream costs a fork, authentication, session setup and cold
// catalog caches, paid once per shard otherwise. A stream that stops before its end closes the
// connection (the server then aborts the COPY); the next stream connects again, as it does when
// it finds a kept connection broken (server restart, terminated backend). Owned by one thread at
// a time.
class CopyConnection {
 public:
  explicit CopyConnection(ConnectionOptions options);
  ~CopyConnection();
  CopyConnection(const CopyConnection&) = delete;
  CopyConnection& operator=(const CopyConnection&) = delete;

  bool connected() const noexcept;
  // Times a stream had to connect (the first, and after a close or a break).
  std::uint64_t connects() const noexcept { return connects_; }

 private:
  friend class CopyOutStream;
  struct State;
  ConnectionOptions options_;
  std::unique_ptr<State> state_;
  std::uint64_t connects_ = 0;
};

// Streams the result of one query with `COPY (<query>) TO STDOUT` (text format) on a connection
// of its own or a kept CopyConnection, handing out one row at a time. Memory stays bounded by the largest row whatever the
// result size: nothing is buffered beyond what libpq holds for the current row, and the row view
// and its field vector are reused (the only per-row allocation is the one libpq makes inside
// PQgetCopyData). The indexer's read path.
//
// The query text is spliced into SQL as is: build it only from validated Identifiers and numbers.
// Owned by one thread. Destroying the stream before its end closes the connection, which aborts
// the COPY on the server.
class CopyOutStream {
 public:
  // Connects (with the options' retries) and starts the COPY. Throws ConnectionError or SqlError.
  CopyOutStream(const ConnectionOptions& options, std::string_view select_query);
  // Starts the COPY on `connection` (connecting it first if it is not), which must outlive the
  // stream and serve no other stream meanwhile.
  CopyOutStream(CopyConnection& connection, std::string_view select_query);
  ~CopyOutStream();
  CopyOutStream(const CopyOutStream&) = delete;
  CopyOutStream& operator=(const CopyOutStream&) = delete;

  // Reads the next row into `row` (valid until the next call). Returns false at the end of the
  // result. Throws CopyStreamError if the stream breaks.
  bool next(CopyRowView& row);

  std::uint64_t rows_read() const noexcept { return rows_read_; }
  std::uint64_t bytes_read() const noexcept { return bytes_read_; }
  bool finished() const noexcept { return finished_; }

 private:
  [[noreturn]] void fail(const std::string& what);
  void release_buffer() noexcept;

  void start(std::string_view select_query);
  pg_conn* pg() const noexcept;

  std::unique_ptr<CopyConnection> own_;  // the one-shot constructor's connection
  CopyConnection* conn_ = nullptr;
  std::string target_;
  char* buffer_ = nullptr;
  std::uint64_t rows_read_ = 0;
  std::uint64_t bytes_read_ = 0;
  bool finished_ = false;
};

}  // namespace datarefresh::pg
