#include "core/refresh/naming.h"

#include <random>

#include <fmt/format.h>

namespace datarefresh::refresh {
namespace {

std::string hex_of(const std::string& refresh_id) {
  std::string out;
  for (char c : refresh_id) {
    if (c != '-') out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return out;
}

}  // namespace

RefreshNames refresh_names(const std::string& media_type, const std::string& refresh_id) {
  RefreshNames n{hex_of(refresh_id), {}, {}, pg::Identifier("datarefresh_fdw_" + hex_of(refresh_id).substr(0, 12))};
  n.new_index = media_type + "-" + n.suffix;
  n.filtered_index = n.new_index + "-filtered";
  return n;
}

std::string load_alias(const std::string& index) { return index + "-load"; }

std::vector<std::string> serving_aliases(const std::vector<std::string>& aliases, const std::string& index) {
  std::vector<std::string> out;
  const auto load = load_alias(index);
  for (const auto& a : aliases) {
    if (a != load) out.push_back(a);
  }
  return out;
}

pg::Identifier temp_table(const pg::Identifier& live) { return live.with_prefix("temp_import_"); }

pg::Identifier delete_table(const pg::Identifier& live) { return live.with_prefix("temp_delete_"); }

pg::Identifier import_schema(const pg::Identifier& live, const std::string& refresh_id) {
  return pg::Identifier("datarefresh_upstream_" + hex_of(refresh_id).substr(0, 12) + "_" + live.name().substr(0, 20));
}

bool is_refresh_index(const std::string& media_type, const std::string& index) {
  std::string prefix = media_type + "-";
  if (index.rfind(prefix, 0) != 0) return false;
  std::string rest = index.substr(prefix.size());
  if (rest.size() == 32 + 9 && rest.compare(32, 9, "-filtered") == 0) rest.resize(32);
  if (rest.size() != 32) return false;
  for (char c : rest) {
    if (!std::isxdigit(static_cast<unsigned char>(c)) || std::isupper(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

std::optional<std::string> refresh_id_of_index(const std::string& media_type, const std::string& index) {
  if (!is_refresh_index(media_type, index)) return std::nullopt;
  std::string hex = index.substr(media_type.size() + 1, 32);
  return hex.substr(0, 8) + "-" + hex.substr(8, 4) + "-" + hex.substr(12, 4) + "-" + hex.substr(16, 4) + "-" +
         hex.substr(20);
}

namespace {

std::string format_uuid(std::uint64_t a, std::uint64_t b, std::uint64_t version) {
  a = (a & 0xFFFFFFFFFFFF0FFFULL) | (version << 12);
  b = (b & 0x3FFFFFFFFFFFFFFFULL) | 0x8000000000000000ULL;  // variant 10
  return fmt::format("{:08x}-{:04x}-{:04x}-{:04x}-{:012x}", a >> 32, (a >> 16) & 0xFFFF, a & 0xFFFF, b >> 48,
                     b & 0xFFFFFFFFFFFFULL);
}

// FNV-1a, 64 bits, from a given offset basis.
std::uint64_t fnv1a(std::string_view s, std::uint64_t basis) {
  std::uint64_t h = basis;
  for (unsigned char c : s) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  return h;
}

}  // namespace

std::string new_uuid() {
  thread_local std::mt19937_64 rng{std::random_device{}() ^ (static_cast<std::uint64_t>(std::random_device{}()) << 32)};
  std::uint64_t a = rng(), b = rng();
  return format_uuid(a, b, 4);
}

std::string name_uuid(std::string_view name) {
  return format_uuid(fnv1a(name, 0xcbf29ce484222325ULL), fnv1a(name, 0x84222325cbf29ce4ULL), 8);
}

}  // namespace datarefresh::refresh
