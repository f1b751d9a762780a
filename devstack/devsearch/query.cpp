#include "devstack/devsearch/query.h"

#include <algorithm>
#include <cmath>

#include "devstack/devsearch/api_error.h"
#include "devstack/devsearch/java_number.h"

namespace datarefresh::devsearch {
namespace {

void collect(const nlohmann::json& node, const std::vector<std::string>& path, std::size_t depth,
             std::vector<const nlohmann::json*>& out) {
  if (node.is_array()) {
    for (const auto& e : node) collect(e, path, depth, out);
    return;
  }
  if (depth == path.size()) {
    if (!node.is_null()) out.push_back(&node);
    return;
  }
  if (!node.is_object()) return;
  auto it = node.find(path[depth]);
  if (it == node.end()) return;
  collect(*it, path, depth + 1, out);
}

std::vector<const nlohmann::json*> field_values(const Mapping::Resolved& r, const nlohmann::json& source) {
  std::vector<const nlohmann::json*> out;
  if (r.field != nullptr) collect(source, r.source_path, 0, out);
  return out;
}

std::string scalar_string(const nlohmann::json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_boolean()) return v.get<bool>() ? "true" : "false";
  return v.dump();
}

// A number, or a string holding one as Elasticsearch's Double.parseDouble reads it ("0.95\n"
// included), as indexed and as compared in queries.
std::optional<double> scalar_number(const nlohmann::json& v) {
  if (v.is_number()) return v.get<double>();
  if (v.is_string()) return java_parse_double(v.get_ref<const std::string&>());
  return std::nullopt;
}

std::optional<double> indexed_number(const FieldMapping& f, const nlohmann::json& v) {
  if (f.type == "date") {
    if (v.is_number()) return v.get<double>();
    if (v.is_string()) {
      auto ms = parse_date(v.get<std::string>());
      if (ms) return static_cast<double>(*ms);
    }
    return std::nullopt;
  }
  if (f.type == "boolean") {
    if (v.is_boolean()) return v.get<bool>() ? 1 : 0;
    if (v.is_string()) return v.get<std::string>() == "true" ? 1 : 0;
    return std::nullopt;
  }
  auto n = scalar_number(v);
  if (n && (f.type == "long" || f.type == "integer" || f.type == "short" || f.type == "byte")) return std::trunc(*n);
  return n;
}

bool term_matches(const FieldMapping& f, const std::map<std::string, Analyzer>& analyzers,
                  const std::vector<const nlohmann::json*>& values, const nlohmann::json& term) {
  if (f.type == "text") {
    std::string wanted = scalar_string(term);
    auto a = analyzers.find(f.analyzer);
    const Analyzer& analyzer = a == analyzers.end() ? analyzers.at("standard") : a->second;
    for (const auto* v : values) {
      for (const auto& token : analyzer.analyze(scalar_string(*v))) {
        if (token == wanted) return true;
      }
    }
    return false;
  }
  if (f.type == "keyword" || f.type == "ip" || f.type == "wildcard" || f.type == "constant_keyword") {
    std::string wanted = scalar_string(term);
    for (const auto* v : values) {
      std::string s = scalar_string(*v);
      if (f.ignore_above >= 0 && static_cast<int>(s.size()) > f.ignore_above) continue;
      if (s == wanted) return true;
    }
    return false;
  }
  FieldMapping probe = f;
  auto wanted = indexed_number(probe, term);
  if (!wanted) return false;
  for (const auto* v : values) {
    auto n = indexed_number(f, *v);
    if (n && *n == *wanted) return true;
  }
  return false;
}

const nlohmann::json& single_entry(const nlohmann::json& body, const std::string& query_name) {
  if (!body.is_object() || body.empty()) {
    throw parsing_error("[" + query_name + "] query malformed, no start_object after query name");
  }
  return body;
}

std::vector<nlohmann::json> clauses(const nlohmann::json& v) {
  if (v.is_array()) return std::vector<nlohmann::json>(v.begin(), v.end());
  return {v};
}

}  // namespace

void validate_query(const nlohmann::json& query) {
  if (!query.is_object() || query.size() != 1) {
    throw parsing_error("[_na] query malformed, must start with start_object");
  }
  auto type_entry = query.begin();
  const std::string& type = type_entry.key();
  const auto& body = type_entry.value();
  if (type == "match_all" || type == "match_none") return;
  if (type == "term" || type == "terms" || type == "match" || type == "exists" || type == "ids") {
    single_entry(body, type);
    if (type == "terms") {
      for (const auto& [field, values] : body.items()) {
        if (field == "boost") continue;
        if (!values.is_array()) throw parsing_error("[terms] query does not support [" + field + "]");
      }
    }
    return;
  }
  if (type == "bool") {
    if (!body.is_object()) throw parsing_error("[bool] query malformed, no start_object after query name");
    for (const auto& [key, value] : body.items()) {
      if (key == "must" || key == "filter" || key == "must_not" || key == "should") {
        for (const auto& c : clauses(value)) validate_query(c);
      } else if (key != "minimum_should_match" && key != "boost" && key != "_name") {
        throw parsing_error("[bool] query does not support [" + key + "]");
      }
    }
    return;
  }
  throw api_error(400, "parsing_exception", "unknown query [" + type + "]", {{"line", 1}, {"col", 1}},
                  error_object("named_object_not_found_exception",
                               "[1:1] unknown field [" + type + "]"));
}

bool query_matches(const nlohmann::json& query, const Mapping& mapping, const std::map<std::string, Analyzer>& analyzers,
                   const std::string& id, const nlohmann::json& source) {
  auto type_entry = query.begin();
  const std::string& type = type_entry.key();
  const auto& body = type_entry.value();
  if (type == "match_all") return true;
  if (type == "match_none") return false;
  if (type == "ids") {
    for (const auto& v : body.value("values", nlohmann::json::array())) {
      if (scalar_string(v) == id) return true;
    }
    return false;
  }
  if (type == "exists") {
    auto r = mapping.resolve(body.value("field", ""));
    return !field_values(r, source).empty();
  }
  if (type == "term" || type == "terms" || type == "match") {
    for (const auto& [field, spec] : body.items()) {
      if (field == "boost") continue;
      auto r = mapping.resolve(field);
      if (r.field == nullptr) return false;
      auto values = field_values(r, source);
      if (type == "term") {
        const nlohmann::json& term = spec.is_object() ? spec.value("value", nlohmann::json()) : spec;
        return term_matches(*r.field, analyzers, values, term);
      }
      if (type == "terms") {
        for (const auto& term : spec) {
          if (term_matches(*r.field, analyzers, values, term)) return true;
        }
        return false;
      }
      // match: OR over the analysed query tokens
      const nlohmann::json& text = spec.is_object() ? spec.value("query", nlohmann::json()) : spec;
      if (r.field->type != "text") return term_matches(*r.field, analyzers, values, text);
      auto a = analyzers.find(r.field->analyzer);
      const Analyzer& analyzer = a == analyzers.end() ? analyzers.at("standard") : a->second;
      for (const auto& token : analyzer.analyze(scalar_string(text))) {
        if (term_matches(*r.field, analyzers, values, token)) return true;
      }
      return false;
    }
    return false;
  }
  // bool
  bool has_positive = false;
  for (const char* key : {"must", "filter"}) {
    if (!body.contains(key)) continue;
    for (const auto& c : clauses(body[key])) {
      has_positive = true;
      if (!query_matches(c, mapping, analyzers, id, source)) return false;
    }
  }
  if (body.contains("must_not")) {
    for (const auto& c : clauses(body["must_not"])) {
      if (query_matches(c, mapping, analyzers, id, source)) return false;
    }
  }
  if (body.contains("should")) {
    auto should = clauses(body["should"]);
    int minimum = has_positive ? 0 : 1;
    if (body.contains("minimum_should_match")) {
      const auto& m = body["minimum_should_match"];
      minimum = m.is_number() ? m.get<int>() : std::atoi(m.get<std::string>().c_str());
    }
    int matched = 0;
    for (const auto& c : should) matched += query_matches(c, mapping, analyzers, id, source) ? 1 : 0;
    if (!should.empty() && matched < minimum) return false;
  }
  return true;
}

nlohmann::json sort_value(const Mapping& mapping, const std::string& field, const nlohmann::json& source, bool descending) {
  auto r = mapping.resolve(field);
  if (r.field == nullptr) return nullptr;
  auto values = field_values(r, source);
  nlohmann::json best = nullptr;
  bool numeric = r.field->type != "keyword" && r.field->type != "text";
  for (const auto* v : values) {
    nlohmann::json key;
    if (numeric) {
      auto n = indexed_number(*r.field, *v);
      if (!n) continue;
      bool integral = r.field->type == "long" || r.field->type == "integer" || r.field->type == "short" ||
                      r.field->type == "byte" || r.field->type == "date" || r.field->type == "boolean";
      key = integral ? nlohmann::json(static_cast<std::int64_t>(*n)) : nlohmann::json(*n);
    } else {
      key = scalar_string(*v);
    }
    if (best.is_null() || (descending ? key > best : key < best)) best = key;
  }
  return best;
}

bool check_terms_field(const Mapping& mapping, const std::string& field) {
  auto r = mapping.resolve(field);
  if (r.field == nullptr) return false;
  const auto& type = r.field->type;
  if (type == "text") {
    const std::string reason =
        "Text fields are not optimised for operations that require per-document field data like aggregations and "
        "sorting, so these operations are disabled by default. Please use a keyword field instead. Alternatively, set "
        "fielddata=true on [" +
        field +
        "] in order to load field data by uninverting the inverted index. Note that this can use significant memory.";
    nlohmann::ordered_json cause = {{"type", "illegal_argument_exception"}, {"reason", reason}};
    nlohmann::ordered_json body;
    body["error"]["root_cause"] = nlohmann::ordered_json::array({cause});
    body["error"]["type"] = "search_phase_execution_exception";
    body["error"]["reason"] = "all shards failed";
    body["error"]["phase"] = "query";
    body["error"]["grouped"] = true;
    body["error"]["failed_shards"] = nlohmann::ordered_json::array({{{"shard", 0}, {"reason", cause}}});
    body["error"]["caused_by"] = cause;
    body["status"] = 400;
    throw ApiError{400, body};
  }
  if (r.field->is_object()) {
    throw illegal_argument("Field [" + field + "] of type [object] is not supported for aggregation [terms]");
  }
  const bool supported = type == "keyword" || type == "boolean" || r.field->kind == FieldKind::kInteger ||
                         r.field->kind == FieldKind::kFloat;
  if (!supported) {
    throw illegal_argument("devsearch supports terms aggregations on keyword, numeric and boolean fields only; [" +
                           field + "] is of type [" + type + "]");
  }
  return true;
}

std::vector<nlohmann::json> terms_keys(const Mapping& mapping, const std::string& field, const nlohmann::json& source) {
  auto r = mapping.resolve(field);
  std::vector<nlohmann::json> out;
  if (r.field == nullptr) return out;
  for (const auto* v : field_values(r, source)) {
    if (v->is_null()) continue;
    nlohmann::json key;
    if (r.field->type == "keyword") {
      std::string s = scalar_string(*v);
      if (r.field->ignore_above >= 0 && s.size() > static_cast<std::size_t>(r.field->ignore_above)) continue;
      key = std::move(s);
    } else {
      auto n = indexed_number(*r.field, *v);
      if (!n) continue;
      if (r.field->kind == FieldKind::kFloat)
        key = *n;
      else
        key = static_cast<std::int64_t>(*n);
    }
    if (std::find(out.begin(), out.end(), key) == out.end()) out.push_back(std::move(key));
  }
  return out;
}

}  // namespace datarefresh::devsearch
