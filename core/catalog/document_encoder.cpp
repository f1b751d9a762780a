#include "core/catalog/document_encoder.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <limits>

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "core/catalog/python_values.h"

namespace datarefresh::catalog {
namespace {

constexpr std::size_t kDescriptionMaxChars = 2000;

struct AuthorityEntry {
  std::string_view provider;
  double boost;
};

// As the indexer worker's authority.py: cultural institutions 90, curated collections 85, social
// media 75 (its DEFAULT of 80 belongs to no provider).
constexpr std::array<AuthorityEntry, 17> kAuthority = {{
    {"thorvaldsensmuseum", 90},
    {"svgsilh", 90},
    {"smithsonian", 90},
    {"rijksmuseum", 90},
    {"museumsvictoria", 90},
    {"met", 90},
    {"mccordsmuseum", 90},
    {"digitaltmuseum", 90},
    {"clevelandmuseum", 90},
    {"brooklynmuseum", 90},
    {"stocksnap", 85},
    {"rawpixel", 85},
    {"flickr", 75},
    {"behance", 75},
    {"thingiverse", 75},
    {"sketchfab", 75},
    {"deviantart", 75},
}};

using JsonDoc = rapidjson::GenericDocument<rapidjson::UTF8<>, rapidjson::MemoryPoolAllocator<>>;
using Writer = rapidjson::Writer<rapidjson::StringBuffer>;

std::int64_t parse_int(const FieldView& f, const char* column) {
  std::int64_t v = 0;
  auto [p, ec] = std::from_chars(f.text.data(), f.text.data() + f.text.size(), v);
  if (ec != std::errc() || p != f.text.data() + f.text.size()) {
    throw RowError(std::string("shard query column ") + column + " is not an integer: '" + std::string(f.text) + "'");
  }
  return v;
}

// A float8 column as PostgreSQL writes it: a decimal, "Infinity", "-Infinity" or "NaN".
std::optional<double> parse_float8(std::string_view text) {
  double v = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || p != text.data() + text.size()) return std::nullopt;
  return v;
}

bool parse_bool(const FieldView& f) { return !f.is_null && !f.text.empty() && f.text[0] == 't'; }

// Cuts UTF-8 text to at most `max_chars` code points, as slicing a Python str does.
std::string_view truncate_code_points(std::string_view s, std::size_t max_chars) {
  std::size_t chars = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if ((static_cast<unsigned char>(s[i]) & 0xC0) != 0x80) {
      if (chars == max_chars) return s.substr(0, i);
      ++chars;
    }
  }
  return s;
}

void write_string_or_null(Writer& w, const FieldView& f) {
  if (f.is_null) w.Null();
  else w.String(f.text.data(), static_cast<rapidjson::SizeType>(f.text.size()));
}

// A member name known at compile time: written as it is, quoted, without scanning it for
// characters to escape (none of ours has any), as Key() would do for every document.
template <std::size_t N>
void write_key(Writer& w, const char (&key)[N]) {
  std::array<char, N + 1> quoted;
  quoted[0] = '"';
  std::copy(key, key + N - 1, quoted.begin() + 1);
  quoted[N] = '"';
  w.RawValue(quoted.data(), quoted.size(), rapidjson::kStringType);
}

// "2022-01-01 00:00:00.5+00" (PostgreSQL, session time zone UTC) -> "2022-01-01T00:00:00.500000+00:00",
// as Python's datetime.isoformat() writes it: a fraction (PostgreSQL leaves out its trailing zeros)
// has six digits, and none when the microseconds are 0.
void write_timestamp(Writer& w, const FieldView& f, std::string& scratch) {
  if (f.is_null) {
    w.Null();
    return;
  }
  scratch.assign(f.text);
  auto sp = scratch.find(' ');
  if (sp != std::string::npos) scratch[sp] = 'T';
  if (auto dot = scratch.find('.', sp == std::string::npos ? 0 : sp); dot != std::string::npos) {
    std::size_t end = dot + 1;
    while (end < scratch.size() && scratch[end] >= '0' && scratch[end] <= '9') ++end;
    if (end - dot - 1 < 6) scratch.insert(end, 6 - (end - dot - 1), '0');
  }
  if (scratch.size() >= 3) {
    char sign = scratch[scratch.size() - 3];
    if (sign == '+' || sign == '-') scratch += ":00";
  }
  w.String(scratch.data(), static_cast<rapidjson::SizeType>(scratch.size()));
}

// What Python's float() makes of a meta_data value, as json.loads gave it: a number (infinite when
// beyond a double), a boolean (1.0 or 0.0), a string float() reads; nullopt where it raises.
std::optional<double> python_float_of(const rapidjson::Value& v) {
  if (v.IsNumber()) return v.GetDouble();
  if (v.IsBool()) return v.GetBool() ? 1.0 : 0.0;
  if (v.IsString()) return python_float(std::string_view(v.GetString(), v.GetStringLength()));
  return std::nullopt;
}

// A rank feature as the catalog clamps it to [0, 100] - or nothing where Elasticsearch would
// refuse the value: a rank_feature must be a positive normal float, so 0 (which the catalog turns
// into None itself), negatives and NaN (which it turns into 0) and values too small for a normal
// float are left out (docs/documents.md).
std::optional<double> rank_feature(double v) {
  if (!(v > 0)) return std::nullopt;
  v = std::min(v, 100.0);
  if (static_cast<float>(v) < std::numeric_limits<float>::min()) return std::nullopt;
  return v;
}

// Forwards a parsed value to the writer; a number that is not finite (the JSON text held one
// beyond a double's range) is written as null, as JSON has no infinity and RapidJSON's writer
// would leave the document unfinished. The member names are RapidJSON's handler interface.
// NOLINTBEGIN(readability-identifier-naming)
struct FiniteValueWriter {
  Writer& w;
  bool Null() { return w.Null(); }
  bool Bool(bool b) { return w.Bool(b); }
  bool Int(int i) { return w.Int(i); }
  bool Uint(unsigned u) { return w.Uint(u); }
  bool Int64(std::int64_t i) { return w.Int64(i); }
  bool Uint64(std::uint64_t u) { return w.Uint64(u); }
  bool Double(double d) { return std::isfinite(d) ? w.Double(d) : w.Null(); }
  bool RawNumber(const char* s, rapidjson::SizeType n, bool copy) { return w.RawNumber(s, n, copy); }
  bool String(const char* s, rapidjson::SizeType n, bool copy) { return w.String(s, n, copy); }
  bool StartObject() { return w.StartObject(); }
  bool Key(const char* s, rapidjson::SizeType n, bool copy) { return w.Key(s, n, copy); }
  bool EndObject(rapidjson::SizeType n) { return w.EndObject(n); }
  bool StartArray() { return w.StartArray(); }
  bool EndArray(rapidjson::SizeType n) { return w.EndArray(n); }
};
// NOLINTEND(readability-identifier-naming)

void write_value(Writer& w, const rapidjson::Value& v) {
  FiniteValueWriter finite{w};
  v.Accept(finite);
}

// The text RapidJSON reads as the infinity of a number beyond a double's range. RapidJSON refuses
// such a number (kParseErrorNumberTooBig), failing the whole text; one in this form it takes, as
// its exponent is not above 308.
constexpr std::string_view kPositiveInfinity = "1.8e308";
constexpr std::string_view kNegativeInfinity = "-1.8e308";

// Whether Elasticsearch's float field would refuse the value as not finite: a number (or a numeric
// string, which it parses after trimming what Java's String.trim() trims) beyond a float's range.
bool overflows_float(const rapidjson::Value& v) {
  constexpr double kFirstInfinite = 0x1.ffffffp+127;  // FLT_MAX plus half an ulp: rounds to infinity
  std::optional<double> d;
  if (v.IsNumber()) {
    d = v.GetDouble();
  } else if (v.IsString()) {
    std::string_view s(v.GetString(), v.GetStringLength());
    while (!s.empty() && static_cast<unsigned char>(s.front()) <= 0x20) s.remove_prefix(1);
    while (!s.empty() && static_cast<unsigned char>(s.back()) <= 0x20) s.remove_suffix(1);
    d = decimal_number(s);
  }
  return d && std::fabs(*d) >= kFirstInfinite;
}

// meta_data.mature as a boolean (docs/documents.md): true, "true" (as Elasticsearch's boolean field
// reads it), a number other than 0 (which that field refuses; 1 means true), or an array holding
// one of them.
bool is_mature(const rapidjson::Value& v) {
  if (v.IsTrue()) return true;
  if (v.IsNumber()) return v.GetDouble() != 0;
  if (v.IsString()) return std::string_view(v.GetString(), v.GetStringLength()) == "true";
  if (v.IsArray()) {
    for (const auto& e : v.GetArray()) {
      if (is_mature(e)) return true;
    }
  }
  return false;
}

bool holds_object(const rapidjson::Value& v) {
  if (v.IsObject()) return true;
  if (v.IsArray()) {
    for (const auto& e : v.GetArray()) {
      if (holds_object(e)) return true;
    }
  }
  return false;
}

}  // namespace

double provider_authority(std::string_view provider) {
  for (const auto& e : kAuthority) {
    if (e.provider == provider) return e.boost;
  }
  return -1;
}

struct DocumentEncoder::Impl {
  explicit Impl(MediaKind k)
      : kind(k),
        columns(k == MediaKind::kImage ? col::kImageCount : col::kAudioCount),
        meta_alloc(meta_buffer.data(), meta_buffer.size()),
        tags_alloc(tags_buffer.data(), tags_buffer.size()),
        meta(&meta_alloc),
        tags(&tags_alloc) {}

  MediaKind kind;
  std::size_t columns;
  std::array<char, 32 * 1024> meta_buffer{};
  std::array<char, 32 * 1024> tags_buffer{};
  rapidjson::MemoryPoolAllocator<> meta_alloc;
  rapidjson::MemoryPoolAllocator<> tags_alloc;
  JsonDoc meta;
  JsonDoc tags;
  rapidjson::StringBuffer buffer;
  PythonLowercaser lowercaser;
  std::string scratch;
  std::string meta_text;
  std::string tags_text;
  std::string patched;

  // Parses jsonb text into `doc`, resetting its pool first; null or unparsable text gives a null value.
  // The text is parsed in place in `text`, a null-terminated copy kept until the next parse: its
  // strings are not copied again into the pool, and rapidjson's SIMD scanning applies. A number
  // beyond a double's range costs that value only: it is read as ±infinity, as Python's json reads
  // 1e400 (reread_wide_numbers()).
  void parse_json(JsonDoc& doc, rapidjson::MemoryPoolAllocator<>& alloc, std::string& text, const FieldView& f) {
    doc.SetNull();
    alloc.Clear();
    if (f.is_null) return;
    if (f.text.find('\0') != std::string_view::npos) return;  // not JSON: a NUL must not end the text early
    text.assign(f.text);
    doc.ParseInsitu(text.data());
    if (!doc.HasParseError()) return;
    if (doc.GetParseError() == rapidjson::kParseErrorNumberTooBig) {
      reread_wide_numbers(doc, alloc, text, f.text);
      if (!doc.HasParseError()) return;
    }
    doc.SetNull();
  }

  // Parses `original` again after each number RapidJSON refused as too big (the error's offset is
  // where it starts) is written as the text it reads as that infinity, until the text parses or
  // fails for another reason. Rows rarely hold such numbers, so the cost of a parse per number
  // stays off the hot path.
  void reread_wide_numbers(JsonDoc& doc, rapidjson::MemoryPoolAllocator<>& alloc, std::string& text,
                           std::string_view original) {
    patched.assign(original);
    while (doc.HasParseError() && doc.GetParseError() == rapidjson::kParseErrorNumberTooBig) {
      const std::size_t start = doc.GetErrorOffset();
      const std::size_t end = patched.find_first_not_of("+-0123456789.eE", start);
      const std::size_t length = (end == std::string::npos ? patched.size() : end) - start;
      auto value = json_number(std::string_view(patched).substr(start, length));
      if (!value || std::isfinite(*value)) return;  // not one we can read: the parse error stands
      patched.replace(start, length, *value > 0 ? kPositiveInfinity : kNegativeInfinity);
      doc.SetNull();
      alloc.Clear();
      text.assign(patched);
      doc.ParseInsitu(text.data());
    }
  }
};

DocumentEncoder::DocumentEncoder(MediaKind kind) : impl_(std::make_unique<Impl>(kind)) {}
DocumentEncoder::~DocumentEncoder() = default;

MediaKind DocumentEncoder::kind() const { return impl_->kind; }
std::size_t DocumentEncoder::column_count() const { return impl_->columns; }

RowOutcome DocumentEncoder::encode(std::span<const FieldView> row, std::string& out, std::int64_t& id) {
  auto& m = *impl_;
  if (row.size() != m.columns) {
    throw RowError("shard query returned " + std::to_string(row.size()) + " columns, the " +
                   std::string(media_kind_name(m.kind)) + " encoder expects " + std::to_string(m.columns));
  }
  if (row[col::kId].is_null) throw RowError("shard query returned a row without an id");
  id = parse_int(row[col::kId], "id");
  if (parse_bool(row[col::kDeleted])) return RowOutcome::kSkippedDeleted;
  if (parse_bool(row[col::kRemovedFromSource])) return RowOutcome::kSkippedRemoved;

  m.parse_json(m.meta, m.meta_alloc, m.meta_text, row[col::kMetaData]);
  m.parse_json(m.tags, m.tags_alloc, m.tags_text, row[col::kTags]);
  const bool meta_is_object = m.meta.IsObject();

  m.buffer.Clear();
  Writer w(m.buffer);
  w.StartObject();
  write_key(w, "id");
  w.Int64(id);
  write_key(w, "created_on");
  write_timestamp(w, row[col::kCreatedOn], m.scratch);

  bool mature = parse_bool(row[col::kMature]);
  if (!mature && meta_is_object) {
    auto it = m.meta.FindMember("mature");
    if (it != m.meta.MemberEnd()) mature = is_mature(it->value);
  }
  write_key(w, "mature");
  w.Bool(mature);

  write_key(w, "identifier");
  write_string_or_null(w, row[col::kIdentifier]);
  write_key(w, "license");
  if (row[col::kLicense].is_null) {
    w.Null();
  } else {
    auto lower = m.lowercaser.lower(row[col::kLicense].text);
    w.String(lower.data(), static_cast<rapidjson::SizeType>(lower.size()));
  }
  write_key(w, "provider");
  write_string_or_null(w, row[col::kProvider]);
  write_key(w, "source");
  write_string_or_null(w, row[col::kSource]);
  write_key(w, "category");
  write_string_or_null(w, row[col::kCategory]);
  write_key(w, "title");
  write_string_or_null(w, row[col::kTitle]);

  // description[:2000]: the first 2000 characters of a string, the first 2000 elements of a list
  // (unless one holds an object, which a text field refuses), else None.
  write_key(w, "description");
  const rapidjson::Value* description = nullptr;
  if (meta_is_object) {
    auto it = m.meta.FindMember("description");
    if (it != m.meta.MemberEnd()) description = &it->value;
  }
  if (description && description->IsString()) {
    auto cut = truncate_code_points(std::string_view(description->GetString(), description->GetStringLength()),
                                    kDescriptionMaxChars);
    w.String(cut.data(), static_cast<rapidjson::SizeType>(cut.size()));
  } else if (description && description->IsArray() && !holds_object(*description)) {
    w.StartArray();
    rapidjson::SizeType n = std::min<rapidjson::SizeType>(description->Size(), kDescriptionMaxChars);
    for (rapidjson::SizeType i = 0; i < n; ++i) write_value(w, (*description)[i]);
    w.EndArray();
  } else {
    w.Null();
  }

  write_key(w, "creator");
  write_string_or_null(w, row[col::kCreator]);
  write_key(w, "url");
  write_string_or_null(w, row[col::kUrl]);

  // Popularity and authority feed rank_feature fields, which must be positive: absent otherwise.
  std::optional<double> popularity;
  if (!row[col::kPopularity].is_null) {
    if (auto raw = parse_float8(row[col::kPopularity].text)) popularity = rank_feature(*raw * 100.0);
  }
  // A meta_data.authority_boost, whatever its value (null too), replaces the provider's.
  std::optional<double> authority;
  bool authority_in_meta = false;
  if (meta_is_object) {
    auto it = m.meta.FindMember("authority_boost");
    if (it != m.meta.MemberEnd()) {
      authority_in_meta = true;
      if (auto v = python_float_of(it->value)) authority = rank_feature(*v);
    }
  }
  if (!authority_in_meta && !row[col::kProvider].is_null) {
    double a = provider_authority(row[col::kProvider].text);
    if (a > 0) authority = a;
  }
  write_key(w, "standardized_popularity");
  if (popularity) w.Double(*popularity);
  else w.Null();
  write_key(w, "authority_boost");
  if (authority) w.Double(*authority);
  else w.Null();
  double pop_or_one = popularity.value_or(1.0);
  double auth_or_one = authority.value_or(1.0);
  write_key(w, "max_boost");
  w.Double(std::max(pop_or_one, auth_or_one));
  write_key(w, "min_boost");
  w.Double(std::min(pop_or_one, auth_or_one));

  write_key(w, "tags");
  w.StartArray();
  if (m.tags.IsArray()) {
    for (const auto& tag : m.tags.GetArray()) {
      if (!tag.IsObject()) continue;
      auto name = tag.FindMember("name");
      if (name == tag.MemberEnd()) continue;
      w.StartObject();
      write_key(w, "name");
      write_value(w, name->value);
      auto accuracy = tag.FindMember("accuracy");
      if (accuracy != tag.MemberEnd()) {
        // An accuracy the float field would refuse as infinite costs the tag its accuracy only.
        write_key(w, "accuracy");
        if (overflows_float(accuracy->value))
          w.Null();
        else
          write_value(w, accuracy->value);
      }
      w.EndObject();
    }
  }
  w.EndArray();

  const FieldView& url = row[col::kUrl];
  auto write_extension_of_url = [&] {
    if (url.is_null) {
      w.Null();
      return;
    }
    auto dot = url.text.rfind('.');
    std::string_view ext = dot == std::string_view::npos ? url.text : url.text.substr(dot + 1);
    if (ext.empty() || ext.find('/') != std::string_view::npos) {
      w.Null();
      return;
    }
    auto lower = m.lowercaser.lower(ext);
    w.String(lower.data(), static_cast<rapidjson::SizeType>(lower.size()));
  };

  if (m.kind == MediaKind::kImage) {
    const FieldView& wf = row[col::kWidth];
    const FieldView& hf = row[col::kHeight];
    write_key(w, "aspect_ratio");
    std::optional<std::int64_t> width, height;
    if (!wf.is_null) width = parse_int(wf, "width");
    if (!hf.is_null) height = parse_int(hf, "height");
    if (width && height) {
      w.String(*height > *width ? "tall" : (*height < *width ? "wide" : "square"));
    } else {
      w.Null();
    }
    write_key(w, "size");
    if (width && height) {
      std::int64_t pixels = *width * *height;
      w.String(pixels < 640 * 480 ? "small" : (pixels < 1600 * 900 ? "medium" : "large"));
    } else {
      w.Null();
    }
    write_key(w, "extension");
    write_extension_of_url();
  } else {
    write_key(w, "length");
    const FieldView& df = row[col::kDuration];
    std::int64_t ms = df.is_null ? 0 : parse_int(df, "duration");
    if (ms == 0) {  // `if not duration`: unknown and 0 alike
      w.Null();
    } else {
      w.String(ms < 30'000 ? "shortest" : (ms < 120'000 ? "short" : (ms < 600'000 ? "medium" : "long")));
    }
    write_key(w, "filetype");
    write_string_or_null(w, row[col::kFiletype]);
    write_key(w, "extension");
    m.parse_json(m.tags, m.tags_alloc, m.tags_text, row[col::kAltFiles]);  // tags were written; reuse the document
    if (m.tags.IsArray() && !m.tags.Empty()) {
      // One extension per alternative file; one without a filetype (the catalog raises) has the
      // row's, as has one whose filetype is an object, which a keyword field refuses.
      w.StartArray();
      for (const auto& alt : m.tags.GetArray()) {
        const rapidjson::Value* filetype = nullptr;
        if (alt.IsObject()) {
          auto ft = alt.FindMember("filetype");
          if (ft != alt.MemberEnd() && !ft->value.IsObject()) filetype = &ft->value;
        }
        if (filetype)
          write_value(w, *filetype);
        else
          write_string_or_null(w, row[col::kFiletype]);
      }
      w.EndArray();
    } else {
      write_string_or_null(w, row[col::kFiletype]);
    }
  }
  w.EndObject();
  out.append(m.buffer.GetString(), m.buffer.GetSize());
  return RowOutcome::kIndexed;
}

}  // namespace datarefresh::catalog
