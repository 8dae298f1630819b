#pragma once

#include <stdexcept>
#include <utility>

#include "base/error.h"

// Test helpers shared by the modules' unit tests.
namespace mutual::testing {

// The value of a Result a test expects to succeed; otherwise throws, which GoogleTest reports
// as a failure with the error's message.
template <typename T>
T must(Result<T> r) {
  if (!r) throw std::runtime_error(r.error().message);
  return std::move(*r);
}

}  // namespace mutual::testing
