#pragma once

#include <iosfwd>
#include <string>
#include <string_view>
#include <vector>

#include "base/clock.h"
#include "base/duration.h"
#include "base/error.h"

namespace mutual::cli {

enum class Output { kText, kTable, kJson, kYaml };

// Parses an -o value among `allowed` (e.g. {"text", "json"}).
Result<Output> parseOutput(std::string_view value, std::initializer_list<std::string_view> allowed);

// Parses --ttl: a Go duration whose end, counted from `now`, mutual can represent (a larger
// one would wrap a notAfter into the past; see addDuration). Errors start with "--ttl".
Result<Seconds> parseTtl(std::string_view text, TimePoint now);

// A plain aligned table: upper-case headers, two spaces between columns, no borders.
void printTable(std::ostream& out, const std::vector<std::string>& headers,
                const std::vector<std::vector<std::string>>& rows);

// Prints "mutual: <message>" to stderr and returns the documented exit code for the error:
// 2 for bad input (InvalidArgument, NotFound, AlreadyExists, OutOfRange, FailedPrecondition),
// 1 otherwise.
int reportError(const Error& error);

// The exit code `error` maps to, without printing.
int exitCodeFor(const Error& error);

}  // namespace mutual::cli
