#include "cli/output.h"

#include <algorithm>
#include <iostream>

#include "base/time.h"

namespace mutual::cli {

Result<Output> parseOutput(std::string_view value, std::initializer_list<std::string_view> allowed) {
  if (std::find(allowed.begin(), allowed.end(), value) == allowed.end()) {
    std::string choices;
    for (auto a : allowed) choices += (choices.empty() ? "" : "|") + std::string(a);
    return invalidArgument("-o " + std::string(value) + ": expected " + choices);
  }
  if (value == "json") return Output::kJson;
  if (value == "yaml") return Output::kYaml;
  if (value == "table") return Output::kTable;
  return Output::kText;
}

Result<Seconds> parseTtl(std::string_view text, TimePoint now) {
  auto ttl = parseDuration(text);
  if (!ttl) return fail(ttl.error().prefix("--ttl"));
  if (auto end = addDuration(now, *ttl); !end) return fail(end.error().prefix("--ttl"));
  return ttl;
}

void printTable(std::ostream& out, const std::vector<std::string>& headers,
                const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> width(headers.size(), 0);
  for (size_t i = 0; i < headers.size(); ++i) width[i] = headers[i].size();
  for (const auto& row : rows) {
    for (size_t i = 0; i < row.size() && i < width.size(); ++i) {
      width[i] = std::max(width[i], row[i].size());
    }
  }
  const auto line = [&](const std::vector<std::string>& cells, bool upper) {
    std::string text;
    for (size_t i = 0; i < width.size(); ++i) {
      std::string cell = i < cells.size() ? cells[i] : "";
      if (upper) {
        std::transform(cell.begin(), cell.end(), cell.begin(), ::toupper);
      }
      text += cell;
      if (i + 1 < width.size()) text += std::string(width[i] - cell.size() + 2, ' ');
    }
    while (!text.empty() && text.back() == ' ') text.pop_back();
    out << text << '\n';
  };
  line(headers, true);
  for (const auto& row : rows) line(row, false);
}

int exitCodeFor(const Error& error) {
  switch (error.code) {
    case Code::kInvalidArgument:
    case Code::kNotFound:
    case Code::kAlreadyExists:
    case Code::kOutOfRange:
    case Code::kFailedPrecondition: return kExitBadInput;
    default: return kExitFailed;
  }
}

int reportError(const Error& error) {
  std::cerr << "mutual: " << error.message << '\n';
  return exitCodeFor(error);
}

}  // namespace mutual::cli
