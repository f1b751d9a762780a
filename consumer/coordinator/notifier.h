#pragma once

#include <memory>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>
#include <prometheus/registry.h>

#include "core/common/backoff.h"
#include "core/common/duration.h"
#include "core/config/config.h"
#include "core/kafka/message.h"
#include "core/messages/messages.h"

namespace datarefresh::coordinator {

// The Slack message (an incoming-webhook payload: "text" plus "blocks") announcing `event` in
// `environment`, or nullopt when the event is below `level` or never announced (shard events):
//   error:   refresh failed
//   info:    + refresh started (its first phase), completed (report: rows before -> after per
//            provider, documents, filtered out, dead-lettered, duration), cancelled, refused
//   verbose: + every phase change
// Pure.
std::optional<nlohmann::json> slack_message(const messages::Event& event, config::NotifyLevel level,
                                            const std::string& environment);

// Posts JSON to a webhook with libcurl: a 2xx answer is success; a transport error, 429 or 5xx is
// retried with backoff up to `attempts` posts; any other answer is given up at once. Never throws
// and never shows the URL (it is a secret) in what it returns. Thread-safe (a handle per post).
class WebhookSender {
 public:
  struct Options {
    std::string url;
    Duration timeout{std::chrono::seconds(10)};
    int attempts = 3;
    BackoffPolicy backoff{std::chrono::milliseconds(500), std::chrono::seconds(10), 2.0, 0.2};
  };
  explicit WebhookSender(Options options);

  // nullopt on success; otherwise why the last attempt failed ("HTTP 500", "connection refused").
  std::optional<std::string> post(const nlohmann::json& payload) const;

 private:
  Options options_;
};

// Turns refresh events into webhook posts: the handler of its own consumer group on the events
// topic (group datarefresh-notifier, in the coordinator process), so a slow or dead webhook never
// holds the refresh back. Events more than an hour old are not announced (a webhook configured
// anew would otherwise get the topic's history). A post that fails after its attempts is logged and
// counted, then dropped: handle() always acknowledges. Thread-safe as WebhookSender.
class Notifier {
 public:
  Notifier(const config::Config& config, prometheus::Registry& registry);
  ~Notifier();

  kafka::JobOutcome handle(const kafka::Message& message);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace datarefresh::coordinator
