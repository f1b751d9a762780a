#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

namespace datarefresh::pg {

// One row of PostgreSQL's COPY text format, already split and unescaped. A view: the text lives
// in a buffer owned by whoever produced the row (CopyOutStream) and stays valid until that
// producer reads the next row. Cheap to pass by reference; not thread-safe.
class CopyRowView {
 public:
  struct Field {
    std::uint32_t offset = 0;
    std::uint32_t length = 0;
    bool null = false;
  };

  std::size_t size() const noexcept { return fields_.size(); }
  bool is_null(std::size_t column) const { return fields_[column].null; }
  // The unescaped text of a column; empty for NULL (check is_null to tell them apart).
  std::string_view operator[](std::size_t column) const {
    const Field& f = fields_[column];
    return {data_ + f.offset, f.length};
  }

 private:
  friend bool parse_copy_text_row(char* line, std::size_t length, CopyRowView& row);
  const char* data_ = nullptr;
  std::vector<Field> fields_;
};

// Splits one COPY text-format line (a trailing '\n' is ignored) into fields, decoding the escapes
// in place: \b \f \n \r \t \v \\, \ooo (1-3 octal digits), \xhh (1-2 hex digits), any other
// backslashed character stands for itself, and a field that is exactly \N is NULL. Decoding only
// ever shrinks text, so it rewrites `line` without allocating; `row`'s field vector is reused, so
// a steady stream of rows allocates nothing. Returns false if the line ends in a lone backslash
// (a truncated row).
bool parse_copy_text_row(char* line, std::size_t length, CopyRowView& row);

}  // namespace datarefresh::pg
