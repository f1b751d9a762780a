#include "core/pg/pqxx_connect.h"

#include <pqxx/except>
#include <pqxx/nontransaction>

#include "core/pg/libpq_connect.h"

namespace datarefresh::pg {

std::unique_ptr<pqxx::connection> connect_pqxx(const ConnectionOptions& options) {
  const std::string conninfo = build_conninfo(options);
  const std::string setup = session_setup_sql(options);
  std::unique_ptr<pqxx::connection> result;
  detail::retry_connect(options, [&](std::string& error) {
    try {
      auto conn = std::make_unique<pqxx::connection>(conninfo);
      if (!setup.empty()) {
        pqxx::nontransaction tx(*conn);
        tx.exec(setup);
      }
      result = std::move(conn);
      return true;
    } catch (const pqxx::broken_connection& e) {
      error = e.what();
      return false;
    }
  });
  return result;
}

}  // namespace datarefresh::pg
