#include "core/pg/identifier.h"

#include <fmt/format.h>

namespace datarefresh::pg {
namespace {

bool is_start_char(char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_'; }
bool is_name_char(char c) { return is_start_char(c) || (c >= '0' && c <= '9'); }

std::string printable(std::string_view text) {
  // Keep the message readable (and single-line) whatever the rejected input contains.
  std::string out;
  for (char c : text.substr(0, 80)) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) out += fmt::format("\\x{:02x}", u);
    else out += c;
  }
  if (text.size() > 80) out += "...";
  return out;
}

}  // namespace

bool Identifier::is_valid(std::string_view name) noexcept {
  if (name.empty() || name.size() > kMaxLength || !is_start_char(name.front())) return false;
  for (char c : name) {
    if (!is_name_char(c)) return false;
  }
  return true;
}

Identifier::Identifier(std::string_view name, std::string_view what) {
  if (!is_valid(name)) {
    std::string why;
    if (name.empty()) why = "it is empty";
    else if (name.size() > kMaxLength) why = fmt::format("it is {} bytes long (at most {})", name.size(), kMaxLength);
    else why = "only letters, digits and '_' are allowed, and it must not start with a digit";
    throw InvalidIdentifier(fmt::format("invalid {} '{}': {}; use a name matching [A-Za-z_][A-Za-z0-9_]{{0,62}}",
                                        what, printable(name), why));
  }
  name_ = std::string(name);
}

std::string Identifier::quoted() const { return "\"" + name_ + "\""; }

Identifier Identifier::with_prefix(std::string_view prefix) const {
  return Identifier(std::string(prefix) + name_, "derived identifier");
}

Identifier Identifier::with_suffix(std::string_view suffix) const {
  return Identifier(name_ + std::string(suffix), "derived identifier");
}

QualifiedName QualifiedName::parse(std::string_view text, std::string_view what) {
  auto dot = text.find('.');
  if (dot == std::string_view::npos) return QualifiedName(Identifier("public"), Identifier(text, what));
  return QualifiedName(Identifier(text.substr(0, dot), what), Identifier(text.substr(dot + 1), what));
}

std::string QualifiedName::quoted() const { return schema_.quoted() + "." + name_.quoted(); }
std::string QualifiedName::text() const { return schema_.name() + "." + name_.name(); }

std::string quote_literal(std::string_view value) {
  bool has_backslash = false;
  std::string body;
  body.reserve(value.size() + 2);
  for (char c : value) {
    if (c == '\0') throw InvalidIdentifier("a SQL literal cannot contain a NUL byte; remove it from the value");
    if (c == '\'') body += '\'';
    if (c == '\\') {
      has_backslash = true;
      body += '\\';
    }
    body += c;
  }
  return (has_backslash ? "E'" : "'") + body + "'";
}

}  // namespace datarefresh::pg
