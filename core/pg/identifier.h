#pragma once

#include <string>
#include <string_view>

#include "core/common/error.h"

namespace datarefresh::pg {

// A name that failed validation; the message quotes it and says what is allowed.
class InvalidIdentifier : public Error {
 public:
  using Error::Error;
};

// A validated SQL identifier (table, column, index, schema, sequence, server name). Only
// `[A-Za-z_][A-Za-z0-9_]*` of at most 63 bytes (PostgreSQL's NAMEDATALEN - 1) is accepted, so a
// rendered identifier can never break out of its quotes and is never silently truncated by the
// server. Renders double-quoted: note that quoting keeps case, so "Image" and image differ.
// A value type: cheap to copy, immutable, thread-safe.
class Identifier {
 public:
  static constexpr std::size_t kMaxLength = 63;

  // Throws InvalidIdentifier naming `what` (e.g. "table name") and the offending text.
  explicit Identifier(std::string_view name, std::string_view what = "identifier");

  static bool is_valid(std::string_view name) noexcept;

  const std::string& name() const noexcept { return name_; }
  // "name", ready to splice into SQL.
  std::string quoted() const;

  // A derived name, validated again (so a long prefix cannot exceed 63 bytes):
  // Identifier("image").with_prefix("temp_import_") -> temp_import_image.
  Identifier with_prefix(std::string_view prefix) const;
  Identifier with_suffix(std::string_view suffix) const;

  friend bool operator==(const Identifier&, const Identifier&) = default;

 private:
  std::string name_;
};

// schema.name, both parts validated. Renders "schema"."name".
class QualifiedName {
 public:
  QualifiedName(Identifier schema, Identifier name) : schema_(std::move(schema)), name_(std::move(name)) {}
  // Parses "schema.name" or a bare "name" (schema defaults to public).
  static QualifiedName parse(std::string_view text, std::string_view what = "qualified name");

  const Identifier& schema() const noexcept { return schema_; }
  const Identifier& name() const noexcept { return name_; }
  std::string quoted() const;
  // schema.name without quotes, for messages and for comparing with catalog queries.
  std::string text() const;

  friend bool operator==(const QualifiedName&, const QualifiedName&) = default;

 private:
  Identifier schema_;
  Identifier name_;
};

// A string literal for the few places PostgreSQL takes no bind parameters (DDL options such as
// CREATE SERVER ... OPTIONS (host '...')). Quotes are doubled; text with backslashes uses the E''
// form so the result is correct whatever standard_conforming_strings says. Throws on NUL bytes.
std::string quote_literal(std::string_view value);

}  // namespace datarefresh::pg
