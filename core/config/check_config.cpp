#include "core/config/check_config.h"

namespace datarefresh::config {

int run_check_config(const std::string& file, bool print, const Environment& env, std::ostream& out, std::ostream& err) {
  Warnings warnings;
  Config config;
  try {
    config = load_config(file, env, &warnings);
  } catch (const InvalidConfig& e) {
    for (const auto& problem : e.problems()) err << file << ": " << problem << "\n";
    return 1;
  } catch (const ConfigError& e) {
    err << e.what() << "\n";
    return 2;
  }
  for (const auto& warning : warnings) err << file << ": warning: " << warning << "\n";
  out << file << ": ok\n";
  if (print) out << dump_effective_config(config);
  return 0;
}

}  // namespace datarefresh::config
