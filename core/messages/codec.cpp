#include "core/messages/codec.h"

#include <cctype>
#include <cstdint>
#include <limits>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace datarefresh::messages {

using nlohmann::json;

std::string shard_job_key(const RefreshId& refresh_id, ShardNumber shard) {
  return refresh_id.value() + "/" + std::to_string(shard.value());
}

std::string event_key(const Event& event) {
  return std::visit(
      [](const auto& e) -> std::string {
        if constexpr (requires { e.refresh_id.value(); }) {
          return e.refresh_id.value();
        } else {
          return "";
        }
      },
      event);
}

void set_payload(DeadLetter& letter, std::string_view payload) {
  letter.payload_bytes = static_cast<std::int64_t>(payload.size());
  if (payload.size() <= kMaxDeadLetterPayloadBytes) {
    letter.payload = std::string(payload);
    letter.payload_truncated = false;
    return;
  }
  std::size_t cut = kMaxDeadLetterPayloadBytes;
  // Step back over UTF-8 continuation bytes so the cut never splits a character.
  while (cut > 0 && (static_cast<unsigned char>(payload[cut]) & 0xC0) == 0x80) --cut;
  letter.payload = std::string(payload.substr(0, cut));
  letter.payload_truncated = true;
}

namespace {

// --- encoding ----------------------------------------------------------------------------------

template <class T>
json header() {
  return json{{"type", T::kType}, {"version", kVersion}};
}

json optional_json(const std::optional<std::string>& v) { return v ? json(*v) : json(nullptr); }
json optional_json(const std::optional<std::int64_t>& v) { return v ? json(*v) : json(nullptr); }
json optional_json(const std::optional<RefreshId>& v) { return v ? json(v->value()) : json(nullptr); }

json to_json_value(const RefreshRequested& m) {
  json j = header<RefreshRequested>();
  j["request_id"] = m.request_id;
  j["media_type"] = m.media_type;
  j["options"] = {{"requested_by", m.options.requested_by}};
  if (m.options.row_limit) j["options"]["row_limit"] = *m.options.row_limit;
  if (m.options.mode != "full") j["options"]["mode"] = m.options.mode;
  if (m.options.sample_percent) j["options"]["sample"] = {{"percent", *m.options.sample_percent}};
  if (m.options.sample_rows) j["options"]["sample"] = {{"rows", *m.options.sample_rows}};
  if (m.options.mode == "sample") j["options"]["sample_by"] = m.options.sample_by;
  j["requested_at"] = format_timestamp(m.requested_at);
  return j;
}

json to_json_value(const RefreshPlanned& m) {
  json j = header<RefreshPlanned>();
  j["refresh_id"] = m.refresh_id.value();
  j["request_id"] = m.request_id;
  j["media_type"] = m.media_type;
  j["environment"] = m.environment;
  j["tables"] = json::array();
  for (const auto& t : m.tables) j["tables"].push_back({{"upstream", t.upstream}, {"temp", t.temp}, {"live", t.live}});
  j["new_index"] = m.new_index;
  j["filtered_index"] = m.filtered_index;
  j["old_index"] = optional_json(m.old_index);
  j["old_filtered_index"] = optional_json(m.old_filtered_index);
  j["alias"] = m.alias;
  j["filtered_alias"] = m.filtered_alias;
  j["shard_count"] = m.shard_count;
  j["expected_rows"] = m.expected_rows;
  j["id_min"] = m.id_min;
  j["id_max"] = m.id_max;
  j["row_limit"] = optional_json(m.row_limit);
  j["planned_at"] = format_timestamp(m.planned_at);
  j["mode"] = m.mode;
  return j;
}

json to_json_value(const ShardJob& m) {
  json j = header<ShardJob>();
  j["refresh_id"] = m.refresh_id.value();
  j["media_type"] = m.media_type;
  j["shard"] = m.shard.value();
  j["id_start"] = m.id_start.value();
  j["id_end"] = m.id_end.value();
  j["table"] = m.table;
  j["target_index"] = m.target_index;
  j["attempt"] = m.attempt;
  j["expected_rows"] = optional_json(m.expected_rows);
  j["published_at"] = format_timestamp(m.published_at);
  if (m.action != "index") j["action"] = m.action;
  if (m.incremental) j["incremental"] = true;
  return j;
}

template <class T>
json shard_event_base(const T& m) {
  json j = header<T>();
  j["refresh_id"] = m.refresh_id.value();
  j["shard"] = m.shard.value();
  j["attempt"] = m.attempt;
  j["worker"] = m.worker;
  j["at"] = format_timestamp(m.at);
  return j;
}

json to_json_value(const ShardStarted& m) { return shard_event_base(m); }

json to_json_value(const ShardProgress& m) {
  json j = shard_event_base(m);
  j["rows_read"] = m.rows_read;
  j["indexed"] = m.indexed;
  j["docs_per_s"] = m.docs_per_s;
  if (m.waiting) j["waiting"] = *m.waiting;
  return j;
}

json to_json_value(const ShardCompleted& m) {
  json j = shard_event_base(m);
  j["counts"] = {{"rows_read", m.counts.rows_read},
                 {"indexed", m.counts.indexed},
                 {"skipped_deleted", m.counts.skipped_deleted},
                 {"skipped_removed", m.counts.skipped_removed},
                 {"dead_lettered", m.counts.dead_lettered}};
  j["duration_ms"] = m.duration_ms;
  return j;
}

json to_json_value(const ShardFailed& m) {
  json j = shard_event_base(m);
  j["error"] = m.error;
  j["retryable"] = m.retryable;
  return j;
}

json to_json_value(const RefreshPhaseChanged& m) {
  json j = header<RefreshPhaseChanged>();
  j["refresh_id"] = m.refresh_id.value();
  j["media_type"] = m.media_type;
  j["phase"] = m.phase;
  j["previous_phase"] = optional_json(m.previous_phase);
  j["at"] = format_timestamp(m.at);
  return j;
}

json to_json_value(const RefreshRefused& m) {
  json j = header<RefreshRefused>();
  j["request_id"] = m.request_id;
  j["media_type"] = m.media_type;
  j["reason"] = m.reason;
  j["running_refresh_id"] = optional_json(m.running_refresh_id);
  j["at"] = format_timestamp(m.at);
  return j;
}

json to_json_value(const RefreshCompleted& m) {
  json j = header<RefreshCompleted>();
  j["refresh_id"] = m.refresh_id.value();
  j["media_type"] = m.media_type;
  const RefreshReport& r = m.report;
  json providers = json::array();
  for (const auto& p : r.per_provider) providers.push_back({{"provider", p.provider}, {"before", p.before}, {"after", p.after}});
  json phases = json::array();
  for (const auto& p : r.phases) phases.push_back({{"name", p.name}, {"seconds", p.seconds}});
  j["report"] = {{"rows_before", r.rows_before},
                 {"rows_after", r.rows_after},
                 {"per_provider", providers},
                 {"tags_filtered_rows", r.tags_filtered_rows},
                 {"tags_removed", r.tags_removed},
                 {"documents_indexed", r.documents_indexed},
                 {"filtered_out", r.filtered_out},
                 {"dead_lettered", r.dead_lettered},
                 {"phases", phases},
                 {"changes", nullptr}};
  if (r.changes) {
    j["report"]["changes"] = {{"created", r.changes->created},
                              {"updated", r.changes->updated},
                              {"deleted", r.changes->deleted},
                              {"reflagged", r.changes->reflagged}};
  }
  j["at"] = format_timestamp(m.at);
  j["mode"] = m.mode;
  return j;
}

json to_json_value(const RefreshFailed& m) {
  json j = header<RefreshFailed>();
  j["refresh_id"] = m.refresh_id.value();
  j["media_type"] = m.media_type;
  j["phase"] = m.phase;
  j["error"] = m.error;
  j["rolled_back"] = m.rolled_back;
  j["cancelled"] = m.cancelled;
  j["at"] = format_timestamp(m.at);
  j["mode"] = m.mode;
  return j;
}

json to_json_value(const DeadLetter& m) {
  json j = header<DeadLetter>();
  j["reason"] = m.reason;
  j["source_topic"] = m.source_topic;
  j["source_partition"] = m.source_partition;
  j["source_offset"] = m.source_offset.value();
  j["refresh_id"] = optional_json(m.refresh_id);
  j["document_id"] = optional_json(m.document_id);
  j["payload"] = m.payload;
  j["payload_truncated"] = m.payload_truncated;
  j["payload_bytes"] = m.payload_bytes;
  j["at"] = format_timestamp(m.at);
  return j;
}

std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

// --- decoding ----------------------------------------------------------------------------------

// Thrown inside the decoder only; decode() turns it into a DecodeError.
struct FieldError {
  std::string message;
};

std::string shown(const json& v) {
  std::string text = dump(v);
  return text.size() > 60 ? text.substr(0, 57) + "..." : text;
}

bool is_uuid(const std::string& s) {
  if (s.size() != 36) return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash ? s[i] != '-' : !std::isxdigit(static_cast<unsigned char>(s[i]))) return false;
  }
  return true;
}

bool is_identifier(const std::string& s) {
  if (s.empty() || !(std::islower(static_cast<unsigned char>(s[0])) || s[0] == '_')) return false;
  for (char c : s) {
    if (!(std::islower(static_cast<unsigned char>(c)) || std::isdigit(static_cast<unsigned char>(c)) || c == '_')) return false;
  }
  return true;
}

bool is_refresh_id(const std::string& s) {
  if (s.empty() || s.size() > 128) return false;
  for (char c : s) {
    if (c == '/' || std::isspace(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

// Reads the fields of one JSON object, naming the message type and the field path in errors.
class Reader {
 public:
  Reader(const json& object, std::string_view type, std::string prefix = "")
      : object_(object), type_(type), prefix_(std::move(prefix)) {}

  [[noreturn]] void fail(std::string_view field, std::string_view problem) const {
    throw FieldError{fmt::format("{}: field {}{} {}", type_, prefix_, field, problem)};
  }

  const json* find(std::string_view field) const {
    auto it = object_.find(field);
    return it == object_.end() ? nullptr : &*it;
  }

  const json& need(std::string_view field) const {
    const json* v = find(field);
    if (!v) fail(field, "is missing");
    return *v;
  }

  bool present(std::string_view field) const {
    const json* v = find(field);
    return v && !v->is_null();
  }

  std::string string(std::string_view field, bool allow_empty = false) const {
    const json& v = need(field);
    if (!v.is_string() || (!allow_empty && v.get_ref<const std::string&>().empty())) {
      fail(field, fmt::format("must be a {}string, got {}", allow_empty ? "" : "non-empty ", shown(v)));
    }
    return v.get<std::string>();
  }

  std::optional<std::string> optional_string(std::string_view field) const {
    if (!present(field)) return std::nullopt;
    return string(field);
  }

  std::string identifier(std::string_view field) const {
    std::string s = string(field);
    if (!is_identifier(s)) fail(field, fmt::format("must match [a-z_][a-z0-9_]*, got \"{}\"", s));
    return s;
  }

  std::string uuid(std::string_view field) const {
    std::string s = string(field);
    if (!is_uuid(s)) fail(field, fmt::format("must be a UUID (8-4-4-4-12 hex digits), got \"{}\"", s));
    return s;
  }

  RefreshId refresh_id(std::string_view field) const {
    std::string s = string(field);
    if (!is_refresh_id(s)) fail(field, fmt::format("must be a refresh id without '/' or spaces (1-128 characters), got \"{}\"", s));
    return RefreshId(s);
  }

  std::int64_t integer(std::string_view field, std::int64_t min = std::numeric_limits<std::int64_t>::min(),
                       std::int64_t max = std::numeric_limits<std::int64_t>::max()) const {
    const json& v = need(field);
    bool ok = false;
    if (v.is_number_unsigned()) {  // nlohmann parses every non-negative integer as unsigned
      std::uint64_t u = v.get<std::uint64_t>();
      ok = u <= static_cast<std::uint64_t>(max) && (min <= 0 || u >= static_cast<std::uint64_t>(min));
    } else if (v.is_number_integer()) {
      ok = v.get<std::int64_t>() >= min && v.get<std::int64_t>() <= max;
    }
    if (!ok) {
      std::string range = min == std::numeric_limits<std::int64_t>::min() ? "an integer"
                          : max == std::numeric_limits<std::int64_t>::max() ? fmt::format("an integer >= {}", min)
                                                                              : fmt::format("an integer between {} and {}", min, max);
      fail(field, fmt::format("must be {}, got {}", range, shown(v)));
    }
    return v.get<std::int64_t>();
  }

  std::int32_t int32(std::string_view field, std::int32_t min) const {
    return static_cast<std::int32_t>(integer(field, min, std::numeric_limits<std::int32_t>::max()));
  }

  std::optional<std::int64_t> optional_integer(std::string_view field, std::int64_t min) const {
    if (!present(field)) return std::nullopt;
    return integer(field, min);
  }

  double number(std::string_view field, double min) const {
    const json& v = need(field);
    if (!v.is_number() || v.get<double>() < min) fail(field, fmt::format("must be a number >= {}, got {}", min, shown(v)));
    return v.get<double>();
  }

  bool boolean(std::string_view field) const {
    const json& v = need(field);
    if (!v.is_boolean()) fail(field, fmt::format("must be true or false, got {}", shown(v)));
    return v.get<bool>();
  }

  Timestamp timestamp(std::string_view field) const {
    const json& v = need(field);
    std::optional<Timestamp> t = v.is_string() ? parse_timestamp(v.get_ref<const std::string&>()) : std::nullopt;
    if (!t) fail(field, fmt::format("must be an RFC 3339 timestamp such as \"2024-05-06T07:08:09.123Z\", got {}", shown(v)));
    return *t;
  }

  Reader object(std::string_view field) const {
    const json& v = need(field);
    if (!v.is_object()) fail(field, fmt::format("must be an object, got {}", shown(v)));
    return Reader(v, type_, fmt::format("{}{}.", prefix_, field));
  }

  template <class F>
  void each(std::string_view field, F&& per_item) const {
    const json& v = need(field);
    if (!v.is_array()) fail(field, fmt::format("must be an array, got {}", shown(v)));
    for (std::size_t i = 0; i < v.size(); ++i) {
      if (!v[i].is_object()) fail(fmt::format("{}[{}]", field, i), fmt::format("must be an object, got {}", shown(v[i])));
      per_item(Reader(v[i], type_, fmt::format("{}{}[{}].", prefix_, field, i)));
    }
  }

 private:
  const json& object_;
  std::string_view type_;
  std::string prefix_;
};

template <class T>
struct Tag {};

// The mode a run ran in ("full", "incremental" or a maintenance run's); "full" when absent, as in
// messages written before incremental refreshes existed.
std::string resolved_mode(const Reader& r) {
  std::string mode = r.optional_string("mode").value_or("full");
  if (mode != "full" && mode != "incremental" && !is_maintenance_mode(mode)) {
    r.fail("mode",
           fmt::format("must be \"full\", \"incremental\", \"filtered_only\", \"sample\" or \"rollback\", got \"{}\"",
                       mode));
  }
  return mode;
}

RefreshRequested read(const Reader& r, Tag<RefreshRequested>) {
  RefreshRequested m;
  m.request_id = r.uuid("request_id");
  m.media_type = r.identifier("media_type");
  Reader options = r.object("options");
  m.options.row_limit = options.optional_integer("row_limit", 0);
  m.options.requested_by = options.string("requested_by");
  m.options.mode = options.optional_string("mode").value_or("full");
  if (m.options.mode != "full" && m.options.mode != "incremental" && m.options.mode != "auto" &&
      !is_maintenance_mode(m.options.mode)) {
    options.fail("mode", fmt::format("must be \"full\", \"incremental\", \"auto\", \"filtered_only\", \"sample\" or "
                                     "\"rollback\", got \"{}\"",
                                     m.options.mode));
  }
  if (options.present("sample")) {
    Reader sample = options.object("sample");
    if (sample.present("percent") == sample.present("rows")) {
      options.fail("sample", "must hold exactly one of percent and rows");
    }
    if (sample.present("percent")) {
      m.options.sample_percent = sample.number("percent", 0);
      if (*m.options.sample_percent <= 0 || *m.options.sample_percent > 100) {
        sample.fail("percent", "must be a number above 0 and at most 100");
      }
    } else {
      m.options.sample_rows = sample.integer("rows", 1);
    }
  }
  m.options.sample_by = options.optional_string("sample_by").value_or("provider");
  if (m.options.sample_by != "provider" && m.options.sample_by != "source") {
    options.fail("sample_by", fmt::format("must be \"provider\" or \"source\", got \"{}\"", m.options.sample_by));
  }
  if (m.options.mode == "sample" && !m.options.sample_percent && !m.options.sample_rows) {
    options.fail("sample", "is required for mode \"sample\": {\"percent\": 10} or {\"rows\": 5000}");
  }
  m.requested_at = r.timestamp("requested_at");
  return m;
}

RefreshPlanned read(const Reader& r, Tag<RefreshPlanned>) {
  RefreshPlanned m;
  m.refresh_id = r.refresh_id("refresh_id");
  m.request_id = r.uuid("request_id");
  m.media_type = r.identifier("media_type");
  m.environment = r.string("environment");
  r.each("tables", [&](const Reader& t) { m.tables.push_back({t.identifier("upstream"), t.identifier("temp"), t.identifier("live")}); });
  if (m.tables.empty()) r.fail("tables", "must list at least the media type's main table");
  m.new_index = r.string("new_index");
  m.filtered_index = r.string("filtered_index", true);  // empty for a sample
  m.old_index = r.optional_string("old_index");
  m.old_filtered_index = r.optional_string("old_filtered_index");
  m.alias = r.string("alias");
  m.filtered_alias = r.string("filtered_alias", true);
  m.shard_count = r.int32("shard_count", 0);
  m.expected_rows = r.integer("expected_rows", 0);
  m.id_min = r.integer("id_min", 0);
  m.id_max = r.integer("id_max", 0);
  if (m.expected_rows > 0 && m.id_max < m.id_min) r.fail("id_max", "must be an integer >= id_min");
  m.row_limit = r.optional_integer("row_limit", 0);
  m.planned_at = r.timestamp("planned_at");
  m.mode = resolved_mode(r);
  return m;
}

ShardJob read(const Reader& r, Tag<ShardJob>) {
  ShardJob m;
  m.refresh_id = r.refresh_id("refresh_id");
  m.media_type = r.identifier("media_type");
  m.shard = ShardNumber(r.int32("shard", 0));
  m.id_start = RowId(r.integer("id_start", 0));
  std::int64_t id_end = r.integer("id_end");
  if (id_end <= m.id_start.value()) r.fail("id_end", "must be an integer greater than id_start");
  m.id_end = RowId(id_end);
  m.table = r.identifier("table");
  m.target_index = r.string("target_index");
  m.attempt = r.int32("attempt", 1);
  m.expected_rows = r.optional_integer("expected_rows", 0);
  m.published_at = r.timestamp("published_at");
  m.action = r.optional_string("action").value_or("index");
  if (m.action != "index" && m.action != "delete") {
    r.fail("action", fmt::format("must be \"index\" or \"delete\", got \"{}\"", m.action));
  }
  if (r.present("incremental")) {
    if (!r.need("incremental").is_boolean()) r.fail("incremental", "must be a boolean");
    m.incremental = r.need("incremental").get<bool>();
  }
  return m;
}

template <class T>
T read_shard_event_base(const Reader& r) {
  T m;
  m.refresh_id = r.refresh_id("refresh_id");
  m.shard = ShardNumber(r.int32("shard", 0));
  m.attempt = r.int32("attempt", 1);
  m.worker = r.string("worker");
  m.at = r.timestamp("at");
  return m;
}

ShardStarted read(const Reader& r, Tag<ShardStarted>) { return read_shard_event_base<ShardStarted>(r); }

ShardProgress read(const Reader& r, Tag<ShardProgress>) {
  auto m = read_shard_event_base<ShardProgress>(r);
  m.rows_read = r.integer("rows_read", 0);
  m.indexed = r.integer("indexed", 0);
  m.docs_per_s = r.number("docs_per_s", 0);
  m.waiting = r.optional_string("waiting");
  return m;
}

ShardCompleted read(const Reader& r, Tag<ShardCompleted>) {
  auto m = read_shard_event_base<ShardCompleted>(r);
  Reader c = r.object("counts");
  m.counts.rows_read = c.integer("rows_read", 0);
  m.counts.indexed = c.integer("indexed", 0);
  m.counts.skipped_deleted = c.integer("skipped_deleted", 0);
  m.counts.skipped_removed = c.integer("skipped_removed", 0);
  m.counts.dead_lettered = c.integer("dead_lettered", 0);
  m.duration_ms = r.integer("duration_ms", 0);
  return m;
}

ShardFailed read(const Reader& r, Tag<ShardFailed>) {
  auto m = read_shard_event_base<ShardFailed>(r);
  m.error = r.string("error");
  m.retryable = r.boolean("retryable");
  return m;
}

RefreshPhaseChanged read(const Reader& r, Tag<RefreshPhaseChanged>) {
  RefreshPhaseChanged m;
  m.refresh_id = r.refresh_id("refresh_id");
  m.media_type = r.identifier("media_type");
  m.phase = r.identifier("phase");
  if (r.present("previous_phase")) m.previous_phase = r.identifier("previous_phase");
  m.at = r.timestamp("at");
  return m;
}

RefreshRefused read(const Reader& r, Tag<RefreshRefused>) {
  RefreshRefused m;
  m.request_id = r.uuid("request_id");
  m.media_type = r.identifier("media_type");
  m.reason = r.string("reason");
  if (r.present("running_refresh_id")) m.running_refresh_id = r.refresh_id("running_refresh_id");
  m.at = r.timestamp("at");
  return m;
}

RefreshCompleted read(const Reader& r, Tag<RefreshCompleted>) {
  RefreshCompleted m;
  m.refresh_id = r.refresh_id("refresh_id");
  m.media_type = r.identifier("media_type");
  Reader rep = r.object("report");
  RefreshReport& out = m.report;
  out.rows_before = rep.integer("rows_before", 0);
  out.rows_after = rep.integer("rows_after", 0);
  rep.each("per_provider", [&](const Reader& p) {
    out.per_provider.push_back({p.string("provider"), p.integer("before", 0), p.integer("after", 0)});
  });
  out.tags_filtered_rows = rep.integer("tags_filtered_rows", 0);
  out.tags_removed = rep.integer("tags_removed", 0);
  out.documents_indexed = rep.integer("documents_indexed", 0);
  out.filtered_out = rep.integer("filtered_out", 0);
  out.dead_lettered = rep.integer("dead_lettered", 0);
  rep.each("phases", [&](const Reader& p) { out.phases.push_back({p.identifier("name"), p.number("seconds", 0)}); });
  if (rep.present("changes")) {  // null or absent for a full refresh
    Reader c = rep.object("changes");
    out.changes = RefreshReport::Changes{c.integer("created", 0), c.integer("updated", 0), c.integer("deleted", 0),
                                         c.integer("reflagged", 0)};
  }
  m.at = r.timestamp("at");
  m.mode = resolved_mode(r);
  return m;
}

RefreshFailed read(const Reader& r, Tag<RefreshFailed>) {
  RefreshFailed m;
  m.refresh_id = r.refresh_id("refresh_id");
  m.media_type = r.identifier("media_type");
  m.phase = r.identifier("phase");
  m.error = r.string("error");
  m.rolled_back = r.boolean("rolled_back");
  m.cancelled = r.present("cancelled") && r.boolean("cancelled");  // absent before cancellation existed
  m.at = r.timestamp("at");
  m.mode = resolved_mode(r);
  return m;
}

DeadLetter read(const Reader& r, Tag<DeadLetter>) {
  DeadLetter m;
  m.reason = r.string("reason");
  m.source_topic = r.string("source_topic");
  m.source_partition = r.int32("source_partition", 0);
  m.source_offset = KafkaOffset(r.integer("source_offset", 0));
  if (r.present("refresh_id")) m.refresh_id = r.refresh_id("refresh_id");
  m.document_id = r.optional_string("document_id");
  m.payload = r.string("payload", true);
  if (m.payload.size() > kMaxDeadLetterPayloadBytes) {
    r.fail("payload", fmt::format("must be at most {} bytes, got {}", kMaxDeadLetterPayloadBytes, m.payload.size()));
  }
  m.payload_truncated = r.boolean("payload_truncated");
  m.payload_bytes = r.integer("payload_bytes", 0);
  m.at = r.timestamp("at");
  return m;
}

// Parses JSON and checks that it is an object with a string "type" and an integer "version".
DecodeResult<json> parse_envelope(std::string_view text) {
  json j;
  try {
    j = json::parse(text);
  } catch (const json::parse_error& e) {
    return DecodeError{fmt::format("message is not valid JSON (error at byte {}): {}", e.byte, e.what())};
  }
  if (!j.is_object()) return DecodeError{fmt::format("message must be a JSON object, got {}", shown(j))};
  auto type = j.find("type");
  if (type == j.end() || !type->is_string()) return DecodeError{"message has no string field \"type\": not a datarefresh message"};
  auto version = j.find("version");
  const std::string& type_name = type->get_ref<const std::string&>();
  if (version == j.end()) return DecodeError{fmt::format("{}: field version is missing", type_name)};
  if (!version->is_number_integer() || version->get<std::int64_t>() < 1) {
    return DecodeError{fmt::format("{}: field version must be an integer >= 1, got {}", type_name, shown(*version))};
  }
  return j;
}

template <class T>
DecodeResult<T> decode_object(const json& j) {
  const std::string& type = j["type"].get_ref<const std::string&>();
  if (type != T::kType) return DecodeError{fmt::format("expected a {} message, got type \"{}\"", T::kType, type)};
  std::int64_t version = j["version"].get<std::int64_t>();
  if (version != kVersion) {
    return DecodeError{fmt::format("{} version {} is not supported by this build (supports {}): upgrade the consumer", T::kType,
                                   version, kVersion)};
  }
  try {
    return read(Reader(j, T::kType), Tag<T>{});
  } catch (const FieldError& e) {
    return DecodeError{e.message};
  }
}

template <class... Ts>
DecodeResult<Event> decode_event_of(const json& j, std::variant<Ts...>*) {
  const std::string& type = j["type"].get_ref<const std::string&>();
  std::optional<DecodeResult<Event>> result;
  auto try_one = [&]<class T>(Tag<T>) {
    if (result || type != T::kType) return;
    DecodeResult<T> one = decode_object<T>(j);
    if (one) result.emplace(Event(std::move(one).value()));
    else result.emplace(one.error());
  };
  (try_one(Tag<Ts>{}), ...);
  if (result) return std::move(*result);
  std::string known;
  ((known += (known.empty() ? "" : ", ") + std::string(Ts::kType)), ...);
  return DecodeError{fmt::format("unknown event type \"{}\" (this build knows {}): upgrade the consumer if it is new", type, known)};
}

}  // namespace

std::string encode(const RefreshRequested& m) { return dump(to_json_value(m)); }
std::string encode(const RefreshPlanned& m) { return dump(to_json_value(m)); }
std::string encode(const ShardJob& m) { return dump(to_json_value(m)); }
std::string encode(const ShardStarted& m) { return dump(to_json_value(m)); }
std::string encode(const ShardProgress& m) { return dump(to_json_value(m)); }
std::string encode(const ShardCompleted& m) { return dump(to_json_value(m)); }
std::string encode(const ShardFailed& m) { return dump(to_json_value(m)); }
std::string encode(const RefreshPhaseChanged& m) { return dump(to_json_value(m)); }
std::string encode(const RefreshRefused& m) { return dump(to_json_value(m)); }
std::string encode(const RefreshCompleted& m) { return dump(to_json_value(m)); }
std::string encode(const RefreshFailed& m) { return dump(to_json_value(m)); }
std::string encode(const DeadLetter& m) { return dump(to_json_value(m)); }
std::string encode(const Event& m) {
  return std::visit([](const auto& e) { return dump(to_json_value(e)); }, m);
}

template <class T>
DecodeResult<T> decode(std::string_view text) {
  DecodeResult<json> envelope = parse_envelope(text);
  if (!envelope) return envelope.error();
  return decode_object<T>(envelope.value());
}

template DecodeResult<RefreshRequested> decode<RefreshRequested>(std::string_view);
template DecodeResult<RefreshPlanned> decode<RefreshPlanned>(std::string_view);
template DecodeResult<ShardJob> decode<ShardJob>(std::string_view);
template DecodeResult<ShardStarted> decode<ShardStarted>(std::string_view);
template DecodeResult<ShardProgress> decode<ShardProgress>(std::string_view);
template DecodeResult<ShardCompleted> decode<ShardCompleted>(std::string_view);
template DecodeResult<ShardFailed> decode<ShardFailed>(std::string_view);
template DecodeResult<RefreshPhaseChanged> decode<RefreshPhaseChanged>(std::string_view);
template DecodeResult<RefreshRefused> decode<RefreshRefused>(std::string_view);
template DecodeResult<RefreshCompleted> decode<RefreshCompleted>(std::string_view);
template DecodeResult<RefreshFailed> decode<RefreshFailed>(std::string_view);
template DecodeResult<DeadLetter> decode<DeadLetter>(std::string_view);

DecodeResult<Event> decode_event(std::string_view text) {
  DecodeResult<json> envelope = parse_envelope(text);
  if (!envelope) return envelope.error();
  return decode_event_of(envelope.value(), static_cast<Event*>(nullptr));
}

DecodeResult<TypeAndVersion> peek_type(std::string_view text) {
  DecodeResult<json> envelope = parse_envelope(text);
  if (!envelope) return envelope.error();
  return TypeAndVersion{envelope.value()["type"].get<std::string>(), static_cast<int>(envelope.value()["version"].get<std::int64_t>())};
}

}  // namespace datarefresh::messages
