#pragma once
// Per-message code returns results, not exceptions: a value or the diagnostics that explain why
// not.
#include <utility>
#include <variant>
#include <vector>

#include "base/error.h"

namespace niem::base {

template <typename T>
class result {
 public:
  result(T value) : v_(std::move(value)) {}                            // NOLINT: implicit by design
  result(diagnostic d) : v_(std::vector<diagnostic>{std::move(d)}) {}  // NOLINT
  result(std::vector<diagnostic> ds) : v_(std::move(ds)) {}            // NOLINT

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }
  T& value() { return std::get<0>(v_); }
  const T& value() const { return std::get<0>(v_); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() { return value(); }
  const std::vector<diagnostic>& errors() const { return std::get<1>(v_); }

 private:
  std::variant<T, std::vector<diagnostic>> v_;
};

}  // namespace niem::base
