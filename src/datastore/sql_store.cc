#include "datastore/sql_store.h"

#include <algorithm>
#include <chrono>
#include <mutex>
#include <optional>
#include <random>
#include <thread>
#include <type_traits>
#include <unordered_map>

#include "base/time.h"
#include "crypto/certificate.h"
#include "datastore/postgres_db.h"
#include "datastore/schema.h"
#include "datastore/sql.h"
#include "datastore/sqlite_db.h"
#include "spiffe/spiffe_id.h"

namespace mutual::datastore {
namespace {

using sql::blob;
using sql::integer;
using sql::Params;
using sql::Row;
using sql::Rows;
using sql::text;
using sql::TxMode;

// A PostgreSQL SERIALIZABLE transaction that conflicts is retried this many times in all.
constexpr int kMaxAttempts = 16;
constexpr size_t kIdsPerQuery = 500;          // ids in one IN (...) list
constexpr size_t kIssuedRowsPerInsert = 100;  // rows in one multi-row INSERT
constexpr size_t kMaxHintBytes = 1024;        // SPIRE's limit (pkg/server/api/entry.go)
constexpr size_t kMaxIdBytes = 255;

// ---------------------------------------------------------------------------------------
// Validation and normalisation. Everything a method stores is checked before its
// transaction starts, so that a bad record never costs a round trip.

bool hasNul(std::string_view s) { return s.find('\0') != std::string_view::npos; }

std::string quoted(std::string_view s) { return "\"" + std::string(s) + "\""; }

Result<std::string> canonicalSpiffeId(std::string_view field, std::string_view value) {
  if (value.empty()) return invalidArgument(std::string(field) + " is required");
  auto id = spiffe::SpiffeId::parse(value);
  if (!id) {
    return invalidArgument(std::string(field) + " " + quoted(value) + ": " + id.error().message);
  }
  return id->str();
}

Result<std::string> canonicalTrustDomain(std::string_view field, std::string_view value) {
  auto td = spiffe::TrustDomain::parse(value);
  if (!td) {
    return invalidArgument(std::string(field) + " " + quoted(value) + ": " + td.error().message);
  }
  return td->name();
}

Result<std::vector<std::string>> canonicalTrustDomains(std::string_view field,
                                                       const std::vector<std::string>& values) {
  std::vector<std::string> out;
  for (size_t k = 0; k < values.size(); ++k) {
    auto td = canonicalTrustDomain(std::string(field) + "[" + std::to_string(k) + "]", values[k]);
    if (!td) return fail(td.error());
    out.push_back(std::move(*td));
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

Result<std::vector<Selector>> canonicalSelectors(std::string_view field,
                                                 std::vector<Selector> selectors) {
  for (size_t k = 0; k < selectors.size(); ++k) {
    const Selector& s = selectors[k];
    std::string where = std::string(field) + "[" + std::to_string(k) + "]";
    if (s.type.empty()) return invalidArgument(where + ": selector type is empty");
    if (s.type.find(':') != std::string::npos) {
      return invalidArgument(where + ": selector type " + quoted(s.type) +
                             " contains a colon (the text form splits at the first colon)");
    }
    if (s.value.empty()) return invalidArgument(where + ": selector value is empty");
    if (hasNul(s.type) || hasNul(s.value)) return invalidArgument(where + ": contains a NUL byte");
  }
  std::sort(selectors.begin(), selectors.end());
  selectors.erase(std::unique(selectors.begin(), selectors.end()), selectors.end());
  return selectors;
}

Result<RegistrationEntry> canonicalEntry(RegistrationEntry e, bool creating) {
  if (e.id.empty()) {
    if (!creating) return invalidArgument("entry id is required");
    e.id = newUuid();
  } else {
    if (e.id.size() > kMaxIdBytes) {
      return invalidArgument("entry id is longer than " + std::to_string(kMaxIdBytes) + " bytes");
    }
    for (char c : e.id) {
      if (c <= 0x20 || c >= 0x7f) {
        return invalidArgument("entry id " + quoted(e.id) +
                               ": only printable ASCII without spaces is allowed");
      }
    }
  }
  auto spiffe_id = canonicalSpiffeId("spiffe_id", e.spiffe_id);
  if (!spiffe_id) return fail(spiffe_id.error());
  e.spiffe_id = std::move(*spiffe_id);
  auto parent_id = canonicalSpiffeId("parent_id", e.parent_id);
  if (!parent_id) return fail(parent_id.error());
  e.parent_id = std::move(*parent_id);
  if (e.selectors.empty()) return invalidArgument("selectors: at least one selector is required");
  auto selectors = canonicalSelectors("selectors", std::move(e.selectors));
  if (!selectors) return fail(selectors.error());
  e.selectors = std::move(*selectors);
  if (e.x509_svid_ttl < 0) return invalidArgument("x509_svid_ttl must not be negative");
  if (e.jwt_svid_ttl < 0) return invalidArgument("jwt_svid_ttl must not be negative");
  for (size_t k = 0; k < e.dns_names.size(); ++k) {
    const std::string& name = e.dns_names[k];
    std::string where = "dns_names[" + std::to_string(k) + "]";
    if (name.empty()) return invalidArgument(where + " is empty");
    for (char c : name) {
      if (c <= 0x20 || c >= 0x7f) {
        return invalidArgument(where + " " + quoted(name) + ": not a DNS name");
      }
    }
  }
  auto federates = canonicalTrustDomains("federates_with", e.federates_with);
  if (!federates) return fail(federates.error());
  e.federates_with = std::move(*federates);
  if (e.expires_at < 0) return invalidArgument("expires_at must not be negative");
  if (e.hint.size() > kMaxHintBytes) {
    return invalidArgument("hint is longer than " + std::to_string(kMaxHintBytes) + " bytes");
  }
  if (hasNul(e.hint)) return invalidArgument("hint contains a NUL byte");
  return e;
}

Result<void> checkToken(const std::string& token) {
  if (token.empty()) return invalidArgument("join token is empty");
  if (hasNul(token)) return invalidArgument("join token contains a NUL byte");
  return {};
}

Result<AttestedNode> canonicalNode(AttestedNode node) {
  auto id = canonicalSpiffeId("spiffe_id", node.spiffe_id);
  if (!id) return fail(id.error());
  node.spiffe_id = std::move(*id);
  if (hasNul(node.attestation_type) || hasNul(node.cert_serial) || hasNul(node.new_cert_serial)) {
    return invalidArgument("attested node " + node.spiffe_id + ": a field contains a NUL byte");
  }
  return node;
}

// A bundle as stored: the validated record plus each X.509 authority's notAfter.
struct StoredBundle {
  Bundle bundle;
  std::vector<int64_t> x509_not_after;
};

Result<StoredBundle> canonicalBundle(const Bundle& in) {
  StoredBundle out;
  out.bundle = in;
  auto td = canonicalTrustDomain("trust_domain", in.trust_domain);
  if (!td) return fail(td.error());
  out.bundle.trust_domain = std::move(*td);
  for (size_t k = 0; k < in.x509_authorities_der.size(); ++k) {
    auto cert = crypto::Certificate::fromDer(in.x509_authorities_der[k]);
    if (!cert) {
      return invalidArgument("bundle " + out.bundle.trust_domain + ": x509_authorities_der[" +
                             std::to_string(k) + "]: " + cert.error().message);
    }
    out.x509_not_after.push_back(toUnix(cert->notAfter()));
  }
  for (size_t k = 0; k < in.jwt_authorities.size(); ++k) {
    const JwtAuthority& key = in.jwt_authorities[k];
    std::string where =
        "bundle " + out.bundle.trust_domain + ": jwt_authorities[" + std::to_string(k) + "]";
    if (key.key_id.empty()) return invalidArgument(where + ": key_id is empty");
    if (hasNul(key.key_id)) return invalidArgument(where + ": key_id contains a NUL byte");
    if (key.public_key_der.empty()) return invalidArgument(where + ": public_key_der is empty");
  }
  if (in.refresh_hint < 0) return invalidArgument("refresh_hint must not be negative");
  return out;
}

Result<IssuedCertificate> canonicalIssued(IssuedCertificate c, int64_t now) {
  if (c.serial_hex.empty()) return invalidArgument("issued certificate: serial_hex is empty");
  for (char& ch : c.serial_hex) {
    if (ch >= 'A' && ch <= 'F') ch = static_cast<char>(ch - 'A' + 'a');
    if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f'))) {
      return invalidArgument("issued certificate: serial_hex " + quoted(c.serial_hex) +
                             " is not hexadecimal");
    }
  }
  auto id = canonicalSpiffeId("issued certificate " + c.serial_hex + ": spiffe_id", c.spiffe_id);
  if (!id) return fail(id.error());
  c.spiffe_id = std::move(*id);
  if (c.issued_at == 0) c.issued_at = now;
  return c;
}

Result<void> checkPagination(const Pagination& p) {
  if (p.page_size < 0) return invalidArgument("page_size must not be negative");
  return {};
}

// ---------------------------------------------------------------------------------------
// SQL building blocks shared by both backends.

constexpr std::string_view kEntryColumns =
    "e.id, e.spiffe_id, e.parent_id, e.x509_svid_ttl, e.jwt_svid_ttl, e.admin, e.downstream, "
    "e.expires_at, e.hint, e.created_at, e.revision_number";

RegistrationEntry entryFromRow(const Row& r) {
  RegistrationEntry e;
  e.id = r[0].s;
  e.spiffe_id = r[1].s;
  e.parent_id = r[2].s;
  e.x509_svid_ttl = static_cast<int32_t>(r[3].i);
  e.jwt_svid_ttl = static_cast<int32_t>(r[4].i);
  e.admin = r[5].i != 0;
  e.downstream = r[6].i != 0;
  e.expires_at = r[7].i;
  e.hint = r[8].s;
  e.created_at = r[9].i;
  e.revision_number = r[10].i;
  return e;
}

constexpr std::string_view kNodeColumns =
    "spiffe_id, attestation_type, cert_serial, cert_not_after, new_cert_serial, "
    "new_cert_not_after, can_reattest";

AttestedNode nodeFromRow(const Row& r) {
  AttestedNode n;
  n.spiffe_id = r[0].s;
  n.attestation_type = r[1].s;
  n.cert_serial = r[2].s;
  n.cert_not_after = r[3].i;
  n.new_cert_serial = r[4].s;
  n.new_cert_not_after = r[5].i;
  n.can_reattest = r[6].i != 0;
  return n;
}

// A child table holding a set per entry, e.g. entry_selectors (type, value).
struct ChildSet {
  std::string_view table;
  std::vector<std::string_view> columns;
};

// "(a.type = $3 AND a.value = $4) OR (...)" over `count` tuples whose parameters start at
// `first`.
std::string tupleCondition(const ChildSet& set, std::string_view alias, size_t first,
                           size_t count) {
  std::string out;
  const size_t width = set.columns.size();
  for (size_t t = 0; t < count; ++t) {
    if (t > 0) out += " OR ";
    out += "(";
    for (size_t c = 0; c < width; ++c) {
      if (c > 0) out += " AND ";
      out += std::string(alias) + "." + std::string(set.columns[c]) + " = $" +
             std::to_string(first + t * width + c);
    }
    out += ")";
  }
  return out;
}

// The condition "entry e's set matches the given set", SPIRE's match behaviours. `values`
// holds the tuples flattened (set.columns.size() values each), without duplicates. Every
// form starts from the entries that share at least one element, so the (type, value) index
// drives the query rather than a scan of all entries.
std::string setMatch(const ChildSet& set, const std::vector<std::string_view>& values, Match match,
                     Params& params) {
  const size_t count = values.size() / set.columns.size();
  const size_t first = params.size() + 1;
  for (std::string_view v : values) params.push_back(text(v));
  const std::string table(set.table);
  std::string candidates = "e.id IN (SELECT c.entry_id FROM " + table + " c WHERE " +
                           tupleCondition(set, "c", first, count);
  switch (match) {
    case Match::kAny:
      return candidates + ")";
    case Match::kSuperset:
      params.push_back(integer(static_cast<int64_t>(count)));
      return candidates + " GROUP BY c.entry_id HAVING COUNT(*) = $" +
             std::to_string(params.size()) + ")";
    case Match::kSubset:
    case Match::kExact: {
      std::string out = "(" + candidates + ")) AND NOT EXISTS (SELECT 1 FROM " + table +
                        " x WHERE x.entry_id = e.id AND NOT (" +
                        tupleCondition(set, "x", first, count) + "))";
      if (match == Match::kExact) {
        params.push_back(integer(static_cast<int64_t>(count)));
        out += " AND (SELECT COUNT(*) FROM " + table + " x WHERE x.entry_id = e.id) = $" +
               std::to_string(params.size());
      }
      return "(" + out + ")";
    }
  }
  return "FALSE";
}

const ChildSet kEntrySelectors{"entry_selectors", {"type", "value"}};
const ChildSet kEntryFederatesWith{"entry_federates_with", {"trust_domain"}};

std::vector<std::string_view> flatten(const std::vector<Selector>& selectors) {
  std::vector<std::string_view> out;
  for (const Selector& s : selectors) {
    out.push_back(s.type);
    out.push_back(s.value);
  }
  return out;
}

std::vector<std::string_view> flatten(const std::vector<std::string>& values) {
  return {values.begin(), values.end()};
}

std::string param(const Params& params) { return "$" + std::to_string(params.size()); }

// ---------------------------------------------------------------------------------------
// Queries used by several methods, each inside the caller's transaction.

template <class Db>
Result<void> loadEntryChildren(Db& db, std::vector<RegistrationEntry>& entries) {
  std::unordered_map<std::string_view, RegistrationEntry*> by_id;
  for (RegistrationEntry& e : entries) by_id[e.id] = &e;
  // The entry a child row belongs to (always one of `entries`: same transaction).
  auto owner = [&by_id](const Row& r) -> RegistrationEntry* {
    auto it = by_id.find(r[0].s);
    return it == by_id.end() ? nullptr : it->second;
  };
  for (size_t start = 0; start < entries.size(); start += kIdsPerQuery) {
    const size_t n = std::min(kIdsPerQuery, entries.size() - start);
    Params params;
    for (size_t k = 0; k < n; ++k) params.push_back(text(entries[start + k].id));
    const std::string in = "(" + sql::placeholders(1, static_cast<int>(n)) + ")";
    auto selectors =
        db.query("SELECT entry_id, type, value FROM entry_selectors WHERE entry_id IN " + in +
                     " ORDER BY entry_id, type, value",
                 params);
    if (!selectors) return fail(selectors.error());
    for (Row& r : *selectors) {
      if (RegistrationEntry* e = owner(r)) {
        e->selectors.push_back(Selector{std::move(r[1].s), std::move(r[2].s)});
      }
    }
    auto dns = db.query("SELECT entry_id, name FROM entry_dns_names WHERE entry_id IN " + in +
                            " ORDER BY entry_id, position",
                        params);
    if (!dns) return fail(dns.error());
    for (Row& r : *dns) {
      if (RegistrationEntry* e = owner(r)) e->dns_names.push_back(std::move(r[1].s));
    }
    auto federates =
        db.query("SELECT entry_id, trust_domain FROM entry_federates_with WHERE entry_id IN " + in +
                     " ORDER BY entry_id, trust_domain",
                 params);
    if (!federates) return fail(federates.error());
    for (Row& r : *federates) {
      if (RegistrationEntry* e = owner(r)) e->federates_with.push_back(std::move(r[1].s));
    }
  }
  return {};
}

template <class Db>
Result<std::optional<RegistrationEntry>> findEntry(Db& db, const std::string& id) {
  auto rows = db.query("SELECT " + std::string(kEntryColumns) + " FROM entries e WHERE e.id = $1",
                       {text(id)});
  if (!rows) return fail(rows.error());
  if (rows->empty()) return std::optional<RegistrationEntry>();
  std::vector<RegistrationEntry> entries{entryFromRow(rows->front())};
  if (auto r = loadEntryChildren(db, entries); !r) return fail(r.error());
  return std::optional<RegistrationEntry>(std::move(entries.front()));
}

Error entryNotFound(const std::string& id) {
  return Error{Code::kNotFound, "registration entry " + quoted(id) + " not found", {}};
}

// SPIRE's "similar entry": same spiffe_id, parent_id and selector set.
template <class Db>
Result<std::optional<std::string>> findSimilarEntry(Db& db, const RegistrationEntry& e,
                                                    bool exclude_self) {
  Params params{text(e.spiffe_id), text(e.parent_id)};
  std::string where = "e.spiffe_id = $1 AND e.parent_id = $2 AND " +
                      setMatch(kEntrySelectors, flatten(e.selectors), Match::kExact, params);
  if (exclude_self) {
    params.push_back(text(e.id));
    where += " AND e.id <> " + param(params);
  }
  auto rows = db.query("SELECT e.id FROM entries e WHERE " + where + " LIMIT 1", params);
  if (!rows) return fail(rows.error());
  if (rows->empty()) return std::optional<std::string>();
  return std::optional<std::string>(rows->front()[0].s);
}

template <class Db>
Result<void> checkFederatedBundles(Db& db, const RegistrationEntry& e) {
  for (const std::string& td : e.federates_with) {
    auto rows = db.query("SELECT 1 FROM bundles WHERE trust_domain = $1", {text(td)});
    if (!rows) return fail(rows.error());
    if (rows->empty()) {
      return fail(Code::kFailedPrecondition,
                  "federates_with: no bundle for trust domain " + quoted(td) +
                      " (a federated bundle must exist before entries federate with it)",
                  "bundle_not_found");
    }
  }
  return {};
}

template <class Db>
Result<void> insertEntryChildren(Db& db, const RegistrationEntry& e) {
  for (const Selector& s : e.selectors) {
    auto r = db.exec("INSERT INTO entry_selectors (entry_id, type, value) VALUES ($1, $2, $3)",
                     {text(e.id), text(s.type), text(s.value)});
    if (!r) return fail(r.error());
  }
  for (size_t k = 0; k < e.dns_names.size(); ++k) {
    auto r = db.exec("INSERT INTO entry_dns_names (entry_id, position, name) VALUES ($1, $2, $3)",
                     {text(e.id), integer(static_cast<int64_t>(k)), text(e.dns_names[k])});
    if (!r) return fail(r.error());
  }
  for (const std::string& td : e.federates_with) {
    auto r = db.exec("INSERT INTO entry_federates_with (entry_id, trust_domain) VALUES ($1, $2)",
                     {text(e.id), text(td)});
    if (!r) return fail(r.error());
  }
  return {};
}

template <class Db>
Result<void> deleteEntryChildren(Db& db, const std::string& id) {
  for (std::string_view table : {"entry_selectors", "entry_dns_names", "entry_federates_with"}) {
    auto r = db.exec("DELETE FROM " + std::string(table) + " WHERE entry_id = $1", {text(id)});
    if (!r) return fail(r.error());
  }
  return {};
}

template <class Db>
Result<std::optional<AttestedNode>> findNode(Db& db, const std::string& spiffe_id) {
  auto rows =
      db.query("SELECT " + std::string(kNodeColumns) + " FROM attested_nodes WHERE spiffe_id = $1",
               {text(spiffe_id)});
  if (!rows) return fail(rows.error());
  if (rows->empty()) return std::optional<AttestedNode>();
  return std::optional<AttestedNode>(nodeFromRow(rows->front()));
}

Error nodeNotFound(const std::string& id) {
  return Error{Code::kNotFound, "attested node " + quoted(id) + " not found", {}};
}

// Loads one bundle (trust_domain set) or all of them, ordered by trust domain.
template <class Db>
Result<std::vector<StoredBundle>> loadBundles(Db& db, const std::string* trust_domain) {
  Params params;
  std::string where;
  if (trust_domain != nullptr) {
    params.push_back(text(*trust_domain));
    where = " WHERE trust_domain = $1";
  }
  auto heads = db.query("SELECT trust_domain, refresh_hint, sequence_number FROM bundles" + where +
                            " ORDER BY trust_domain",
                        params);
  if (!heads) return fail(heads.error());
  std::vector<StoredBundle> out;
  std::unordered_map<std::string, size_t> index;
  for (Row& r : *heads) {
    StoredBundle& b = out.emplace_back();
    b.bundle.trust_domain = std::move(r[0].s);
    b.bundle.refresh_hint = r[1].i;
    b.bundle.sequence_number = static_cast<uint64_t>(r[2].i);
    index[b.bundle.trust_domain] = out.size() - 1;
  }
  if (out.empty()) return out;
  auto x509 = db.query("SELECT trust_domain, der, not_after FROM bundle_x509_authorities" + where +
                           " ORDER BY trust_domain, position",
                       params);
  if (!x509) return fail(x509.error());
  for (Row& r : *x509) {
    StoredBundle& b = out[index.at(r[0].s)];
    b.bundle.x509_authorities_der.push_back(std::move(r[1].s));
    b.x509_not_after.push_back(r[2].i);
  }
  auto jwt = db.query(
      "SELECT trust_domain, key_id, public_key, expires_at "
      "FROM bundle_jwt_authorities" +
          where + " ORDER BY trust_domain, position",
      params);
  if (!jwt) return fail(jwt.error());
  for (Row& r : *jwt) {
    out[index.at(r[0].s)].bundle.jwt_authorities.push_back(
        JwtAuthority{std::move(r[1].s), std::move(r[2].s), r[3].i});
  }
  return out;
}

template <class Db>
Result<std::optional<StoredBundle>> findBundle(Db& db, const std::string& trust_domain) {
  auto all = loadBundles(db, &trust_domain);
  if (!all) return fail(all.error());
  if (all->empty()) return std::optional<StoredBundle>();
  return std::optional<StoredBundle>(std::move(all->front()));
}

Error bundleNotFound(const std::string& td) {
  return Error{Code::kNotFound, "bundle for trust domain " + quoted(td) + " not found", {}};
}

// Replaces the authorities of an existing bundles row.
template <class Db>
Result<void> writeBundleContents(Db& db, const StoredBundle& b) {
  const std::string& td = b.bundle.trust_domain;
  for (std::string_view table : {"bundle_x509_authorities", "bundle_jwt_authorities"}) {
    auto r = db.exec("DELETE FROM " + std::string(table) + " WHERE trust_domain = $1", {text(td)});
    if (!r) return fail(r.error());
  }
  for (size_t k = 0; k < b.bundle.x509_authorities_der.size(); ++k) {
    auto r = db.exec(
        "INSERT INTO bundle_x509_authorities (trust_domain, position, der, not_after) "
        "VALUES ($1, $2, $3, $4)",
        {text(td), integer(static_cast<int64_t>(k)), blob(b.bundle.x509_authorities_der[k]),
         integer(b.x509_not_after[k])});
    if (!r) return fail(r.error());
  }
  for (size_t k = 0; k < b.bundle.jwt_authorities.size(); ++k) {
    const JwtAuthority& key = b.bundle.jwt_authorities[k];
    auto r = db.exec(
        "INSERT INTO bundle_jwt_authorities "
        "(trust_domain, position, key_id, public_key, expires_at) VALUES ($1, $2, $3, $4, $5)",
        {text(td), integer(static_cast<int64_t>(k)), text(key.key_id), blob(key.public_key_der),
         integer(key.expires_at)});
    if (!r) return fail(r.error());
  }
  return {};
}

template <class Db>
Result<void> insertBundle(Db& db, const StoredBundle& b) {
  auto r = db.exec(
      "INSERT INTO bundles (trust_domain, refresh_hint, sequence_number) VALUES ($1, $2, $3)",
      {text(b.bundle.trust_domain), integer(b.bundle.refresh_hint),
       integer(static_cast<int64_t>(b.bundle.sequence_number))});
  if (!r) {
    if (r.error().reason == sql::kReasonUnique) {
      return fail(Code::kAlreadyExists,
                  "bundle for trust domain " + quoted(b.bundle.trust_domain) + " already exists");
    }
    return fail(r.error());
  }
  return writeBundleContents(db, b);
}

template <class Db>
Result<void> updateBundleHead(Db& db, const Bundle& b) {
  auto r =
      db.exec("UPDATE bundles SET refresh_hint = $2, sequence_number = $3 WHERE trust_domain = $1",
              {text(b.trust_domain), integer(b.refresh_hint),
               integer(static_cast<int64_t>(b.sequence_number))});
  if (!r) return fail(r.error());
  if (*r == 0) return fail(bundleNotFound(b.trust_domain));
  return {};
}

// Rows from a paged query fetched with LIMIT page_size + 1: trims the extra row and says
// whether there is a next page.
bool trimPage(Rows& rows, int32_t page_size) {
  if (page_size <= 0 || rows.size() <= static_cast<size_t>(page_size)) return false;
  rows.resize(static_cast<size_t>(page_size));
  return true;
}

// ---------------------------------------------------------------------------------------

template <class Db>
Result<void> migrate(Db& db, const std::vector<sql::Migration>& migrations, int target) {
  const int known = static_cast<int>(migrations.size());
  const std::string name(Db::kName);
  if (auto r = db.begin(TxMode::kMigrate); !r) {
    db.rollback();
    return r;
  }
  auto body = [&]() -> Result<void> {
    if (auto r = db.script("CREATE TABLE IF NOT EXISTS schema_version ("
                           "id BIGINT PRIMARY KEY, version BIGINT NOT NULL)");
        !r) {
      return r;
    }
    auto rows = db.query("SELECT version FROM schema_version WHERE id = 1", {});
    if (!rows) return fail(rows.error());
    const int current = rows->empty() ? 0 : static_cast<int>(rows->front()[0].i);
    if (current > known) {
      return fail(Code::kFailedPrecondition,
                  name + ": the database's schema version " + std::to_string(current) +
                      " is newer than this build of mutual supports (" + std::to_string(known) +
                      "); run a newer mutual against it",
                  "schema_too_new");
    }
    if (current > target) {
      return fail(Code::kFailedPrecondition,
                  name + ": the database's schema version " + std::to_string(current) +
                      " is past the requested version " + std::to_string(target),
                  "schema_too_new");
    }
    for (int v = current + 1; v <= target; ++v) {
      for (std::string_view statement : migrations[v - 1]) {
        if (auto r = db.script(statement); !r) {
          Error e = r.error();
          return fail(e.prefix(name + ": migrating the schema to version " + std::to_string(v)));
        }
      }
    }
    if (current != target) {
      auto r = db.exec(
          "INSERT INTO schema_version (id, version) VALUES (1, $1) "
          "ON CONFLICT (id) DO UPDATE SET version = excluded.version",
          {integer(target)});
      if (!r) return fail(r.error());
    }
    return {};
  };
  if (auto r = body(); !r) {
    db.rollback();
    return r;
  }
  return db.commit();
}

// ---------------------------------------------------------------------------------------

// A short, growing, jittered pause before retrying a conflicting transaction.
std::chrono::microseconds backoff(int attempt) {
  thread_local std::minstd_rand rng(std::random_device{}());
  const int base = 200 << std::min(attempt, 8);  // at most about 100 ms
  return std::chrono::microseconds(base + static_cast<int>(rng() % static_cast<unsigned>(base)));
}

template <class Db>
class SqlStore final : public DataStore {
 public:
  SqlStore(std::unique_ptr<Db> db, std::shared_ptr<const Clock> clock)
      : db_(std::move(db)), clock_(std::move(clock)) {}

  std::string_view backend() const override { return Db::kName; }

  Result<int> schemaVersion() override {
    return tx(TxMode::kRead, [](Db& db) -> Result<int> {
      auto rows = db.query("SELECT version FROM schema_version WHERE id = 1", {});
      if (!rows) return fail(rows.error());
      return rows->empty() ? 0 : static_cast<int>(rows->front()[0].i);
    });
  }

  // --- entries --------------------------------------------------------------------------

  Result<RegistrationEntry> createEntry(RegistrationEntry entry) override {
    auto canonical = canonicalEntry(std::move(entry), /*creating=*/true);
    if (!canonical) return fail(canonical.error());
    RegistrationEntry& e = *canonical;
    e.created_at = now();
    e.revision_number = 0;
    return tx(TxMode::kWrite, [&e](Db& db) -> Result<RegistrationEntry> {
      auto existing = db.query("SELECT 1 FROM entries WHERE id = $1", {text(e.id)});
      if (!existing) return fail(existing.error());
      if (!existing->empty()) {
        return fail(Code::kAlreadyExists, "registration entry " + quoted(e.id) + " already exists");
      }
      auto similar = findSimilarEntry(db, e, /*exclude_self=*/false);
      if (!similar) return fail(similar.error());
      if (*similar) {
        return fail(Code::kAlreadyExists, "similar entry already exists: " + quoted(**similar) +
                                              " has the same spiffe_id, parent_id and selectors");
      }
      if (auto r = checkFederatedBundles(db, e); !r) return fail(r.error());
      auto r = db.exec(
          "INSERT INTO entries (id, spiffe_id, parent_id, x509_svid_ttl, jwt_svid_ttl, admin, "
          "downstream, expires_at, hint, created_at, revision_number) "
          "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 0)",
          {text(e.id), text(e.spiffe_id), text(e.parent_id), integer(e.x509_svid_ttl),
           integer(e.jwt_svid_ttl), integer(e.admin), integer(e.downstream), integer(e.expires_at),
           text(e.hint), integer(e.created_at)});
      if (!r) return fail(r.error());
      if (auto c = insertEntryChildren(db, e); !c) return fail(c.error());
      return e;
    });
  }

  Result<RegistrationEntry> fetchEntry(const std::string& id) override {
    return tx(TxMode::kRead, [&id](Db& db) -> Result<RegistrationEntry> {
      auto e = findEntry(db, id);
      if (!e) return fail(e.error());
      if (!*e) return fail(entryNotFound(id));
      return std::move(**e);
    });
  }

  Result<ListEntriesResponse> listEntries(const ListEntriesRequest& request) override {
    if (auto r = checkPagination(request.pagination); !r) return fail(r.error());
    std::vector<Selector> selectors;
    if (request.by_selectors) {
      if (request.by_selectors->selectors.empty()) {
        return invalidArgument("cannot list by empty selector set");
      }
      auto s = canonicalSelectors("by_selectors", request.by_selectors->selectors);
      if (!s) return fail(s.error());
      selectors = std::move(*s);
    }
    std::vector<std::string> trust_domains;
    if (request.by_federates_with) {
      if (request.by_federates_with->trust_domains.empty()) {
        return invalidArgument("cannot list by empty federates_with set");
      }
      auto t = canonicalTrustDomains("by_federates_with", request.by_federates_with->trust_domains);
      if (!t) return fail(t.error());
      trust_domains = std::move(*t);
    }
    return tx(TxMode::kRead, [&](Db& db) -> Result<ListEntriesResponse> {
      Params params;
      std::vector<std::string> where;
      if (request.by_parent_id) {
        params.push_back(text(*request.by_parent_id));
        where.push_back("e.parent_id = " + param(params));
      }
      if (request.by_spiffe_id) {
        params.push_back(text(*request.by_spiffe_id));
        where.push_back("e.spiffe_id = " + param(params));
      }
      if (request.by_hint) {
        params.push_back(text(*request.by_hint));
        where.push_back("e.hint = " + param(params));
      }
      if (request.by_downstream) {
        params.push_back(integer(*request.by_downstream));
        where.push_back("e.downstream = " + param(params));
      }
      if (request.by_selectors) {
        where.push_back(
            setMatch(kEntrySelectors, flatten(selectors), request.by_selectors->match, params));
      }
      if (request.by_federates_with) {
        where.push_back(setMatch(kEntryFederatesWith, flatten(trust_domains),
                                 request.by_federates_with->match, params));
      }
      if (!request.pagination.page_token.empty()) {
        params.push_back(text(request.pagination.page_token));
        where.push_back("e.id > " + param(params));
      }
      std::string query = "SELECT " + std::string(kEntryColumns) + " FROM entries e";
      for (size_t k = 0; k < where.size(); ++k) query += (k == 0 ? " WHERE " : " AND ") + where[k];
      query += " ORDER BY e.id";
      if (request.pagination.page_size > 0) {
        params.push_back(integer(int64_t{request.pagination.page_size} + 1));
        query += " LIMIT " + param(params);
      }
      auto rows = db.query(query, params);
      if (!rows) return fail(rows.error());
      ListEntriesResponse out;
      const bool more = trimPage(*rows, request.pagination.page_size);
      for (const Row& r : *rows) out.entries.push_back(entryFromRow(r));
      if (auto c = loadEntryChildren(db, out.entries); !c) return fail(c.error());
      if (more) out.next_page_token = out.entries.back().id;
      return out;
    });
  }

  Result<RegistrationEntry> updateEntry(const RegistrationEntry& entry) override {
    auto canonical = canonicalEntry(entry, /*creating=*/false);
    if (!canonical) return fail(canonical.error());
    const RegistrationEntry& e = *canonical;
    return tx(TxMode::kWrite, [&e](Db& db) -> Result<RegistrationEntry> {
      auto existing = db.query("SELECT 1 FROM entries WHERE id = $1", {text(e.id)});
      if (!existing) return fail(existing.error());
      if (existing->empty()) return fail(entryNotFound(e.id));
      auto similar = findSimilarEntry(db, e, /*exclude_self=*/true);
      if (!similar) return fail(similar.error());
      if (*similar) {
        return fail(Code::kAlreadyExists, "similar entry already exists: " + quoted(**similar) +
                                              " has the same spiffe_id, parent_id and selectors");
      }
      auto r = db.exec(
          "UPDATE entries SET spiffe_id = $2, parent_id = $3, x509_svid_ttl = $4, "
          "jwt_svid_ttl = $5, admin = $6, downstream = $7, expires_at = $8, hint = $9, "
          "revision_number = revision_number + 1 WHERE id = $1",
          {text(e.id), text(e.spiffe_id), text(e.parent_id), integer(e.x509_svid_ttl),
           integer(e.jwt_svid_ttl), integer(e.admin), integer(e.downstream), integer(e.expires_at),
           text(e.hint)});
      if (!r) return fail(r.error());
      if (*r == 0) return fail(entryNotFound(e.id));
      if (auto c = checkFederatedBundles(db, e); !c) return fail(c.error());
      if (auto c = deleteEntryChildren(db, e.id); !c) return fail(c.error());
      if (auto c = insertEntryChildren(db, e); !c) return fail(c.error());
      auto stored = findEntry(db, e.id);
      if (!stored) return fail(stored.error());
      if (!*stored) return fail(entryNotFound(e.id));
      return std::move(**stored);
    });
  }

  Result<RegistrationEntry> deleteEntry(const std::string& id) override {
    return tx(TxMode::kWrite, [&id](Db& db) -> Result<RegistrationEntry> {
      auto e = findEntry(db, id);
      if (!e) return fail(e.error());
      if (!*e) return fail(entryNotFound(id));
      auto r = db.exec("DELETE FROM entries WHERE id = $1", {text(id)});
      if (!r) return fail(r.error());
      return std::move(**e);
    });
  }

  Result<int64_t> countEntries() override { return count("entries"); }

  Result<int64_t> pruneEntries(TimePoint before) override {
    const int64_t t = toUnix(before);
    return tx(TxMode::kWrite, [t](Db& db) -> Result<int64_t> {
      return db.exec("DELETE FROM entries WHERE expires_at > 0 AND expires_at < $1", {integer(t)});
    });
  }

  // --- join tokens ----------------------------------------------------------------------

  Result<void> createJoinToken(const JoinToken& token) override {
    if (auto r = checkToken(token.token); !r) return r;
    return tx(TxMode::kWrite, [&token](Db& db) -> Result<void> {
      auto r = db.exec("INSERT INTO join_tokens (token, expiry) VALUES ($1, $2)",
                       {text(token.token), integer(token.expiry)});
      if (!r) {
        // Tokens are secrets: messages never repeat them.
        if (r.error().reason == sql::kReasonUnique) {
          return fail(Code::kAlreadyExists, "join token already exists");
        }
        return fail(r.error());
      }
      return {};
    });
  }

  Result<JoinToken> fetchJoinToken(const std::string& token) override {
    if (auto r = checkToken(token); !r) return fail(r.error());
    return tx(TxMode::kRead, [&token](Db& db) -> Result<JoinToken> {
      auto rows = db.query("SELECT token, expiry FROM join_tokens WHERE token = $1", {text(token)});
      if (!rows) return fail(rows.error());
      if (rows->empty()) return fail(Code::kNotFound, "join token not found");
      return JoinToken{rows->front()[0].s, rows->front()[1].i};
    });
  }

  Result<void> deleteJoinToken(const std::string& token) override {
    if (auto r = checkToken(token); !r) return r;
    return tx(TxMode::kWrite, [&token](Db& db) -> Result<void> {
      auto r = db.exec("DELETE FROM join_tokens WHERE token = $1", {text(token)});
      if (!r) return fail(r.error());
      if (*r == 0) return fail(Code::kNotFound, "join token not found");
      return {};
    });
  }

  Result<JoinToken> consumeJoinToken(const std::string& token, TimePoint now) override {
    if (auto r = checkToken(token); !r) return fail(r.error());
    // One DELETE ... RETURNING: of two servers racing, the second finds the row gone (or, in
    // PostgreSQL's SERIALIZABLE mode, conflicts, retries and then finds it gone).
    auto consumed = tx(TxMode::kWrite, [&token](Db& db) -> Result<JoinToken> {
      auto rows =
          db.query("DELETE FROM join_tokens WHERE token = $1 RETURNING expiry", {text(token)});
      if (!rows) return fail(rows.error());
      if (rows->empty()) return fail(Code::kNotFound, "join token not found");
      return JoinToken{token, rows->front()[0].i};
    });
    if (!consumed) return consumed;
    // The deletion is committed even for an expired token: it can never be used again.
    if (consumed->expiry < toUnix(now)) {
      return fail(Code::kFailedPrecondition, "join token expired", "expired");
    }
    return consumed;
  }

  Result<int64_t> pruneJoinTokens(TimePoint before) override {
    const int64_t t = toUnix(before);
    return tx(TxMode::kWrite, [t](Db& db) -> Result<int64_t> {
      return db.exec("DELETE FROM join_tokens WHERE expiry < $1", {integer(t)});
    });
  }

  // --- attested nodes -------------------------------------------------------------------

  Result<AttestedNode> createAttestedNode(const AttestedNode& node) override {
    auto canonical = canonicalNode(node);
    if (!canonical) return fail(canonical.error());
    const AttestedNode& n = *canonical;
    return tx(TxMode::kWrite, [&n](Db& db) -> Result<AttestedNode> {
      auto r = db.exec("INSERT INTO attested_nodes (" + std::string(kNodeColumns) +
                           ") VALUES ($1, $2, $3, $4, $5, $6, $7)",
                       {text(n.spiffe_id), text(n.attestation_type), text(n.cert_serial),
                        integer(n.cert_not_after), text(n.new_cert_serial),
                        integer(n.new_cert_not_after), integer(n.can_reattest)});
      if (!r) {
        if (r.error().reason == sql::kReasonUnique) {
          return fail(Code::kAlreadyExists,
                      "attested node " + quoted(n.spiffe_id) + " already exists");
        }
        return fail(r.error());
      }
      return n;
    });
  }

  Result<AttestedNode> fetchAttestedNode(const std::string& spiffe_id) override {
    return tx(TxMode::kRead, [&spiffe_id](Db& db) -> Result<AttestedNode> {
      auto n = findNode(db, spiffe_id);
      if (!n) return fail(n.error());
      if (!*n) return fail(nodeNotFound(spiffe_id));
      return std::move(**n);
    });
  }

  Result<ListNodesResponse> listAttestedNodes(const ListNodesRequest& request) override {
    if (auto r = checkPagination(request.pagination); !r) return fail(r.error());
    return tx(TxMode::kRead, [&request](Db& db) -> Result<ListNodesResponse> {
      Params params;
      std::vector<std::string> where;
      if (request.by_attestation_type) {
        params.push_back(text(*request.by_attestation_type));
        where.push_back("attestation_type = " + param(params));
      }
      if (request.by_banned) {
        where.push_back(std::string(*request.by_banned ? "" : "NOT ") +
                        "(cert_serial = '' AND new_cert_serial = '')");
      }
      if (request.by_expires_before) {
        params.push_back(integer(toUnix(*request.by_expires_before)));
        where.push_back("cert_not_after < " + param(params));
      }
      if (request.by_can_reattest) {
        params.push_back(integer(*request.by_can_reattest));
        where.push_back("can_reattest = " + param(params));
      }
      if (!request.pagination.page_token.empty()) {
        params.push_back(text(request.pagination.page_token));
        where.push_back("spiffe_id > " + param(params));
      }
      std::string query = "SELECT " + std::string(kNodeColumns) + " FROM attested_nodes";
      for (size_t k = 0; k < where.size(); ++k) query += (k == 0 ? " WHERE " : " AND ") + where[k];
      query += " ORDER BY spiffe_id";
      if (request.pagination.page_size > 0) {
        params.push_back(integer(int64_t{request.pagination.page_size} + 1));
        query += " LIMIT " + param(params);
      }
      auto rows = db.query(query, params);
      if (!rows) return fail(rows.error());
      ListNodesResponse out;
      const bool more = trimPage(*rows, request.pagination.page_size);
      for (const Row& r : *rows) out.nodes.push_back(nodeFromRow(r));
      if (more) out.next_page_token = out.nodes.back().spiffe_id;
      return out;
    });
  }

  Result<AttestedNode> updateAttestedNode(const AttestedNode& node,
                                          const AttestedNodeMask& mask) override {
    auto canonical = canonicalNode(node);
    if (!canonical) return fail(canonical.error());
    const AttestedNode& n = *canonical;
    return tx(TxMode::kWrite, [&n, &mask](Db& db) -> Result<AttestedNode> {
      Params params{text(n.spiffe_id)};
      std::vector<std::string> sets;
      auto set = [&](bool selected, std::string_view column, sql::Param value) {
        if (!selected) return;
        params.push_back(value);
        sets.push_back(std::string(column) + " = " + param(params));
      };
      set(mask.attestation_type, "attestation_type", text(n.attestation_type));
      set(mask.cert_serial, "cert_serial", text(n.cert_serial));
      set(mask.cert_not_after, "cert_not_after", integer(n.cert_not_after));
      set(mask.new_cert_serial, "new_cert_serial", text(n.new_cert_serial));
      set(mask.new_cert_not_after, "new_cert_not_after", integer(n.new_cert_not_after));
      set(mask.can_reattest, "can_reattest", integer(n.can_reattest));
      if (!sets.empty()) {
        std::string query = "UPDATE attested_nodes SET ";
        for (size_t k = 0; k < sets.size(); ++k) query += (k == 0 ? "" : ", ") + sets[k];
        auto r = db.exec(query + " WHERE spiffe_id = $1", params);
        if (!r) return fail(r.error());
      }
      auto stored = findNode(db, n.spiffe_id);
      if (!stored) return fail(stored.error());
      if (!*stored) return fail(nodeNotFound(n.spiffe_id));
      return std::move(**stored);
    });
  }

  Result<AttestedNode> deleteAttestedNode(const std::string& spiffe_id) override {
    return tx(TxMode::kWrite, [&spiffe_id](Db& db) -> Result<AttestedNode> {
      auto n = findNode(db, spiffe_id);
      if (!n) return fail(n.error());
      if (!*n) return fail(nodeNotFound(spiffe_id));
      for (std::string_view table : {"attested_nodes", "node_selectors"}) {
        auto r = db.exec("DELETE FROM " + std::string(table) + " WHERE spiffe_id = $1",
                         {text(spiffe_id)});
        if (!r) return fail(r.error());
      }
      return std::move(**n);
    });
  }

  Result<int64_t> countAttestedNodes() override { return count("attested_nodes"); }

  Result<void> setNodeSelectors(const std::string& spiffe_id,
                                const std::vector<Selector>& selectors) override {
    auto id = canonicalSpiffeId("spiffe_id", spiffe_id);
    if (!id) return fail(id.error());
    auto canonical = canonicalSelectors("selectors", selectors);
    if (!canonical) return fail(canonical.error());
    return tx(TxMode::kWrite, [&](Db& db) -> Result<void> {
      auto r = db.exec("DELETE FROM node_selectors WHERE spiffe_id = $1", {text(*id)});
      if (!r) return fail(r.error());
      for (const Selector& s : *canonical) {
        auto i = db.exec("INSERT INTO node_selectors (spiffe_id, type, value) VALUES ($1, $2, $3)",
                         {text(*id), text(s.type), text(s.value)});
        if (!i) return fail(i.error());
      }
      return {};
    });
  }

  Result<std::vector<Selector>> getNodeSelectors(const std::string& spiffe_id) override {
    return tx(TxMode::kRead, [&spiffe_id](Db& db) -> Result<std::vector<Selector>> {
      auto rows = db.query(
          "SELECT type, value FROM node_selectors WHERE spiffe_id = $1 ORDER BY type, value",
          {text(spiffe_id)});
      if (!rows) return fail(rows.error());
      std::vector<Selector> out;
      for (Row& r : *rows) out.push_back(Selector{std::move(r[0].s), std::move(r[1].s)});
      return out;
    });
  }

  // --- bundles --------------------------------------------------------------------------

  Result<Bundle> createBundle(const Bundle& bundle) override {
    auto canonical = canonicalBundle(bundle);
    if (!canonical) return fail(canonical.error());
    const StoredBundle& b = *canonical;
    return tx(TxMode::kWrite, [&b](Db& db) -> Result<Bundle> {
      if (auto r = insertBundle(db, b); !r) return fail(r.error());
      return b.bundle;
    });
  }

  Result<Bundle> fetchBundle(const std::string& trust_domain) override {
    auto td = canonicalTrustDomain("trust_domain", trust_domain);
    if (!td) return fail(td.error());
    return tx(TxMode::kRead, [&td](Db& db) -> Result<Bundle> {
      auto b = findBundle(db, *td);
      if (!b) return fail(b.error());
      if (!*b) return fail(bundleNotFound(*td));
      return std::move((*b)->bundle);
    });
  }

  Result<std::vector<Bundle>> listBundles() override {
    return tx(TxMode::kRead, [](Db& db) -> Result<std::vector<Bundle>> {
      auto all = loadBundles(db, nullptr);
      if (!all) return fail(all.error());
      std::vector<Bundle> out;
      for (StoredBundle& b : *all) out.push_back(std::move(b.bundle));
      return out;
    });
  }

  Result<Bundle> updateBundle(const Bundle& bundle) override {
    auto canonical = canonicalBundle(bundle);
    if (!canonical) return fail(canonical.error());
    const StoredBundle& b = *canonical;
    return tx(TxMode::kWrite, [&b](Db& db) -> Result<Bundle> {
      if (auto r = updateBundleHead(db, b.bundle); !r) return fail(r.error());
      if (auto r = writeBundleContents(db, b); !r) return fail(r.error());
      return b.bundle;
    });
  }

  Result<Bundle> setBundle(const Bundle& bundle) override {
    auto canonical = canonicalBundle(bundle);
    if (!canonical) return fail(canonical.error());
    const StoredBundle& b = *canonical;
    return tx(TxMode::kWrite, [&b](Db& db) -> Result<Bundle> {
      auto r = db.exec(
          "INSERT INTO bundles (trust_domain, refresh_hint, sequence_number) VALUES ($1, $2, $3) "
          "ON CONFLICT (trust_domain) DO UPDATE SET refresh_hint = excluded.refresh_hint, "
          "sequence_number = excluded.sequence_number",
          {text(b.bundle.trust_domain), integer(b.bundle.refresh_hint),
           integer(static_cast<int64_t>(b.bundle.sequence_number))});
      if (!r) return fail(r.error());
      if (auto w = writeBundleContents(db, b); !w) return fail(w.error());
      return b.bundle;
    });
  }

  Result<Bundle> appendBundle(const Bundle& bundle) override {
    auto canonical = canonicalBundle(bundle);
    if (!canonical) return fail(canonical.error());
    const StoredBundle& in = *canonical;
    return tx(TxMode::kWrite, [&in](Db& db) -> Result<Bundle> {
      auto found = findBundle(db, in.bundle.trust_domain);
      if (!found) return fail(found.error());
      if (!*found) {
        if (auto r = insertBundle(db, in); !r) return fail(r.error());
        return in.bundle;
      }
      StoredBundle merged = std::move(**found);
      bool changed = false;
      for (size_t k = 0; k < in.bundle.x509_authorities_der.size(); ++k) {
        const std::string& der = in.bundle.x509_authorities_der[k];
        auto& have = merged.bundle.x509_authorities_der;
        if (std::find(have.begin(), have.end(), der) != have.end()) continue;
        have.push_back(der);
        merged.x509_not_after.push_back(in.x509_not_after[k]);
        changed = true;
      }
      for (const JwtAuthority& key : in.bundle.jwt_authorities) {
        auto& have = merged.bundle.jwt_authorities;
        const bool present = std::any_of(have.begin(), have.end(), [&key](const JwtAuthority& h) {
          return h.key_id == key.key_id && h.public_key_der == key.public_key_der;
        });
        if (present) continue;
        have.push_back(key);
        changed = true;
      }
      if (!changed) return std::move(merged.bundle);
      ++merged.bundle.sequence_number;
      if (auto r = updateBundleHead(db, merged.bundle); !r) return fail(r.error());
      if (auto r = writeBundleContents(db, merged); !r) return fail(r.error());
      return std::move(merged.bundle);
    });
  }

  Result<void> deleteBundle(const std::string& trust_domain, DeleteBundleMode mode) override {
    auto td = canonicalTrustDomain("trust_domain", trust_domain);
    if (!td) return fail(td.error());
    return tx(TxMode::kWrite, [&td, mode](Db& db) -> Result<void> {
      auto exists = db.query("SELECT 1 FROM bundles WHERE trust_domain = $1", {text(*td)});
      if (!exists) return fail(exists.error());
      if (exists->empty()) return fail(bundleNotFound(*td));
      auto linked = db.query("SELECT entry_id FROM entry_federates_with WHERE trust_domain = $1",
                             {text(*td)});
      if (!linked) return fail(linked.error());
      if (!linked->empty()) {
        switch (mode) {
          case DeleteBundleMode::kRestrict:
            return fail(Code::kFailedPrecondition,
                        "cannot delete bundle " + quoted(*td) + ": " +
                            std::to_string(linked->size()) +
                            " registration entries federate with it (delete or dissociate them)",
                        "bundle_in_use");
          case DeleteBundleMode::kDelete: {
            auto r = db.exec(
                "DELETE FROM entries WHERE id IN "
                "(SELECT entry_id FROM entry_federates_with WHERE trust_domain = $1)",
                {text(*td)});
            if (!r) return fail(r.error());
            break;
          }
          case DeleteBundleMode::kDissociate: {
            auto r = db.exec(
                "UPDATE entries SET revision_number = revision_number + 1 WHERE id IN "
                "(SELECT entry_id FROM entry_federates_with WHERE trust_domain = $1)",
                {text(*td)});
            if (!r) return fail(r.error());
            auto d =
                db.exec("DELETE FROM entry_federates_with WHERE trust_domain = $1", {text(*td)});
            if (!d) return fail(d.error());
            break;
          }
        }
      }
      auto r = db.exec("DELETE FROM bundles WHERE trust_domain = $1", {text(*td)});
      if (!r) return fail(r.error());
      return {};
    });
  }

  Result<bool> pruneBundle(const std::string& trust_domain, TimePoint before) override {
    auto td = canonicalTrustDomain("trust_domain", trust_domain);
    if (!td) return fail(td.error());
    const int64_t t = toUnix(before);
    return tx(TxMode::kWrite, [&td, t](Db& db) -> Result<bool> {
      auto found = findBundle(db, *td);
      if (!found) return fail(found.error());
      if (!*found) return false;
      const StoredBundle& old = **found;
      StoredBundle kept;
      kept.bundle = old.bundle;
      kept.bundle.x509_authorities_der.clear();
      kept.bundle.jwt_authorities.clear();
      for (size_t k = 0; k < old.bundle.x509_authorities_der.size(); ++k) {
        if (old.x509_not_after[k] < t) continue;
        kept.bundle.x509_authorities_der.push_back(old.bundle.x509_authorities_der[k]);
        kept.x509_not_after.push_back(old.x509_not_after[k]);
      }
      for (const JwtAuthority& key : old.bundle.jwt_authorities) {
        if (key.expires_at != 0 && key.expires_at < t) continue;
        kept.bundle.jwt_authorities.push_back(key);
      }
      const bool x509_changed =
          kept.bundle.x509_authorities_der.size() != old.bundle.x509_authorities_der.size();
      if (x509_changed && kept.bundle.x509_authorities_der.empty()) {
        return fail(Code::kFailedPrecondition,
                    "prune failed: would prune all certificates of bundle " + quoted(*td),
                    "would_prune_all");
      }
      if (!x509_changed &&
          kept.bundle.jwt_authorities.size() == old.bundle.jwt_authorities.size()) {
        return false;
      }
      ++kept.bundle.sequence_number;
      if (auto r = updateBundleHead(db, kept.bundle); !r) return fail(r.error());
      if (auto r = writeBundleContents(db, kept); !r) return fail(r.error());
      return true;
    });
  }

  Result<int64_t> countBundles() override { return count("bundles"); }

  // --- CA journal -----------------------------------------------------------------------

  Result<void> setCaJournal(const std::string& server_id, std::string_view data) override {
    if (server_id.empty() || hasNul(server_id)) {
      return invalidArgument("CA journal: server_id is empty or contains a NUL byte");
    }
    const int64_t t = now();
    return tx(TxMode::kWrite, [&server_id, data, t](Db& db) -> Result<void> {
      auto r = db.exec(
          "INSERT INTO ca_journals (server_id, data, updated_at) VALUES ($1, $2, $3) "
          "ON CONFLICT (server_id) DO UPDATE SET data = excluded.data, "
          "updated_at = excluded.updated_at",
          {text(server_id), blob(data), integer(t)});
      if (!r) return fail(r.error());
      return {};
    });
  }

  Result<std::string> fetchCaJournal(const std::string& server_id) override {
    return tx(TxMode::kRead, [&server_id](Db& db) -> Result<std::string> {
      auto rows = db.query("SELECT data FROM ca_journals WHERE server_id = $1", {text(server_id)});
      if (!rows) return fail(rows.error());
      if (rows->empty()) {
        return fail(Code::kNotFound, "no CA journal for server " + quoted(server_id));
      }
      return std::move(rows->front()[0].s);
    });
  }

  // --- issued certificates --------------------------------------------------------------

  Result<void> recordIssued(const IssuedCertificate& cert) override {
    return recordIssuedBatch({cert});
  }

  Result<void> recordIssuedBatch(const std::vector<IssuedCertificate>& certs) override {
    const int64_t t = now();
    std::vector<IssuedCertificate> canonical;
    canonical.reserve(certs.size());
    for (const IssuedCertificate& c : certs) {
      auto ok = canonicalIssued(c, t);
      if (!ok) return fail(ok.error());
      canonical.push_back(std::move(*ok));
    }
    if (canonical.empty()) return {};
    return tx(TxMode::kWrite, [&canonical](Db& db) -> Result<void> {
      for (size_t start = 0; start < canonical.size(); start += kIssuedRowsPerInsert) {
        const size_t n = std::min(kIssuedRowsPerInsert, canonical.size() - start);
        Params params;
        std::string query =
            "INSERT INTO issued_certificates "
            "(serial_hex, spiffe_id, not_before, not_after, issued_at) VALUES ";
        for (size_t k = 0; k < n; ++k) {
          const IssuedCertificate& c = canonical[start + k];
          query += (k == 0 ? "(" : ", (") +
                   sql::placeholders(static_cast<int>(params.size()) + 1, 5) + ")";
          params.push_back(text(c.serial_hex));
          params.push_back(text(c.spiffe_id));
          params.push_back(integer(c.not_before));
          params.push_back(integer(c.not_after));
          params.push_back(integer(c.issued_at));
        }
        auto r = db.exec(query, params);
        if (!r) {
          if (r.error().reason == sql::kReasonUnique) {
            return fail(Code::kAlreadyExists,
                        "issued certificate serial already recorded (nothing of this batch was "
                        "stored): " +
                            r.error().message);
          }
          return fail(r.error());
        }
      }
      return {};
    });
  }

  Result<int64_t> countIssued() override { return count("issued_certificates"); }

  Result<int64_t> pruneIssued(TimePoint before) override {
    const int64_t t = toUnix(before);
    return tx(TxMode::kWrite, [t](Db& db) -> Result<int64_t> {
      return db.exec("DELETE FROM issued_certificates WHERE not_after < $1", {integer(t)});
    });
  }

 private:
  int64_t now() const { return toUnix(clock_->now()); }

  Result<int64_t> count(std::string_view table) {
    const std::string query = "SELECT COUNT(*) FROM " + std::string(table);
    return tx(TxMode::kRead, [&query](Db& db) -> Result<int64_t> {
      auto rows = db.query(query, {});
      if (!rows) return fail(rows.error());
      return rows->front()[0].i;
    });
  }

  // Runs `body(db)` in a transaction under the store's mutex and commits when it succeeds.
  // - PostgreSQL serialization failures and deadlocks: the whole transaction is retried, up
  //   to kMaxAttempts in all, then Aborted.
  // - A lost connection: reconnected once and the transaction retried, unless the loss
  //   happened during COMMIT, whose outcome is then unknown (Unavailable, saying so).
  // `body` runs again on retries, so it must not consume its inputs.
  template <class Body>
  std::invoke_result_t<Body&, Db&> tx(TxMode mode, Body&& body) {
    std::lock_guard lock(mu_);
    bool reconnected = false;
    for (int attempt = 1;; ++attempt) {
      Error error;
      bool committing = false;
      if (db_->broken()) {
        reconnected = true;
        if (auto r = db_->reconnect(); !r) return fail(r.error());
      }
      if (auto began = db_->begin(mode); !began) {
        error = began.error();
        db_->rollback();
      } else {
        auto result = body(*db_);
        if (!result) {
          error = result.error();
          db_->rollback();
        } else {
          committing = true;
          auto committed = db_->commit();
          if (committed) return result;
          error = committed.error();
          db_->rollback();
        }
      }
      if (error.reason == sql::kReasonSerialization) {
        if (attempt < kMaxAttempts) {
          // Pausing lets the winner of the conflict finish.
          std::this_thread::sleep_for(backoff(attempt));
          continue;
        }
        return fail(Code::kAborted,
                    error.message + " (still conflicting after " + std::to_string(kMaxAttempts) +
                        " attempts)",
                    sql::kReasonSerialization);
      }
      if (error.reason == sql::kReasonConnection) {
        if (committing) {
          return fail(Code::kUnavailable,
                      error.message +
                          " (the connection was lost during COMMIT: the change "
                          "may or may not have been stored)",
                      sql::kReasonConnection);
        }
        if (!reconnected) {
          reconnected = true;
          if (auto r = db_->reconnect(); !r) {
            // "postgres: <why the connection broke>; reconnecting failed: <why>"
            std::string_view again = r.error().message;
            again.remove_prefix(std::min(again.size(), Db::kName.size() + 2));
            return fail(Code::kUnavailable, error.message + "; " + std::string(again),
                        sql::kReasonConnection);
          }
          continue;
        }
      }
      return fail(std::move(error));
    }
  }

  std::mutex mu_;
  std::unique_ptr<Db> db_;
  std::shared_ptr<const Clock> clock_;
};

template <class Db>
Result<std::unique_ptr<DataStore>> openWith(const std::string& connection_string,
                                            const std::vector<sql::Migration>& migrations,
                                            int version, const OpenOptions& options) {
  auto db = Db::open(connection_string);
  if (!db) return fail(db.error());
  if (auto r = migrate(**db, migrations, version); !r) return fail(r.error());
  std::shared_ptr<const Clock> clock = options.clock;
  if (!clock) clock = std::make_shared<RealClock>();
  return std::unique_ptr<DataStore>(new SqlStore<Db>(std::move(*db), std::move(clock)));
}

}  // namespace

Result<std::unique_ptr<DataStore>> openDataStoreAtVersion(std::string_view database_type,
                                                          const std::string& connection_string,
                                                          int version, const OpenOptions& options) {
  if (version < 1 || version > kSchemaVersion) {
    return invalidArgument("schema version " + std::to_string(version) + " is not in 1.." +
                           std::to_string(kSchemaVersion));
  }
  if (database_type == sql::SqliteDb::kName) {
    return openWith<sql::SqliteDb>(connection_string, sql::sqliteMigrations(), version, options);
  }
  if (database_type == sql::PostgresDb::kName) {
    return openWith<sql::PostgresDb>(connection_string, sql::postgresMigrations(), version,
                                     options);
  }
  if (database_type == "mysql") {
    return fail(Code::kUnimplemented,
                "database_type \"mysql\" is not supported by mutual; use \"sqlite3\" or "
                "\"postgres\"");
  }
  return invalidArgument("unknown database_type " + quoted(database_type) +
                         "; expected \"sqlite3\" or \"postgres\"");
}

Result<std::unique_ptr<DataStore>> openDataStore(std::string_view database_type,
                                                 const std::string& connection_string,
                                                 const OpenOptions& options) {
  return openDataStoreAtVersion(database_type, connection_string, kSchemaVersion, options);
}

}  // namespace mutual::datastore
