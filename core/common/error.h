#pragma once

#include <stdexcept>
#include <string>

namespace datarefresh {

// Base of every exception we throw: start-up failures, bad configuration, broken invariants.
// Expected failures on the hot path (a 429, a lost connection) are values, not exceptions.
// The message always names what failed (key, id, range) and what to do about it.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Invalid configuration or command line; the message names the key path.
class ConfigError : public Error {
 public:
  using Error::Error;
};

// Something that must never happen did: a bug or corrupted state, not bad input.
class InvariantError : public Error {
 public:
  using Error::Error;
};

}  // namespace datarefresh
