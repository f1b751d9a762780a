#pragma once

// For modules that prefer libpqxx's API (pqxx::work, exec_params). Includes <pqxx/connection>:
// include this header only in .cpp files.

#include <memory>

#include <pqxx/connection>

#include "core/pg/connection.h"

namespace datarefresh::pg {

// A libpqxx connection opened with the same retries, backoff, timeouts and application_name as
// Database::connect. Throws ConnectionError after the last attempt.
std::unique_ptr<pqxx::connection> connect_pqxx(const ConnectionOptions& options);

}  // namespace datarefresh::pg
