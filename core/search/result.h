#pragma once

#include <string>
#include <utility>
#include <variant>

namespace datarefresh::search {

// A failed call to the search engine, as a value. http_status 0 means the request never got an
// HTTP answer (connect refused, timeout, reset). `retryable` says whether sending the same request
// again later can succeed (429, 502/503/504, es_rejected_execution_exception, transport failures).
// Never holds credentials.
struct SearchError {
  int http_status = 0;
  std::string type;
  std::string reason;
  bool retryable = false;

  // "PUT /image-x: HTTP 400 resource_already_exists_exception: index [image-x/..] already exists"
  std::string describe() const;
};

// Whether an HTTP status / Elasticsearch error type is worth retrying (pure; used for whole
// requests and for bulk items alike).
bool is_retryable(int http_status, const std::string& error_type);

// Builds a SearchError from an HTTP status and an Elasticsearch error body
// ({"error":{"type","reason"},"status"} or {"error":"text"}); `what` names the request.
SearchError error_from_response(int http_status, const std::string& body, const std::string& what);

// A value or a SearchError. C++20 has no std::expected; this is the small subset we need.
template <typename T>
class Result {
 public:
  Result(T value) : v_(std::move(value)) {}            // NOLINT(google-explicit-constructor)
  Result(SearchError error) : v_(std::move(error)) {}  // NOLINT(google-explicit-constructor)

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }
  const T& value() const& { return std::get<0>(v_); }
  T& value() & { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  const T& operator*() const& { return value(); }
  const T* operator->() const { return &value(); }
  const SearchError& error() const { return std::get<1>(v_); }

 private:
  std::variant<T, SearchError> v_;
};

// For operations that return nothing but can fail.
struct Done {};
using Status = Result<Done>;

}  // namespace datarefresh::search
