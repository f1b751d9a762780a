#include "devstack/demo/demo_command.h"

#include <unistd.h>

#include <chrono>
#include <iostream>
#include <map>

#include <fmt/format.h>

#include "core/common/error.h"
#include "core/common/log.h"
#include "core/common/progress_bar.h"
#include "core/common/shutdown.h"
#include "core/kafka/topics.h"
#include "core/pg/database.h"
#include "core/search/client.h"
#include "devstack/demo/dev_stack.h"

namespace datarefresh::demo {
namespace {

using Clock = std::chrono::steady_clock;

std::string progress_line(const std::string& media, const RefreshProgress& p, const RateTracker& rate) {
  double fraction = p.rows_expected > 0 ? static_cast<double>(p.rows_read) / static_cast<double>(p.rows_expected) : 0;
  if (p.run.status == ledger::RunStatus::kCompleted) fraction = 1;
  std::string eta = "--";
  if (rate.rate > 1 && p.rows_expected > p.indexed && p.run.phase == "indexing") {
    eta = fmt::format("{:.0f}s", static_cast<double>(p.rows_expected - p.rows_read) / rate.rate);
  }
  return fmt::format("{:<6} [{}] {:>5.1f}%  {:>8}/{:<8} docs  {:>7.0f} docs/s  ETA {:>5}  shards {}/{}  {}", media,
                     progress_bar(fraction), fraction * 100, p.indexed, p.rows_expected, rate.rate, eta, p.shards_done,
                     p.shards_total, p.run.phase);
}

void print_summary(const RefreshProgress& p) {
  const auto& run = p.run;
  std::cout << fmt::format("\n== {} refresh {}: {}\n", run.media_type, run.refresh_id, ledger::to_string(run.status));
  if (run.status != ledger::RunStatus::kCompleted) {
    std::cout << "   error: " << run.error.value_or("(none)") << "\n";
    return;
  }
  const auto& r = run.report;
  double index_seconds = 0, total = 0;
  for (const auto& ph : r.value("phases", nlohmann::json::array())) {
    total += ph.value("seconds", 0.0);
    if (ph.value("name", "") == "indexing") index_seconds = ph.value("seconds", 0.0);
  }
  std::int64_t docs = r.value("documents_indexed", std::int64_t{0});
  std::cout << fmt::format("   rows copied        {:>10}\n", run.rows_copied.value_or(0));
  std::cout << fmt::format("   rows before/after  {:>10} -> {}\n", r.value("rows_before", std::int64_t{0}),
                           r.value("rows_after", std::int64_t{0}));
  std::cout << fmt::format("   tags filtered      {:>10} rows, {} tags removed\n", r.value("tags_filtered_rows", std::int64_t{0}),
                           r.value("tags_removed", std::int64_t{0}));
  std::cout << fmt::format("   documents indexed  {:>10}  ({:.0f} docs/s while indexing)\n", docs,
                           index_seconds > 0 ? static_cast<double>(docs) / index_seconds : 0.0);
  std::cout << fmt::format("   filtered out       {:>10}  (sensitive terms)\n", r.value("filtered_out", std::int64_t{0}));
  std::cout << fmt::format("   dead-lettered      {:>10}\n", r.value("dead_lettered", std::int64_t{0}));
  std::cout << "   time per phase:";
  for (const auto& ph : r.value("phases", nlohmann::json::array())) {
    std::cout << fmt::format(" {} {:.1f}s,", ph.value("name", ""), ph.value("seconds", 0.0));
  }
  std::cout << fmt::format(" total {:.1f}s\n", total);
  std::cout << "   per provider (before -> after):";
  int shown = 0;
  for (const auto& pp : r.value("per_provider", nlohmann::json::array())) {
    if (shown++ == 6) {
      std::cout << " ...";
      break;
    }
    std::cout << fmt::format(" {} {}->{},", pp.value("provider", ""), pp.value("before", 0), pp.value("after", 0));
  }
  std::cout << "\n";
}

class DemoCommand final : public Command {
 public:
  explicit DemoCommand(CLI::App& root)
      : Command(root.add_subcommand("demo", "Run refreshes end to end on the embedded dev stack")) {
    sub_->add_option("--rows", image_rows_, "Image rows to generate")->capture_default_str();
    sub_->add_option("--audio-rows", audio_rows_, "Audio rows to generate")->capture_default_str();
    sub_->add_option("--indexers", indexers_, "Indexer processes")->capture_default_str()->check(CLI::Range(1, 16));
    sub_->add_option("--seed", seed_, "Data generator seed")->capture_default_str();
    sub_->add_option("--timeout", timeout_s_, "Seconds to wait for each refresh")->capture_default_str();
    sub_->add_flag("--check-only", check_only_,
                   "Bring the stack up, check each part answers, stop (with --keep: leave it running)");
    sub_->add_flag("--keep", keep_, "Leave the stack running at the end and print how to reach it");
    sub_->add_option("--es-major", es_major_,
                     "Elasticsearch major devsearch answers as (7 or 8; default: devsearch's, 8)")
        ->check(CLI::IsMember({7, 8}));
  }

  int run() override {
    configure_logging(LogLevel::kWarn, LogFormat::kText);
    auto t0 = Clock::now();
    DevStackOptions options;
    options.image_rows = image_rows_;
    options.audio_rows = audio_rows_;
    options.seed = seed_;
    if (es_major_ != 0) options.search_es_major = es_major_;
    options.env["DATAREFRESH_REFRESH_LOCK_SCOPE"] = "media_type";
    options.env["DATAREFRESH_SEARCH_REPLICAS_AFTER_LOAD"] = "1";
    DevStack stack(options);
    std::cout << fmt::format("datarefresh demo: logs in {}\n", stack.run_dir().string());
    std::cout << fmt::format("starting PostgreSQL and generating {} image + {} audio rows...\n", image_rows_, audio_rows_)
              << std::flush;
    auto counts = stack.start_infrastructure();
    std::cout << fmt::format("  generated in {:.1f}s: image {}, audio {}, audioset {}, deleted {}+{}, sensitive {}+{}\n",
                             counts.seconds, counts.image_rows, counts.audio_rows, counts.audioset_rows,
                             counts.deleted_image, counts.deleted_audio, counts.mature_image, counts.mature_audio);
    if (!check_parts(stack)) return 1;
    if (check_only_) {
      if (keep_) keep_running(stack, false);
      stack.stop();
      std::cout << "dev stack stopped cleanly" << std::endl;
      return 0;
    }

    stack.start_services(indexers_);
    std::cout << fmt::format("started planner, coordinator and {} indexers\n\n", indexers_);
    std::map<std::string, std::string> ids{{"image", stack.trigger("image")}, {"audio", stack.trigger("audio")}};
    auto results = follow(stack, ids);
    bool ok = true;
    for (const auto& [media, p] : results) {
      print_summary(p);
      ok = ok && p.run.status == ledger::RunStatus::kCompleted;
    }
    if (ok) ok = second_refresh(stack, results.at("image"));
    if (ok) ok = incremental_refresh(stack);
    std::cout << fmt::format("\ndemo {} in {:.0f}s", ok ? "succeeded" : "FAILED",
                             std::chrono::duration<double>(Clock::now() - t0).count())
              << std::endl;
    if (keep_) keep_running(stack, true);
    stack.stop();
    return ok ? 0 : 1;
  }

 private:
  bool check_parts(DevStack& stack) {
    bool ok = true;
    auto report = [&](const std::string& part, const std::string& answer, bool good) {
      std::cout << fmt::format("  {:<12} {:<4} {}\n", part, good ? "ok" : "FAIL", answer);
      ok = ok && good;
    };
    try {
      auto db = pg::Database::connect(stack.api_db_options());
      report("postgresql", db.query_value("SHOW server_version").value_or("?") + " at " + db.target(), true);
    } catch (const std::exception& e) {
      report("postgresql", e.what(), false);
    }
    try {
      kafka::ClientOptions o;
      o.bootstrap_servers = stack.bootstrap_servers();
      auto topics = kafka::list_topics(o, std::chrono::seconds(10));
      report("kafka", fmt::format("{} topics at {}", topics.size(), stack.bootstrap_servers()), !topics.empty());
    } catch (const std::exception& e) {
      report("kafka", e.what(), false);
    }
    search::Client client(stack.search_options());
    auto info = client.info();
    report("devsearch", info.ok() ? "version " + info.value().version + " at " + stack.search_url() : info.error().describe(),
           info.ok());
    std::cout << std::flush;
    return ok;
  }

  std::map<std::string, RefreshProgress> follow(DevStack& stack, const std::map<std::string, std::string>& ids) {
    std::map<std::string, RefreshProgress> last;
    std::map<std::string, RateTracker> rates;
    bool tty = ::isatty(STDOUT_FILENO);
    auto deadline = Clock::now() + std::chrono::seconds(timeout_s_);
    auto last_print = Clock::now() - std::chrono::seconds(10);
    bool drawn = false;
    while (true) {
      bool all_done = true;
      for (const auto& [media, id] : ids) {
        last[media] = stack.progress(id);
        rates[media].update(last[media].indexed);
        all_done = all_done && last[media].finished();
      }
      if (tty) {
        if (drawn) std::cout << fmt::format("\033[{}A", ids.size());
        for (const auto& [media, _] : ids) std::cout << "\r\033[K" << progress_line(media, last[media], rates[media]) << "\n";
        std::cout << std::flush;
        drawn = true;
      } else if (all_done || Clock::now() - last_print > std::chrono::seconds(3)) {
        for (const auto& [media, _] : ids) std::cout << progress_line(media, last[media], rates[media]) << "\n";
        std::cout << std::flush;
        last_print = Clock::now();
      }
      if (all_done) return last;
      if (Clock::now() > deadline) {
        throw Error(fmt::format("refreshes not finished after {}s; logs in {}", timeout_s_, stack.run_dir().string()));
      }
      if (wait_for_shutdown(std::chrono::milliseconds(400))) throw Error("interrupted");
    }
  }

  // Changes about 1% of the upstream's image rows in the ways a catalog changes (field updates,
  // a popularity change without updated_on, inserts, hard deletes), then runs an incremental
  // refresh: only what changed is copied and indexed, and the aliases move as after a full one.
  bool incremental_refresh(DevStack& stack) {
    std::cout << "\nchanging about 1% of the upstream's image rows, then an incremental refresh...\n";
    {
      auto up = pg::Database::connect(stack.catalog_db_options());
      const auto rows = std::stoll(up.query_value("SELECT count(*) FROM image").value_or("0"));
      const auto n = std::max<std::int64_t>(10, rows / 100);
      auto pick = [](const std::string& salt, std::int64_t k) {
        return fmt::format("(SELECT identifier FROM image ORDER BY md5(identifier::text || '{}') LIMIT {})", salt, k);
      };
      up.exec("UPDATE image SET title = coalesce(title, '') || ' (revised)', updated_on = now() WHERE identifier IN " +
              pick("demo-title", n / 2));
      up.exec("UPDATE image SET standardized_popularity = standardized_popularity * 0.9 WHERE identifier IN " +
              pick("demo-popularity", n / 5));
      up.exec("INSERT INTO image SELECT (jsonb_populate_record(NULL::image, to_jsonb(i) || "
              "jsonb_build_object('identifier', gen_random_uuid(), 'url', i.url || '?demo', 'foreign_identifier', "
              "i.foreign_identifier || '-demo', 'updated_on', now()))).* FROM image AS i WHERE identifier IN " +
              pick("demo-insert", n / 5));
      up.exec("DELETE FROM image WHERE identifier IN " + pick("demo-delete", n / 10));
    }
    auto id = stack.trigger("image", std::nullopt, "incremental");
    auto results = follow(stack, {{"image", id}});
    const auto& p = results.at("image");
    print_summary(p);
    if (p.run.status != ledger::RunStatus::kCompleted) return false;
    const auto& changes = p.run.report.value("changes", nlohmann::json::object());
    std::cout << fmt::format("   mode {}: created {}, updated {}, deleted {}, re-flagged {}\n", p.run.mode,
                             changes.value("created", std::int64_t{0}), changes.value("updated", std::int64_t{0}),
                             changes.value("deleted", std::int64_t{0}), changes.value("reflagged", std::int64_t{0}));
    search::Client client(stack.search_options());
    auto alias = client.get_alias("image");
    bool moved = alias.ok() && alias.value().count(*p.run.new_index) == 1 && alias.value().size() == 1;
    std::cout << fmt::format("   alias image -> {} ({})\n", *p.run.new_index, moved ? "moved" : "NOT MOVED");
    return p.run.mode == "incremental" && moved;
  }

  bool second_refresh(DevStack& stack, const RefreshProgress& first) {
    std::cout << "\nrunning a second image refresh to replace the first...\n";
    auto id = stack.trigger("image");
    auto results = follow(stack, {{"image", id}});
    const auto& p = results.at("image");
    print_summary(p);
    if (p.run.status != ledger::RunStatus::kCompleted) return false;
    search::Client client(stack.search_options());
    auto alias = client.get_alias("image");
    auto old_exists = client.index_exists(*first.run.new_index);
    bool moved = alias.ok() && alias.value().count(*p.run.new_index) == 1 && alias.value().size() == 1;
    bool deleted = old_exists.ok() && !old_exists.value();
    std::cout << fmt::format("   alias image: {} -> {} ({})\n", *first.run.new_index, *p.run.new_index,
                             moved ? "moved" : "NOT MOVED");
    std::cout << fmt::format("   old index {}: {}\n", *first.run.new_index, deleted ? "deleted" : "STILL THERE");
    return moved && deleted;
  }

  // Prints how to reach the stack (the planner's API only when the services run), then waits for
  // Ctrl-C or SIGTERM.
  void keep_running(DevStack& stack, bool services) {
    const auto& ep = stack.postgres().endpoint();
    std::cout << "\nthe stack keeps running until Ctrl-C:\n";
    std::cout << "  " << ep.psql_command(ep.api_dbname) << "\n";
    std::cout << "  " << ep.psql_command(ep.catalog_dbname) << "\n";
    std::cout << "  curl " << stack.search_url() << "/_cat/indices?v\n";
    std::cout << "  curl " << stack.search_url() << "/_alias\n";
    if (services) {
      std::cout << "  curl " << stack.api_url() << "/v1/refreshes            # the planner's API (docs/api.md)\n";
      std::cout << "  curl -H 'Content-Type: application/json' -d '{\"media_type\": \"audio\"}' " << stack.api_url()
                << "/v1/refreshes\n";
    }
    std::cout << "  kafka bootstrap: " << stack.bootstrap_servers() << "\n";
    std::cout << "  logs: " << stack.run_dir().string() << "\n";
    // Whoever reads this through a pipe or a file (a script waiting for the addresses) gets it
    // now, not when the stack stops: stdout is only line-buffered on a terminal.
    std::cout << std::flush;
    while (!wait_for_shutdown(std::chrono::seconds(1))) {
    }
  }

  std::uint64_t image_rows_ = 100'000;
  std::uint64_t audio_rows_ = 20'000;
  int indexers_ = 2;
  std::uint64_t seed_ = 42;
  int timeout_s_ = 1800;
  bool check_only_ = false;
  bool keep_ = false;
  int es_major_ = 0;  // 0: devsearch's default
};

}  // namespace

std::unique_ptr<Command> make_demo_command(CLI::App& root) { return std::make_unique<DemoCommand>(root); }

}  // namespace datarefresh::demo
