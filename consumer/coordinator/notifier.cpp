#include "consumer/coordinator/notifier.h"

#include <random>
#include <thread>

#include <curl/curl.h>
#include <fmt/format.h>
#include <prometheus/counter.h>

#include "core/common/log.h"
#include "core/common/shutdown.h"
#include "core/messages/codec.h"

namespace datarefresh::coordinator {
namespace {

using nlohmann::json;

constexpr auto kMaxEventAge = std::chrono::hours(1);

int rank(config::NotifyLevel level) {
  switch (level) {
    case config::NotifyLevel::kVerbose: return 0;
    case config::NotifyLevel::kInfo: return 1;
    case config::NotifyLevel::kError: return 2;
  }
  return 1;
}

std::string human_seconds(double s) {
  auto total = static_cast<std::int64_t>(s + 0.5);
  if (total < 60) return fmt::format("{:.1f} s", s);
  if (total < 3600) return fmt::format("{} min {} s", total / 60, total % 60);
  return fmt::format("{} h {} min", total / 3600, (total % 3600) / 60);
}

std::string signed_delta(std::int64_t before, std::int64_t after) {
  return fmt::format("{:+d}", after - before);
}

json section(const std::string& markdown) { return {{"type", "section"}, {"text", {{"type", "mrkdwn"}, {"text", markdown}}}}; }

json message(const std::string& text, json blocks = json::array()) {
  if (blocks.empty()) blocks.push_back(section(text));
  return {{"text", text}, {"blocks", blocks}};
}

std::string title(const std::string& environment, const std::string& media, const std::string& refresh_id) {
  return fmt::format("[{}] {} refresh `{}`", environment, media, refresh_id);
}

// For the events that know the mode the refresh ran in: "[production] image incremental refresh `<id>`",
// and for the maintenance runs "[production] image rollback `<id>`".
std::string title(const std::string& environment, const std::string& media, const std::string& refresh_id,
                  const std::string& mode) {
  std::string what = mode + " refresh";
  if (mode == "rollback") what = "rollback";
  if (mode == "filtered_only") what = "filtered index rebuild";
  if (mode == "sample") what = "staging sample";
  return fmt::format("[{}] {} {} `{}`", environment, media, what, refresh_id);
}

json completed(const messages::RefreshCompleted& e, const std::string& environment) {
  const auto& r = e.report;
  double seconds = 0;
  for (const auto& p : r.phases) seconds += p.seconds;
  std::string changes;
  if (r.changes) {
    changes = fmt::format("created {}, updated {}, deleted {}, re-flagged {}; ", r.changes->created, r.changes->updated,
                          r.changes->deleted, r.changes->reflagged);
  }
  auto text = fmt::format("{} completed in {}: {}{} rows before, {} after ({}); {} documents indexed, {} filtered "
                          "out, {} dead-lettered",
                          title(environment, e.media_type, e.refresh_id.value(), e.mode), human_seconds(seconds),
                          changes, r.rows_before, r.rows_after, signed_delta(r.rows_before, r.rows_after),
                          r.documents_indexed, r.filtered_out, r.dead_lettered);
  std::string providers = "provider | before | after | change\n";
  for (const auto& p : r.per_provider) {
    providers += fmt::format("{} | {} | {} | {}\n", p.provider.empty() ? "(none)" : p.provider, p.before, p.after,
                             signed_delta(p.before, p.after));
  }
  std::string phases;
  for (const auto& p : r.phases) phases += fmt::format("{} {}  ", p.name, human_seconds(p.seconds));
  auto blocks = json::array({section(":white_check_mark: " + text), section("```" + providers + "```"),
                             section("phases: " + phases)});
  return message(":white_check_mark: " + text, blocks);
}

}  // namespace

std::optional<json> slack_message(const messages::Event& event, config::NotifyLevel level,
                                  const std::string& environment) {
  const int at = rank(level);
  return std::visit(
      [&](const auto& e) -> std::optional<json> {
        using T = std::decay_t<decltype(e)>;
        if constexpr (std::is_same_v<T, messages::RefreshPhaseChanged>) {
          if (!e.previous_phase) {
            if (at > 1) return std::nullopt;
            return message(fmt::format(":arrow_forward: {} started", title(environment, e.media_type, e.refresh_id.value())));
          }
          if (at > 0) return std::nullopt;
          return message(fmt::format("{}: {} -> {}", title(environment, e.media_type, e.refresh_id.value()),
                                     *e.previous_phase, e.phase));
        } else if constexpr (std::is_same_v<T, messages::RefreshCompleted>) {
          if (at > 1) return std::nullopt;
          return completed(e, environment);
        } else if constexpr (std::is_same_v<T, messages::RefreshFailed>) {
          if (e.cancelled) {
            if (at > 1) return std::nullopt;
            return message(fmt::format(":no_entry_sign: {} cancelled in phase {}: {}; rolled back: {}",
                                       title(environment, e.media_type, e.refresh_id.value(), e.mode), e.phase, e.error,
                                       e.rolled_back ? "yes" : "no"));
          }
          return message(fmt::format(":x: {} failed in phase {}: {}; rolled back: {} (live table and aliases "
                                     "untouched)",
                                     title(environment, e.media_type, e.refresh_id.value(), e.mode), e.phase, e.error,
                                     e.rolled_back ? "yes" : "not completely, the coordinator removes the rest"));
        } else if constexpr (std::is_same_v<T, messages::RefreshRefused>) {
          if (at > 1) return std::nullopt;
          return message(fmt::format(":warning: [{}] {} refresh request `{}` refused: {}", environment, e.media_type,
                                     e.request_id, e.reason));
        } else {
          return std::nullopt;  // shard events: far too many to announce
        }
      },
      event);
}

WebhookSender::WebhookSender(Options options) : options_(std::move(options)) {}

std::optional<std::string> WebhookSender::post(const json& payload) const {
  const std::string body = payload.dump();
  std::mt19937_64 rng(std::random_device{}());
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  std::string last;
  for (int attempt = 1; attempt <= options_.attempts; ++attempt) {
    CURL* curl = curl_easy_init();
    if (curl == nullptr) return "curl_easy_init failed";
    curl_slist* headers = curl_slist_append(nullptr, "Content-Type: application/json");
    std::string answer;
    curl_easy_setopt(curl, CURLOPT_URL, options_.url.c_str());
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.c_str());
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, static_cast<long>(options_.timeout.count()));
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, +[](char* p, size_t s, size_t n, void* out) {
      auto* text = static_cast<std::string*>(out);
      if (text->size() < 512) text->append(p, std::min<size_t>(s * n, 512 - text->size()));
      return s * n;
    });
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &answer);
    const CURLcode rc = curl_easy_perform(curl);
    long status = 0;
    if (rc == CURLE_OK) curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(headers);
    curl_easy_cleanup(curl);
    if (rc == CURLE_OK && status >= 200 && status < 300) return std::nullopt;
    bool retry = rc != CURLE_OK || status == 429 || status >= 500;
    // curl's messages name the host but not the URL's path, where a webhook's secret lives.
    last = rc != CURLE_OK ? std::string(curl_easy_strerror(rc)) : fmt::format("HTTP {} {}", status, answer);
    if (!retry) break;
    if (attempt < options_.attempts &&
        wait_for_shutdown(backoff_delay(options_.backoff, static_cast<std::uint32_t>(attempt), unit(rng)))) {
      break;
    }
  }
  return last;
}

struct Notifier::Impl {
  Impl(const config::Config& c, prometheus::Registry& registry)
      : config(c),
        sender({c.notify.slack_webhook.reveal(), c.notify.timeout, c.notify.attempts}),
        sent(prometheus::BuildCounter()
                 .Name("datarefresh_notifications_total")
                 .Help("Webhook notifications, by outcome (sent, failed)")
                 .Register(registry)) {}

  const config::Config& config;
  WebhookSender sender;
  prometheus::Family<prometheus::Counter>& sent;
  Logger log{"notifier"};
};

Notifier::Notifier(const config::Config& config, prometheus::Registry& registry)
    : impl_(std::make_unique<Impl>(config, registry)) {}
Notifier::~Notifier() = default;

kafka::JobOutcome Notifier::handle(const kafka::Message& message) {
  auto& m = *impl_;
  // The group starts at the oldest event it has not seen (events published while the notifier was
  // joining are announced); a webhook configured anew is spared the topic's older history.
  if (message.timestamp && std::chrono::system_clock::now() - *message.timestamp > kMaxEventAge) {
    return kafka::JobOutcome::kDone;
  }
  auto event = messages::decode_event(message.payload);
  if (!event.ok()) return kafka::JobOutcome::kDone;  // the coordinator dead-letters malformed events
  auto payload = slack_message(event.value(), m.config.notify.level, m.config.environment);
  if (!payload) return kafka::JobOutcome::kDone;
  if (auto error = m.sender.post(*payload)) {
    m.sent.Add({{"outcome", "failed"}}).Increment();
    m.log.error("notification not delivered; the refresh goes on",
                {{"refresh_id", messages::event_key(event.value())}, {"error", *error},
                 {"attempts", m.config.notify.attempts}});
  } else {
    m.sent.Add({{"outcome", "sent"}}).Increment();
  }
  return kafka::JobOutcome::kDone;
}

}  // namespace datarefresh::coordinator
