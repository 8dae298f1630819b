#include "spiffe/spiffe_id.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <map>
#include <string>
#include <vector>

// Table-driven tests of the SPIFFE ID rules (reference/spiffe.md §1). Each row names its source:
// "SPIFFE-ID §x" is spiffe/spiffe standards/SPIFFE-ID.md, "go-spiffe" is spiffe/go-spiffe
// spiffeid/id_test.go or trustdomain_test.go (strict build), "mutual" is our own choice.

namespace mutual::spiffe {
namespace {

// go-spiffe's error strings (spiffeid/errors.go).
constexpr char kErrEmpty[] = "cannot be empty";
constexpr char kErrScheme[] = "scheme is missing or invalid";
constexpr char kErrMissingTd[] = "trust domain is missing";
constexpr char kErrTdChar[] =
    "trust domain characters are limited to lowercase letters, numbers, dots, dashes, and "
    "underscores";
constexpr char kErrPathChar[] =
    "path segment characters are limited to letters, numbers, dots, dashes, and underscores";
constexpr char kErrEmptySegment[] = "path cannot contain empty segments";
constexpr char kErrDotSegment[] = "path cannot contain dot segments";
constexpr char kErrTrailingSlash[] = "path cannot have a trailing slash";
constexpr char kErrLeadingSlash[] = "path must have a leading slash";

// Renders control and non-ASCII bytes visibly for failure messages.
std::string printable(std::string_view s) {
  std::string out;
  for (unsigned char c : s) {
    if (c >= 0x20 && c < 0x7f) {
      out += static_cast<char>(c);
    } else {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    }
  }
  return out;
}

bool isTdChar(int c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '_';
}

bool isPathChar(int c) { return isTdChar(c) || (c >= 'A' && c <= 'Z'); }

// A code point 128..255 as UTF-8, as Go's string(rune(i)) produces it.
std::string utf8(int code_point) {
  return {static_cast<char>(0xC0 | (code_point >> 6)),
          static_cast<char>(0x80 | (code_point & 0x3F))};
}

struct IdCase {
  std::string source;
  std::string input;
  // On success: the expected trust domain and path. On failure want_td is empty.
  std::string want_td;
  std::string want_path;
  // On failure: go-spiffe's message (a substring of ours), then an optional extra hint.
  std::string want_error;
  std::string want_hint;
  std::string unwanted_hint = "";  // a misleading hint that must not appear
};

IdCase ok(std::string source, std::string input, std::string td, std::string path) {
  return {std::move(source), std::move(input), std::move(td), std::move(path), "", ""};
}

IdCase bad(std::string source, std::string input, std::string error, std::string hint = "",
           std::string unwanted_hint = "") {
  return {std::move(source), std::move(input),        "", "", std::move(error),
          std::move(hint),   std::move(unwanted_hint)};
}

void expectParse(const IdCase& c) {
  SCOPED_TRACE(c.source + ": \"" + printable(c.input) + "\"");
  auto id = SpiffeId::parse(c.input);
  if (c.want_error.empty()) {
    ASSERT_TRUE(id) << id.error().message;
    EXPECT_EQ(id->trustDomain().name(), c.want_td);
    EXPECT_EQ(id->path(), c.want_path);
    EXPECT_EQ(id->isRoot(), c.want_path.empty());
    EXPECT_EQ(id->str(), c.input);  // canonical input round-trips unchanged
    return;
  }
  ASSERT_FALSE(id) << "accepted as " << id->str();
  EXPECT_EQ(id.error().code, Code::kInvalidArgument);
  EXPECT_EQ(id.error().reason, "invalid_spiffe_id");
  EXPECT_NE(id.error().message.find(c.want_error), std::string::npos) << id.error().message;
  if (!c.want_hint.empty()) {
    EXPECT_NE(id.error().message.find(c.want_hint), std::string::npos) << id.error().message;
  }
  if (!c.unwanted_hint.empty()) {
    EXPECT_EQ(id.error().message.find(c.unwanted_hint), std::string::npos) << id.error().message;
  }
}

TEST(SpiffeIdParse, Table) {
  const std::vector<IdCase> cases = {
      // Well-formed IDs.
      ok("SPIFFE-ID §2", "spiffe://trustdomain", "trustdomain", ""),
      ok("SPIFFE-ID §2", "spiffe://trustdomain/path", "trustdomain", "/path"),
      ok("SPIFFE-ID §2", "spiffe://trustdomain/path/element", "trustdomain", "/path/element"),
      ok("SPIFFE-ID §2", "spiffe://example.org/ns/default/sa/web", "example.org",
         "/ns/default/sa/web"),
      ok("SPIFFE-ID §2.1", "spiffe://my_td-1.example/x", "my_td-1.example", "/x"),
      // Scheme: exactly the lowercase prefix "spiffe://".
      bad("go-spiffe empty", "", kErrEmpty),
      bad("go-spiffe scheme", "://trustdomain/path", kErrScheme),
      bad("go-spiffe scheme", "spiffe:/trustdomain/path", kErrScheme),
      bad("go-spiffe scheme", "spiffe:trustdomain/path", kErrScheme),
      bad("go-spiffe scheme: Spiffe:// rejected", "Spiffe://trustdomain/path", kErrScheme),
      bad("go-spiffe scheme: uppercase", "SPIFFE://trustdomain/path", kErrScheme),
      bad("go-spiffe scheme", "http://trustdomain/path", kErrScheme),
      bad("go-spiffe scheme", "https://trustdomain/path", kErrScheme),
      bad("go-spiffe scheme: no scheme", "trustdomain/path", kErrScheme),
      bad("go-spiffe scheme: bare host:port", "192.168.2.2:6688", kErrScheme),
      bad("mutual: leading space", " spiffe://trustdomain/path", kErrScheme),
      // Trust domain present.
      bad("go-spiffe missing TD", "spiffe://", kErrMissingTd),
      bad("go-spiffe missing TD", "spiffe:///", kErrMissingTd),
      bad("go-spiffe missing TD", "spiffe:///path", kErrMissingTd),
      bad("go-spiffe missing TD", "spiffe:///path/element", kErrMissingTd),
      // Trust domain charset.
      bad("SPIFFE-ID §2.4 uppercase TD", "spiffe://Trustdomain/path", kErrTdChar,
          "must be lowercase"),
      bad("SPIFFE-ID §2.4 uppercase TD", "spiffe://EXAMPLE.ORG", kErrTdChar, "must be lowercase"),
      bad("SPIFFE-ID §2.1 port", "spiffe://trustdomain:8080/path", kErrTdChar,
          "a port is not allowed"),
      bad("SPIFFE-ID §2.1 port", "spiffe://example.org:8443/x", kErrTdChar,
          "a port is not allowed"),
      bad("go-spiffe empty port", "spiffe://trustdomain:/path", kErrTdChar),
      bad("SPIFFE-ID §2.1 userinfo", "spiffe://user@trustdomain/path", kErrTdChar,
          "userinfo is not allowed"),
      bad("go-spiffe userinfo (the ':' is no port)", "spiffe://user:password@test.org/path/element",
          kErrTdChar, "userinfo is not allowed", "port"),
      bad("SPIFFE-ID §2.1 port is no userinfo", "spiffe://example.org:8443/x", kErrTdChar,
          "a port is not allowed", "userinfo"),
      bad("SPIFFE-ID §2 query in authority", "spiffe://trustdomain?query=1", kErrTdChar,
          "query and fragment are not allowed"),
      bad("SPIFFE-ID §2 fragment in authority", "spiffe://trustdomain#frag", kErrTdChar,
          "query and fragment are not allowed"),
      bad("go-spiffe percent-encoded TD", "spiffe://%F0%9F%A4%AF/path", kErrTdChar,
          "percent-encoding is not allowed"),
      bad("SPIFFE-ID §2.1 percent-encoded dot", "spiffe://example%2eorg/path", kErrTdChar),
      bad("SPIFFE-ID §2.1 IPv6 literal", "spiffe://[::1]/path", kErrTdChar),
      bad("SPIFFE-ID §2.1 space", "spiffe://trust domain/path", kErrTdChar),
      bad("SPIFFE-ID §2.1 backslash", "spiffe://trustdomain\\path", kErrTdChar),
      bad("SPIFFE-ID §2.1 raw UTF-8", "spiffe://tr\xc3\xbcstdomain/path", kErrTdChar),
      ok("SPIFFE-ID §2.1 IPv4 is a name", "spiffe://192.168.1.1/path", "192.168.1.1", "/path"),
      ok("SPIFFE-ID §2.1 no DNS validation", "spiffe://a..b/path", "a..b", "/path"),
      ok("SPIFFE-ID §2.1 no DNS validation", "spiffe://.trustdomain./path", ".trustdomain.",
         "/path"),
      ok("SPIFFE-ID §2.1 all-digit", "spiffe://1234", "1234", ""),
      // Path: segments.
      bad("go-spiffe trailing slash", "spiffe://trustdomain/", kErrTrailingSlash),
      bad("go-spiffe trailing slash", "spiffe://trustdomain/path/", kErrTrailingSlash),
      bad("go-spiffe empty segment", "spiffe://trustdomain//", kErrEmptySegment),
      bad("go-spiffe empty segment", "spiffe://trustdomain//path", kErrEmptySegment),
      bad("go-spiffe empty segment", "spiffe://trustdomain/path//element", kErrEmptySegment),
      bad("go-spiffe dot segment", "spiffe://trustdomain/./path", kErrDotSegment),
      bad("go-spiffe dot segment", "spiffe://trustdomain/../path", kErrDotSegment),
      bad("go-spiffe dot segment", "spiffe://trustdomain/path/.", kErrDotSegment),
      bad("go-spiffe dot segment", "spiffe://trustdomain/path/..", kErrDotSegment),
      bad("go-spiffe dot segment", "spiffe://trustdomain/path/./element", kErrDotSegment),
      bad("go-spiffe dot segment", "spiffe://trustdomain/.", kErrDotSegment),
      bad("go-spiffe dot segment", "spiffe://trustdomain/..", kErrDotSegment),
      ok("go-spiffe legal dot-ish segment", "spiffe://trustdomain/.path", "trustdomain", "/.path"),
      ok("go-spiffe legal dot-ish segment", "spiffe://trustdomain/..path", "trustdomain",
         "/..path"),
      ok("go-spiffe legal dot-ish segment", "spiffe://trustdomain/...", "trustdomain", "/..."),
      ok("go-spiffe legal dot-ish segment", "spiffe://trustdomain/a..b", "trustdomain", "/a..b"),
      ok("go-spiffe legal dot-ish segment", "spiffe://trustdomain/path./x.", "trustdomain",
         "/path./x."),
      // Path: charset (uppercase allowed, path is case-sensitive).
      ok("SPIFFE-ID §2.4 uppercase path", "spiffe://trustdomain/PATH/Element", "trustdomain",
         "/PATH/Element"),
      ok("SPIFFE-ID §2.2 path chars", "spiffe://trustdomain/a-b_c.d/0_9", "trustdomain",
         "/a-b_c.d/0_9"),
      bad("SPIFFE-ID §2.2 percent-encoding", "spiffe://trustdomain/p%41th", kErrPathChar,
          "percent-encoding is not allowed"),
      bad("go-spiffe percent-encoded path", "spiffe://trustdomain/%F0%9F%A4%AF", kErrPathChar,
          "percent-encoding is not allowed"),
      bad("SPIFFE-ID §2 query", "spiffe://trustdomain/path?query=1", kErrPathChar,
          "a query is not allowed"),
      bad("go-spiffe query+fragment", "spiffe://domain.test/path/element?#fragment-1", kErrPathChar,
          "a fragment is not allowed"),
      bad("SPIFFE-ID §2 fragment", "spiffe://trustdomain/path#frag", kErrPathChar,
          "a fragment is not allowed"),
      bad("go-spiffe strict: colon in path", "spiffe://domain.test/pa:th/element:", kErrPathChar),
      bad("go-spiffe strict: @ in path", "spiffe://domain.test/pa@th/element", kErrPathChar),
      bad("go-spiffe strict: sub-delims", "spiffe://domain.test/p!a$t&h'/(e)l*e+m,e;n=t",
          kErrPathChar),
      bad("go-spiffe strict: gen-delims", "spiffe://domain.test/path/elem[ent", kErrPathChar),
      bad("go-spiffe strict: tilde (backcompat only)", "spiffe://domain.test/~user", kErrPathChar),
      bad("go-spiffe strict: ID inside path", "spiffe://domain.test/spiffe://domain.test/path",
          kErrPathChar),
      bad("SPIFFE-ID §2.2 space", "spiffe://trustdomain/pa th", kErrPathChar),
      bad("SPIFFE-ID §2.2 newline", "spiffe://trustdomain/path\n", kErrPathChar),
      bad("SPIFFE-ID §2.2 NUL", std::string("spiffe://trustdomain/pa\0th", 26), kErrPathChar),
      bad("SPIFFE-ID §2.2 raw UTF-8", "spiffe://trustdomain/\xf0\x9f\xa4\xaf", kErrPathChar),
      // Check order (go-spiffe): TD before path, then left to right through the path.
      bad("go-spiffe order: TD first", "spiffe://Bad/./x", kErrTdChar),
      bad("go-spiffe order: char before dot", "spiffe://td/a%/..", kErrPathChar),
      bad("go-spiffe order: empty segment before char", "spiffe://td//%", kErrEmptySegment),
  };
  for (const auto& c : cases) expectParse(c);
}

// go-spiffe id_test.go: every byte 0-255 right after the trust domain ('/' excepted: it ends the
// trust domain).
TEST(SpiffeIdParse, EveryByteInTrustDomain) {
  int accepted = 0;
  for (int b = 0; b < 256; ++b) {
    if (b == '/') continue;
    const std::string c(1, static_cast<char>(b));
    if (isTdChar(b)) {
      ++accepted;
      expectParse(ok("go-spiffe TD byte", "spiffe://trustdomain" + c, "trustdomain" + c, ""));
      expectParse(ok("go-spiffe TD byte, inner", "spiffe://trust" + c + "domain/path",
                     "trust" + c + "domain", "/path"));
    } else {
      expectParse(bad("go-spiffe TD byte", "spiffe://trustdomain" + c, kErrTdChar));
      expectParse(
          bad("go-spiffe TD byte, inner", "spiffe://trust" + c + "domain/path", kErrTdChar));
    }
  }
  EXPECT_EQ(accepted, 26 + 10 + 3);
  // Go's string(rune(i)) for i >= 128 is two UTF-8 bytes; both are rejected.
  for (int cp = 128; cp < 256; ++cp) {
    expectParse(bad("go-spiffe TD rune (UTF-8)", "spiffe://trustdomain" + utf8(cp), kErrTdChar));
  }
}

// go-spiffe id_test.go: every byte 0-255 at the end of a path segment.
TEST(SpiffeIdParse, EveryByteInPath) {
  int accepted = 0;
  for (int b = 0; b < 256; ++b) {
    const std::string c(1, static_cast<char>(b));
    if (b == '/') {
      expectParse(bad("go-spiffe path byte '/'", "spiffe://trustdomain/path/", kErrTrailingSlash));
      expectParse(
          bad("go-spiffe path byte '/', leading", "spiffe://trustdomain//path", kErrEmptySegment));
    } else if (isPathChar(b)) {
      ++accepted;
      expectParse(
          ok("go-spiffe path byte", "spiffe://trustdomain/path" + c, "trustdomain", "/path" + c));
      expectParse(ok("go-spiffe path byte, leading", "spiffe://trustdomain/" + c + "path",
                     "trustdomain", "/" + c + "path"));
    } else {
      expectParse(bad("go-spiffe path byte", "spiffe://trustdomain/path" + c, kErrPathChar));
      expectParse(
          bad("go-spiffe path byte, leading", "spiffe://trustdomain/" + c + "path", kErrPathChar));
    }
  }
  EXPECT_EQ(accepted, 26 + 26 + 10 + 3);
  for (int cp = 128; cp < 256; ++cp) {
    expectParse(
        bad("go-spiffe path rune (UTF-8)", "spiffe://trustdomain/path" + utf8(cp), kErrPathChar));
  }
}

// SPIFFE-ID §2.3: a trust domain is at most 255 bytes (go-spiffe does not enforce it; mutual
// does). IDs up to 2048 bytes must be accepted.
TEST(SpiffeIdParse, Lengths) {
  const std::string td255(255, 'a');
  const std::string td256(256, 'a');
  expectParse(ok("SPIFFE-ID §2.3 255-byte TD", "spiffe://" + td255 + "/x", td255, "/x"));
  auto too_long = SpiffeId::parse("spiffe://" + td256 + "/x");
  ASSERT_FALSE(too_long);
  EXPECT_EQ(too_long.error().reason, "invalid_spiffe_id");
  EXPECT_NE(too_long.error().message.find("255"), std::string::npos) << too_long.error().message;

  EXPECT_TRUE(TrustDomain::parse(td255));
  auto bare = TrustDomain::parse(td256);
  ASSERT_FALSE(bare);
  EXPECT_EQ(bare.error().reason, "invalid_trust_domain");
  EXPECT_NE(bare.error().message.find("255"), std::string::npos) << bare.error().message;
  EXPECT_FALSE(TrustDomain::parse("spiffe://" + td256 + "/x"));

  // 2048 bytes in total, made of many segments.
  std::string id = "spiffe://example.org";
  while (id.size() + 8 <= 2048) id += "/segment";
  id += "/" + std::string(2048 - id.size() - 1, 'x');
  ASSERT_EQ(id.size(), 2048u);
  auto long_id = SpiffeId::parse(id);
  ASSERT_TRUE(long_id) << long_id.error().message;
  EXPECT_EQ(long_id->str(), id);
}

struct TdCase {
  std::string source;
  std::string input;
  std::string want_name;  // empty: must fail
  std::string want_error;
};

// go-spiffe trustdomain.go TrustDomainFromString: a bare name, or anything containing ":/" is
// parsed as a full ID and its trust domain taken.
TEST(TrustDomainParse, Table) {
  const std::vector<TdCase> cases = {
      {"go-spiffe bare name", "trustdomain", "trustdomain", ""},
      {"go-spiffe bare name", "example.org", "example.org", ""},
      {"SPIFFE-ID §2.1 IPv4", "192.168.0.1", "192.168.0.1", ""},
      {"go-spiffe ID without path", "spiffe://trustdomain", "trustdomain", ""},
      {"go-spiffe ID with path", "spiffe://trustdomain/path", "trustdomain", ""},
      {"go-spiffe ID with path", "spiffe://example.org/ns/default/sa/web", "example.org", ""},
      {"go-spiffe empty", "", "", kErrMissingTd},
      {"go-spiffe missing TD", "spiffe://", "", kErrMissingTd},
      {"go-spiffe missing TD", "spiffe:///path", "", kErrMissingTd},
      {"go-spiffe bad scheme (has :/)", "spiffe:/trustdomain/path", "", kErrScheme},
      {"go-spiffe bad scheme (has :/)", "http://example.org", "", kErrScheme},
      {"go-spiffe bad scheme (has :/)", "Spiffe://example.org", "", kErrScheme},
      {"go-spiffe ID parsed whole", "spiffe://trustdomain/", "", kErrTrailingSlash},
      {"go-spiffe ID parsed whole", "spiffe://trustdomain/path/", "", kErrTrailingSlash},
      {"go-spiffe ID parsed whole", "spiffe://trustdomain/%F0%9F%A4%AF", "", kErrPathChar},
      {"go-spiffe ID parsed whole", "spiffe://%F0%9F%A4%AF/path", "", kErrTdChar},
      {"SPIFFE-ID §2.4 uppercase", "Trustdomain", "", kErrTdChar},
      {"SPIFFE-ID §2.4 uppercase in ID", "spiffe://Example.org", "", kErrTdChar},
      {"SPIFFE-ID §2.1 port (no :/)", "example.org:8080", "", kErrTdChar},
      {"SPIFFE-ID §2.1 userinfo", "user@example.org", "", kErrTdChar},
      {"mutual: path without scheme", "example.org/path", "", kErrTdChar},
      {"SPIFFE-ID §2.1 percent", "%F0%9F%A4%AF", "", kErrTdChar},
      {"SPIFFE-ID §2.1 space", "example .org", "", kErrTdChar},
      {"FQDN form kept", "example.org.", "example.org.", ""},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.source + ": \"" + c.input + "\"");
    auto td = TrustDomain::parse(c.input);
    if (c.want_error.empty()) {
      ASSERT_TRUE(td) << td.error().message;
      EXPECT_EQ(td->name(), c.want_name);
      EXPECT_EQ(td->idString(), "spiffe://" + c.want_name);
    } else {
      ASSERT_FALSE(td) << "accepted as " << td->name();
      EXPECT_EQ(td.error().code, Code::kInvalidArgument);
      EXPECT_NE(td.error().message.find(c.want_error), std::string::npos) << td.error().message;
    }
  }
}

// go-spiffe trustdomain_test.go: every byte 0-255 appended to a bare name.
TEST(TrustDomainParse, EveryByte) {
  for (int b = 0; b < 256; ++b) {
    const std::string input = "trustdomain" + std::string(1, static_cast<char>(b));
    SCOPED_TRACE("byte " + std::to_string(b));
    auto td = TrustDomain::parse(input);
    if (isTdChar(b)) {
      ASSERT_TRUE(td) << td.error().message;
      EXPECT_EQ(td->name(), input);
      // The same name inside a full ID gives the same trust domain.
      auto from_id = TrustDomain::parse("spiffe://" + input);
      ASSERT_TRUE(from_id);
      EXPECT_EQ(*from_id, *td);
    } else {
      ASSERT_FALSE(td);
      EXPECT_EQ(td.error().reason, "invalid_trust_domain");
      EXPECT_NE(td.error().message.find(kErrTdChar), std::string::npos) << td.error().message;
    }
  }
  for (int cp = 128; cp < 256; ++cp) {
    EXPECT_FALSE(TrustDomain::parse("trustdomain" + utf8(cp))) << cp;
  }
}

struct PathCase {
  std::string source;
  std::string path;
  std::string want_error;  // empty: valid
};

const std::vector<PathCase>& pathCases() {
  static const std::vector<PathCase> cases = {
      {"go-spiffe ValidatePath: empty", "", ""},
      {"go-spiffe ValidatePath", "/path", ""},
      {"go-spiffe ValidatePath", "/path/element", ""},
      {"go-spiffe ValidatePath: dot-ish", "/.path/..path/...", ""},
      {"go-spiffe ValidatePath: root slash", "/", kErrTrailingSlash},
      {"go-spiffe ValidatePath", "/path/", kErrTrailingSlash},
      {"go-spiffe ValidatePath", "path", kErrLeadingSlash},
      {"go-spiffe ValidatePath", "path/element", kErrLeadingSlash},
      {"go-spiffe ValidatePath", ".", kErrLeadingSlash},
      {"go-spiffe ValidatePath", "//", kErrEmptySegment},
      {"go-spiffe ValidatePath", "/a//b", kErrEmptySegment},
      {"go-spiffe ValidatePath", "/./a", kErrDotSegment},
      {"go-spiffe ValidatePath", "/a/..", kErrDotSegment},
      {"go-spiffe ValidatePath", "/a%20b", kErrPathChar},
      {"go-spiffe ValidatePath", "/a?b", kErrPathChar},
      {"go-spiffe ValidatePath", "/a#b", kErrPathChar},
  };
  return cases;
}

TEST(ValidatePath, Table) {
  for (const auto& c : pathCases()) {
    SCOPED_TRACE(c.source + ": \"" + c.path + "\"");
    auto ok = validatePath(c.path);
    if (c.want_error.empty()) {
      EXPECT_TRUE(ok) << ok.error().message;
    } else {
      ASSERT_FALSE(ok);
      EXPECT_EQ(ok.error().code, Code::kInvalidArgument);
      EXPECT_EQ(ok.error().message, c.want_error);  // exactly go-spiffe's text
    }
  }
}

// go-spiffe FromPath validates the path on its own, so a path without its leading slash can
// never run into the trust domain name.
TEST(SpiffeIdFromPath, ValidatesThePathBeforeJoining) {
  const TrustDomain td = *TrustDomain::parse("trustdomain");
  for (const auto& c : pathCases()) {
    SCOPED_TRACE(c.source + ": \"" + c.path + "\"");
    auto id = SpiffeId::fromPath(td, c.path);
    if (c.want_error.empty()) {
      ASSERT_TRUE(id) << id.error().message;
      EXPECT_EQ(id->trustDomain(), td);
      EXPECT_EQ(id->path(), c.path);
      EXPECT_EQ(id->str(), "spiffe://trustdomain" + c.path);
    } else {
      ASSERT_FALSE(id) << "accepted as " << id->str();
      EXPECT_EQ(id.error().reason, "invalid_spiffe_id");
      EXPECT_NE(id.error().message.find(c.want_error), std::string::npos) << id.error().message;
    }
  }
  // Before the fix these two produced spiffe://trustdomainpath and spiffe://trustdomain.x/y.
  EXPECT_FALSE(SpiffeId::fromPath(td, "path"));
  EXPECT_FALSE(SpiffeId::fromPath(td, ".x/y"));
  EXPECT_FALSE(SpiffeId::fromPath(td, ":8080/x"));
}

TEST(SpiffeId, AccessorsAndComparison) {
  const auto td = *TrustDomain::parse("example.org");
  const auto other = *TrustDomain::parse("other.org");
  const auto web = *SpiffeId::parse("spiffe://example.org/ns/default/sa/web");
  const auto root = *SpiffeId::parse("spiffe://example.org");
  const auto foreign = *SpiffeId::parse("spiffe://other.org/ns/default/sa/web");

  EXPECT_EQ(td.name(), "example.org");
  EXPECT_EQ(td.idString(), "spiffe://example.org");
  EXPECT_EQ(web.trustDomain(), td);
  EXPECT_EQ(web.path(), "/ns/default/sa/web");
  EXPECT_FALSE(web.isRoot());
  EXPECT_TRUE(root.isRoot());
  EXPECT_EQ(root.path(), "");
  EXPECT_EQ(root.str(), "spiffe://example.org");
  EXPECT_TRUE(web.memberOf(td));
  EXPECT_TRUE(root.memberOf(td));
  EXPECT_FALSE(web.memberOf(other));
  EXPECT_FALSE(foreign.memberOf(td));
  // A trust domain that is a suffix or prefix of another is a different trust domain.
  EXPECT_FALSE(SpiffeId::parse("spiffe://sub.example.org/x")->memberOf(td));
  EXPECT_FALSE(SpiffeId::parse("spiffe://example.org.evil/x")->memberOf(td));

  EXPECT_EQ(web, *SpiffeId::parse("spiffe://example.org/ns/default/sa/web"));
  EXPECT_NE(web, foreign);
  EXPECT_NE(web, root);
  // The path is case-sensitive (SPIFFE-ID §2.4).
  EXPECT_NE(*SpiffeId::parse("spiffe://example.org/Web"),
            *SpiffeId::parse("spiffe://example.org/web"));
  EXPECT_EQ(*SpiffeId::fromPath(td, "/ns/default/sa/web"), web);
  EXPECT_EQ(*SpiffeId::fromPath(td, ""), root);

  // Ordered, so usable as a map key.
  std::map<SpiffeId, int> by_id;
  by_id[web] = 1;
  by_id[foreign] = 2;
  by_id[root] = 3;
  EXPECT_EQ(by_id.size(), 3u);
  EXPECT_EQ(by_id.at(*SpiffeId::parse("spiffe://example.org/ns/default/sa/web")), 1);
  EXPECT_LT(td, other);
}

TEST(SpiffeId, ErrorMessageQuotesTheInput) {
  auto id = SpiffeId::parse("spiffe://example.org/a//b");
  ASSERT_FALSE(id);
  EXPECT_NE(id.error().message.find("\"spiffe://example.org/a//b\""), std::string::npos)
      << id.error().message;
  auto td = TrustDomain::parse("Example.org");
  ASSERT_FALSE(td);
  EXPECT_NE(td.error().message.find("\"Example.org\""), std::string::npos) << td.error().message;
}

}  // namespace
}  // namespace mutual::spiffe
