#include "producer/planner.h"

#include <atomic>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <thread>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <prometheus/counter.h>

#include "core/catalog/shard_plan.h"
#include "core/catalog/tag_rules.h"
#include "core/common/crash_point.h"
#include "core/common/duration.h"
#include "core/common/log.h"
#include "core/messages/codec.h"
#include "core/pg/copy_out_stream.h"
#include "core/refresh/incremental.h"
#include "core/refresh/kept_generation.h"
#include "core/refresh/naming.h"
#include "core/refresh/retry_budget.h"
#include "core/refresh/rollback.h"
#include "core/refresh/run_control.h"
#include "core/refresh/step_error.h"
#include "producer/copy_sql.h"

namespace datarefresh::planner {
namespace {

using Clock = std::chrono::steady_clock;
using refresh::StepError;

// An incremental refresh that cannot be exact: refused before anything is touched.
struct IncrementalRefused : std::runtime_error {
  using std::runtime_error::runtime_error;
};

std::string read_file_text(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return {};
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

}  // namespace

struct Planner::Impl {
  Impl(service::ServiceContext& c, kafka::Producer& p)
      : context(c),
        config(c.config()),
        publisher(p, c.config()),
        search(service::search_client_options(c.config())),
        requests(prometheus::BuildCounter()
                     .Name("datarefresh_refresh_requests_total")
                     .Help("Refresh requests handled by the planner, by outcome")
                     .Register(*c.registry())) {}

  service::ServiceContext& context;
  const config::Config& config;
  refresh::EventPublisher publisher;
  search::Client search;
  prometheus::Family<prometheus::Counter>& requests;
  refresh::RetryBudget retries{config.refresh.transient_retry_deadline};  // by request id
  bool schema_ready = false;
  Logger log{"planner"};
  std::mutex cancel_mutex;
  std::map<std::string, std::string> cancel_before_start;  // request id -> who asked
  std::string current_refresh;                             // the refresh plan() works on, if any

  // Throws CancelRequested if an operator asked to cancel the refresh; checked between steps.
  void check_cancel(ledger::Ledger& ledger, const ledger::Run& run) {
    auto now = ledger.run(run.refresh_id);
    if (now && now->cancel_requested_at) throw refresh::CancelRequested(run.refresh_id);
  }

  pg::Database connect_api() {
    auto db = pg::Database::connect(service::api_db_options(config, "datarefresh-planner"));
    if (!schema_ready) {
      ledger::Ledger(db).ensure_schema();
      schema_ready = true;
    }
    return db;
  }

  void count(const std::string& media, const std::string& outcome) {
    requests.Add({{"media_type", media}, {"outcome", outcome}}).Increment();
  }

  void enter_phase(ledger::Ledger& ledger, ledger::Run& run, const std::string& phase) {
    refresh::enter_phase(ledger, publisher, run, phase);
  }

  void preflight(ledger::Ledger& ledger, ledger::Run& run, const config::MediaTypeConfig& media) {
    if (ledger.step_done(run.refresh_id, "preflight")) return;
    auto started = Clock::now();
    refresh::check_replicas_allocatable(search, config);
    auto names = refresh::refresh_names(media.name, run.refresh_id);
    nlohmann::json fields = {{"new_index", names.new_index}, {"filtered_index", names.filtered_index},
                             {"alias", media.alias}, {"filtered_alias", media.filtered_alias}};
    for (const auto& [alias, key] : {std::pair{media.alias, "old_index"}, std::pair{media.filtered_alias, "old_filtered_index"}}) {
      auto targets = refresh::check(search.get_alias(alias), "reading alias " + alias);
      if (targets.empty()) {
        bool exists = refresh::check(search.index_exists(alias), "checking whether " + alias + " exists");
        if (exists) {
          throw StepError(fmt::format("alias name {} is an existing index, so it cannot become an alias: delete or "
                                      "rename that index, or set media_types.{}.{} to another name",
                                      alias, media.name, key == std::string("old_index") ? "alias" : "filtered_alias"),
                          false);
        }
      } else if (targets.size() > 1) {
        throw StepError(fmt::format("alias {} points at {} indices; a refresh replaces exactly one: point it at one "
                                    "index before refreshing",
                                    alias, targets.size()),
                        false);
      } else {
        fields[key] = targets.begin()->first;
      }
    }
    ledger.update_run(run.refresh_id, fields);
    run = *ledger.run(run.refresh_id);
    resolve_mode(ledger, ledger.db(), run, media);
    fields["mode"] = run.mode;
    ledger.mark_step(run.refresh_id, "preflight", seconds_since(started), fields);
    run = *ledger.run(run.refresh_id);
  }

  // What the next incremental refresh compares against: fingerprints of the index settings, the
  // tag rules and the sensitive terms as this refresh uses them.
  refresh::Baseline current_fingerprints(const config::MediaTypeConfig& media) {
    refresh::Baseline b;
    auto settings = context.resolve(config.refresh.index_settings_dir + "/" + media.index_settings);
    b.index_settings =
        refresh::fingerprint(read_file_text(settings) + "\nshards=" + std::to_string(media.number_of_shards));
    std::string rules;
    for (const auto& p : catalog::tag_filter_params(catalog::TagRules{})) rules += p + "\n";
    b.tag_rules = refresh::fingerprint(rules);
    b.sensitive_terms = refresh::fingerprint(read_file_text(context.resolve(config.refresh.sensitive_terms_file)));
    return b;
  }

  // Why an incremental refresh of `media` cannot be exact now, or nullopt when it can. Touches nothing.
  std::optional<std::string> incremental_refusal(ledger::Ledger& ledger, pg::Database& db, const ledger::Run& run,
                                                 const config::MediaTypeConfig& media) {
    if (run.options.contains("row_limit")) {
      return std::string("a row limit copies a sample of the catalog, and an incremental refresh applies changes to "
                         "the whole of it: request a full refresh with the row limit");
    }
    if (config.refresh.row_limit > 0) {
      return fmt::format(
          "refresh.row_limit ({}) copies a sample of the catalog, and an incremental refresh applies "
          "changes to the whole of it: unset it, or run full refreshes",
          config.refresh.row_limit);
    }
    auto last = ledger.last_completed_refresh(media.name);
    if (!last) {
      return "no completed refresh of " + media.name +
             " to start from (none yet, or the last one was rolled back): run a full refresh first";
    }
    const auto& prev = *last;
    auto recorded = ledger.step_details(prev.refresh_id, "baseline");
    const auto before = refresh::Baseline::from_json(recorded.value_or(nlohmann::json::object()));
    const auto base = refresh::baseline_tables(media.table);
    bool tables = db.query_value(
                        "SELECT to_regclass($1) IS NOT NULL AND to_regclass($2) IS NOT NULL AND to_regclass($3) "
                        "IS NOT NULL AND to_regclass($4) IS NOT NULL",
                        {base.versions, base.buckets, base.sensitive, base.deleted})
                      .value_or("f") == "t";
    if (recorded && !before.complete) {
      return fmt::format(
          "the last completed refresh of {} ({}) copied a sample (a row limit), so there is no whole "
          "catalog to apply changes to: run a full refresh",
          media.name, prev.refresh_id);
    }
    if (!recorded || !tables || before.bucket_bits <= 0) {
      return fmt::format(
          "the last completed refresh of {} ({}) kept no row versions to compare the upstream with (it "
          "ran before this release's incremental refreshes, or its baseline tables {} are gone): run a "
          "full refresh",
          media.name, prev.refresh_id, base.versions);
    }
    {
      auto upstream = pg::Database::connect(service::upstream_db_options(config, "datarefresh-planner"));
      const int version = std::stoi(upstream.query_value("SHOW server_version_num").value_or("0"));
      if (version < refresh::kMinUpstreamVersionNum) {
        return fmt::format(
            "the upstream runs PostgreSQL {} and an incremental refresh needs 14 or later (bit_xor): run "
            "full refreshes, or upgrade the upstream",
            version);
      }
    }
    auto now = current_fingerprints(media);
    if (before.index_settings != now.index_settings) {
      return fmt::format("the index settings of {} ({} in refresh.index_settings_dir, or number_of_shards) changed "
                         "since the last completed refresh {}: a clone keeps the old mappings and settings; run a full "
                         "refresh",
                         media.name, media.index_settings, prev.refresh_id);
    }
    if (before.tag_rules != now.tag_rules) {
      return fmt::format("the tag-filter rules changed since the last completed refresh {}: rows kept from it were "
                         "filtered by the old rules; run a full refresh",
                         prev.refresh_id);
    }
    std::vector<std::pair<std::string, std::optional<std::string>>> promoted{{media.alias, prev.new_index}};
    if (config.refresh.filtered_index.enabled) promoted.emplace_back(media.filtered_alias, prev.filtered_index);
    for (const auto& [alias, index] : promoted) {
      auto targets = refresh::check(search.get_alias(alias), "reading alias " + alias);
      if (!index || targets.size() != 1 || !targets.count(*index)) {
        std::vector<std::string> on;
        for (const auto& [i, _] : targets) on.push_back(i);
        return fmt::format("alias {} points at [{}], not at {} which the last completed refresh {} promoted: the live "
                           "index was changed outside datarefresh; run a full refresh",
                           alias, fmt::join(on, ", "), index.value_or("(none)"), prev.refresh_id);
      }
    }
    return std::nullopt;
  }

  // Resolves the requested mode (preflight): an incremental request that cannot be exact is
  // refused; "auto" runs a full refresh instead and records why.
  void resolve_mode(ledger::Ledger& ledger, pg::Database& db, ledger::Run& run, const config::MediaTypeConfig& media) {
    const std::string requested = run.options.value("mode", "full");
    if (requested == "full") return;
    auto reason = incremental_refusal(ledger, db, run, media);
    if (reason && requested == "incremental") throw IncrementalRefused("incremental refresh refused: " + *reason);
    nlohmann::json fields = {{"mode", reason ? "full" : "incremental"}};
    if (reason) fields["mode_reason"] = *reason;
    ledger.update_run(run.refresh_id, fields);
    if (reason) log.info("auto mode runs a full refresh", {{"refresh_id", run.refresh_id}, {"reason", *reason}});
    run = *ledger.run(run.refresh_id);
  }

  // The row limit of this run (its request's, or refresh.row_limit), if any.
  std::optional<std::int64_t> row_limit_of(const ledger::Run& run) const {
    if (run.options.contains("row_limit") && run.options["row_limit"].is_number_integer()) {
      return run.options["row_limit"].get<std::int64_t>();
    }
    if (config.refresh.row_limit > 0) return config.refresh.row_limit;
    return std::nullopt;
  }

  // The watermark and the snapshot of the sensitive and deleted lists, taken before anything is
  // copied; for an incremental refresh also the upstream's recent rows and buckets (scan_upstream).
  // A full refresh's copy records every row's version itself, in the same pass. A row that
  // changes after its version was read is copied again by the next incremental refresh (its
  // version differs), never missed.
  void snapshot(ledger::Ledger& ledger, pg::Database& db, ledger::Run& run, const config::MediaTypeConfig& media) {
    if (ledger.step_done(run.refresh_id, "snapshot")) return;
    enter_phase(ledger, run, "snapshotting");
    auto started = Clock::now();
    auto upstream = pg::Database::connect(service::upstream_db_options(config, "datarefresh-planner-snapshot"));
    auto fingerprints = current_fingerprints(media);
    fingerprints.watermark = upstream.query_value("SELECT (now() AT TIME ZONE 'UTC')::text").value_or("");
    auto upstream_cols = upstream.table_columns(media.table);
    if (upstream_cols.empty()) {
      throw StepError("upstream table " + media.table + " does not exist in " + upstream.target() +
                          ": check media_types." + media.name + " and postgres.upstream.dsn",
                      false);
    }
    fingerprints.complete = !row_limit_of(run);
    if (run.mode == "incremental") {  // the buckets keep their size from one refresh to the next
      auto prev = ledger.last_completed_refresh(media.name);
      auto recorded = !prev ? std::nullopt : ledger.step_details(prev->refresh_id, "baseline");
      fingerprints.bucket_bits = recorded ? refresh::Baseline::from_json(*recorded).bucket_bits : 0;
      if (fingerprints.bucket_bits <= 0) throw StepError("the last completed refresh recorded no bucket size", false);
    } else {  // sized by the planner's estimate of the upstream's rows (pg_class), as 700-byte rows if never analyzed
      fingerprints.bucket_bits = refresh::choose_bucket_bits(std::stod(
          upstream
              .query_value("SELECT CASE WHEN reltuples >= 0 THEN reltuples ELSE pg_relation_size(oid) / 700.0 END FROM "
                           "pg_class WHERE oid = to_regclass($1)",
                           {pg::Identifier(media.table, "upstream table").quoted()})
              .value_or("0")));
    }
    const auto snap = refresh::snapshot_tables(media.table, run.refresh_id);
    const auto live = pg::Identifier(media.table, "table name");
    db.exec(refresh::drop_refresh_tables_sql(media.table, run.refresh_id) + "CREATE TABLE " + snap.versions +
            " (identifier uuid NOT NULL, version bigint NOT NULL, recent boolean NOT NULL); CREATE TABLE " +
            snap.buckets +
            " (bucket integer PRIMARY KEY, n bigint NOT NULL, x bigint NOT NULL, mismatched boolean NOT NULL DEFAULT "
            "false); CREATE TABLE " +
            snap.sensitive + " AS SELECT identifier FROM " + live.with_prefix("api_mature").quoted() +
            "; CREATE TABLE " + snap.deleted + " AS SELECT identifier FROM " +
            live.with_prefix("api_deleted").quoted() + "; ANALYZE " + snap.sensitive + "; ANALYZE " + snap.deleted);
    UpstreamScan scan;
    if (run.mode == "incremental") scan = scan_upstream(db, upstream_cols, media, run.refresh_id, fingerprints);
    db.transact([&](pg::Database& tx) {
      ledger::Ledger l(tx);
      l.mark_step(run.refresh_id, "baseline", 0, fingerprints.to_json());
      l.mark_step(run.refresh_id, "snapshot", seconds_since(started),
                  {{"watermark", fingerprints.watermark},
                   {"bucket_bits", fingerprints.bucket_bits},
                   {"recent_rows", scan.recent},
                   {"buckets_mismatched", scan.buckets_mismatched},
                   {"rows_reread", scan.reread},
                   {"statement_seconds", scan.seconds}});
    });
    log.info("upstream snapshot taken", {{"refresh_id", run.refresh_id},
                                         {"recent_rows", scan.recent},
                                         {"buckets_mismatched", scan.buckets_mismatched},
                                         {"rows_reread", scan.reread},
                                         {"seconds", seconds_since(started)}});
  }

  struct UpstreamScan {
    std::int64_t recent = 0, buckets_mismatched = 0, reread = 0;
    nlohmann::json seconds = nlohmann::json::object();  // where the time went (parts' times summed)
  };

  // Reads what changed upstream since the baseline into the snapshot's tables, on
  // refresh.copy_parallelism parts of the buckets at once, each in one REPEATABLE READ transaction
  // of its own on the upstream:
  //  1. one scan sends each recent row (updated_on past the watermark minus the overlap) with its
  //     version, and for the other rows each bucket's count and XOR of version hashes;
  //  2. a bucket whose count or XOR is not what the baseline predicts (its own, less the recent
  //     rows' baseline versions) is marked mismatched;
  //  3. the mismatched buckets' other rows are read one by one, in the same transaction, so they
  //     agree with the counts of step 1.
  UpstreamScan scan_upstream(pg::Database& db, const std::vector<std::string>& upstream_cols,
                             const config::MediaTypeConfig& media, const std::string& refresh_id,
                             const refresh::Baseline& baseline) {
    const int bits = baseline.bucket_bits;
    const auto snap = refresh::snapshot_tables(media.table, refresh_id);
    const auto base = refresh::baseline_tables(media.table);
    const auto table = "public." + pg::Identifier(media.table, "upstream table").quoted();
    const bool has_updated_on =
        std::find(upstream_cols.begin(), upstream_cols.end(), "updated_on") != upstream_cols.end();
    const std::string recent =
        has_updated_on
            ? fmt::format("COALESCE(u.updated_on >= {}::timestamp AT TIME ZONE 'UTC' - interval '{} seconds', false)",
                          pg::quote_literal(baseline.watermark),
                          std::chrono::duration_cast<std::chrono::seconds>(config.refresh.incremental.overlap).count())
            : std::string("false");
    const std::string version = refresh::row_version_sql("u.xmin");
    const std::int64_t total = std::int64_t{1} << bits;
    const int n = static_cast<int>(std::clamp<std::int64_t>(config.refresh.copy_parallelism, 1, total));
    std::atomic<std::int64_t> recent_rows{0}, mismatched{0}, reread{0};
    std::atomic<std::int64_t> scan_us{0}, compare_us{0}, reread_us{0};  // summed over the parts
    auto add_since = [](std::atomic<std::int64_t>& to, Clock::time_point from) {
      to += std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - from).count();
    };
    std::mutex mu;
    std::optional<std::string> error;
    auto part = [&](std::int64_t first, std::int64_t last) {
      const std::string range = fmt::format("u.identifier BETWEEN '{}' AND '{}'", refresh::bucket_low(first, bits),
                                            refresh::bucket_high(last, bits));
      auto up = pg::Database::connect(service::upstream_db_options(config, "datarefresh-planner-snapshot"));
      auto down = pg::Database::connect(service::api_db_options(config, "datarefresh-planner-snapshot"));
      // Streams `query`'s rows from the upstream transaction through a cursor into `copy`.
      auto stream = [&](const std::string& query, const std::string& copy) {
        up.exec("DECLARE scan NO SCROLL CURSOR FOR " + query);
        std::int64_t rows = 0;
        bool done = false;
        down.copy_in(copy, [&](std::string& chunk) {
          while (!done && chunk.size() < (1 << 20)) {
            auto rs = up.exec("FETCH 20000 FROM scan");
            done = rs.rows.size() < 20000;
            for (const auto& row : rs.rows) {
              for (std::size_t c = 0; c < row.size(); ++c) chunk.append(c ? "\t" : "").append(row[c].value_or("\\N"));
              chunk.append("\n");
            }
            rows += static_cast<std::int64_t>(rs.rows.size());
          }
          return !chunk.empty();
        });
        up.exec("CLOSE scan");
        return rows;
      };
      auto step_started = Clock::now();
      up.exec("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
      up.exec("SET LOCAL work_mem = '64MB'");
      down.exec("CREATE TEMP TABLE scanned (bucket integer, identifier uuid, n bigint, x bigint, version bigint)");
      stream(
          fmt::format("SELECT r.bucket, r.rid, count(*), bit_xor({}), max(r.version) FROM (SELECT {} AS bucket, CASE "
                      "WHEN {} THEN u.identifier END AS rid, u.identifier, {} AS version FROM {} AS u WHERE {}) AS r "
                      "GROUP BY r.bucket, r.rid",
                      refresh::version_hash_sql("r.identifier", "r.version"), refresh::bucket_sql("u.identifier", bits),
                      recent, version, table, range),
          "COPY scanned FROM STDIN");
      down.transact([&](pg::Database& tx) {
        tx.exec("INSERT INTO " + snap.buckets +
                " (bucket, n, x) SELECT bucket, n, x FROM scanned WHERE identifier IS NULL");
        recent_rows +=
            std::stoll(tx.query_value("WITH i AS (INSERT INTO " + snap.versions +
                                      " (identifier, version, recent) SELECT identifier, version, true FROM "
                                      "scanned WHERE identifier IS NOT NULL RETURNING 1) SELECT count(*) FROM i")
                           .value_or("0"));
      });
      add_since(scan_us, step_started);
      step_started = Clock::now();
      // The buckets whose non-recent rows are not what the baseline predicts. The recent rows' baseline
      // versions are looked up by key (OFFSET 0 keeps PostgreSQL from making that a hash join that
      // reads the whole baseline: the change, not the catalog, sets the cost).
      auto rs = down.exec(fmt::format(
          "WITH r AS (SELECT {bucket} AS bucket, count(*) AS n, bit_xor({hash}) AS x FROM scanned AS s CROSS JOIN "
          "LATERAL (SELECT b.version FROM {versions} AS b WHERE b.identifier = s.identifier OFFSET 0) AS v WHERE "
          "s.identifier IS NOT NULL GROUP BY 1), "
          "e AS (SELECT b.bucket, b.n - COALESCE(r.n, 0) AS n, b.x # COALESCE(r.x, 0) AS x FROM {buckets} AS b LEFT "
          "JOIN r USING (bucket) WHERE b.bucket BETWEEN {first} AND {last}), "
          "u AS (SELECT bucket, n, x FROM {snap} WHERE bucket BETWEEN {first} AND {last}) "
          "INSERT INTO {snap} AS t (bucket, n, x, mismatched) SELECT bucket, COALESCE(u.n, 0), COALESCE(u.x, 0), true "
          "FROM e FULL JOIN u USING (bucket) WHERE COALESCE(e.n, 0) <> COALESCE(u.n, 0) OR COALESCE(e.x, 0) <> "
          "COALESCE(u.x, 0) ON CONFLICT (bucket) DO UPDATE SET mismatched = true RETURNING t.bucket",
          fmt::arg("bucket", refresh::bucket_sql("s.identifier", bits)),
          fmt::arg("hash", refresh::version_hash_sql("s.identifier", "v.version")), fmt::arg("versions", base.versions),
          fmt::arg("buckets", base.buckets), fmt::arg("snap", snap.buckets), fmt::arg("first", first),
          fmt::arg("last", last)));
      down.exec("DROP TABLE scanned");
      std::vector<std::int64_t> buckets;
      for (const auto& row : rs.rows) buckets.push_back(std::stoll(*row[0]));
      std::sort(buckets.begin(), buckets.end());
      mismatched += static_cast<std::int64_t>(buckets.size());
      add_since(compare_us, step_started);
      step_started = Clock::now();
      if (!buckets.empty()) {
        std::string query;
        if (buckets.size() * 4 > static_cast<std::size_t>(last - first + 1)) {  // many: one more scan
          query = fmt::format(
              "SELECT u.identifier, {}, false FROM {} AS u WHERE {} AND NOT {} AND {} = ANY ('{{{}}}'::int[])", version,
              table, range, recent, refresh::bucket_sql("u.identifier", bits), fmt::join(buckets, ","));
        } else {  // few: by the identifier index, one range of consecutive buckets at a time
          std::vector<std::string> lows, highs;
          for (std::size_t i = 0; i < buckets.size(); ++i) {
            if (i == 0 || buckets[i] != buckets[i - 1] + 1) lows.push_back(refresh::bucket_low(buckets[i], bits));
            if (i + 1 == buckets.size() || buckets[i + 1] != buckets[i] + 1) {
              highs.push_back(refresh::bucket_high(buckets[i], bits));
            }
          }
          query = fmt::format(
              "SELECT u.identifier, {}, false FROM unnest('{{{}}}'::uuid[], '{{{}}}'::uuid[]) AS m(lo, hi) "
              "JOIN {} AS u ON u.identifier BETWEEN m.lo AND m.hi WHERE NOT {}",
              version, fmt::join(lows, ","), fmt::join(highs, ","), table, recent);
        }
        reread += stream(query, "COPY " + snap.versions + " (identifier, version, recent) FROM STDIN");
      }
      up.exec("COMMIT");
      add_since(reread_us, step_started);
    };
    std::vector<std::thread> threads;
    for (int i = 0; i < n; ++i) {
      const std::int64_t first = total * i / n, last = total * (i + 1) / n - 1;
      threads.emplace_back([&, first, last] {
        try {
          part(first, last);
        } catch (const std::exception& e) {
          std::lock_guard lock(mu);
          if (!error) error = e.what();
        }
      });
    }
    for (auto& t : threads) t.join();
    if (error) throw StepError("reading the upstream's changes to " + media.table + ": " + *error, true);
    auto keyed = Clock::now();
    db.exec("ALTER TABLE " + snap.versions + " ADD PRIMARY KEY (identifier); ANALYZE " + snap.versions + "; ANALYZE " +
            snap.buckets);
    auto secs = [](std::int64_t us) { return std::round(static_cast<double>(us) / 1000.0) / 1000.0; };
    return {recent_rows.load(),
            mismatched.load(),
            reread.load(),
            {{"parts", n},
             {"scan", secs(scan_us.load())},
             {"compare", secs(compare_us.load())},
             {"reread", secs(reread_us.load())},
             {"key", std::round(seconds_since(keyed) * 1000) / 1000}}};
  }

  // An incremental refresh's delta: which upstream rows to copy again into stage_<table>, and
  // which live rows to remove into temp_delete_<table>. Staged: the snapshot's rows (recent ones,
  // and all of the mismatched buckets') whose version differs from the baseline's (new rows have
  // none); live rows whose sensitive flag changed; rows taken off the deleted list. None on the
  // deleted list. A row the baseline holds is live unless the baseline's deleted list holds it
  // (a full copy records there exactly the rows it left out; an incremental refresh the list it
  // applied), so a row whose version did not change needs no look at the live table. Removed: live rows on the deleted
  // list, and live rows of a mismatched bucket that the upstream no longer has. A recent row whose version did not
  // change is the same row: applying it again would change nothing, so the overlap costs nothing. Then the snapshot's
  // buckets take in the recent rows and become, with the versions, the next baseline.
  struct Delta {
    std::int64_t staged = 0, created = 0, reflagged = 0, deleted = 0, live_max_id = 0;
  };
  Delta stage_delta(ledger::Ledger& ledger, pg::Database& db, ledger::Run& run, const config::MediaTypeConfig& media) {
    if (auto d = ledger.step_details(run.refresh_id, "delta")) {
      return {d->value("staged", std::int64_t{0}), d->value("created", std::int64_t{0}),
              d->value("reflagged", std::int64_t{0}), d->value("deleted", std::int64_t{0}),
              d->value("live_max_id", std::int64_t{0})};
    }
    auto started = Clock::now();
    const auto live = pg::Identifier(media.table, "table name").quoted();
    const auto base = refresh::baseline_tables(media.table);
    const auto snap = refresh::snapshot_tables(media.table, run.refresh_id);
    const auto stage = refresh::stage_table(media.table, run.refresh_id);
    const auto deletes = refresh::delete_table(pg::Identifier(media.table, "table name")).quoted();
    const int bits =
        refresh::Baseline::from_json(ledger.step_details(run.refresh_id, "baseline").value_or(nlohmann::json::object()))
            .bucket_bits;
    Delta d;
    nlohmann::json timings = nlohmann::json::object();
    db.transact([&](pg::Database& tx) {
      auto sql = [&](const std::string& name, const std::string& text) {
        auto statement_started = Clock::now();
        tx.exec(fmt::format(fmt::runtime(text), fmt::arg("live", live), fmt::arg("stage", stage),
                            fmt::arg("deletes", deletes), fmt::arg("versions", base.versions),
                            fmt::arg("base_sensitive", base.sensitive), fmt::arg("base_deleted", base.deleted),
                            fmt::arg("snap", snap.versions), fmt::arg("snap_buckets", snap.buckets),
                            fmt::arg("snap_sensitive", snap.sensitive), fmt::arg("snap_deleted", snap.deleted),
                            fmt::arg("low", refresh::bucket_low_sql("bucket", bits)),
                            fmt::arg("high", refresh::bucket_high_sql("bucket", bits)),
                            fmt::arg("recent_totals", refresh::bucket_totals_sql(snap.versions + " WHERE recent", bits))));
        timings[name] = std::round(seconds_since(statement_started) * 1000) / 1000;
      };
      // Live identifiers whose sensitive flag changed since the baseline.
      sql("reflag",
          "CREATE TEMP TABLE reflag ON COMMIT DROP AS SELECT identifier FROM ((SELECT identifier FROM {snap_sensitive} "
          "EXCEPT SELECT identifier FROM {base_sensitive}) UNION (SELECT identifier FROM {base_sensitive} EXCEPT "
          "SELECT "
          "identifier FROM {snap_sensitive})) AS x WHERE EXISTS (SELECT 1 FROM {live} AS l WHERE l.identifier = "
          "x.identifier)");
      sql("mismatched",
          "CREATE TEMP TABLE mismatched ON COMMIT DROP AS SELECT {low} AS lo, {high} AS hi FROM {snap_buckets} WHERE "
          "mismatched");
      sql("drop_stage", "DROP TABLE IF EXISTS {stage}");
      // Versions looked up by key, as in the scan's comparison.
      sql("stage",
          "CREATE TABLE {stage} AS SELECT c.identifier, row_number() OVER (ORDER BY c.identifier) AS ord FROM ("
          "SELECT s.identifier FROM {snap} AS s LEFT JOIN LATERAL (SELECT b.version FROM {versions} AS b WHERE "
          "b.identifier = s.identifier OFFSET 0) AS b ON true WHERE b.version IS DISTINCT FROM s.version "
          "UNION SELECT identifier FROM reflag "
          "UNION SELECT x.identifier FROM (SELECT identifier FROM {base_deleted} EXCEPT SELECT identifier FROM "
          "{snap_deleted}) AS x WHERE EXISTS (SELECT 1 FROM {versions} AS b WHERE b.identifier = x.identifier) AND NOT "
          "EXISTS (SELECT 1 FROM {live} AS l WHERE l.identifier = x.identifier)"
          ") AS c WHERE NOT EXISTS (SELECT 1 FROM {snap_deleted} AS d WHERE d.identifier = c.identifier)");
      sql("stage_key", "ALTER TABLE {stage} ADD PRIMARY KEY (ord)");
      sql("drop_deletes", "DROP TABLE IF EXISTS {deletes}");
      sql("create_deletes", "CREATE TABLE {deletes} (id integer PRIMARY KEY, identifier uuid NOT NULL)");
      sql("deletes",
          "INSERT INTO {deletes} SELECT l.id, l.identifier FROM {snap_deleted} AS d JOIN {live} AS l USING "
          "(identifier) "
          "UNION SELECT l.id, l.identifier FROM mismatched AS m JOIN {live} AS l ON l.identifier BETWEEN m.lo AND m.hi "
          "WHERE NOT EXISTS (SELECT 1 FROM {snap} AS s WHERE s.identifier = l.identifier)");
      sql("buckets",
          "INSERT INTO {snap_buckets} AS t (bucket, n, x) {recent_totals} ON CONFLICT (bucket) DO UPDATE SET n = t.n + "
          "EXCLUDED.n, x = t.x # EXCLUDED.x");
      auto rs = tx.exec("SELECT (SELECT count(*) FROM " + stage + "), (SELECT count(*) FROM " + stage +
                        " AS s WHERE NOT EXISTS (SELECT 1 FROM " + live +
                        " AS l WHERE l.identifier = s.identifier)), (SELECT count(*) FROM reflag AS r WHERE NOT EXISTS "
                        "(SELECT 1 FROM " +
                        deletes + " AS x WHERE x.identifier = r.identifier)), (SELECT count(*) FROM " + deletes +
                        "), (SELECT COALESCE(max(id), 0) FROM " + live + ")");
      d = {std::stoll(*rs.rows[0][0]), std::stoll(*rs.rows[0][1]), std::stoll(*rs.rows[0][2]),
           std::stoll(*rs.rows[0][3]), std::stoll(*rs.rows[0][4])};
      ledger::Ledger(tx).mark_step(run.refresh_id, "delta", seconds_since(started),
                                   {{"staged", d.staged},
                                    {"created", d.created},
                                    {"reflagged", d.reflagged},
                                    {"deleted", d.deleted},
                                    {"live_max_id", d.live_max_id},
                                    {"statement_seconds", timings}});
    });
    log.info("delta computed", {{"refresh_id", run.refresh_id}, {"staged", d.staged}, {"created", d.created},
                                {"reflagged", d.reflagged}, {"deleted", d.deleted}});
    return d;
  }

  void copy_tables(ledger::Ledger& ledger, pg::Database& db, ledger::Run& run, const config::MediaTypeConfig& media) {
    enter_phase(ledger, run, "copying");
    auto upstream = pg::Database::connect(service::upstream_db_options(config, "datarefresh-planner"));
    const auto& fdw_cfg = config.postgres.fdw;
    FdwTarget fdw{fdw_cfg.host, fdw_cfg.port, fdw_cfg.dbname, fdw_cfg.user, fdw_cfg.password.reveal()};
    const auto limit = row_limit_of(run);
    struct Job {
      std::string upstream, live;
      bool advanced;
      bool filter_tags;  // the media table: its tags are filtered on the way in (spec §1.3)
    };
    std::vector<Job> jobs{{media.table, media.table, true, true}};
    for (const auto& extra : media.extra_tables) {
      jobs.push_back({extra.upstream, extra.downstream, extra.copy == config::CopyMode::kAdvanced, false});
    }
    auto names = refresh::refresh_names(media.name, run.refresh_id);
    std::optional<Delta> delta;
    if (run.mode == "incremental") delta = stage_delta(ledger, db, run, media);
    for (const auto& job : jobs) {
      const std::string step = "copy:" + job.live;
      if (ledger.step_done(run.refresh_id, step)) continue;
      auto started = Clock::now();
      TableCopy copy{pg::Identifier(job.upstream, "upstream table"), pg::Identifier(job.live, "table name"),
                     job.advanced, limit, names.fdw_server,
                     refresh::import_schema(pg::Identifier(job.live, "table name"), run.refresh_id)};
      if (delta && job.filter_tags) {  // the media table: only its delta; extra tables are small and copied whole
        copy.stage_table = refresh::stage_table(media.table, run.refresh_id);
        copy.stage_rows = delta->staged;
        copy.first_new_id = delta->live_max_id + 1;
      } else if (job.filter_tags && !limit) {  // a full copy reads every row: it records their versions on the way
        copy.baseline_into = refresh::snapshot_tables(media.table, run.refresh_id);
        copy.bucket_bits = refresh::Baseline::from_json(
                               ledger.step_details(run.refresh_id, "baseline").value_or(nlohmann::json::object()))
                               .bucket_bits;
      }
      copy.identifier_is_uuid =
          upstream
              .query_value("SELECT data_type FROM information_schema.columns WHERE table_schema = current_schema() "
                           "AND table_name = $1 AND column_name = 'identifier'",
                           {job.upstream})
              .value_or("") == "uuid";
      auto upstream_cols = upstream.table_columns(job.upstream);
      if (upstream_cols.empty()) {
        throw StepError("upstream table " + job.upstream + " does not exist in " + upstream.target() +
                        ": check media_types." + media.name + " and postgres.upstream.dsn",
                        false);
      }
      const auto columns = shared_columns(upstream_cols, db.table_columns(job.live));
      // A resumed copy keeps the number of parts its setup planned, whatever the config says now.
      const std::string setup_step = "copy_setup:" + job.live;
      int parts = std::max(1, config.refresh.copy_parallelism);
      if (auto done = ledger.step_details(run.refresh_id, setup_step)) parts = done->value("parts", parts);
      auto plan = copy_plan(copy, fdw, columns, parts, job.filter_tags);
      if (!ledger.step_done(run.refresh_id, setup_step)) {
        // The upstream table's size, against which status views estimate the copy's progress.
        const auto upstream_bytes = std::stoll(
            upstream.query_value("SELECT COALESCE(pg_relation_size(to_regclass($1)), 0)", {copy.upstream.quoted()})
                .value_or("0"));
        db.transact(
            [&](pg::Database& tx) {
              set_copy_timeout(tx);
              for (const auto& s : plan.setup) tx.exec(s);
              crash_point("planner.copy_uncommitted");
              ledger::Ledger(tx).mark_step(run.refresh_id, setup_step, seconds_since(started),
                                           {{"parts", static_cast<int>(plan.parts.size())},
                                            {"upstream_bytes", upstream_bytes}});
            },
            pg::TransactionOptions{config.postgres.lock_timeout, 3});
      }
      auto totals = copy_parts(run, job.live, plan);
      // The count column goes and the primary key comes in the transaction that records the copy.
      db.transact(
          [&](pg::Database& tx) {
            set_copy_timeout(tx);
            for (const auto& s : plan.finish) tx.exec(s);
            ledger::Ledger(tx).mark_step(run.refresh_id, step, seconds_since(started),
                                         {{"rows", totals.rows},
                                          {"upstream", job.upstream},
                                          {"parts", static_cast<int>(plan.parts.size())},
                                          {"tags_rows_changed", totals.rows_changed},
                                          {"tags_removed", totals.tags_removed}});
          },
          pg::TransactionOptions{config.postgres.lock_timeout, 3});
      log.info("table copied", {{"refresh_id", run.refresh_id},
                                {"table", job.live},
                                {"rows", totals.rows},
                                {"parts", plan.parts.size()},
                                {"tags_rows_changed", totals.rows_changed},
                                {"tags_removed", totals.tags_removed},
                                {"seconds", seconds_since(started)}});
      if (job.live == media.table) {
        ledger.update_run(run.refresh_id, {{"rows_copied", totals.rows},
                                           {"tags_rows_changed", totals.rows_changed},
                                           {"tags_removed", totals.tags_removed}});
      }
    }
    refresh::drop_fdw_objects(db, media, run.refresh_id);
    run = *ledger.run(run.refresh_id);
  }

  void set_copy_timeout(pg::Database& tx) {
    if (config.postgres.copy_timeout.count() > 0) {
      tx.exec(fmt::format("SET LOCAL statement_timeout = {}", config.postgres.copy_timeout.count()));
    }
  }

  struct CopyTotals {
    std::int64_t rows = 0, rows_changed = 0, tags_removed = 0;
  };

  // Runs the parts of `plan` not yet done, at most refresh.copy_parallelism at once, each on its
  // own connection and in its own transaction with its ledger step, so a crash loses only the
  // parts in flight; returns the totals of all parts, done before or now.
  CopyTotals copy_parts(const ledger::Run& run, const std::string& table, const CopyPlan& plan) {
    const auto params = catalog::tag_filter_params(catalog::TagRules{});
    std::atomic<std::size_t> next{0};
    std::mutex mu;
    CopyTotals totals;
    std::optional<std::string> error;
    bool error_retryable = true;
    auto worker = [&] {
      try {
        auto conn = pg::Database::connect(service::api_db_options(config, "datarefresh-planner-copy"));
        ledger::Ledger worker_ledger(conn);
        for (std::size_t i = next++; i < plan.parts.size(); i = next++) {
          {
            std::lock_guard lock(mu);
            if (error) return;
          }
          const std::string step = fmt::format("copy_part:{}:{}/{}", table, i + 1, plan.parts.size());
          CopyTotals part;
          if (auto done = worker_ledger.step_details(run.refresh_id, step)) {
            part = {done->value("rows", std::int64_t{0}), done->value("tags_rows_changed", std::int64_t{0}),
                    done->value("tags_removed", std::int64_t{0})};
          } else {
            auto part_started = Clock::now();
            conn.transact([&](pg::Database& tx) {
              set_copy_timeout(tx);
              auto rs = plan.filters_tags ? tx.exec_params(plan.parts[i], {params.begin(), params.end()})
                                          : tx.exec(plan.parts[i]);
              part = {std::stoll(rs.rows[0][0].value_or("0")), std::stoll(rs.rows[0][1].value_or("0")),
                      std::stoll(rs.rows[0][2].value_or("0"))};
              ledger::Ledger(tx).mark_step(run.refresh_id, step, seconds_since(part_started),
                                           {{"rows", part.rows},
                                            {"tags_rows_changed", part.rows_changed},
                                            {"tags_removed", part.tags_removed}});
            });
            crash_point("planner.copy_part_committed");
          }
          std::lock_guard lock(mu);
          totals.rows += part.rows;
          totals.rows_changed += part.rows_changed;
          totals.tags_removed += part.tags_removed;
        }
      } catch (const std::exception& e) {
        std::lock_guard lock(mu);
        if (!error) {
          error = e.what();
          error_retryable = refresh::is_retryable(e);
        }
      }
    };
    std::vector<std::thread> threads;
    const auto workers = std::min<std::size_t>(plan.parts.size(), std::max(1, config.refresh.copy_parallelism));
    for (std::size_t i = 0; i < workers; ++i) threads.emplace_back(worker);
    for (auto& t : threads) t.join();
    if (error) throw StepError("copying into temp_import_" + table + ": " + *error, error_retryable);
    return totals;
  }

  // An incremental refresh's new indices: clones of the live ones (Elasticsearch's _clone needs a
  // write block on the source: it is there only for the clone, and taken off again at once, also by
  // a rollback). The filtered index is not cloned when the sensitive terms changed: the coordinator
  // then builds it whole from the new main index.
  void clone_indices(ledger::Ledger& ledger, ledger::Run& run, const config::MediaTypeConfig& media) {
    enter_phase(ledger, run, "cloning_indices");
    auto started = Clock::now();
    const auto prev = ledger.last_completed_refresh(media.name);
    const auto before = refresh::Baseline::from_json(
        !prev ? nlohmann::json::object()
              : ledger.step_details(prev->refresh_id, "baseline").value_or(nlohmann::json::object()));
    const auto now = refresh::Baseline::from_json(*ledger.step_details(run.refresh_id, "baseline"));
    const bool rebuild_filtered = before.sensitive_terms != now.sensitive_terms;
    std::vector<std::pair<std::string, std::string>> clones{{*run.old_index, *run.new_index}};
    if (config.refresh.filtered_index.enabled && !rebuild_filtered && run.old_filtered_index) {
      clones.emplace_back(*run.old_filtered_index, *run.filtered_index);
    }
    ledger.mark_step(run.refresh_id, "clone:blocks", 0, {{"indices", {*run.old_index, run.old_filtered_index.value_or("")}}});
    for (const auto& [source, target] : clones) {
      refresh::check(search.set_write_block(source, true), "putting a write block on " + source + " to clone it");
      crash_point("planner.clone_source_blocked");
      nlohmann::json body = {{"settings", {{"index", {{"number_of_replicas", 0}, {"refresh_interval", "-1"},
                                                      {"blocks", {{"write", nullptr}}}}}}}};
      if (target == *run.new_index) body["aliases"] = {{refresh::load_alias(target), nlohmann::json::object()}};
      auto cloned = search.clone_index(source, target, body);
      if (!cloned.ok() && cloned.error().type != "resource_already_exists_exception") {
        search.set_write_block(source, false);
        throw StepError("cloning " + source + " into " + target + ": " + cloned.error().describe(), cloned.error().retryable);
      }
      refresh::check(search.set_write_block(source, false), "taking the write block off " + source);
    }
    // A clone made by an earlier attempt of this step may not have its load alias yet.
    const auto load = refresh::load_alias(*run.new_index);
    auto aliases = refresh::check(search.get_index_aliases(*run.new_index), "reading aliases of " + *run.new_index);
    if (std::find(aliases.begin(), aliases.end(), load) == aliases.end()) {
      refresh::check(search.update_aliases({search::AliasAction::add(*run.new_index, load)}),
                     "adding alias " + load + " to " + *run.new_index);
    }
    ledger.mark_step(run.refresh_id, "create_index", seconds_since(started),
                     {{"index", *run.new_index}, {"cloned", true}, {"rebuild_filtered", rebuild_filtered}});
  }

  void create_index(ledger::Ledger& ledger, ledger::Run& run, const config::MediaTypeConfig& media) {
    if (ledger.step_done(run.refresh_id, "create_index")) return;
    if (run.mode == "incremental") return clone_indices(ledger, run, media);
    enter_phase(ledger, run, "creating_index");
    auto started = Clock::now();
    auto path = context.resolve(config.refresh.index_settings_dir + "/" + media.index_settings);
    nlohmann::json overrides = {{"number_of_replicas", 0}, {"refresh_interval", "-1"}};
    if (media.number_of_shards > 0) overrides["number_of_shards"] = media.number_of_shards;
    const auto load = refresh::load_alias(*run.new_index);
    auto created = search.create_index_from_file(*run.new_index, path.string(), overrides, {load});
    if (!created.ok() && created.error().type != "resource_already_exists_exception") {
      throw StepError("creating index " + *run.new_index + ": " + created.error().describe(), created.error().retryable);
    }
    if (!created.ok()) {  // made by an earlier attempt of this step: its load alias may not be there yet
      refresh::check(search.update_aliases({search::AliasAction::add(*run.new_index, load)}),
                     "adding alias " + load + " to " + *run.new_index);
    }
    ledger.mark_step(run.refresh_id, "create_index", seconds_since(started), {{"index", *run.new_index}});
  }

  void plan_shards(ledger::Ledger& ledger, pg::Database& db, ledger::Run& run, const config::MediaTypeConfig& media) {
    if (ledger.step_done(run.refresh_id, "plan_shards")) return;
    enter_phase(ledger, run, "planning_shards");
    auto started = Clock::now();
    auto temp = refresh::temp_table(pg::Identifier(media.table, "table name"));
    auto rs = db.exec("SELECT min(id), max(id), count(*) FROM " + temp.quoted());
    std::int64_t lo = rs.rows[0][0] ? std::stoll(*rs.rows[0][0]) : 1;
    std::int64_t hi = rs.rows[0][1] ? std::stoll(*rs.rows[0][1]) : 0;
    std::int64_t rows = std::stoll(rs.rows[0][2].value_or("0"));
    std::vector<catalog::ShardRange> shards;
    if (run.mode == "incremental") {
      // The delta's ids are sparse (kept rows keep their live ids): shards of rows_per_shard rows
      // each, cut at the ids themselves; then the shards of documents to delete.
      auto add = [&](const pg::Identifier& table, bool deletes) {
        auto cuts = db.exec(fmt::format("SELECT id FROM (SELECT id, row_number() OVER (ORDER BY id) AS n FROM {}) AS x "
                                        "WHERE (n - 1) % {} = 0 ORDER BY id",
                                        table.quoted(), config.refresh.rows_per_shard));
        auto top = db.query_value("SELECT max(id) + 1 FROM " + table.quoted());
        for (std::size_t i = 0; i < cuts.size(); ++i) {
          catalog::ShardRange r;
          r.shard = static_cast<std::int32_t>(shards.size());
          r.id_start = std::stoll(*cuts.rows[i][0]);
          r.id_end = i + 1 < cuts.size() ? std::stoll(*cuts.rows[i + 1][0]) : std::stoll(top.value_or("0"));
          r.deletes = deletes;
          shards.push_back(r);
        }
      };
      add(temp, false);
      add(refresh::delete_table(pg::Identifier(media.table, "table name")), true);
      rows += std::stoll(db.query_value("SELECT count(*) FROM " +
                                        refresh::delete_table(pg::Identifier(media.table, "table name")).quoted())
                             .value_or("0"));
    } else {
      shards = catalog::plan_shards(lo, hi, config.refresh.rows_per_shard);
    }
    db.transact([&](pg::Database& tx) {
      ledger::Ledger l(tx);
      l.record_shards(run.refresh_id, shards);
      l.update_run(run.refresh_id, {{"id_min", lo}, {"id_max", hi}, {"shard_count", shards.size()}, {"expected_rows", rows}});
      l.mark_step(run.refresh_id, "plan_shards", seconds_since(started), {{"shards", shards.size()}, {"rows", rows}});
    });
    run = *ledger.run(run.refresh_id);
  }

  // The plan of `run` as the ledger holds it: ids, mode, indices, aliases.
  static messages::RefreshPlanned plan_of(const ledger::Run& run, const config::MediaTypeConfig& media) {
    messages::RefreshPlanned plan;
    plan.refresh_id = RefreshId(run.refresh_id);
    plan.request_id = run.request_id;
    plan.media_type = media.name;
    plan.environment = run.environment;
    plan.mode = run.mode;
    plan.new_index = run.new_index.value_or("");
    plan.filtered_index = run.filtered_index.value_or("");  // none for a sample
    plan.old_index = run.old_index;
    plan.old_filtered_index = run.old_filtered_index;
    plan.alias = run.alias.value_or("");
    plan.filtered_alias = run.filtered_alias.value_or("");
    plan.planned_at = messages::now_timestamp();
    return plan;
  }

  // The index an alias points at now: nullopt when it points at none; refused when at several or
  // when the name is an index (it could not become an alias).
  std::optional<std::string> alias_target(const std::string& alias, const std::string& key) {
    auto targets = refresh::check(search.get_alias(alias), "reading alias " + alias);
    if (targets.size() > 1) {
      throw IncrementalRefused(
          fmt::format("alias {} points at {} indices; point it at one index first", alias, targets.size()));
    }
    if (!targets.empty()) return targets.begin()->first;
    if (refresh::check(search.index_exists(alias), "checking whether " + alias + " exists")) {
      throw IncrementalRefused(
          fmt::format("{} is an existing index, so it cannot be an alias: delete or rename that "
                      "index, or set {} to another name",
                      alias, key));
    }
    return std::nullopt;
  }

  // A maintenance run (filtered_only, sample, rollback): nothing to copy or index here, so the
  // preflight checks what the run needs and records its indices and aliases, and the plan is
  // published for the coordinator, which runs the run's steps. Refused (with the reason, nothing
  // touched) when it cannot run.
  void plan_maintenance(ledger::Ledger& ledger, ledger::Run& run, const config::MediaTypeConfig& media) {
    if (!ledger.step_done(run.refresh_id, "preflight")) {
      auto started = Clock::now();
      const auto names = refresh::refresh_names(media.name, run.refresh_id);
      const auto main = alias_target(media.alias, "media_types." + media.name + ".alias");
      const auto filtered = alias_target(media.filtered_alias, "media_types." + media.name + ".filtered_alias");
      nlohmann::json fields = {{"alias", media.alias},
                               {"filtered_alias", media.filtered_alias},
                               {"old_index", main ? nlohmann::json(*main) : nlohmann::json()},
                               {"old_filtered_index", filtered ? nlohmann::json(*filtered) : nlohmann::json()}};
      nlohmann::json details = nlohmann::json::object();
      auto need_live = [&](const char* what) {
        if (!main) {
          throw IncrementalRefused(
              fmt::format("alias {} points at no index, so there is no live main index to {} from: "
                          "run a full refresh first",
                          media.alias, what));
        }
      };
      if (run.mode == "rollback") {
        if (auto refusal = refresh::rollback_refusal(ledger.db(), search, config, media))
          throw IncrementalRefused(*refusal);
        auto kept = refresh::read_kept(ledger.db(), media.name);
        fields["new_index"] = *kept->index;
        fields["filtered_index"] = kept->filtered_index ? *kept->filtered_index : filtered.value_or(*kept->index);
        details["kept_refresh_id"] = kept->refresh_id;
      } else if (run.mode == "filtered_only") {
        if (!config.refresh.filtered_index.enabled) {
          throw IncrementalRefused("refresh.filtered_index.enabled is false, so there is no filtered index to rebuild");
        }
        need_live("build the filtered index");
        fields["new_index"] = *main;
        fields["filtered_index"] = names.filtered_index;
      } else {  // sample
        need_live("sample");
        const auto staging = media.staging_alias_name();
        const auto previous = alias_target(staging, "media_types." + media.name + ".staging_alias");
        fields["alias"] = staging;
        fields["filtered_alias"] = nullptr;
        fields["old_index"] = previous ? nlohmann::json(*previous) : nlohmann::json();
        fields["old_filtered_index"] = nullptr;
        fields["new_index"] = names.new_index;
        fields["filtered_index"] = nullptr;
        details["source_index"] = *main;
      }
      ledger.update_run(run.refresh_id, fields);
      details.update(fields);
      ledger.mark_step(run.refresh_id, "preflight", seconds_since(started), details);
      run = *ledger.run(run.refresh_id);
    }
    if (ledger.step_done(run.refresh_id, "publish")) return;
    publisher.refresh_planned(plan_of(run, media));
    ledger.mark_step(run.refresh_id, "publish", 0, {{"shard_jobs", 0}});
    log.info("maintenance run planned",
             {{"refresh_id", run.refresh_id}, {"media_type", media.name}, {"mode", run.mode}});
  }

  void publish(ledger::Ledger& ledger, ledger::Run& run, const config::MediaTypeConfig& media,
               const messages::RefreshRequested& request) {
    if (ledger.step_done(run.refresh_id, "publish")) return;
    auto started = Clock::now();
    auto plan = plan_of(run, media);
    for (const auto& t : refresh::refreshed_tables(media)) {
      std::string upstream = t;
      for (const auto& e : media.extra_tables) {
        if (e.downstream == t) upstream = e.upstream;
      }
      plan.tables.push_back({upstream, refresh::temp_table(pg::Identifier(t)).name(), t});
    }
    plan.shard_count = run.shard_count.value_or(0);
    plan.expected_rows = run.expected_rows.value_or(0);
    plan.id_min = run.id_min.value_or(0);
    plan.id_max = run.id_max.value_or(0);
    plan.row_limit = request.options.row_limit;
    publisher.refresh_planned(plan);

    std::vector<messages::ShardJob> jobs;
    for (const auto& s : ledger.shards(run.refresh_id)) {
      if (s.status == ledger::ShardStatus::kPending) jobs.push_back(refresh::shard_job(run, media, s));
    }
    // In two halves, so that the crash tests can stop the planner between them. A restart
    // publishes every job again (the ledger marks them published only after both halves); the
    // indexers skip a job whose shard is already complete and index a repeated one idempotently.
    auto half = jobs.begin() + static_cast<std::ptrdiff_t>(jobs.size() / 2);
    auto written = publisher.shard_jobs({jobs.begin(), half});
    crash_point("planner.shard_jobs_half_published");
    auto second = publisher.shard_jobs({half, jobs.end()});
    written.insert(written.end(), second.begin(), second.end());
    ledger.mark_published(run.refresh_id, written);
    enter_phase(ledger, run, "indexing");
    ledger.mark_step(run.refresh_id, "publish", seconds_since(started), {{"shard_jobs", jobs.size()}});
    log.info("refresh planned", {{"refresh_id", run.refresh_id}, {"media_type", media.name},
                                 {"shards", jobs.size()}, {"rows", plan.expected_rows}});
  }
};

Planner::Planner(service::ServiceContext& context, kafka::Producer& producer)
    : impl_(std::make_unique<Impl>(context, producer)) {}
Planner::~Planner() = default;

void Planner::cancel_before_start(const std::string& request_id, const std::string& requested_by) {
  std::lock_guard lock(impl_->cancel_mutex);
  impl_->cancel_before_start[request_id] = requested_by;
}

void Planner::interrupt(const std::string& refresh_id) {
  {
    std::lock_guard lock(impl_->cancel_mutex);
    if (impl_->current_refresh != refresh_id) return;
  }
  // The planner's own sessions in the API database (the copy's parts run there through the FDW);
  // the statements fail with query_canceled and plan() rolls back.
  auto db = pg::Database::connect(service::api_db_options(impl_->config, "datarefresh-planner-cancel"));
  auto n = db.query_value(
      "SELECT count(pg_cancel_backend(pid)) FROM pg_stat_activity WHERE datname = current_database() AND "
      "application_name IN ('datarefresh-planner', 'datarefresh-planner-copy') AND state = 'active' AND "
      "pid <> pg_backend_pid()");
  // And its snapshot's reads on the upstream (the scan of versions), which run there directly.
  std::optional<std::string> upstream_n;
  try {
    auto upstream = pg::Database::connect(service::upstream_db_options(impl_->config, "datarefresh-planner-cancel"));
    upstream_n = upstream.query_value(
        "SELECT count(pg_cancel_backend(pid)) FROM pg_stat_activity WHERE datname = current_database() AND "
        "application_name = 'datarefresh-planner-snapshot' AND state = 'active' AND pid <> pg_backend_pid()");
  } catch (const std::exception& e) {
    impl_->log.warn("could not interrupt the snapshot's reads on the upstream", {{"error", e.what()}});
  }
  impl_->log.info("interrupted the planner's statements for a cancel request",
                  {{"refresh_id", refresh_id}, {"statements", n.value_or("0")}, {"upstream", upstream_n.value_or("0")}});
}

PlanOutcome Planner::plan(const messages::RefreshRequested& request, const kafka::CancelToken* cancel) {
  auto& m = *impl_;
  auto media_it = m.config.media_types.find(request.media_type);
  if (media_it == m.config.media_types.end()) {
    std::string known;
    for (const auto& [name, _] : m.config.media_types) known += (known.empty() ? "" : ", ") + name;
    messages::RefreshRefused refused;
    refused.request_id = request.request_id;
    refused.media_type = request.media_type;
    refused.reason = "unknown media type '" + request.media_type + "' (configured: " + known + ")";
    refused.at = messages::now_timestamp();
    m.publisher.publish(refused);
    m.count(request.media_type.empty() ? "unknown" : "unknown", "refused");
    return PlanOutcome::kRefused;
  }
  const auto& media = media_it->second;

  pg::Database db = m.connect_api();
  ledger::Ledger ledger(db);
  ledger::NewRun n;
  // The request id doubles as the refresh id, so whoever asked can follow the refresh at once.
  n.refresh_id = request.request_id;
  n.request_id = request.request_id;
  n.media_type = media.name;
  n.environment = m.config.environment;
  n.lock_scope = refresh::lock_scope(m.config, media.name);
  n.requested_by = request.options.requested_by;
  n.options = nlohmann::json::object();
  if (request.options.row_limit) n.options["row_limit"] = *request.options.row_limit;
  n.options["mode"] = request.options.mode;
  if (request.options.sample_percent) n.options["sample"] = {{"percent", *request.options.sample_percent}};
  if (request.options.sample_rows) n.options["sample"] = {{"rows", *request.options.sample_rows}};
  if (request.options.mode == "sample") n.options["sample_by"] = request.options.sample_by;
  // "auto" is resolved at the preflight
  n.mode = request.options.mode == "incremental" || messages::is_maintenance_mode(request.options.mode)
               ? request.options.mode
               : "full";
  auto begun = ledger.begin_run(n);
  if (begun.kind == ledger::BeginOutcome::Kind::kRefused) {
    messages::RefreshRefused refused;
    refused.request_id = request.request_id;
    refused.media_type = media.name;
    refused.reason = begun.run.error.value_or("another refresh is running");
    if (begun.holder) refused.running_refresh_id = RefreshId(begun.holder->refresh_id);
    refused.at = messages::now_timestamp();
    m.publisher.publish(refused);
    m.count(media.name, "refused");
    m.log.warn("refresh refused", {{"request_id", request.request_id}, {"reason", refused.reason}});
    return PlanOutcome::kRefused;
  }
  ledger::Run run = begun.run;
  {
    std::lock_guard lock(m.cancel_mutex);
    if (auto it = m.cancel_before_start.find(run.refresh_id); it != m.cancel_before_start.end()) {
      ledger.request_cancel(run.refresh_id, it->second);
      m.cancel_before_start.erase(it);
    }
    m.current_refresh = run.refresh_id;
  }
  struct Current {
    Impl& m;
    ~Current() {
      std::lock_guard lock(m.cancel_mutex);
      m.current_refresh.clear();
    }
  } current{m};
  if (begun.kind == ledger::BeginOutcome::Kind::kResumed) {
    if (run.status != ledger::RunStatus::kRunning || ledger.step_done(run.refresh_id, "publish")) {
      m.count(media.name, "duplicate");
      return PlanOutcome::kDuplicate;
    }
    m.log.info("resuming refresh", {{"refresh_id", run.refresh_id}, {"phase", run.phase}});
  } else {
    m.publisher.phase_changed(run.refresh_id, media.name, "planning", std::nullopt);
  }

  auto cancelled = [&] { return cancel && cancel->cancelled(); };
  try {
    m.check_cancel(ledger, run);
    if (messages::is_maintenance_mode(run.mode)) {
      m.plan_maintenance(ledger, run, media);
      m.retries.reset(request.request_id);
      m.count(media.name, "planned");
      return PlanOutcome::kPlanned;
    }
    m.preflight(ledger, run, media);
    if (cancelled()) return PlanOutcome::kRetryLater;
    m.check_cancel(ledger, run);
    m.snapshot(ledger, db, run, media);
    if (cancelled()) return PlanOutcome::kRetryLater;
    m.check_cancel(ledger, run);
    m.copy_tables(ledger, db, run, media);
    if (cancelled()) return PlanOutcome::kRetryLater;
    m.check_cancel(ledger, run);
    m.create_index(ledger, run, media);
    m.check_cancel(ledger, run);
    m.plan_shards(ledger, db, run, media);
    m.check_cancel(ledger, run);
    m.publish(ledger, run, media, request);
    m.retries.reset(request.request_id);
    m.count(media.name, "planned");
    return PlanOutcome::kPlanned;
  } catch (const IncrementalRefused& e) {
    messages::RefreshRefused refused;
    refused.request_id = request.request_id;
    refused.media_type = media.name;
    refused.reason = e.what();
    refused.at = messages::now_timestamp();
    m.publisher.publish(refused);
    ledger.finish_run(run.refresh_id, ledger::RunStatus::kRefused, std::string(e.what()), nullptr);
    m.count(media.name, "refused");
    m.log.warn("refresh refused", {{"refresh_id", run.refresh_id}, {"reason", refused.reason}});
    return PlanOutcome::kRefused;
  } catch (const std::exception& e) {
    // A cancel request interrupts the running statement, so any error may be its doing: the
    // ledger says whether the refresh was cancelled.
    try {
      pg::Database fresh = m.connect_api();
      ledger::Ledger fresh_ledger(fresh);
      auto now = fresh_ledger.run(run.refresh_id);
      if (now && now->status == ledger::RunStatus::kRunning && now->cancel_requested_at) {
        now->phase = run.phase;
        refresh::cancel_refresh(fresh_ledger, fresh, m.search, m.publisher, *now, media);
        m.count(media.name, "cancelled");
        return PlanOutcome::kCancelled;
      }
    } catch (const std::exception& inner) {
      m.log.error("could not check for or roll back a cancelled refresh",
                  {{"refresh_id", run.refresh_id}, {"error", inner.what()}});
      return PlanOutcome::kRetryLater;
    }
    bool retryable = refresh::is_retryable(e);
    if (retryable && m.retries.may_retry(request.request_id)) {
      m.log.warn("refresh step failed, will retry", {{"refresh_id", run.refresh_id}, {"phase", run.phase},
                                                     {"attempt", m.retries.attempts(request.request_id)},
                                                     {"error", e.what()}});
      return PlanOutcome::kRetryLater;
    }
    try {
      pg::Database fresh = m.connect_api();
      ledger::Ledger fresh_ledger(fresh);
      refresh::fail_refresh(fresh_ledger, fresh, m.search, m.publisher, run, media, e.what());
    } catch (const std::exception& inner) {
      m.log.error("could not roll back", {{"refresh_id", run.refresh_id}, {"error", inner.what()}});
      return PlanOutcome::kRetryLater;
    }
    m.count(media.name, "failed");
    return PlanOutcome::kFailed;
  }
}

kafka::JobOutcome Planner::handle(const kafka::Message& message, const kafka::CancelToken& cancel) {
  auto& m = *impl_;
  auto decoded = messages::decode<messages::RefreshRequested>(message.payload);
  try {
    if (!decoded.ok()) {
      m.publisher.dead_letter(message, decoded.error().message, std::nullopt);
      return kafka::JobOutcome::kDone;
    }
    auto outcome = plan(decoded.value(), &cancel);
    return outcome == PlanOutcome::kRetryLater ? kafka::JobOutcome::kRetry : kafka::JobOutcome::kDone;
  } catch (const std::exception& e) {
    // Could not even reach the ledger or the broker: try the same request again later.
    m.log.error("request not handled, will retry", {{"offset", message.offset.value()}, {"error", e.what()}});
    return kafka::JobOutcome::kRetry;
  }
}

}  // namespace datarefresh::planner
