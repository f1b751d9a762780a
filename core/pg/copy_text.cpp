#include "core/pg/copy_text.h"

#include <cstring>

namespace datarefresh::pg {
namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool is_octal(char c) { return c >= '0' && c <= '7'; }

}  // namespace

bool parse_copy_text_row(char* line, std::size_t length, CopyRowView& row) {
  row.data_ = line;
  row.fields_.clear();
  char* p = line;
  char* end = line + length;
  if (p < end && end[-1] == '\n') --end;

  while (true) {
    char* start = p;
    // Fast path: most fields have no escapes, so find the end with memchr-like scanning and
    // only fall back to byte-by-byte decoding when a backslash shows up.
    while (p < end && *p != '\t' && *p != '\\') ++p;
    if (p < end && *p == '\\') {
      if (p == start && p + 1 < end && p[1] == 'N' && (p + 2 == end || p[2] == '\t')) {
        row.fields_.push_back({static_cast<std::uint32_t>(start - line), 0, true});
        p += 2;
      } else {
        char* out = p;
        while (p < end && *p != '\t') {
          if (*p != '\\') {
            *out++ = *p++;
            continue;
          }
          if (p + 1 >= end) return false;
          char c = p[1];
          p += 2;
          switch (c) {
            case 'b': *out++ = '\b'; break;
            case 'f': *out++ = '\f'; break;
            case 'n': *out++ = '\n'; break;
            case 'r': *out++ = '\r'; break;
            case 't': *out++ = '\t'; break;
            case 'v': *out++ = '\v'; break;
            case 'x': {
              int h = p < end ? hex_value(*p) : -1;
              if (h < 0) {
                *out++ = 'x';
                break;
              }
              int value = h;
              ++p;
              if (p < end && (h = hex_value(*p)) >= 0) {
                value = value * 16 + h;
                ++p;
              }
              *out++ = static_cast<char>(value);
              break;
            }
            default:
              if (is_octal(c)) {
                int value = c - '0';
                for (int i = 0; i < 2 && p < end && is_octal(*p); ++i, ++p) value = value * 8 + (*p - '0');
                *out++ = static_cast<char>(value & 0xff);
              } else {
                *out++ = c;
              }
          }
        }
        row.fields_.push_back({static_cast<std::uint32_t>(start - line), static_cast<std::uint32_t>(out - start), false});
      }
    } else {
      row.fields_.push_back({static_cast<std::uint32_t>(start - line), static_cast<std::uint32_t>(p - start), false});
    }
    if (p >= end) break;
    ++p;  // the tab
  }
  return true;
}

}  // namespace datarefresh::pg
