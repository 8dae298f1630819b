#include "spiffe/spiffe_id.h"

namespace mutual::spiffe {

namespace {

constexpr std::string_view kScheme = "spiffe://";

bool isTrustDomainChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '_';
}

bool isPathSegmentChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '-' || c == '_';
}

tl::unexpected<Error> idError(std::string_view text, std::string_view what) {
  return fail(Code::kInvalidArgument,
              "invalid SPIFFE ID \"" + std::string(text) + "\": " + std::string(what),
              "invalid_spiffe_id");
}

constexpr std::string_view kBadTrustDomainChars =
    "trust domain characters are limited to lowercase letters, numbers, dots, dashes, and "
    "underscores";

}  // namespace

Result<void> validatePath(std::string_view path) {
  if (path.empty()) return {};
  if (path.front() != '/') return invalidArgument("path must have a leading slash");
  size_t seg_start = 1;
  for (size_t i = 1; i <= path.size(); ++i) {
    if (i == path.size() || path[i] == '/') {
      const std::string_view seg = path.substr(seg_start, i - seg_start);
      if (seg.empty()) {
        // A trailing "/" is reported as such, an inner "//" as an empty segment.
        if (i == path.size()) return invalidArgument("path cannot have a trailing slash");
        return invalidArgument("path cannot contain empty segments");
      }
      if (seg == "." || seg == "..") return invalidArgument("path cannot contain dot segments");
      seg_start = i + 1;
      continue;
    }
    if (!isPathSegmentChar(path[i])) {
      return invalidArgument(
          "path segment characters are limited to letters, numbers, dots, dashes, and "
          "underscores");
    }
  }
  return {};
}

Result<TrustDomain> TrustDomain::parse(std::string_view text) {
  if (text.empty()) {
    return fail(Code::kInvalidArgument, "trust domain is missing", "invalid_trust_domain");
  }
  if (text.find(":/") != std::string_view::npos) {
    auto id = SpiffeId::parse(text);
    if (!id) return fail(id.error());
    return id->trustDomain();
  }
  for (char c : text) {
    if (!isTrustDomainChar(c)) {
      return fail(Code::kInvalidArgument,
                  "invalid trust domain \"" + std::string(text) + "\": " +
                      std::string(kBadTrustDomainChars),
                  "invalid_trust_domain");
    }
  }
  if (text.size() > 255) {
    return fail(Code::kInvalidArgument,
                "invalid trust domain: longer than 255 bytes (" + std::to_string(text.size()) + ")",
                "invalid_trust_domain");
  }
  return TrustDomain(std::string(text));
}

Result<SpiffeId> SpiffeId::parse(std::string_view text) {
  if (text.empty()) return idError(text, "cannot be empty");
  if (text.substr(0, kScheme.size()) != kScheme) {
    return idError(text, "scheme is missing or invalid");
  }
  const std::string_view rest = text.substr(kScheme.size());
  size_t end = 0;
  while (end < rest.size() && rest[end] != '/') {
    if (!isTrustDomainChar(rest[end])) {
      // Name the two most common mistakes precisely; the message stays go-spiffe's.
      std::string what(kBadTrustDomainChars);
      // "user:password@host" reaches the ':' first: look for the '@' before calling it a port.
      const bool userinfo = rest.substr(0, rest.find('/')).find('@') != std::string_view::npos;
      if (rest[end] == ':' && !userinfo) what += " (a port is not allowed)";
      if ((rest[end] == ':' || rest[end] == '@') && userinfo) {
        what += " (userinfo is not allowed)";
      }
      if (rest[end] >= 'A' && rest[end] <= 'Z') what += " (must be lowercase)";
      if (rest[end] == '?' || rest[end] == '#') what += " (query and fragment are not allowed)";
      if (rest[end] == '%') what += " (percent-encoding is not allowed)";
      return idError(text, what);
    }
    ++end;
  }
  if (end == 0) return idError(text, "trust domain is missing");
  if (end > 255) return idError(text, "trust domain is longer than 255 bytes");
  const std::string_view path = rest.substr(end);
  if (auto ok = validatePath(path); !ok) {
    std::string what = ok.error().message;
    if (path.find('%') != std::string_view::npos) what += " (percent-encoding is not allowed)";
    if (path.find('?') != std::string_view::npos) what += " (a query is not allowed)";
    if (path.find('#') != std::string_view::npos) what += " (a fragment is not allowed)";
    return idError(text, what);
  }
  return SpiffeId(TrustDomain(std::string(rest.substr(0, end))), std::string(path));
}

Result<SpiffeId> SpiffeId::fromPath(const TrustDomain& td, std::string_view path) {
  // Validate first: a path without its leading slash would otherwise run into the trust
  // domain ("example.org" + "foo" parses as the ID of trust domain "example.orgfoo").
  if (auto ok = validatePath(path); !ok) {
    return idError(td.idString() + std::string(path), ok.error().message);
  }
  return parse(td.idString() + std::string(path));
}

}  // namespace mutual::spiffe
