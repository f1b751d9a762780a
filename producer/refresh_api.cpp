#include "producer/refresh_api.h"

#include <chrono>
#include <map>
#include <mutex>
#include <regex>
#include <set>
#include <thread>

#include <fmt/format.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "core/common/error.h"
#include "core/common/log.h"
#include "core/ledger/ledger.h"
#include "core/metrics/http_support.h"
#include "core/pg/database.h"
#include "core/refresh/kept_generation.h"
#include "core/refresh/naming.h"
#include "core/refresh/run_control.h"
#include "core/refresh/status_view.h"
#include "core/search/client.h"
#include "core/service/service_context.h"
#include "producer/console.h"
#include "producer/planner.h"
#include "producer/refresh_request.h"

namespace datarefresh::planner {
namespace {

using nlohmann::json;

constexpr int kMaxListLimit = 500;
constexpr std::size_t kMaxRequestedBy = 200;

// An answer other than success: the status and what to tell the client.
struct ApiError {
  int status;
  std::string message;
};

void send(httplib::Response& res, int status, const json& body) {
  res.status = status;
  res.set_content(body.dump(), "application/json");
}

void send_error(httplib::Response& res, const ApiError& e) { send(res, e.status, {{"error", e.message}, {"status", e.status}}); }

bool is_uuid(const std::string& s) {
  static const std::regex kUuid("^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$");
  return std::regex_match(s, kUuid);
}

std::string configured_media(const config::Config& config) {
  std::string out;
  for (const auto& [name, _] : config.media_types) out += (out.empty() ? "" : ", ") + name;
  return out;
}

// The JSON object of a request body; an empty body is an empty object when `empty_ok`.
json parse_body(const httplib::Request& req, bool empty_ok) {
  auto type = req.get_header_value("Content-Type");
  if (!type.empty() && type.rfind("application/json", 0) != 0) {
    throw ApiError{415, "Content-Type is " + type + ": send the body as application/json"};
  }
  if (req.body.empty()) {
    if (empty_ok) return json::object();
    throw ApiError{400, R"(the body is empty: send a JSON object such as {"media_type": "image"})"};
  }
  json body = json::parse(req.body, nullptr, false);
  if (body.is_discarded()) throw ApiError{400, "the body is not valid JSON: send a JSON object"};
  if (!body.is_object()) throw ApiError{400, "the body must be a JSON object, got " + std::string(body.type_name())};
  return body;
}

void only_fields(const json& object, const std::set<std::string>& allowed, const std::string& where) {
  for (const auto& [key, _] : object.items()) {
    if (allowed.count(key)) continue;
    throw ApiError{400, fmt::format("unknown field {}{}: allowed are {}", where, key, fmt::join(allowed, ", "))};
  }
}

std::string requested_by(const json& object, const std::string& field, const std::string& fallback) {
  if (!object.contains(field)) return fallback;
  const auto& v = object[field];
  if (!v.is_string() || v.get_ref<const std::string&>().empty() ||
      v.get_ref<const std::string&>().size() > kMaxRequestedBy) {
    throw ApiError{400, fmt::format("{} must be a non-empty string of at most {} characters", field, kMaxRequestedBy)};
  }
  for (unsigned char c : v.get_ref<const std::string&>()) {
    if (c < 0x20 || c == 0x7f) throw ApiError{400, field + " must not contain control characters"};
  }
  return v.get<std::string>();
}

// The phases the planner's own statements run in: a cancel then interrupts them.
const std::set<std::string> kPlannerPhases = {"planning",        "snapshotting",   "copying",
                                              "cloning_indices", "creating_index", "planning_shards"};

}  // namespace

struct RefreshApi::Impl {
  Impl(Options o, const config::Config& c, kafka::Producer& p, Planner* pl)
      : options(std::move(o)), config(c), producer(p), planner(pl) {}

  Options options;
  const config::Config& config;
  kafka::Producer& producer;
  Planner* planner;
  httplib::Server server;
  metrics::ServerThread thread{server};
  Logger log{"api"};
  std::mutex queued_mutex;
  std::map<std::string, std::string> queued;  // accepted here, not yet seen in the ledger: id -> mode requested
  std::once_flag schema_once;

  pg::Database connect() {
    auto o = service::api_db_options(config, "datarefresh-api");
    o.connect_attempts = 1;
    try {
      auto db = pg::Database::connect(o);
      std::call_once(schema_once, [&] { ledger::Ledger(db).ensure_schema(); });
      return db;
    } catch (const std::exception& e) {
      throw ApiError{503, std::string("the ledger database is unreachable: ") + e.what()};
    }
  }

  bool is_queued(const std::string& id) { return queued_mode(id).has_value(); }

  std::optional<std::string> queued_mode(const std::string& id) {
    std::lock_guard lock(queued_mutex);
    auto it = queued.find(id);
    return it == queued.end() ? std::nullopt : std::optional(it->second);
  }

  // POST /v1/refreshes
  void create(const httplib::Request& req, httplib::Response& res) {
    auto body = parse_body(req, false);
    only_fields(body, {"media_type", "mode", "options"}, "");
    if (!body.contains("media_type") || !body["media_type"].is_string()) {
      throw ApiError{400, "media_type is required: one of " + configured_media(config)};
    }
    auto media = body["media_type"].get<std::string>();
    if (!config.media_types.count(media)) {
      throw ApiError{400, "media_type '" + media + "' is not configured: use one of " + configured_media(config)};
    }
    std::string mode = "full";
    if (body.contains("mode")) {
      const auto& m = body["mode"];
      if (!m.is_string() || !is_refresh_mode(m.get_ref<const std::string&>())) {
        throw ApiError{400, fmt::format("mode must be {} (absent = full), got {}", kRefreshModes, m.dump())};
      }
      mode = m.get<std::string>();
    }
    std::optional<std::int64_t> row_limit;
    std::string by = "api";
    SampleSize sample;
    std::string sample_by = "provider";
    if (body.contains("options")) {
      const auto& o = body["options"];
      if (!o.is_object()) throw ApiError{400, "options must be an object such as {\"row_limit\": 1000}"};
      if (o.contains("mode")) {
        throw ApiError{400, "options.mode: give the mode at the top level of the body, e.g. "
                            "{\"media_type\": \"image\", \"mode\": \"incremental\"}"};
      }
      only_fields(o, {"row_limit", "requested_by", "sample", "sample_by"}, "options.");
      if ((o.contains("sample") || o.contains("sample_by")) && mode != "sample") {
        throw ApiError{400, std::string("options.") + (o.contains("sample") ? "sample" : "sample_by") +
                                " belongs to a staging sample: give \"mode\": \"sample\" with it, e.g. "
                                "{\"media_type\": \"image\", \"mode\": \"sample\", \"options\": {\"sample\": "
                                "{\"percent\": 10}}}"};
      }
      if (o.contains("sample")) {
        const auto& s = o["sample"];
        if (!s.is_object() || s.size() != 1 || !(s.contains("percent") || s.contains("rows"))) {
          throw ApiError{400,
                         "options.sample must be {\"percent\": x} (above 0, at most 100) or {\"rows\": n} (at "
                         "least 1), one of them, got " +
                             s.dump()};
        }
        if (s.contains("percent")) {
          const auto& p = s["percent"];
          if (!p.is_number() || p.get<double>() <= 0 || p.get<double>() > 100) {
            throw ApiError{400, "options.sample.percent must be a number above 0 and at most 100, got " + p.dump()};
          }
          sample.percent = p.get<double>();
        } else {
          const auto& n = s["rows"];
          if (!n.is_number_integer() || n.get<std::int64_t>() < 1) {
            throw ApiError{400, "options.sample.rows must be an integer of at least 1 (documents), got " + n.dump()};
          }
          sample.rows = n.get<std::int64_t>();
        }
      }
      if (o.contains("sample_by")) {
        const auto& b = o["sample_by"];
        if (!b.is_string() || (b.get<std::string>() != "provider" && b.get<std::string>() != "source")) {
          throw ApiError{400, "options.sample_by must be \"provider\" or \"source\", got " + b.dump()};
        }
        sample_by = b.get<std::string>();
      }
      if (mode == "sample" && o.contains("row_limit")) {
        throw ApiError{400, "options.row_limit limits a refresh's copy: a sample has none (give options.sample)"};
      }
      if (mode == "filtered_only" && o.contains("row_limit")) {
        throw ApiError{400, "options.row_limit limits a refresh's copy: a filtered-only run copies nothing (leave it out)"};
      }
      if (o.contains("row_limit")) {
        if (!o["row_limit"].is_number_integer() || o["row_limit"].get<std::int64_t>() < 1) {
          throw ApiError{400, "options.row_limit must be a positive integer (rows to copy), got " + o["row_limit"].dump()};
        }
        row_limit = o["row_limit"].get<std::int64_t>();
      }
      by = requested_by(o, "requested_by", by);
    }
    if (mode == "sample" && !sample.percent && !sample.rows) {
      throw ApiError{400, "mode \"sample\" needs options.sample: {\"percent\": 10} or {\"rows\": 5000}"};
    }
    {
      auto db = connect();
      ledger::Ledger ledger(db);
      if (auto run = refresh::running_in_scope(ledger, config, media)) {
        throw ApiError{409, fmt::format("refresh {} ({}, phase {}) is running in lock scope {}; only one refresh runs "
                                        "per scope at a time: request again when it has finished",
                                        run->refresh_id, run->media_type, run->phase, run->lock_scope)};
      }
    }
    auto request = make_refresh_request(media, row_limit, by, refresh::new_uuid(), mode);
    if (mode == "sample") {
      request.options.sample_percent = sample.percent;
      request.options.sample_rows = sample.rows;
      request.options.sample_by = sample_by;
    }
    try {
      submit_refresh_request(producer, config, request);
    } catch (const Error& e) {
      throw ApiError{503, e.what()};
    }
    {
      std::lock_guard lock(queued_mutex);
      queued.emplace(request.request_id, mode);
    }
    auto url = "/v1/refreshes/" + request.request_id;
    res.set_header("Location", url);
    log.info("refresh requested",
             {{"refresh_id", request.request_id}, {"media_type", media}, {"mode", mode}, {"requested_by", by}});
    send(res, 202, {{"refresh_id", request.request_id}, {"media_type", media}, {"mode", mode}, {"status", "queued"},
                    {"status_url", url}});
  }

  // GET /v1/refreshes/{id}
  void get(const std::string& id, httplib::Response& res) {
    if (!is_uuid(id)) throw ApiError{400, "'" + id + "' is not a refresh id (a UUID)"};
    auto db = connect();
    ledger::Ledger ledger(db);
    auto run = ledger.run(id);
    if (!run) {
      if (auto mode = queued_mode(id)) {
        send(res, 200, {{"refresh_id", id}, {"status", "queued"}, {"phase", nullptr}, {"mode", *mode}});
        return;
      }
      throw ApiError{404, "no refresh " + id + " is known"};
    }
    {
      std::lock_guard lock(queued_mutex);
      queued.erase(id);
    }
    auto indexing = db.query_value(
        "SELECT extract(epoch FROM now() - finished_at)::float8 FROM datarefresh.steps WHERE refresh_id = $1::uuid "
        "AND step = 'publish'",
        {id});
    std::optional<refresh::CopyProgress> copy;
    auto media = config.media_types.find(run->media_type);
    if (run->status == ledger::RunStatus::kRunning && run->phase == "copying" && media != config.media_types.end()) {
      copy = refresh::read_copy_progress(db, id, media->second.table);
    }
    send(res, 200,
         refresh::refresh_status_json(*run, ledger.shards(id), indexing ? std::optional(std::stod(*indexing)) : std::nullopt,
                                      copy));
  }

  // GET /v1/refreshes/{id}/shards: every shard of a refresh, for the console's grid.
  void shards(const std::string& id, httplib::Response& res) {
    if (!is_uuid(id)) throw ApiError{400, "'" + id + "' is not a refresh id (a UUID)"};
    auto db = connect();
    ledger::Ledger ledger(db);
    if (!ledger.run(id)) {
      if (is_queued(id)) {
        send(res, 200, {{"shards", json::array()}});
        return;
      }
      throw ApiError{404, "no refresh " + id + " is known"};
    }
    send(res, 200, {{"shards", refresh::shards_json(ledger.shards(id))}});
  }

  // GET /v1/refreshes
  void list(const httplib::Request& req, httplib::Response& res) {
    for (const auto& [key, _] : req.params) {
      if (key != "media_type" && key != "status" && key != "limit") {
        throw ApiError{400, "unknown query parameter " + key + ": allowed are media_type, status, limit"};
      }
    }
    std::string media = req.get_param_value("media_type");
    if (!media.empty() && !config.media_types.count(media)) {
      throw ApiError{400, "media_type '" + media + "' is not configured: use one of " + configured_media(config)};
    }
    std::optional<ledger::RunStatus> status;
    if (auto s = req.get_param_value("status"); !s.empty()) {
      try {
        status = ledger::parse_run_status(s);
      } catch (const InvariantError&) {
        throw ApiError{400, "status '" + s + "' is not one of running, completed, failed, refused, cancelled"};
      }
    }
    int limit = 50;
    if (auto l = req.get_param_value("limit"); !l.empty()) {
      if (l.size() > 4 || l.find_first_not_of("0123456789") != std::string::npos || std::stoi(l) < 1 ||
          std::stoi(l) > kMaxListLimit) {
        throw ApiError{400, fmt::format("limit must be an integer from 1 to {}", kMaxListLimit)};
      }
      limit = std::stoi(l);
    }
    auto db = connect();
    auto out = json::array();
    for (const auto& run : ledger::Ledger(db).recent_runs(media, limit, status)) out.push_back(refresh::refresh_summary_json(run));
    send(res, 200, {{"refreshes", out}});
  }

  // POST /v1/refreshes/{id}/cancel
  void cancel(const std::string& id, const httplib::Request& req, httplib::Response& res) {
    if (!is_uuid(id)) throw ApiError{400, "'" + id + "' is not a refresh id (a UUID)"};
    auto body = parse_body(req, true);
    only_fields(body, {"requested_by"}, "");
    auto by = requested_by(body, "requested_by", "api");
    auto db = connect();
    auto outcome = ledger::Ledger(db).request_cancel(id, by);
    using Kind = ledger::CancelOutcome::Kind;
    switch (outcome.kind) {
      case Kind::kAccepted:
        if (planner && kPlannerPhases.count(outcome.run->phase)) planner->interrupt(id);
        log.warn("refresh cancel requested", {{"refresh_id", id}, {"phase", outcome.run->phase}, {"requested_by", by}});
        send(res, 202, {{"refresh_id", id}, {"status", "cancelling"}, {"phase", outcome.run->phase}});
        return;
      case Kind::kTooLate:
        throw ApiError{409, "refresh " + id + " is in phase " + outcome.run->phase +
                                ": the live table or aliases are being replaced, so it can no longer be cancelled; "
                                "it will complete"};
      case Kind::kFinished:
        throw ApiError{409, "refresh " + id + " already ended: " + std::string(ledger::to_string(outcome.run->status))};
      case Kind::kUnknown:
        if (planner && is_queued(id)) {
          planner->cancel_before_start(id, by);
          log.warn("queued refresh cancel requested", {{"refresh_id", id}, {"requested_by", by}});
          send(res, 202, {{"refresh_id", id}, {"status", "cancelling"}, {"phase", nullptr}});
          return;
        }
        throw ApiError{404, "no refresh " + id + " is known"};
    }
  }

  // GET /v1/media: per media type, what its aliases serve, what runs and what is kept.
  void media_list(httplib::Response& res) {
    auto db = connect();
    search::Client search(service::search_client_options(config));
    auto kept_all = refresh::read_all_kept(db);
    auto running = ledger::Ledger(db).runs_with_status(ledger::RunStatus::kRunning);
    auto out = json::array();
    for (const auto& [name, media] : config.media_types) {
      auto target = [&](const std::string& alias) -> json {
        auto t = search.get_alias(alias);
        if (!t.ok()) return {{"error", t.error().describe()}};
        json names = json::array();
        for (const auto& [index, _] : t.value()) names.push_back(index);
        return names.size() == 1 ? names[0] : names.empty() ? json() : names;
      };
      json m = {{"media_type", name},
                {"alias", media.alias},
                {"filtered_alias", media.filtered_alias},
                {"staging_alias", media.staging_alias_name()},
                {"live_index", target(media.alias)},
                {"live_filtered_index", target(media.filtered_alias)},
                {"staging_index", target(media.staging_alias_name())},
                {"running", nullptr},
                {"kept", nullptr}};
      for (const auto& run : running) {
        if (run.media_type == name) {
          m["running"] = {{"refresh_id", run.refresh_id}, {"phase", run.phase}, {"mode", run.mode}};
        }
      }
      for (const auto& k : kept_all) {
        if (k.media_type != name) continue;
        auto kept = k.to_json();
        auto problems = refresh::kept_problems(db, search, k, config.refresh.filtered_index.enabled);
        kept["complete"] = problems.empty();
        kept["problems"] = problems;
        m["kept"] = kept;
      }
      out.push_back(m);
    }
    send(res, 200, {{"media", out}});
  }

  // POST /v1/media/{media}/rollback
  void rollback(const std::string& media_name, const httplib::Request& req, httplib::Response& res) {
    auto media = config.media_types.find(media_name);
    if (media == config.media_types.end()) {
      throw ApiError{404, "media type '" + media_name + "' is not configured: use one of " + configured_media(config)};
    }
    auto body = parse_body(req, true);
    only_fields(body, {"requested_by"}, "");
    auto by = requested_by(body, "requested_by", "api");
    {
      auto db = connect();
      search::Client search(service::search_client_options(config));
      if (auto refusal = refresh::rollback_request_refusal(db, search, config, media->second)) {
        throw ApiError{409, *refusal};
      }
    }
    auto request = make_refresh_request(media_name, std::nullopt, by, refresh::new_uuid(), "rollback");
    try {
      submit_refresh_request(producer, config, request);
    } catch (const Error& e) {
      throw ApiError{503, e.what()};
    }
    {
      std::lock_guard lock(queued_mutex);
      queued.emplace(request.request_id, "rollback");
    }
    auto url = "/v1/refreshes/" + request.request_id;
    res.set_header("Location", url);
    log.warn("rollback requested",
             {{"refresh_id", request.request_id}, {"media_type", media_name}, {"requested_by", by}});
    send(res, 202,
         {{"refresh_id", request.request_id},
          {"media_type", media_name},
          {"mode", "rollback"},
          {"status", "queued"},
          {"status_url", url}});
  }

  // Runs a handler, turning ApiError and unexpected exceptions into JSON answers.
  template <typename F>
  httplib::Server::Handler guarded(F f) {
    return [this, f](const httplib::Request& req, httplib::Response& res) {
      auto started = std::chrono::steady_clock::now();
      try {
        f(req, res);
      } catch (const ApiError& e) {
        send_error(res, e);
      } catch (const std::exception& e) {
        log.error("API request failed", {{"method", req.method}, {"path", req.path}, {"error", e.what()}});
        send_error(res, {500, std::string("internal error: ") + e.what()});
      }
      log.info("api request", {{"method", req.method},
                               {"path", req.path},
                               {"status", res.status},
                               {"ms", std::chrono::duration_cast<std::chrono::milliseconds>(
                                          std::chrono::steady_clock::now() - started)
                                          .count()}});
    };
  }
};

RefreshApi::RefreshApi(Options options, const config::Config& config, kafka::Producer& producer, Planner* planner)
    : impl_(std::make_unique<Impl>(std::move(options), config, producer, planner)) {
  metrics::require_token_off_loopback(impl_->options.bind, "http.api_bind", impl_->options.token);
  auto& s = impl_->server;
  Impl* m = impl_.get();
  metrics::require_bearer_token(s, m->options.token, console_paths());
  serve_console(s);
  s.set_payload_max_length(m->options.max_body_bytes);
  s.Post("/v1/refreshes", m->guarded([m](const auto& req, auto& res) { m->create(req, res); }));
  s.Get("/v1/refreshes", m->guarded([m](const auto& req, auto& res) { m->list(req, res); }));
  s.Get(R"(/v1/refreshes/([^/]+))", m->guarded([m](const auto& req, auto& res) { m->get(req.matches[1], res); }));
  s.Get(R"(/v1/refreshes/([^/]+)/shards)",
        m->guarded([m](const auto& req, auto& res) { m->shards(req.matches[1], res); }));
  s.Post(R"(/v1/refreshes/([^/]+)/cancel)",
         m->guarded([m](const auto& req, auto& res) { m->cancel(req.matches[1], req, res); }));
  s.Get("/v1/media", m->guarded([m](const auto&, auto& res) { m->media_list(res); }));
  s.Post(R"(/v1/media/([^/]+)/rollback)",
         m->guarded([m](const auto& req, auto& res) { m->rollback(req.matches[1], req, res); }));
  // Whatever no route answered (unknown path or method, a body over the limit): a JSON error.
  s.set_error_handler([m](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return;
    std::string message;
    if (res.status == 413) {
      message = fmt::format("the body is larger than {} bytes", m->options.max_body_bytes);
    } else if (res.status == 404) {
      message = "no such endpoint: " + req.method + " " + req.path +
                " (see POST/GET /v1/refreshes, GET /v1/refreshes/{id}, POST /v1/refreshes/{id}/cancel, GET /v1/media, "
                "POST /v1/media/{media}/rollback)";
    } else {
      message = fmt::format("request failed with HTTP status {}", res.status);
    }
    send_error(res, {res.status, message});
  });
}

RefreshApi::~RefreshApi() { stop(); }

void RefreshApi::start() {
  impl_->thread.listen(impl_->options.bind, impl_->options.port, "HTTP API", "http.api_port or http.api_bind");
}

void RefreshApi::stop() {
  if (impl_) impl_->thread.stop();
}

std::uint16_t RefreshApi::port() const { return impl_->thread.port(); }

RefreshApi::Options refresh_api_options(const config::Config& config) {
  RefreshApi::Options o;
  o.bind = config.http.api_bind;
  o.port = static_cast<std::uint16_t>(config.http.api_port);
  if (!config.http.token.empty()) o.token = config.http.token.reveal();
  return o;
}

}  // namespace datarefresh::planner
