#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "devstack/devsearch/store_util.h"

namespace datarefresh::devsearch {

// action.auto_create_index as Elasticsearch reads it (AutoCreateIndex.AutoCreate): "true",
// "false", or a comma-separated list of index patterns, each optionally prefixed with + (allow)
// or - (forbid); the first pattern matching an index decides, and an index no pattern matches is
// not created. A value.
class AutoCreateRule {
 public:
  // Throws ApiError 400 illegal_argument_exception with Elasticsearch's text for a malformed value.
  static AutoCreateRule parse(const std::string& value);

  // Why `index` may not be auto-created, as the tail of Elasticsearch's reason
  // "no such index [x] and <why>"; nullopt when it may.
  std::optional<std::string> refusal(const std::string& index) const;
  const std::string& text() const { return text_; }

 private:
  bool enabled_ = true;
  std::vector<std::pair<std::string, bool>> patterns_;  // (pattern, allow)
  std::string text_ = "true";
};

// The cluster's dynamic settings (GET/PUT _cluster/settings): persistent and transient ones over
// the node's own (its command line, which GET _cluster/settings does not show, like
// elasticsearch.yml). Only settings devsearch knows are accepted; action.auto_create_index is the
// one that changes behaviour, the others are kept and shown. Not thread-safe: the store's lock
// guards it.
class ClusterSettings {
 public:
  // `node`: flat node settings (e.g. {"action.auto_create_index": "false"}); throws ApiError if
  // one is unknown or malformed.
  explicit ClusterSettings(FlatSettings node = {});

  // PUT _cluster/settings: {"persistent": {...}, "transient": {...}}, flat or nested keys, null
  // removes (a trailing * removes every match). Returns Elasticsearch's answer
  // {"acknowledged": true, "persistent": {changed}, "transient": {changed}}; throws ApiError and
  // changes nothing on a bad request.
  nlohmann::ordered_json update(const nlohmann::json& body, bool flat);
  // GET _cluster/settings.
  nlohmann::ordered_json get(bool flat, bool include_defaults) const;

  const AutoCreateRule& auto_create() const { return auto_create_; }
  // A full-cluster restart forgets transient settings.
  void forget_transient();

 private:
  void derive();

  FlatSettings node_;
  FlatSettings persistent_;
  FlatSettings transient_;
  AutoCreateRule auto_create_;
};

}  // namespace datarefresh::devsearch
