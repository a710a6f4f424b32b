// Result<T>: a value or an error with a human-readable message. The message
// is what travels to the peer (SYNACK text, SOCKS/HTTP replies, logs), so it
// reads like Go's net errors: "dial tcp 127.0.0.1:9: connection refused".
#pragma once
#include <string>
#include <system_error>
#include <utility>
#include <variant>

namespace anytls::net {

struct Error {
  std::error_code code;
  std::string message;  // full text; falls back to code.message() when empty

  std::string text() const { return message.empty() ? code.message() : message; }
};

template <class T>
class Result {
 public:
  Result(T value) : v_(std::move(value)) {}
  Result(Error error) : v_(std::move(error)) {}

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }
  T& value() { return std::get<0>(v_); }
  const T& value() const { return std::get<0>(v_); }
  T& operator*() { return value(); }
  T* operator->() { return &value(); }
  const Error& error() const { return std::get<1>(v_); }

 private:
  std::variant<T, Error> v_;
};

}  // namespace anytls::net
