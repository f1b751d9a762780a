#include "core/pg/copy_text.h"

#include <cstring>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace datarefresh::pg {
namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool is_octal(char c) { return c >= '0' && c <= '7'; }

// The first tab or backslash in [p, end), or end: 16 bytes at a time where SSE2 is there (every
// x86-64), never reading past `end`.
char* find_tab_or_backslash(char* p, char* end) {
#if defined(__SSE2__)
  const __m128i tab = _mm_set1_epi8('\t');
  const __m128i backslash = _mm_set1_epi8('\\');
  while (end - p >= 16) {
    const __m128i chunk = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    const int hits = _mm_movemask_epi8(_mm_or_si128(_mm_cmpeq_epi8(chunk, tab), _mm_cmpeq_epi8(chunk, backslash)));
    if (hits != 0) return p + __builtin_ctz(static_cast<unsigned>(hits));
    p += 16;
  }
#endif
  while (p < end && *p != '\t' && *p != '\\') ++p;
  return p;
}

}  // namespace

bool parse_copy_text_row(char* line, std::size_t length, CopyRowView& row) {
  row.data_ = line;
  row.fields_.clear();
  char* p = line;
  char* end = line + length;
  if (p < end && end[-1] == '\n') --end;

  while (true) {
    char* start = p;
    // Fast path: most fields have no escapes, so find the end with a vector scan and only fall
    // back to byte-by-byte decoding when a backslash shows up.
    p = find_tab_or_backslash(p, end);
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
