// Transform + encode throughput (docs/performance.md): the indexer's in-process hot path from a
// COPY text line of the shard query to a line pair of the `_bulk` body, on one core.
//   parse_copy_text_row -> DocumentEncoder::encode -> action line + source appended to the body
// Rows come from --rows-file=PATH (lines of `COPY (<shard query>) TO STDOUT`, as `datarefresh
// bench` dumps them from the generated catalog), or from a built-in synthetic sample.
#include <benchmark/benchmark.h>

#include <charconv>
#include <cstring>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "core/catalog/document_encoder.h"
#include "core/catalog/media_kind.h"
#include "core/pg/copy_text.h"
#include "core/search/bulk.h"

namespace {

using datarefresh::catalog::DocumentEncoder;
using datarefresh::catalog::FieldView;
using datarefresh::catalog::MediaKind;
using datarefresh::catalog::RowOutcome;
namespace col = datarefresh::catalog::col;

std::vector<std::string> g_lines;

// Rows shaped like the generated catalog's: varied titles, tags, metadata and sizes.
std::vector<std::string> synthetic_image_rows(int n) {
  std::vector<std::string> out;
  const char* providers[] = {"flickr", "wikimedia", "stocksnap", "smithsonian"};
  const char* licenses[] = {"by", "by-sa", "cc0", "by-nc"};
  for (int i = 1; i <= n; ++i) {
    std::vector<std::string> v(col::kImageCount, "\\N");
    v[col::kId] = std::to_string(i);
    v[col::kIdentifier] = fmt::format("{:08x}-0000-4000-8000-{:012x}", i, i * 7919);
    v[col::kCreatedOn] = "2022-01-02 03:04:05.123+00";
    v[col::kLicense] = licenses[i % 4];
    v[col::kProvider] = providers[i % 4];
    v[col::kSource] = providers[(i + 1) % 4];
    v[col::kCategory] = i % 3 ? "photograph" : "\\N";
    v[col::kTitle] = fmt::format("Lake view number {} at dawn, with birds", i);
    v[col::kMetaData] = fmt::format(
        R"({{"description": "A quiet lake at dawn, photographed from the northern shore, item {}", "license_url": "https://creativecommons.org/licenses/by/4.0/", "mature": {}}})",
        i, i % 50 == 0 ? "true" : "false");
    v[col::kCreator] = fmt::format("photographer_{}", i % 997);
    v[col::kPopularity] = i % 5 ? fmt::format("0.{:03d}", i % 1000) : "\\N";
    v[col::kTags] = fmt::format(
        R"([{{"name": "lake", "accuracy": 0.97, "provider": "clarifai"}}, {{"name": "dawn"}}, {{"name": "bird {}", "accuracy": 0.91, "provider": "rekognition"}}, {{"name": "water", "accuracy": 0.99, "provider": "clarifai"}}])",
        i % 13);
    v[col::kUrl] = fmt::format("https://live.staticflickr.com/{}/{}_abc.jpg", i % 9000, i);
    v[col::kRemovedFromSource] = i % 40 == 0 ? "t" : "f";
    v[col::kDeleted] = "f";
    v[col::kMature] = "f";
    v[col::kWidth] = std::to_string(640 + i % 3000);
    v[col::kHeight] = std::to_string(480 + i % 2000);
    std::string line;
    for (std::size_t c = 0; c < v.size(); ++c) line += (c ? "\t" : "") + v[c];
    out.push_back(line);
  }
  return out;
}

// The indexer's loop (consumer/indexer/shard_indexer.cpp) without the network: every document's
// action and source are appended to a body that is handed off (cleared) at 8 MiB.
void BM_TransformAndEncodeImageRows(benchmark::State& state) {
  DocumentEncoder encoder(MediaKind::kImage);
  datarefresh::pg::CopyRowView view;
  std::vector<FieldView> row;
  std::string line, source, body;
  body.reserve(9 << 20);
  const std::string index = "image-0123456789abcdef0123456789abcdef";
  std::string action_prefix = "{\"index\":{\"_index\":";
  datarefresh::search::append_json_string(action_prefix, index);
  action_prefix += ",\"_id\":\"";
  std::int64_t documents = 0, bytes = 0;
  char id_text[24];
  for (auto _ : state) {
    for (const auto& text : g_lines) {
      line.assign(text);  // parsing decodes in place, as in the stream's own buffer
      datarefresh::pg::parse_copy_text_row(line.data(), line.size(), view);
      row.resize(view.size());
      for (std::size_t i = 0; i < view.size(); ++i) row[i] = {view[i], view.is_null(i)};
      source.clear();
      std::int64_t id = 0;
      if (encoder.encode(row, source, id) != RowOutcome::kIndexed) continue;
      auto [end, ec] = std::to_chars(id_text, id_text + sizeof id_text, id);
      body += action_prefix;
      body.append(id_text, end);
      body += "\"}}\n";
      body += source;
      body += '\n';
      ++documents;
      if (body.size() >= (8u << 20)) {
        bytes += static_cast<std::int64_t>(body.size());
        benchmark::DoNotOptimize(body.data());
        body.clear();
      }
    }
  }
  bytes += static_cast<std::int64_t>(body.size());
  state.SetItemsProcessed(documents);
  state.SetBytesProcessed(bytes);
  state.counters["rows"] = static_cast<double>(g_lines.size());
}
BENCHMARK(BM_TransformAndEncodeImageRows)->Unit(benchmark::kMillisecond)->MinTime(2.0);

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  std::string rows_file;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg.rfind("--rows-file=", 0) == 0) {
      rows_file = arg.substr(12);
    } else {
      std::cerr << "encode_bench: unknown argument " << arg
                << ": use --rows-file=PATH (COPY text lines of the image shard query) and --benchmark_* flags\n";
      return 2;
    }
  }
  if (rows_file.empty()) {
    g_lines = synthetic_image_rows(20'000);
  } else {
    std::ifstream in(rows_file);
    if (!in) {
      std::cerr << "encode_bench: cannot read " << rows_file << "\n";
      return 2;
    }
    for (std::string l; std::getline(in, l);) g_lines.push_back(l);
    if (g_lines.empty()) {
      std::cerr << "encode_bench: " << rows_file << " holds no rows\n";
      return 2;
    }
  }
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
