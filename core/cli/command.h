#pragma once

#include <memory>
#include <string>

#include <CLI/CLI.hpp>

namespace datarefresh {

// One subcommand of the `datarefresh` executable. A module registers its subcommand and options
// on the root CLI::App in its constructor (keeping the option values as members) and does its
// work in run(), which main calls only for the subcommand the user chose. run() returns the exit
// code; exceptions derived from datarefresh::Error are printed by main and exit non-zero.
class Command {
 public:
  explicit Command(CLI::App* sub) : sub_(sub) {}
  virtual ~Command() = default;
  Command(const Command&) = delete;
  Command& operator=(const Command&) = delete;

  bool selected() const { return sub_->parsed(); }
  virtual int run() = 0;

 protected:
  CLI::App* sub_;
};

}  // namespace datarefresh
