#include "core/catalog/document_encoder.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <cstdlib>

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

namespace datarefresh::catalog {
namespace {

constexpr std::size_t kDescriptionMaxChars = 2000;

struct AuthorityEntry {
  std::string_view provider;
  double boost;
};

constexpr std::array<AuthorityEntry, 16> kAuthority = {{
    {"thorvaldsensmuseum", 90}, {"svgsilh", 90},      {"smithsonian", 90},    {"rijksmuseum", 90},
    {"museumsvictoria", 90},    {"met", 90},          {"mccordsmuseum", 90},  {"digitaltmuseum", 90},
    {"clevelandmuseum", 90},    {"brooklynmuseum", 90}, {"stocksnap", 85},    {"flickr", 75},
    {"behance", 75},            {"thingiverse", 75},  {"sketchfab", 75},      {"deviantart", 75},
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

std::optional<double> parse_double(std::string_view text) {
  double v = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || p != text.data() + text.size() || !std::isfinite(v)) return std::nullopt;
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

// "2022-01-01 00:00:00+00" (PostgreSQL, session time zone UTC) -> "2022-01-01T00:00:00+00:00" (ISO 8601).
void write_timestamp(Writer& w, const FieldView& f, std::string& scratch) {
  if (f.is_null) {
    w.Null();
    return;
  }
  scratch.assign(f.text);
  if (auto sp = scratch.find(' '); sp != std::string::npos) scratch[sp] = 'T';
  if (scratch.size() >= 3) {
    char sign = scratch[scratch.size() - 3];
    if (sign == '+' || sign == '-') scratch += ":00";
  }
  w.String(scratch.data(), static_cast<rapidjson::SizeType>(scratch.size()));
}

// The catalog's float() of a meta_data value: numbers, and strings that parse as a number.
std::optional<double> json_to_float(const rapidjson::Value& v) {
  if (v.IsNumber()) {
    double d = v.GetDouble();
    return std::isfinite(d) ? std::optional<double>(d) : std::nullopt;
  }
  if (v.IsString()) {
    std::string_view s(v.GetString(), v.GetStringLength());
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
    if (!s.empty() && s.front() == '+') s.remove_prefix(1);
    return parse_double(s);
  }
  return std::nullopt;
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
  std::string scratch;
  std::string meta_text;
  std::string tags_text;

  // Parses jsonb text into `doc`, resetting its pool first; null or unparsable text gives a null value.
  // The text is parsed in place in `text`, a null-terminated copy kept until the next parse: its
  // strings are not copied again into the pool, and rapidjson's SIMD scanning applies.
  void parse_json(JsonDoc& doc, rapidjson::MemoryPoolAllocator<>& alloc, std::string& text, const FieldView& f) {
    doc.SetNull();
    alloc.Clear();
    if (f.is_null) return;
    if (f.text.find('\0') != std::string_view::npos) return;  // not JSON: a NUL must not end the text early
    text.assign(f.text);
    doc.ParseInsitu(text.data());
    if (doc.HasParseError()) doc.SetNull();
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
    if (it != m.meta.MemberEnd()) {
      const auto& v = it->value;
      mature = v.IsTrue() || (v.IsString() && std::string_view(v.GetString(), v.GetStringLength()) == "true");
    }
  }
  write_key(w, "mature");
  w.Bool(mature);

  write_key(w, "identifier");
  write_string_or_null(w, row[col::kIdentifier]);
  write_key(w, "license");
  if (row[col::kLicense].is_null) {
    w.Null();
  } else {
    m.scratch.assign(row[col::kLicense].text);
    std::transform(m.scratch.begin(), m.scratch.end(), m.scratch.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    w.String(m.scratch.data(), static_cast<rapidjson::SizeType>(m.scratch.size()));
  }
  write_key(w, "provider");
  write_string_or_null(w, row[col::kProvider]);
  write_key(w, "source");
  write_string_or_null(w, row[col::kSource]);
  write_key(w, "category");
  write_string_or_null(w, row[col::kCategory]);
  write_key(w, "title");
  write_string_or_null(w, row[col::kTitle]);

  write_key(w, "description");
  const rapidjson::Value* description = nullptr;
  if (meta_is_object) {
    auto it = m.meta.FindMember("description");
    if (it != m.meta.MemberEnd() && it->value.IsString()) description = &it->value;
  }
  if (description) {
    auto cut = truncate_code_points(std::string_view(description->GetString(), description->GetStringLength()),
                                    kDescriptionMaxChars);
    w.String(cut.data(), static_cast<rapidjson::SizeType>(cut.size()));
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
    if (auto raw = parse_double(row[col::kPopularity].text)) {
      double p = std::clamp(*raw * 100.0, 0.0, 100.0);
      if (p > 0) popularity = p;
    }
  }
  std::optional<double> authority;
  bool authority_in_meta = false;
  if (meta_is_object) {
    auto it = m.meta.FindMember("authority_boost");
    if (it != m.meta.MemberEnd() && !it->value.IsNull()) {
      authority_in_meta = true;
      if (auto v = json_to_float(it->value)) {
        double a = std::clamp(*v, 0.0, 100.0);
        if (a > 0) authority = a;
      }
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
      name->value.Accept(w);
      auto accuracy = tag.FindMember("accuracy");
      if (accuracy != tag.MemberEnd()) {
        write_key(w, "accuracy");
        accuracy->value.Accept(w);
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
    m.scratch.assign(ext);
    std::transform(m.scratch.begin(), m.scratch.end(), m.scratch.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    w.String(m.scratch.data(), static_cast<rapidjson::SizeType>(m.scratch.size()));
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
    if (df.is_null) {
      w.Null();
    } else {
      std::int64_t ms = parse_int(df, "duration");
      w.String(ms < 30'000 ? "shortest" : (ms < 120'000 ? "short" : (ms < 600'000 ? "medium" : "long")));
    }
    write_key(w, "filetype");
    write_string_or_null(w, row[col::kFiletype]);
    write_key(w, "extension");
    m.parse_json(m.tags, m.tags_alloc, m.tags_text, row[col::kAltFiles]);  // tags were written; reuse the document
    if (m.tags.IsArray() && !m.tags.Empty()) {
      w.StartArray();
      for (const auto& alt : m.tags.GetArray()) {
        if (!alt.IsObject()) continue;
        auto ft = alt.FindMember("filetype");
        if (ft != alt.MemberEnd()) ft->value.Accept(w);
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
