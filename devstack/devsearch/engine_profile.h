#pragma once

#include <string>

namespace datarefresh::devsearch {

// What differs, for the REST subset devsearch serves, between the Elasticsearch releases it
// imitates. A plain value chosen once at start-up (`--es-major`) and read by the store and the
// HTTP layer; it never changes while serving.
//
// Major 8 (the default) claims 8.13.4: answers without `_type`, and the last release before
// `_aliases` answers gained `errors` and `action_results` (8.14, elastic/elasticsearch#106514).
// Major 7 claims 7.10.2, the release of the recorded transcripts (tests/testdata/es-transcripts).
struct EngineProfile {
  int major = 8;
  std::string version_number;
  std::string lucene_version;
  std::string build_hash;
  std::string build_date;
  std::string minimum_wire_compatibility_version;
  std::string minimum_index_compatibility_version;
  std::string index_version_created;  // index.version.created in index settings

  // `"_type": "_doc"` in document answers (bulk items, hits, GET _doc); removed in 8.0.
  bool type_in_responses = false;
  // A reindex task's description ends with the destination type: "... to [dest][_doc]".
  bool reindex_description_names_type = false;
  // The flood-stage block (index.blocks.read_only_allow_delete) also blocks metadata writes
  // (settings, aliases); 8.0 dropped that level (elastic/elasticsearch#81781).
  bool flood_stage_blocks_metadata_writes = false;
  // `_aliases` `remove` accepts `must_exist` (7.11+, elastic/elasticsearch#65141); before, the
  // field is refused as unknown with 400 x_content_parse_exception.
  bool alias_remove_accepts_must_exist = true;
  // devsearch's own stricter rule (not an Elasticsearch release's): a `remove` of an alias the
  // index does not have answers 404 even when other actions of the request apply, unless the
  // action says `must_exist: false`. Elasticsearch 7.11-8.13 answer 404 only with
  // `must_exist: true` or when no action of the request applies.
  bool alias_remove_strict = true;
  // `X-elastic-product: Elasticsearch` on every answer (7.14+; the official clients check it).
  bool product_header = true;
  // Running tasks show `"cancelled"` next to `"cancellable"` (7.14+).
  bool task_shows_cancelled = true;

  // The profile of `major` (7 or 8); throws ConfigError for any other.
  static EngineProfile for_major(int major);
};

}  // namespace datarefresh::devsearch
