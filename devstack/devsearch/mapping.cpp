#include "devstack/devsearch/mapping.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <set>
#include <string_view>

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "devstack/devsearch/api_error.h"
#include "devstack/devsearch/java_number.h"

namespace datarefresh::devsearch {
namespace {

const std::set<std::string>& known_types() {
  static const std::set<std::string> types = {
      "text",    "keyword", "long",    "integer", "short",        "byte",          "double",   "float",
      "half_float", "scaled_float", "date", "boolean", "rank_feature", "rank_features", "object", "nested",
      "ip",      "binary",  "unsigned_long", "wildcard", "constant_keyword", "flattened", "date_nanos"};
  return types;
}

bool is_integer_type(const std::string& t) { return t == "long" || t == "integer" || t == "short" || t == "byte"; }
bool is_float_type(const std::string& t) {
  return t == "double" || t == "float" || t == "half_float" || t == "scaled_float";
}

}  // namespace

void FieldMapping::set_type(std::string t) {
  type = std::move(t);
  if (type == "object" || type == "nested") {
    kind = FieldKind::kObject;
  } else if (is_integer_type(type)) {
    kind = FieldKind::kInteger;
  } else if (is_float_type(type)) {
    kind = FieldKind::kFloat;
  } else if (type == "date") {
    kind = FieldKind::kDate;
  } else if (type == "boolean") {
    kind = FieldKind::kBoolean;
  } else if (type == "rank_feature") {
    kind = FieldKind::kRankFeature;
  } else {
    kind = FieldKind::kOther;
  }
}

namespace {

FieldMapping parse_field(const std::string& path, const nlohmann::json& def, const std::vector<std::string>& analyzers) {
  if (!def.is_object()) {
    throw api_error(400, "mapper_parsing_exception",
                    "Expected map for property [fields] on field [" + path + "] but got a class java.lang.String");
  }
  FieldMapping f;
  f.original = def;
  f.set_type(def.contains("type") ? def["type"].get<std::string>() : "object");
  if (known_types().count(f.type) == 0) {
    throw api_error(400, "mapper_parsing_exception",
                    "Failed to parse mapping [_doc]: No handler for type [" + f.type + "] declared on field [" + path + "]",
                    nlohmann::ordered_json::object(),
                    error_object("mapper_parsing_exception",
                                 "No handler for type [" + f.type + "] declared on field [" + path + "]"));
  }
  if (f.type == "text") {
    f.analyzer = def.value("analyzer", "standard");
    if (std::find(analyzers.begin(), analyzers.end(), f.analyzer) == analyzers.end()) {
      throw api_error(400, "mapper_parsing_exception",
                      "Failed to parse mapping [_doc]: analyzer [" + f.analyzer + "] has not been configured in mappings",
                      nlohmann::ordered_json::object(),
                      error_object("mapper_parsing_exception",
                                   "analyzer [" + f.analyzer + "] has not been configured in mappings"));
    }
  }
  if (f.type == "keyword") f.ignore_above = def.value("ignore_above", -1);
  if (def.contains("properties")) {
    if (!f.is_object()) {
      throw api_error(400, "mapper_parsing_exception",
                      "Failed to parse mapping [_doc]: Mapping definition for [" + path +
                          "] has unsupported parameters:  [properties]");
    }
    for (const auto& [name, child] : def["properties"].items()) {
      f.properties[name] = parse_field(path + "." + name, child, analyzers);
    }
  }
  if (def.contains("fields")) {
    for (const auto& [name, child] : def["fields"].items()) {
      f.fields[name] = parse_field(path + "." + name, child, analyzers);
    }
  }
  return f;
}

std::string preview(const rapidjson::Value& v) {
  if (v.IsString()) return std::string(v.GetString(), v.GetStringLength());
  if (v.IsObject()) return "{...}";
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  v.Accept(w);
  return buf.GetString();
}

// Java's text of a float or double value, for the "finite values" messages.
std::string java_text(double d) {
  if (std::isnan(d)) return "NaN";
  return d > 0 ? "Infinity" : "-Infinity";
}

// NumberFormatException's message for Float/Double.parseFloat/parseDouble: the trimmed text.
nlohmann::ordered_json number_format(std::string_view text) {
  while (!text.empty() && static_cast<unsigned char>(text.front()) <= 0x20) text.remove_prefix(1);
  while (!text.empty() && static_cast<unsigned char>(text.back()) <= 0x20) text.remove_suffix(1);
  return error_object("number_format_exception",
                      text.empty() ? std::string("empty String") : "For input string: \"" + std::string(text) + "\"");
}

// Why a numeric field refuses a number given as a string, as Elasticsearch parses it for the type
// (AbstractXContentParser): long through Long.parseLong and BigDecimal (no whitespace trimmed);
// integer, short and byte through Double.parseDouble and a range check; float, half_float,
// double and scaled_float through Float/Double.parseFloat/parseDouble (which trim characters up
// to U+0020), infinite values and NaN refused.
std::optional<nlohmann::ordered_json> numeric_string_problem(const std::string& t, std::string_view text) {
  const std::string shown(text);
  if (t == "long") {
    auto l = elasticsearch_string_to_long(text);
    if (l.problem == JavaLong::Problem::kNotANumber) {
      return error_object("illegal_argument_exception", "For input string: \"" + shown + "\"");
    }
    if (l.problem == JavaLong::Problem::kOutOfRange) {
      return error_object("illegal_argument_exception", "Value [" + shown + "] is out of range for a long");
    }
    return std::nullopt;
  }
  if (t == "integer" || t == "short" || t == "byte") {
    auto d = java_parse_double(text);
    if (!d) return number_format(text);
    const double limit = t == "integer" ? 2147483647.0 : t == "short" ? 32767.0 : 127.0;
    if (*d < -limit - 1 || *d > limit) {
      return error_object("illegal_argument_exception",
                          "Value [" + shown + "] is out of range for " + (t == "integer" ? "an " : "a ") + t);
    }
    return std::nullopt;
  }
  if (t == "float" || t == "half_float") {
    auto f = java_parse_float(text);
    if (!f) return number_format(text);
    // A half float's largest finite value is 65504; from 65520 on it rounds to infinity.
    if (!std::isfinite(*f) || (t == "half_float" && std::fabs(*f) >= 65520.0F)) {
      return error_object("illegal_argument_exception", "[" + t + "] supports only finite values, but got [" +
                                                            (std::isfinite(*f) ? std::to_string(*f) : java_text(*f)) +
                                                            "]");
    }
    return std::nullopt;
  }
  auto d = java_parse_double(text);  // double, scaled_float
  if (!d) return number_format(text);
  if (!std::isfinite(*d)) {
    return error_object("illegal_argument_exception", "[" + t + "] " +
                                                          (t == "double" ? "supports only" : "only supports") +
                                                          " finite values, but got [" + java_text(*d) + "]");
  }
  return std::nullopt;
}

// Why one value does not fit a leaf type, as the caused_by object; nullopt when it fits.
// `path` gives the field's dotted path; it is called only to word an error.
template <class PathFn>
std::optional<nlohmann::ordered_json> leaf_problem(const FieldMapping& f, const PathFn& path, const rapidjson::Value& v) {
  const std::string& t = f.type;
  if (v.IsObject()) {
    return error_object("illegal_argument_exception", "Can't get text on a START_OBJECT at 1:1");
  }
  if (f.kind == FieldKind::kInteger || f.kind == FieldKind::kFloat) {
    if (v.IsString()) return numeric_string_problem(t, std::string_view(v.GetString(), v.GetStringLength()));
    if (!v.IsNumber()) {
      if (v.IsBool()) {
        return error_object("json_parse_exception", "Current token (VALUE_" + std::string(v.GetBool() ? "TRUE" : "FALSE") +
                                                        ") not numeric, can not use numeric value accessors");
      }
      return error_object("number_format_exception", "For input string: \"" + preview(v) + "\"");
    }
    const double n = v.GetDouble();
    if (t == "float" && std::fabs(n) >= 0x1.ffffffp+127) {  // rounds to a float's infinity
      return error_object("illegal_argument_exception", std::string("[float] supports only finite values, but got [") +
                                                            (n > 0 ? "Infinity" : "-Infinity") + "]");
    }
    double limit = t == "long" ? 9.223372036854775807e18 : t == "integer" ? 2147483648.0 : t == "short" ? 32768.0 : 128.0;
    if (f.kind == FieldKind::kInteger && (n >= limit || n < -limit)) {
      return error_object("illegal_argument_exception", "Value [" + preview(v) + "] is out of range for " +
                                                            (t == "integer" ? "an " : "a ") + t);
    }
    return std::nullopt;
  }
  if (f.kind == FieldKind::kDate) {
    bool ok = false;
    if (v.IsNumber()) ok = true;
    if (v.IsString()) ok = parse_date(std::string_view(v.GetString(), v.GetStringLength())).has_value();
    if (ok) return std::nullopt;
    return error_object("illegal_argument_exception",
                        "failed to parse date field [" + preview(v) + "] with format [strict_date_optional_time||epoch_millis]",
                        error_object("date_time_parse_exception", "Failed to parse with all enclosed parsers"));
  }
  if (f.kind == FieldKind::kBoolean) {
    if (v.IsBool()) return std::nullopt;
    if (v.IsString()) {
      std::string s(v.GetString(), v.GetStringLength());
      if (s == "true" || s == "false" || s.empty()) return std::nullopt;
    }
    return error_object("illegal_argument_exception",
                        "Failed to parse value [" + preview(v) + "] as only [true] or [false] are allowed.");
  }
  if (f.kind == FieldKind::kRankFeature) {
    // Float.parseFloat for a string (trimmed as Java trims), a number's float value otherwise.
    std::optional<float> n;
    if (v.IsString())
      n = java_parse_float(std::string_view(v.GetString(), v.GetStringLength()));
    else if (v.IsNumber())
      n = std::fabs(v.GetDouble()) >= 0x1.ffffffp+127 ? std::numeric_limits<float>::infinity()
                                                      : static_cast<float>(v.GetDouble());
    if (!n) return error_object("number_format_exception", "For input string: \"" + preview(v) + "\"");
    auto fv = *n;
    if (!(fv >= 1.17549435e-38F) || !std::isfinite(fv)) {
      return error_object("illegal_argument_exception",
                          "featureValue must be a positive normal float, got: " + preview(v) + " for feature: " + path() +
                              " which is less than the minimum positive normal float: 1.17549435E-38");
    }
    return std::nullopt;
  }
  return std::nullopt;  // text, keyword and the rest take any scalar
}

FieldMapping infer(const rapidjson::Value& v) {
  FieldMapping f;
  if (v.IsObject()) {
    f.set_type("object");
    return f;
  }
  if (v.IsBool()) {
    f.set_type("boolean");
  } else if (v.IsInt64() || v.IsUint64()) {
    f.set_type("long");
  } else if (v.IsNumber()) {
    f.set_type("float");
  } else if (v.IsString() && parse_date(std::string_view(v.GetString(), v.GetStringLength()))) {
    f.set_type("date");
  } else {
    f.set_type("text");
    FieldMapping kw;
    kw.set_type("keyword");
    kw.ignore_above = 256;
    kw.original = {{"type", "keyword"}, {"ignore_above", 256}};
    f.fields["keyword"] = kw;
    f.original = {{"type", "text"}, {"fields", {{"keyword", kw.original}}}};
    return f;
  }
  f.original = {{"type", f.type}};
  return f;
}

nlohmann::json field_to_json(const FieldMapping& f) {
  if (!f.is_object()) return f.original;
  nlohmann::json out = nlohmann::json::object();
  if (f.type == "nested") out["type"] = "nested";
  if (!f.properties.empty()) {
    for (const auto& [name, child] : f.properties) out["properties"][name] = field_to_json(child);
  }
  return out;
}

void merge_field(FieldMapping& into, const FieldMapping& from) {
  for (const auto& [name, child] : from.properties) {
    auto it = into.properties.find(name);
    if (it == into.properties.end()) {
      into.properties[name] = child;
    } else {
      merge_field(it->second, child);
    }
  }
}

int digits(std::string_view s, std::size_t& i, std::size_t n) {
  if (i + n > s.size()) return -1;
  int v = 0;
  for (std::size_t k = 0; k < n; ++k) {
    char c = s[i + k];
    if (c < '0' || c > '9') return -1;
    v = v * 10 + (c - '0');
  }
  i += n;
  return v;
}

std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

}  // namespace

std::optional<std::int64_t> parse_date(std::string_view s) {
  if (s.empty()) return std::nullopt;
  // epoch_millis
  bool all_digits = std::all_of(s.begin() + (s[0] == '-' ? 1 : 0), s.end(), [](char c) { return c >= '0' && c <= '9'; });
  if (all_digits && s.size() > (s[0] == '-' ? 1u : 0u) && s.size() != 4) {
    return std::strtoll(std::string(s).c_str(), nullptr, 10);
  }
  std::size_t i = 0;
  int year = digits(s, i, 4);
  if (year < 0) return std::nullopt;
  int month = 1, day = 1, hour = 0, minute = 0, second = 0, millis = 0, offset_minutes = 0;
  if (i < s.size() && s[i] == '-') {
    ++i;
    if ((month = digits(s, i, 2)) < 1 || month > 12) return std::nullopt;
    if (i < s.size() && s[i] == '-') {
      ++i;
      if ((day = digits(s, i, 2)) < 1 || day > 31) return std::nullopt;
    }
  }
  if (i < s.size() && s[i] == 'T') {
    ++i;
    if ((hour = digits(s, i, 2)) < 0 || hour > 23) return std::nullopt;
    if (i < s.size() && s[i] == ':') {
      ++i;
      if ((minute = digits(s, i, 2)) < 0 || minute > 59) return std::nullopt;
      if (i < s.size() && s[i] == ':') {
        ++i;
        if ((second = digits(s, i, 2)) < 0 || second > 59) return std::nullopt;
        if (i < s.size() && (s[i] == '.' || s[i] == ',')) {
          ++i;
          std::size_t start = i;
          int scale = 100;
          while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
            if (scale > 0) millis += (s[i] - '0') * scale;
            scale /= 10;
            ++i;
          }
          if (i == start || i - start > 9) return std::nullopt;
        }
      }
    }
    if (i < s.size()) {
      if (s[i] == 'Z') {
        ++i;
      } else if (s[i] == '+' || s[i] == '-') {
        int sign = s[i] == '-' ? -1 : 1;
        ++i;
        int oh = digits(s, i, 2);
        if (oh < 0 || oh > 18) return std::nullopt;
        int om = 0;
        if (i < s.size() && s[i] == ':') ++i;
        if (i < s.size()) om = digits(s, i, 2);
        if (om < 0 || om > 59) return std::nullopt;
        offset_minutes = sign * (oh * 60 + om);
      }
    }
  }
  if (i != s.size()) return std::nullopt;
  std::int64_t days = days_from_civil(year, static_cast<unsigned>(month), static_cast<unsigned>(day));
  return ((days * 24 + hour) * 60 + minute - offset_minutes) * 60000LL + second * 1000LL + millis;
}

Mapping Mapping::parse(const nlohmann::json& mappings, const std::vector<std::string>& analyzers) {
  Mapping m;
  if (mappings.is_null()) return m;
  if (!mappings.is_object()) throw api_error(400, "mapper_parsing_exception", "Failed to parse mapping [_doc]: expected a map");
  nlohmann::json body = mappings;
  if (body.size() == 1 && body.contains("_doc")) body = body["_doc"];
  if (body.contains("dynamic")) {
    const auto& d = body["dynamic"];
    m.dynamic_ = d.is_boolean() ? (d.get<bool>() ? "true" : "false") : d.get<std::string>();
    if (m.dynamic_ != "true" && m.dynamic_ != "false" && m.dynamic_ != "strict") {
      throw api_error(400, "mapper_parsing_exception",
                      "Failed to parse mapping [_doc]: Could not convert [dynamic] to boolean");
    }
  }
  for (const auto& [key, value] : body.items()) {
    if (key == "dynamic" || key == "_source" || key == "properties" || key == "_meta" || key == "date_detection" ||
        key == "dynamic_templates" || key == "_routing") {
      continue;
    }
    throw api_error(400, "mapper_parsing_exception",
                    "Failed to parse mapping [_doc]: Root mapping definition has unsupported parameters:  [" + key +
                        " : " + value.dump() + "]");
  }
  if (body.contains("properties")) {
    for (const auto& [name, def] : body["properties"].items()) {
      m.root_.properties[name] = parse_field(name, def, analyzers);
    }
  }
  return m;
}

Mapping Mapping::dynamic_default() { return Mapping{}; }

const FieldMapping* FieldLookupCache::find(const FieldMapping& parent, std::string_view name) {
  // Where the entry for (parent, name) would be: cheap to compute, and two of a document's
  // members rarely meet in one slot.
  std::size_t h = (reinterpret_cast<std::uintptr_t>(&parent) >> 4) ^ (name.size() * 0x9E37u);
  if (!name.empty()) h ^= static_cast<unsigned char>(name.front()) * 131u ^ static_cast<unsigned char>(name.back()) * 7u;
  Entry& e = entries_[h % entries_.size()];
  if (e.parent == &parent && *e.name == name) return e.child;
  auto it = parent.properties.find(name);
  if (it == parent.properties.end()) return nullptr;
  e = Entry{&parent, &it->first, &it->second};
  return &it->second;
}

std::optional<nlohmann::ordered_json> Mapping::check(const rapidjson::Value& source, const std::string& id,
                                                     Mapping& additions, FieldLookupCache* cache) const {
  if (!source.IsObject()) {
    return error_object("mapper_parsing_exception", "failed to parse",
                        error_object("not_x_content_exception",
                                     "Compressor detection can only be called on some xcontent bytes or compressed "
                                     "xcontent bytes"));
  }
  return check_object(source, root_, "", id, additions.root_, cache);
}

std::optional<nlohmann::ordered_json> Mapping::check_object(const rapidjson::Value& object, const FieldMapping& mapping,
                                                            const std::string& prefix, const std::string& id,
                                                            FieldMapping& additions, FieldLookupCache* cache) const {
  // Runs once per member of every indexed document: no allocation unless a field is new, nested
  // or wrong. `additions` receives only fields the mapping lacks, so that an empty result leaves
  // the index's mapping (and every other verdict checked against it) alone.
  std::vector<const rapidjson::Value*> values;
  std::vector<const rapidjson::Value*> stack;
  for (auto m = object.MemberBegin(); m != object.MemberEnd(); ++m) {
    const std::string_view name(m->name.GetString(), m->name.GetStringLength());
    auto path = [&] { return prefix.empty() ? std::string(name) : prefix + "." + std::string(name); };
    const rapidjson::Value& value = m->value;
    const FieldMapping* field = nullptr;
    FieldMapping* added = nullptr;  // this field's entry in `additions`, if it has one
    const FieldMapping* mapped = nullptr;
    if (cache != nullptr) {
      mapped = cache->find(mapping, name);
    } else if (auto it = mapping.properties.find(name); it != mapping.properties.end()) {
      mapped = &it->second;
    }
    if (mapped != nullptr) {
      field = mapped;
      if (auto ad = additions.properties.find(name); ad != additions.properties.end()) added = &ad->second;
    } else if (auto ad = additions.properties.find(name); ad != additions.properties.end()) {
      field = added = &ad->second;
    } else {
      if (value.IsNull()) continue;
      if (dynamic_ == "false") continue;
      if (dynamic_ == "strict") {
        return error_object("strict_dynamic_mapping_exception",
                            "mapping set to strict, dynamic introduction of [" + std::string(name) + "] within [" +
                                (prefix.empty() ? "_doc" : prefix) + "] is not allowed");
      }
      const rapidjson::Value* sample = &value;
      while (sample->IsArray()) {
        if (sample->Empty()) break;
        sample = &(*sample)[0];
      }
      if (sample->IsArray() || sample->IsNull()) continue;
      field = added = &(additions.properties[std::string(name)] = infer(*sample));
    }
    // The values to check: the value itself, or an array's (arrays') elements, nulls skipped.
    values.clear();
    if (!value.IsArray()) {
      if (!value.IsNull()) values.push_back(&value);
    } else {
      stack.assign(1, &value);
      while (!stack.empty()) {
        const rapidjson::Value* v = stack.back();
        stack.pop_back();
        if (v->IsArray()) {
          for (auto e = v->End(); e != v->Begin();) stack.push_back(&*--e);
        } else if (!v->IsNull()) {
          values.push_back(v);
        }
      }
    }
    if (field->is_object()) {
      // New sub-fields go to this field's additions entry, created only if there are any.
      FieldMapping fresh;
      FieldMapping& child_additions = added != nullptr ? *added : fresh;
      const std::string child_prefix = path();
      for (const auto* v : values) {
        if (!v->IsObject()) {
          return error_object("mapper_parsing_exception", "object mapping for [" + child_prefix +
                                                              "] tried to parse field [" + std::string(name) +
                                                              "] as object, but found a concrete value");
        }
        // The cache only ever points into the mapping checked against, never into additions.
        if (auto err = check_object(*v, *field, child_prefix, id, child_additions, field == mapped ? cache : nullptr)) {
          return err;
        }
      }
      if (added == nullptr && !fresh.properties.empty()) {
        additions.properties.emplace(std::string(name), std::move(fresh));
      }
      continue;
    }
    if (field->kind == FieldKind::kRankFeature && values.size() > 1) {
      return error_object("mapper_parsing_exception",
                          "failed to parse field [" + path() + "] of type [rank_feature] in document with id '" + id +
                              "'",
                          error_object("illegal_argument_exception",
                                       "[rank_feature] fields do not support indexing multiple values for the same field [" +
                                           path() + "] in the same document"));
    }
    for (const auto* v : values) {
      if (auto problem = leaf_problem(*field, path, *v)) {
        return error_object("mapper_parsing_exception",
                            "failed to parse field [" + path() + "] of type [" + field->type +
                                "] in document with id '" + id + "'. Preview of field's value: '" + preview(*v) + "'",
                            *problem);
      }
    }
  }
  return std::nullopt;
}

void Mapping::merge(const Mapping& additions) { merge_field(root_, additions.root_); }

Mapping::Resolved Mapping::resolve(std::string_view path) const {
  Resolved r;
  const FieldMapping* node = &root_;
  std::size_t start = 0;
  while (start <= path.size()) {
    std::size_t dot = path.find('.', start);
    std::string seg(path.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start));
    if (node->is_object()) {
      auto it = node->properties.find(seg);
      if (it == node->properties.end()) return {};
      node = &it->second;
      r.source_path.push_back(seg);
    } else {
      auto it = node->fields.find(seg);
      if (it == node->fields.end()) return {};
      node = &it->second;
    }
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  if (node->is_object()) return {};
  r.field = node;
  return r;
}

nlohmann::json Mapping::to_json() const {
  nlohmann::json out = nlohmann::json::object();
  if (dynamic_ != "true") out["dynamic"] = dynamic_;
  if (!root_.properties.empty()) {
    for (const auto& [name, child] : root_.properties) out["properties"][name] = field_to_json(child);
  }
  return out;
}

}  // namespace datarefresh::devsearch
