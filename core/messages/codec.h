#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <variant>

#include "core/common/error.h"
#include "core/messages/messages.h"

namespace datarefresh::messages {

// Why a message could not be decoded: names the message type and field and the problem, e.g.
// "shard.job: field id_end must be an integer greater than id_start". A malformed message is an
// expected failure (dead-letter it), so decoding returns this as a value instead of throwing.
struct DecodeError {
  std::string message;
};

// Either a decoded value or a DecodeError. value() on an error, or error() on a value, throws InvariantError.
template <class T>
class DecodeResult {
 public:
  DecodeResult(T value) : state_(std::move(value)) {}  // NOLINT(google-explicit-constructor)
  DecodeResult(DecodeError error) : state_(std::move(error)) {}  // NOLINT(google-explicit-constructor)

  bool ok() const { return std::holds_alternative<T>(state_); }
  explicit operator bool() const { return ok(); }
  const T& value() const& {
    if (!ok()) throw InvariantError("DecodeResult::value() on a failed decode: " + error().message);
    return std::get<T>(state_);
  }
  T&& value() && {
    if (!ok()) throw InvariantError("DecodeResult::value() on a failed decode: " + error().message);
    return std::get<T>(std::move(state_));
  }
  const T* operator->() const { return &value(); }
  const DecodeError& error() const {
    if (ok()) throw InvariantError("DecodeResult::error() on a successful decode");
    return std::get<DecodeError>(state_);
  }

 private:
  std::variant<T, DecodeError> state_;
};

// JSON text of a message, with "type" and "version".
std::string encode(const RefreshRequested& m);
std::string encode(const RefreshPlanned& m);
std::string encode(const ShardJob& m);
std::string encode(const ShardStarted& m);
std::string encode(const ShardProgress& m);
std::string encode(const ShardCompleted& m);
std::string encode(const ShardFailed& m);
std::string encode(const RefreshPhaseChanged& m);
std::string encode(const RefreshRefused& m);
std::string encode(const RefreshCompleted& m);
std::string encode(const RefreshFailed& m);
std::string encode(const DeadLetter& m);
std::string encode(const Event& m);

// Strict decoding of one type: malformed JSON, another type, an unsupported version, missing or
// ill-typed fields and broken invariants (id_end <= id_start, attempt < 1, ...) are errors. Unknown
// extra fields are ignored, so producers may add fields without breaking older consumers.
// Instantiated for every message struct in messages.h.
template <class T>
DecodeResult<T> decode(std::string_view json);

// Any of the event types of the events topic.
DecodeResult<Event> decode_event(std::string_view json);

struct TypeAndVersion {
  std::string type;
  int version = 0;
};
// Reads only "type" and "version", for dispatching before a full decode.
DecodeResult<TypeAndVersion> peek_type(std::string_view json);

}  // namespace datarefresh::messages
