#include "devstack/postgres/devdb_command.h"

#include <chrono>
#include <cstdint>
#include <iostream>

#include <fmt/format.h>

#include "core/common/shutdown.h"
#include "devstack/datagen/catalog_generator.h"
#include "devstack/postgres/local_postgres.h"

namespace datarefresh::devpg {
namespace {

// `datarefresh devdb`: a throwaway PostgreSQL with both databases loaded and generated data,
// running until SIGINT/SIGTERM (main installs the handlers), then stopped and removed.
class DevdbCommand final : public Command {
 public:
  explicit DevdbCommand(CLI::App& root)
      : Command(root.add_subcommand("devdb", "Run a throwaway PostgreSQL with the catalog and API databases and "
                                             "generated data until interrupted")) {
    sub_->add_option("--rows-image", image_rows_, "Image rows to generate in the catalog")->capture_default_str();
    sub_->add_option("--rows-audio", audio_rows_, "Audio rows to generate in the catalog")->capture_default_str();
    sub_->add_option("--seed", seed_, "Generator seed (same seed, same rows)")->capture_default_str();
    sub_->add_option("--sensitive-terms", terms_path_, "Sensitive terms file (default: built-in test list)");
    sub_->add_flag("--keep-dir", keep_dir_, "Keep the data directory after stopping");
  }

  int run() override {
    LocalPostgresOptions options;
    options.keep_dir = keep_dir_;
    auto server = LocalPostgres::start(options);
    datagen::GenerateOptions generate;
    generate.seed = seed_;
    generate.image_rows = image_rows_;
    generate.audio_rows = audio_rows_;
    generate.sensitive_terms_path = terms_path_;
    auto counts = datagen::generate_catalog(server->catalog_dsn(), server->api_dsn(), generate);

    const auto& e = server->endpoint();
    std::cout << fmt::format(
                     "PostgreSQL {}:{} (user {}, data in {})\n"
                     "  generated in {:.1f}s: image {} rows, audio {} rows, audioset_view {} rows; api_deletedimage {}, "
                     "api_deletedaudio {}, api_matureimage {}, api_matureaudio {}\n"
                     "  catalog DSN: {}\n  api DSN:     {}\n  psql catalog: {}\n  psql api:     {}\n"
                     "Press Ctrl-C to stop and remove the server.\n",
                     e.host, e.port, e.user, server->directory().string(), counts.seconds, counts.image_rows,
                     counts.audio_rows, counts.audioset_rows, counts.deleted_image, counts.deleted_audio,
                     counts.mature_image, counts.mature_audio, server->catalog_dsn(), server->api_dsn(),
                     e.psql_command(e.catalog_dbname), e.psql_command(e.api_dbname))
              << std::flush;
    while (!wait_for_shutdown(std::chrono::hours(1))) {
    }
    std::cout << "stopping PostgreSQL...\n" << std::flush;
    server->stop();
    return 0;
  }

 private:
  std::uint64_t image_rows_ = 10'000;
  std::uint64_t audio_rows_ = 2'000;
  std::uint64_t seed_ = 42;
  std::string terms_path_;
  bool keep_dir_ = false;
};

}  // namespace

std::unique_ptr<Command> make_devdb_command(CLI::App& root) { return std::make_unique<DevdbCommand>(root); }

}  // namespace datarefresh::devpg
