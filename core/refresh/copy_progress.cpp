#include "core/refresh/copy_progress.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "core/refresh/naming.h"

namespace datarefresh::refresh {

std::optional<double> CopyProgress::percent() const {
  if (done) return 100.0;
  if (upstream_bytes <= 0) return std::nullopt;
  double p = 100.0 * static_cast<double>(bytes_written) / static_cast<double>(upstream_bytes);
  return std::min(99.9, std::round(p * 10) / 10);
}

nlohmann::json copy_progress_json(const CopyProgress& p) {
  auto percent = p.percent();
  return {{"parts", p.parts},
          {"parts_done", p.parts_done},
          {"bytes_written", p.bytes_written},
          {"upstream_bytes", p.upstream_bytes},
          {"percent", percent ? nlohmann::json(*percent) : nlohmann::json()}};
}

std::string copy_progress_text(const CopyProgress& p) {
  auto percent = p.percent();
  return fmt::format("copy {} ({} MB written, parts {}/{})", percent ? fmt::format("{:.1f}%", *percent) : "?",
                     p.bytes_written >> 20, p.parts_done, p.parts);
}

CopyProgress read_copy_progress(pg::Database& api_db, const std::string& refresh_id, const std::string& table) {
  CopyProgress p;
  auto rs = api_db.exec_params(
      "SELECT setup.details ->> 'parts', setup.details ->> 'upstream_bytes', "
      "(SELECT count(*) FROM datarefresh.steps WHERE refresh_id = $1::uuid AND left(step, length($3)) = $3), "
      "EXISTS (SELECT 1 FROM datarefresh.steps WHERE refresh_id = $1::uuid AND step = $4), "
      "COALESCE(pg_relation_size(to_regclass($5)), 0) "
      "FROM (SELECT) AS one LEFT JOIN datarefresh.steps AS setup ON setup.refresh_id = $1::uuid AND setup.step = $2",
      {refresh_id, "copy_setup:" + table, "copy_part:" + table + ":", "copy:" + table,
       temp_table(pg::Identifier(table, "table name")).quoted()});
  const auto& row = rs.rows.at(0);
  if (row[0]) p.parts = std::stoi(*row[0]);
  if (row[1]) p.upstream_bytes = std::stoll(*row[1]);
  p.parts_done = std::stoi(row[2].value_or("0"));
  p.done = row[3].value_or("f") == "t";
  p.bytes_written = std::stoll(row[4].value_or("0"));
  return p;
}

}  // namespace datarefresh::refresh
