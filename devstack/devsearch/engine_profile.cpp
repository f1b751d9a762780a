#include "devstack/devsearch/engine_profile.h"

#include "core/common/error.h"

namespace datarefresh::devsearch {

EngineProfile EngineProfile::for_major(int major) {
  EngineProfile p;
  p.major = major;
  if (major == 7) {
    p.version_number = "7.10.2";
    p.lucene_version = "8.7.0";
    p.build_hash = "devsearch";
    p.build_date = "2021-01-13T00:42:12.435326Z";
    p.minimum_wire_compatibility_version = "6.8.0";
    p.minimum_index_compatibility_version = "6.0.0-beta1";
    p.index_version_created = "7100299";
    p.type_in_responses = true;
    p.reindex_description_names_type = true;
    p.flood_stage_blocks_metadata_writes = true;
    p.alias_remove_accepts_must_exist = false;
    p.alias_remove_strict = false;
    p.product_header = false;
    p.task_shows_cancelled = false;
    return p;
  }
  if (major == 8) {
    p.version_number = "8.13.4";
    p.lucene_version = "9.10.0";
    p.build_hash = "devsearch";
    p.build_date = "2024-05-06T22:04:45.107454559Z";
    p.minimum_wire_compatibility_version = "7.17.0";
    p.minimum_index_compatibility_version = "7.0.0";
    p.index_version_created = "8503000";
    return p;
  }
  throw ConfigError("--es-major must be 7 (Elasticsearch 7.10.2) or 8 (8.13.4), got " + std::to_string(major));
}

}  // namespace datarefresh::devsearch
