#include "datastore/datastore.h"

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <stdlib.h>

#include <algorithm>
#include <atomic>
#include <barrier>
#include <filesystem>
#include <fstream>
#include <set>
#include <thread>

#include "base/testing.h"
#include "base/time.h"
#include "ca/authority.h"
#include "datastore/sql_store.h"
#include "datastore/testing/postgres_server.h"
#include "spiffe/spiffe_id.h"

// One conformance suite, run against every backend: each TEST_P below runs once on SQLite (a
// file in a temporary directory) and once on PostgreSQL (a server this binary starts on
// loopback; skipped, saying why, when the PostgreSQL binaries are not installed).

namespace mutual::datastore {
namespace {

namespace fs = std::filesystem;
using mutual::testing::must;

// --- the PostgreSQL server: started on first use, stopped when the test program ends -------

class PostgresEnvironment : public ::testing::Environment {
 public:
  static PostgresEnvironment* get() { return instance_; }
  explicit PostgresEnvironment() { instance_ = this; }

  // nullptr, with `why` set, when no server can be started.
  testing::PostgresServer* server(std::string* why) {
    if (!tried_) {
      tried_ = true;
      auto started = testing::PostgresServer::start();
      if (started) {
        server_ = std::move(*started);
      } else {
        why_ = started.error().message;
      }
    }
    *why = why_;
    return server_.get();
  }

  void TearDown() override { server_.reset(); }

 private:
  static inline PostgresEnvironment* instance_ = nullptr;
  bool tried_ = false;
  std::string why_;
  std::unique_ptr<testing::PostgresServer> server_;
};

[[maybe_unused]] ::testing::Environment* const kPostgresEnvironment =
    ::testing::AddGlobalTestEnvironment(new PostgresEnvironment());

// --- fixture ------------------------------------------------------------------------------

enum class Backend { kSqlite, kPostgres };

constexpr int64_t kNow = 1'800'000'000;  // 2027-01-15

class DataStoreTest : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    clock_ = std::make_shared<FakeClock>(fromUnix(kNow));
    if (GetParam() == Backend::kSqlite) {
      type_ = "sqlite3";
      std::string templ = (fs::temp_directory_path() / "mutual-ds-XXXXXX").string();
      ASSERT_NE(::mkdtemp(templ.data()), nullptr);
      dir_ = templ;
    } else {
      type_ = "postgres";
      std::string why;
      pg_ = PostgresEnvironment::get()->server(&why);
      if (pg_ == nullptr) GTEST_SKIP() << "PostgreSQL not available: " << why;
      ASSERT_TRUE(pg_->running()) << "an earlier test left the server stopped";
    }
    conn_ = freshDatabase();
    auto opened = open(conn_);
    ASSERT_TRUE(opened) << opened.error().message;
    store_ = std::move(*opened);
  }

  void TearDown() override {
    store_.reset();
    std::error_code ec;
    if (!dir_.empty()) fs::remove_all(dir_, ec);
  }

  // A new, empty database of the backend under test: its connection string.
  std::string freshDatabase() {
    static int counter = 0;
    ++counter;
    if (GetParam() == Backend::kSqlite) {
      return (dir_ / ("db" + std::to_string(counter) + ".sqlite3")).string();
    }
    // A schema per test: as empty as a new database, and a hundred times faster to make.
    return must(
        pg_->createSchema("t" + std::to_string(counter) + "_" + std::to_string(::getpid())));
  }

  Result<std::unique_ptr<DataStore>> open(const std::string& conn, int version = kSchemaVersion) {
    OpenOptions options;
    options.clock = clock_;
    return openDataStoreAtVersion(type_, conn, version, options);
  }

  // SQL run beside the store, as an operator with a database shell would.
  void rawExec(const std::string& conn, const std::string& sql) {
    if (GetParam() == Backend::kSqlite) {
      sqlite3* db = nullptr;
      ASSERT_EQ(sqlite3_open(conn.c_str(), &db), SQLITE_OK);
      char* err = nullptr;
      int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err);
      std::string message = err != nullptr ? err : "";
      sqlite3_free(err);
      sqlite3_close(db);
      ASSERT_EQ(rc, SQLITE_OK) << message;
    } else {
      auto r = pg_->exec(conn, sql);
      ASSERT_TRUE(r) << r.error().message;
    }
  }

  bool isPostgres() const { return GetParam() == Backend::kPostgres; }

  std::shared_ptr<FakeClock> clock_;
  std::string type_;
  fs::path dir_;
  testing::PostgresServer* pg_ = nullptr;
  std::string conn_;
  std::unique_ptr<DataStore> store_;
};

std::string backendName(const ::testing::TestParamInfo<Backend>& info) {
  return info.param == Backend::kSqlite ? "sqlite3" : "postgres";
}

INSTANTIATE_TEST_SUITE_P(Backends, DataStoreTest,
                         ::testing::Values(Backend::kSqlite, Backend::kPostgres), backendName);

// --- helpers ------------------------------------------------------------------------------

Selector sel(std::string_view text) { return must(Selector::parse(text)); }

RegistrationEntry entry(std::string spiffe_id, std::vector<std::string_view> selectors,
                        std::string parent_id = "spiffe://example.org/spire/agent/x") {
  RegistrationEntry e;
  e.spiffe_id = std::move(spiffe_id);
  e.parent_id = std::move(parent_id);
  for (std::string_view s : selectors) e.selectors.push_back(sel(s));
  return e;
}

// A self-signed CA certificate (DER) valid from `not_before` for `ttl`.
std::string caDer(std::string_view td, int64_t not_before, std::chrono::hours ttl) {
  FakeClock clock(fromUnix(not_before));
  ca::RootOptions options{.trust_domain = must(spiffe::TrustDomain::parse(td)),
                          .ttl = ttl,
                          .key_type = crypto::KeyType::kEcP256,
                          .common_name = "test root"};
  auto root = must(ca::createRoot(options, clock));
  return must(root.cert.toDer());
}

// Shared across tests: key generation is the slowest part of building them.
const std::string& rootA() {
  static const std::string der = caDer("example.org", kNow - 3600, std::chrono::hours(24));
  return der;
}
const std::string& rootB() {
  static const std::string der = caDer("example.org", kNow - 3600, std::chrono::hours(48));
  return der;
}
const std::string& rootC() {
  static const std::string der = caDer("example.org", kNow - 3600, std::chrono::hours(72));
  return der;
}

Bundle bundle(std::string td, std::vector<std::string> roots) {
  Bundle b;
  b.trust_domain = std::move(td);
  b.x509_authorities_der = std::move(roots);
  return b;
}

std::set<std::string> ids(const std::vector<RegistrationEntry>& entries) {
  std::set<std::string> out;
  for (const auto& e : entries) out.insert(e.id);
  return out;
}

// --- opening and migrations ---------------------------------------------------------------

TEST_P(DataStoreTest, OpensAnEmptyDatabaseAtTheCurrentSchemaVersion) {
  EXPECT_EQ(store_->backend(), type_);
  EXPECT_EQ(must(store_->schemaVersion()), kSchemaVersion);
  EXPECT_EQ(must(store_->countEntries()), 0);
  EXPECT_EQ(must(store_->countAttestedNodes()), 0);
  EXPECT_EQ(must(store_->countBundles()), 0);
  EXPECT_EQ(must(store_->countIssued()), 0);
  // Reopening an up-to-date database changes nothing.
  store_.reset();
  store_ = must(open(conn_));
  EXPECT_EQ(must(store_->schemaVersion()), kSchemaVersion);
}

TEST_P(DataStoreTest, MigratesAnOlderSchemaKeepingItsData) {
  const std::string conn = freshDatabase();
  auto v1 = must(open(conn, 1));
  EXPECT_EQ(must(v1->schemaVersion()), 1);
  auto created = must(v1->createEntry(entry("spiffe://example.org/web", {"unix:uid:1000"})));
  // Version 1 has no issued-certificate table yet.
  EXPECT_FALSE(v1->recordIssued({"0a", "spiffe://example.org/web", 1, 2, 3}));
  v1.reset();

  auto latest = must(open(conn));
  EXPECT_EQ(must(latest->schemaVersion()), kSchemaVersion);
  EXPECT_EQ(must(latest->fetchEntry(created.id)), created);
  EXPECT_TRUE(latest->recordIssued({"0a", "spiffe://example.org/web", 1, 2, 3}));
  EXPECT_EQ(must(latest->countIssued()), 1);
}

TEST_P(DataStoreTest, RefusesADatabaseWithANewerSchema) {
  store_.reset();
  rawExec(conn_, "UPDATE schema_version SET version = 99 WHERE id = 1");
  auto opened = open(conn_);
  ASSERT_FALSE(opened);
  EXPECT_EQ(opened.error().code, Code::kFailedPrecondition);
  EXPECT_NE(opened.error().message.find("99"), std::string::npos) << opened.error().message;
  EXPECT_NE(opened.error().message.find("(" + std::to_string(kSchemaVersion) + ")"),
            std::string::npos)
      << opened.error().message;
  EXPECT_NE(opened.error().message.find(type_), std::string::npos) << opened.error().message;
}

TEST_P(DataStoreTest, ServersOpeningTogetherMigrateOnce) {
  const std::string conn = freshDatabase();
  constexpr int kServers = 4;
  std::vector<std::thread> threads;
  std::vector<Result<std::unique_ptr<DataStore>>> opened(kServers);
  for (int k = 0; k < kServers; ++k) {
    threads.emplace_back([&, k] { opened[k] = open(conn); });
  }
  for (auto& t : threads) t.join();
  for (auto& o : opened) {
    ASSERT_TRUE(o) << o.error().message;
    EXPECT_EQ(must((*o)->schemaVersion()), kSchemaVersion);
  }
}

TEST_P(DataStoreTest, UnreachableDatabaseIsUnavailable) {
  std::string conn;
  if (isPostgres()) {
    // Port 1 on loopback: nothing listens there, the connection is refused.
    conn = "host=127.0.0.1 port=1 user=mutual dbname=x sslmode=disable connect_timeout=2";
  } else {
    // The parent "directory" is a regular file.
    const fs::path file = dir_ / "not-a-directory";
    std::ofstream(file) << "x";
    conn = (file / "datastore.sqlite3").string();
  }
  auto opened = open(conn);
  ASSERT_FALSE(opened);
  EXPECT_EQ(opened.error().code, Code::kUnavailable) << opened.error().message;
  EXPECT_TRUE(opened.error().message.starts_with(type_ + ":")) << opened.error().message;
}

TEST(OpenDataStore, RejectsUnknownDatabaseTypes) {
  auto unknown = openDataStore("oracle", "x");
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().code, Code::kInvalidArgument);
  auto mysql = openDataStore("mysql", "x");
  ASSERT_FALSE(mysql);
  EXPECT_EQ(mysql.error().code, Code::kUnimplemented);
}

TEST(OpenDataStore, SqliteFileGetsWalMode) {
  std::string templ = (fs::temp_directory_path() / "mutual-ds-XXXXXX").string();
  ASSERT_NE(::mkdtemp(templ.data()), nullptr);
  const fs::path db = fs::path(templ) / "sub" / "dir" / "datastore.sqlite3";
  {
    auto store = must(openDataStore("sqlite3", db.string()));
    EXPECT_TRUE(fs::exists(db));
    // It holds join tokens: owner-only, and so are the WAL files SQLite makes beside it.
    ASSERT_TRUE(store->createJoinToken({"secret-token", 4102444800}));
    for (const auto& suffix : {"", "-wal", "-shm"}) {
      const fs::path file = db.string() + suffix;
      ASSERT_TRUE(fs::exists(file)) << file;
      EXPECT_EQ(fs::status(file).permissions() & fs::perms::all,
                fs::perms::owner_read | fs::perms::owner_write)
          << file;
    }
  }
  sqlite3* raw = nullptr;
  ASSERT_EQ(sqlite3_open(db.c_str(), &raw), SQLITE_OK);
  sqlite3_stmt* stmt = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(raw, "PRAGMA journal_mode", -1, &stmt, nullptr), SQLITE_OK);
  ASSERT_EQ(sqlite3_step(stmt), SQLITE_ROW);
  EXPECT_STREQ(reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0)), "wal");
  sqlite3_finalize(stmt);
  sqlite3_close(raw);
  fs::remove_all(templ);
}

TEST(OpenDataStore, SqliteFileThatIsNotADatabaseIsDataLoss) {
  std::string templ = (fs::temp_directory_path() / "mutual-ds-XXXXXX").string();
  ASSERT_NE(::mkdtemp(templ.data()), nullptr);
  const fs::path db = fs::path(templ) / "datastore.sqlite3";
  std::ofstream(db) << std::string(4096, 'x');
  auto opened = openDataStore("sqlite3", db.string());
  ASSERT_FALSE(opened);
  EXPECT_EQ(opened.error().code, Code::kDataLoss) << opened.error().message;
  EXPECT_EQ(opened.error().message, "sqlite3: " + db.string() + ": file is not a database");
  fs::remove_all(templ);
}

TEST(Selector, ParsesAtTheFirstColon) {
  EXPECT_EQ(must(Selector::parse("unix:uid:1000")), (Selector{"unix", "uid:1000"}));
  EXPECT_EQ(must(Selector::parse("k8s:pod-label:app:web")), (Selector{"k8s", "pod-label:app:web"}));
  EXPECT_EQ(sel("unix:uid:1000").str(), "unix:uid:1000");
  EXPECT_FALSE(Selector::parse("unix"));
  EXPECT_FALSE(Selector::parse(":uid:1000"));
  EXPECT_FALSE(Selector::parse("unix:"));
}

TEST(Uuid, IsVersion4) {
  std::set<std::string> seen;
  for (int k = 0; k < 100; ++k) {
    std::string u = newUuid();
    ASSERT_EQ(u.size(), 36u);
    EXPECT_EQ(u[14], '4');
    EXPECT_NE(std::string("89ab").find(u[19]), std::string::npos);
    seen.insert(u);
  }
  EXPECT_EQ(seen.size(), 100u);
}

// --- registration entries -----------------------------------------------------------------

TEST_P(DataStoreTest, CreatesAndFetchesAnEntry) {
  must(store_->createBundle(bundle("spiffe://partner.org", {rootA()})));
  RegistrationEntry in =
      entry("spiffe://example.org/web", {"unix:uid:1000", "k8s:ns:shop", "unix:uid:1000"});
  in.x509_svid_ttl = 3600;
  in.jwt_svid_ttl = 300;
  in.dns_names = {"web.shop.svc", "web"};
  in.admin = true;
  in.downstream = true;
  in.federates_with = {"spiffe://partner.org", "partner.org"};
  in.expires_at = kNow + 86400;
  in.hint = "web frontend";
  in.revision_number = 42;  // ignored

  RegistrationEntry out = must(store_->createEntry(in));
  EXPECT_EQ(out.id.size(), 36u) << out.id;
  EXPECT_EQ(out.selectors, (std::vector<Selector>{sel("k8s:ns:shop"), sel("unix:uid:1000")}));
  EXPECT_EQ(out.dns_names, (std::vector<std::string>{"web.shop.svc", "web"}));
  EXPECT_EQ(out.federates_with, (std::vector<std::string>{"partner.org"}));
  EXPECT_EQ(out.created_at, kNow);
  EXPECT_EQ(out.revision_number, 0);
  EXPECT_EQ(must(store_->fetchEntry(out.id)), out);
  EXPECT_EQ(must(store_->countEntries()), 1);
}

TEST_P(DataStoreTest, KeepsAGivenEntryIdAndRefusesItTwice) {
  RegistrationEntry e = entry("spiffe://example.org/a", {"unix:uid:1"});
  e.id = "my-entry";
  EXPECT_EQ(must(store_->createEntry(e)).id, "my-entry");
  RegistrationEntry other = entry("spiffe://example.org/b", {"unix:uid:2"});
  other.id = "my-entry";
  auto again = store_->createEntry(other);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, Code::kAlreadyExists);
}

TEST_P(DataStoreTest, RefusesASimilarEntry) {
  must(store_->createEntry(entry("spiffe://example.org/web", {"unix:uid:1000", "unix:gid:10"})));
  // Same triple, selectors in another order: SPIRE's "similar entry already exists".
  auto dup =
      store_->createEntry(entry("spiffe://example.org/web", {"unix:gid:10", "unix:uid:1000"}));
  ASSERT_FALSE(dup);
  EXPECT_EQ(dup.error().code, Code::kAlreadyExists);
  EXPECT_NE(dup.error().message.find("similar entry already exists"), std::string::npos);
  // Any difference in the triple makes a distinct entry.
  EXPECT_TRUE(store_->createEntry(entry("spiffe://example.org/web", {"unix:uid:1000"})));
  EXPECT_TRUE(store_->createEntry(
      entry("spiffe://example.org/web", {"unix:uid:1000", "unix:gid:10", "unix:gid:11"})));
  EXPECT_TRUE(
      store_->createEntry(entry("spiffe://example.org/web", {"unix:uid:1000", "unix:gid:10"},
                                "spiffe://example.org/spire/agent/y")));
  EXPECT_TRUE(
      store_->createEntry(entry("spiffe://example.org/api", {"unix:uid:1000", "unix:gid:10"})));
  EXPECT_EQ(must(store_->countEntries()), 5);
}

TEST_P(DataStoreTest, ValidatesEntries) {
  auto code = [&](RegistrationEntry e) {
    auto r = store_->createEntry(std::move(e));
    return r ? Code::kOk : r.error().code;
  };
  EXPECT_EQ(code(entry("http://example.org/web", {"unix:uid:1"})), Code::kInvalidArgument);
  EXPECT_EQ(code(entry("spiffe://example.org/web", {"unix:uid:1"}, "")), Code::kInvalidArgument);
  EXPECT_EQ(code(entry("spiffe://example.org/web", {})), Code::kInvalidArgument);
  RegistrationEntry bad_selector = entry("spiffe://example.org/web", {});
  bad_selector.selectors = {Selector{"unix", ""}};
  EXPECT_EQ(code(bad_selector), Code::kInvalidArgument);
  RegistrationEntry long_hint = entry("spiffe://example.org/web", {"unix:uid:1"});
  long_hint.hint = std::string(1025, 'h');
  EXPECT_EQ(code(long_hint), Code::kInvalidArgument);
  RegistrationEntry negative_ttl = entry("spiffe://example.org/web", {"unix:uid:1"});
  negative_ttl.x509_svid_ttl = -1;
  EXPECT_EQ(code(negative_ttl), Code::kInvalidArgument);
  RegistrationEntry bad_id = entry("spiffe://example.org/web", {"unix:uid:1"});
  bad_id.id = "has space";
  EXPECT_EQ(code(bad_id), Code::kInvalidArgument);
  RegistrationEntry no_bundle = entry("spiffe://example.org/web", {"unix:uid:1"});
  no_bundle.federates_with = {"partner.org"};
  EXPECT_EQ(code(no_bundle), Code::kFailedPrecondition);
  EXPECT_EQ(must(store_->countEntries()), 0);
}

TEST_P(DataStoreTest, FetchingAMissingEntryIsNotFound) {
  auto r = store_->fetchEntry("nope");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Code::kNotFound);
  auto d = store_->deleteEntry("nope");
  ASSERT_FALSE(d);
  EXPECT_EQ(d.error().code, Code::kNotFound);
}

TEST_P(DataStoreTest, UpdatesAnEntryAndBumpsItsRevision) {
  must(store_->createBundle(bundle("partner.org", {rootA()})));
  RegistrationEntry e =
      must(store_->createEntry(entry("spiffe://example.org/web", {"unix:uid:1"})));
  clock_->advance(std::chrono::seconds(60));
  e.spiffe_id = "spiffe://example.org/web2";
  e.selectors = {sel("unix:uid:2"), sel("unix:gid:2")};
  e.dns_names = {"web2"};
  e.federates_with = {"partner.org"};
  e.x509_svid_ttl = 60;
  e.admin = true;
  e.hint = "moved";
  e.revision_number = 100;  // ignored: the store counts
  RegistrationEntry updated = must(store_->updateEntry(e));
  EXPECT_EQ(updated.revision_number, 1);
  EXPECT_EQ(updated.created_at, kNow);
  EXPECT_EQ(updated.spiffe_id, "spiffe://example.org/web2");
  EXPECT_EQ(updated.selectors, (std::vector<Selector>{sel("unix:gid:2"), sel("unix:uid:2")}));
  EXPECT_EQ(updated.federates_with, (std::vector<std::string>{"partner.org"}));
  EXPECT_EQ(must(store_->fetchEntry(e.id)), updated);
  EXPECT_EQ(must(store_->updateEntry(updated)).revision_number, 2);

  RegistrationEntry missing = updated;
  missing.id = "missing";
  auto r = store_->updateEntry(missing);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Code::kNotFound);

  // Updating another entry into the same triple is refused.
  RegistrationEntry other =
      must(store_->createEntry(entry("spiffe://example.org/x", {"unix:uid:9"})));
  other.spiffe_id = updated.spiffe_id;
  other.parent_id = updated.parent_id;
  other.selectors = updated.selectors;
  auto similar = store_->updateEntry(other);
  ASSERT_FALSE(similar);
  EXPECT_EQ(similar.error().code, Code::kAlreadyExists);
  EXPECT_EQ(must(store_->fetchEntry(other.id)).spiffe_id, "spiffe://example.org/x");
}

TEST_P(DataStoreTest, DeletesAnEntryWithItsSelectors) {
  RegistrationEntry e =
      must(store_->createEntry(entry("spiffe://example.org/web", {"unix:uid:1"})));
  EXPECT_EQ(must(store_->deleteEntry(e.id)), e);
  EXPECT_FALSE(store_->fetchEntry(e.id));
  ListEntriesRequest by_selector;
  by_selector.by_selectors = {{sel("unix:uid:1")}, Match::kAny};
  EXPECT_TRUE(must(store_->listEntries(by_selector)).entries.empty());
  // The same triple can be created again.
  EXPECT_TRUE(store_->createEntry(entry("spiffe://example.org/web", {"unix:uid:1"})));
}

TEST_P(DataStoreTest, ListsEntriesByParentAndSpiffeId) {
  auto a = must(store_->createEntry(
      entry("spiffe://example.org/a", {"unix:uid:1"}, "spiffe://example.org/n1")));
  auto b = must(store_->createEntry(
      entry("spiffe://example.org/b", {"unix:uid:1"}, "spiffe://example.org/n1")));
  auto c = must(store_->createEntry(
      entry("spiffe://example.org/a", {"unix:uid:1"}, "spiffe://example.org/n2")));
  ListEntriesRequest all;
  EXPECT_EQ(ids(must(store_->listEntries(all)).entries), (std::set<std::string>{a.id, b.id, c.id}));
  ListEntriesRequest by_parent;
  by_parent.by_parent_id = "spiffe://example.org/n1";
  EXPECT_EQ(ids(must(store_->listEntries(by_parent)).entries), (std::set<std::string>{a.id, b.id}));
  ListEntriesRequest by_id;
  by_id.by_spiffe_id = "spiffe://example.org/a";
  EXPECT_EQ(ids(must(store_->listEntries(by_id)).entries), (std::set<std::string>{a.id, c.id}));
  by_id.by_parent_id = "spiffe://example.org/n2";
  auto both = must(store_->listEntries(by_id));
  ASSERT_EQ(both.entries.size(), 1u);
  EXPECT_EQ(both.entries[0], c);  // children loaded too
}

// SPIRE's match behaviours (pkg/server/datastore: Exact, Subset, Superset, MatchAny).
TEST_P(DataStoreTest, MatchesSelectorsAsSpire) {
  auto A = must(store_->createEntry(entry("spiffe://example.org/A", {"a:1"}))).id;
  auto B = must(store_->createEntry(entry("spiffe://example.org/B", {"a:1", "b:2"}))).id;
  auto C = must(store_->createEntry(entry("spiffe://example.org/C", {"a:1", "b:2", "c:3"}))).id;
  auto D = must(store_->createEntry(entry("spiffe://example.org/D", {"b:2"}))).id;
  auto E = must(store_->createEntry(entry("spiffe://example.org/E", {"d:4"}))).id;
  (void)E;
  auto match = [&](std::vector<std::string_view> given, Match m) {
    ListEntriesRequest r;
    r.by_selectors = ListEntriesRequest::BySelectors{};
    for (auto s : given) r.by_selectors->selectors.push_back(sel(s));
    r.by_selectors->match = m;
    return ids(must(store_->listEntries(r)).entries);
  };
  using Set = std::set<std::string>;
  EXPECT_EQ(match({"a:1", "b:2"}, Match::kExact), (Set{B}));
  EXPECT_EQ(match({"b:2", "a:1", "a:1"}, Match::kExact), (Set{B}));
  EXPECT_EQ(match({"a:1", "b:2"}, Match::kSubset), (Set{A, B, D}));
  EXPECT_EQ(match({"a:1", "b:2"}, Match::kSuperset), (Set{B, C}));
  EXPECT_EQ(match({"a:1", "b:2"}, Match::kAny), (Set{A, B, C, D}));
  EXPECT_EQ(match({"a:1"}, Match::kExact), (Set{A}));
  EXPECT_EQ(match({"a:1"}, Match::kSubset), (Set{A}));
  EXPECT_EQ(match({"a:1"}, Match::kSuperset), (Set{A, B, C}));
  EXPECT_EQ(match({"a:1", "b:2", "c:3", "z:9"}, Match::kSubset), (Set{A, B, C, D}));
  EXPECT_EQ(match({"a:1", "b:2", "c:3", "z:9"}, Match::kExact), (Set{}));
  EXPECT_EQ(match({"z:9"}, Match::kAny), (Set{}));
  // Type and value are matched together: "a:2" is not "a:1" nor "b:2".
  EXPECT_EQ(match({"a:2"}, Match::kAny), (Set{}));

  ListEntriesRequest empty;
  empty.by_selectors = ListEntriesRequest::BySelectors{};
  auto r = store_->listEntries(empty);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Code::kInvalidArgument);

  // Combined with another filter.
  ListEntriesRequest combined;
  combined.by_selectors = {{sel("a:1")}, Match::kSuperset};
  combined.by_spiffe_id = "spiffe://example.org/C";
  EXPECT_EQ(ids(must(store_->listEntries(combined)).entries), (Set{C}));
}

TEST_P(DataStoreTest, FiltersByFederatesWithHintAndDownstream) {
  for (auto td : {"one.org", "two.org", "three.org"})
    must(store_->createBundle(bundle(td, {rootA()})));
  auto make = [&](std::string path, std::vector<std::string> federates, std::string hint,
                  bool downstream) {
    RegistrationEntry e = entry("spiffe://example.org/" + path, {"unix:uid:1"});
    e.federates_with = std::move(federates);
    e.hint = std::move(hint);
    e.downstream = downstream;
    return must(store_->createEntry(e)).id;
  };
  auto one = make("one", {"one.org"}, "h1", false);
  auto one_two = make("onetwo", {"one.org", "spiffe://two.org"}, "h2", true);
  auto none = make("none", {}, "h1", false);
  auto fed = [&](std::vector<std::string> tds, Match m) {
    ListEntriesRequest r;
    r.by_federates_with = ListEntriesRequest::ByFederatesWith{std::move(tds), m};
    return ids(must(store_->listEntries(r)).entries);
  };
  using Set = std::set<std::string>;
  EXPECT_EQ(fed({"one.org"}, Match::kExact), (Set{one}));
  EXPECT_EQ(fed({"one.org"}, Match::kSuperset), (Set{one, one_two}));
  EXPECT_EQ(fed({"one.org", "two.org", "three.org"}, Match::kSubset), (Set{one, one_two}));
  EXPECT_EQ(fed({"spiffe://two.org"}, Match::kAny), (Set{one_two}));
  EXPECT_EQ(fed({"three.org"}, Match::kAny), (Set{}));

  ListEntriesRequest by_hint;
  by_hint.by_hint = "h1";
  EXPECT_EQ(ids(must(store_->listEntries(by_hint)).entries), (Set{one, none}));
  ListEntriesRequest by_downstream;
  by_downstream.by_downstream = true;
  EXPECT_EQ(ids(must(store_->listEntries(by_downstream)).entries), (Set{one_two}));
}

TEST_P(DataStoreTest, PagesThroughEntries) {
  std::set<std::string> created;
  for (int k = 0; k < 7; ++k) {
    created.insert(must(store_->createEntry(
                            entry("spiffe://example.org/w" + std::to_string(k), {"unix:uid:1"})))
                       .id);
  }
  ListEntriesRequest r;
  r.pagination.page_size = 3;
  std::vector<std::string> seen;
  std::vector<size_t> page_sizes;
  for (;;) {
    auto page = must(store_->listEntries(r));
    page_sizes.push_back(page.entries.size());
    for (const auto& e : page.entries) seen.push_back(e.id);
    if (page.next_page_token.empty()) break;
    r.pagination.page_token = page.next_page_token;
  }
  EXPECT_EQ(page_sizes, (std::vector<size_t>{3, 3, 1}));
  EXPECT_TRUE(std::is_sorted(seen.begin(), seen.end()));
  EXPECT_EQ(std::set<std::string>(seen.begin(), seen.end()), created);
  EXPECT_EQ(seen.size(), created.size());

  ListEntriesRequest negative;
  negative.pagination.page_size = -1;
  EXPECT_FALSE(store_->listEntries(negative));
}

TEST_P(DataStoreTest, PrunesExpiredEntries) {
  RegistrationEntry never = entry("spiffe://example.org/never", {"unix:uid:1"});
  RegistrationEntry old = entry("spiffe://example.org/old", {"unix:uid:1"});
  old.expires_at = kNow - 10;
  RegistrationEntry later = entry("spiffe://example.org/later", {"unix:uid:1"});
  later.expires_at = kNow + 10;
  must(store_->createEntry(never));
  must(store_->createEntry(old));
  must(store_->createEntry(later));
  EXPECT_EQ(must(store_->pruneEntries(fromUnix(kNow))), 1);
  EXPECT_EQ(must(store_->countEntries()), 2);
  EXPECT_EQ(must(store_->pruneEntries(fromUnix(kNow + 100))), 1);
  EXPECT_EQ(must(store_->countEntries()), 1);
}

// Two connections creating the same triples at once: exactly one of each pair wins.
TEST_P(DataStoreTest, RacingSimilarEntriesFromTwoConnections) {
  auto second = must(open(conn_));
  constexpr int kRounds = 20;
  std::atomic<int> created{0};
  std::atomic<int> refused{0};
  std::atomic<int> other{0};
  std::barrier sync(2);
  auto racer = [&](DataStore* store) {
    for (int k = 0; k < kRounds; ++k) {
      sync.arrive_and_wait();
      auto r =
          store->createEntry(entry("spiffe://example.org/r" + std::to_string(k), {"unix:uid:1"}));
      if (r) {
        ++created;
      } else if (r.error().code == Code::kAlreadyExists) {
        ++refused;
      } else {
        ++other;
        ADD_FAILURE() << r.error().message;
      }
    }
  };
  std::thread t1(racer, store_.get());
  std::thread t2(racer, second.get());
  t1.join();
  t2.join();
  EXPECT_EQ(created, kRounds);
  EXPECT_EQ(refused, kRounds);
  EXPECT_EQ(other, 0);
  EXPECT_EQ(must(store_->countEntries()), kRounds);
}

TEST_P(DataStoreTest, ConcurrentWritersFromSeveralThreads) {
  auto second = must(open(conn_));
  constexpr int kThreads = 4;
  constexpr int kEach = 25;
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < kThreads; ++t) {
    DataStore* store = t % 2 == 0 ? store_.get() : second.get();
    threads.emplace_back([store, t, &failures] {
      for (int k = 0; k < kEach; ++k) {
        auto r = store->createEntry(
            entry("spiffe://example.org/t" + std::to_string(t) + "/" + std::to_string(k),
                  {"unix:uid:1"}));
        if (!r) {
          ++failures;
          ADD_FAILURE() << r.error().message;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures, 0);
  EXPECT_EQ(must(store_->countEntries()), kThreads * kEach);
}

// --- join tokens --------------------------------------------------------------------------

TEST_P(DataStoreTest, StoresJoinTokens) {
  must(store_->createJoinToken({"tok-1", kNow + 600}));
  EXPECT_EQ(must(store_->fetchJoinToken("tok-1")), (JoinToken{"tok-1", kNow + 600}));
  auto dup = store_->createJoinToken({"tok-1", kNow});
  ASSERT_FALSE(dup);
  EXPECT_EQ(dup.error().code, Code::kAlreadyExists);
  EXPECT_EQ(dup.error().message.find("tok-1"), std::string::npos) << "tokens are secrets";
  EXPECT_TRUE(store_->deleteJoinToken("tok-1"));
  EXPECT_EQ(store_->fetchJoinToken("tok-1").error().code, Code::kNotFound);
  EXPECT_EQ(store_->deleteJoinToken("tok-1").error().code, Code::kNotFound);
  EXPECT_EQ(store_->createJoinToken({"", kNow}).error().code, Code::kInvalidArgument);
}

TEST_P(DataStoreTest, ConsumesAJoinTokenOnce) {
  must(store_->createJoinToken({"tok", kNow + 600}));
  EXPECT_EQ(must(store_->consumeJoinToken("tok", fromUnix(kNow))), (JoinToken{"tok", kNow + 600}));
  auto again = store_->consumeJoinToken("tok", fromUnix(kNow));
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, Code::kNotFound);

  // Usable through its expiry second, expired after it, and gone either way.
  must(store_->createJoinToken({"edge", kNow}));
  EXPECT_TRUE(store_->consumeJoinToken("edge", fromUnix(kNow)));
  must(store_->createJoinToken({"old", kNow - 1}));
  auto expired = store_->consumeJoinToken("old", fromUnix(kNow));
  ASSERT_FALSE(expired);
  EXPECT_EQ(expired.error().code, Code::kFailedPrecondition);
  EXPECT_EQ(expired.error().reason, "expired");
  EXPECT_EQ(store_->fetchJoinToken("old").error().code, Code::kNotFound);
}

TEST_P(DataStoreTest, RacingConsumersFromTwoConnectionsGetATokenOnce) {
  auto second = must(open(conn_));
  constexpr int kTokens = 30;
  for (int k = 0; k < kTokens; ++k) {
    must(store_->createJoinToken({"race-" + std::to_string(k), kNow + 600}));
  }
  std::vector<int> wins(kTokens, 0);
  std::vector<int> not_found(kTokens, 0);
  std::atomic<int> other{0};
  std::barrier sync(2);
  std::mutex mu;
  auto racer = [&](DataStore* store) {
    for (int k = 0; k < kTokens; ++k) {
      sync.arrive_and_wait();
      auto r = store->consumeJoinToken("race-" + std::to_string(k), fromUnix(kNow));
      std::lock_guard lock(mu);
      if (r) {
        ++wins[k];
      } else if (r.error().code == Code::kNotFound) {
        ++not_found[k];
      } else {
        ++other;
        ADD_FAILURE() << r.error().message;
      }
    }
  };
  std::thread t1(racer, store_.get());
  std::thread t2(racer, second.get());
  t1.join();
  t2.join();
  EXPECT_EQ(other, 0);
  for (int k = 0; k < kTokens; ++k) {
    EXPECT_EQ(wins[k], 1) << "token " << k;
    EXPECT_EQ(not_found[k], 1) << "token " << k;
  }
}

TEST_P(DataStoreTest, PrunesJoinTokens) {
  must(store_->createJoinToken({"a", kNow - 100}));
  must(store_->createJoinToken({"b", kNow}));
  must(store_->createJoinToken({"c", kNow + 100}));
  EXPECT_EQ(must(store_->pruneJoinTokens(fromUnix(kNow))), 1);
  EXPECT_TRUE(store_->fetchJoinToken("b"));
  EXPECT_EQ(must(store_->pruneJoinTokens(fromUnix(kNow + 1000))), 2);
}

// --- attested nodes -----------------------------------------------------------------------

AttestedNode node(std::string id, std::string type = "join_token", std::string serial = "01",
                  int64_t not_after = kNow + 3600) {
  return AttestedNode{std::move(id), std::move(type), std::move(serial), not_after, "", 0, false};
}

TEST_P(DataStoreTest, StoresAttestedNodes) {
  AttestedNode n = node("spiffe://example.org/spire/agent/join_token/abc");
  n.can_reattest = true;
  EXPECT_EQ(must(store_->createAttestedNode(n)), n);
  EXPECT_EQ(must(store_->fetchAttestedNode(n.spiffe_id)), n);
  EXPECT_EQ(store_->createAttestedNode(n).error().code, Code::kAlreadyExists);
  EXPECT_EQ(store_->fetchAttestedNode("spiffe://example.org/none").error().code, Code::kNotFound);
  EXPECT_EQ(store_->createAttestedNode(node("not an id")).error().code, Code::kInvalidArgument);
  EXPECT_EQ(must(store_->countAttestedNodes()), 1);

  // Rotation: only the masked fields change.
  AttestedNode rotated = n;
  rotated.new_cert_serial = "02";
  rotated.new_cert_not_after = kNow + 7200;
  rotated.attestation_type = "ignored";
  AttestedNodeMask mask;
  mask.attestation_type = false;
  mask.cert_serial = false;
  mask.cert_not_after = false;
  mask.can_reattest = false;
  AttestedNode stored = must(store_->updateAttestedNode(rotated, mask));
  EXPECT_EQ(stored.attestation_type, "join_token");
  EXPECT_EQ(stored.cert_serial, "01");
  EXPECT_EQ(stored.new_cert_serial, "02");
  EXPECT_EQ(stored.new_cert_not_after, kNow + 7200);
  EXPECT_EQ(store_->updateAttestedNode(node("spiffe://example.org/none")).error().code,
            Code::kNotFound);

  // Banning clears both serials.
  AttestedNode banned = stored;
  banned.cert_serial.clear();
  banned.new_cert_serial.clear();
  EXPECT_TRUE(must(store_->updateAttestedNode(banned)).banned());

  must(store_->setNodeSelectors(n.spiffe_id, {sel("unix:uid:0"), sel("aws:region:eu")}));
  EXPECT_EQ(must(store_->getNodeSelectors(n.spiffe_id)),
            (std::vector<Selector>{sel("aws:region:eu"), sel("unix:uid:0")}));
  EXPECT_EQ(must(store_->deleteAttestedNode(n.spiffe_id)).spiffe_id, n.spiffe_id);
  EXPECT_EQ(store_->deleteAttestedNode(n.spiffe_id).error().code, Code::kNotFound);
  EXPECT_TRUE(must(store_->getNodeSelectors(n.spiffe_id)).empty());
}

TEST_P(DataStoreTest, ReplacesNodeSelectors) {
  const std::string id = "spiffe://example.org/spire/agent/x509pop/n1";
  EXPECT_TRUE(must(store_->getNodeSelectors(id)).empty());
  must(store_->setNodeSelectors(id, {sel("x509pop:subject:cn:n1"), sel("x509pop:ca:fp:ab")}));
  must(store_->setNodeSelectors(id, {sel("x509pop:subject:cn:n2")}));
  EXPECT_EQ(must(store_->getNodeSelectors(id)),
            (std::vector<Selector>{sel("x509pop:subject:cn:n2")}));
  must(store_->setNodeSelectors(id, {}));
  EXPECT_TRUE(must(store_->getNodeSelectors(id)).empty());
  EXPECT_EQ(store_->setNodeSelectors("bad", {}).error().code, Code::kInvalidArgument);
}

TEST_P(DataStoreTest, ListsAttestedNodesWithFilters) {
  must(store_->createAttestedNode(node("spiffe://example.org/a", "join_token", "01", kNow - 10)));
  must(store_->createAttestedNode(node("spiffe://example.org/b", "x509pop", "02", kNow + 10)));
  AttestedNode banned = node("spiffe://example.org/c", "x509pop", "", kNow + 10);
  must(store_->createAttestedNode(banned));
  AttestedNode reattest = node("spiffe://example.org/d", "x509pop", "04", kNow + 20);
  reattest.can_reattest = true;
  must(store_->createAttestedNode(reattest));

  auto list = [&](ListNodesRequest r) {
    std::vector<std::string> out;
    for (const auto& n : must(store_->listAttestedNodes(r)).nodes) out.push_back(n.spiffe_id);
    return out;
  };
  using V = std::vector<std::string>;
  EXPECT_EQ(list({}), (V{"spiffe://example.org/a", "spiffe://example.org/b",
                         "spiffe://example.org/c", "spiffe://example.org/d"}));
  ListNodesRequest by_type;
  by_type.by_attestation_type = "join_token";
  EXPECT_EQ(list(by_type), (V{"spiffe://example.org/a"}));
  ListNodesRequest by_banned;
  by_banned.by_banned = true;
  EXPECT_EQ(list(by_banned), (V{"spiffe://example.org/c"}));
  by_banned.by_banned = false;
  EXPECT_EQ(list(by_banned).size(), 3u);
  ListNodesRequest expiring;
  expiring.by_expires_before = fromUnix(kNow);
  EXPECT_EQ(list(expiring), (V{"spiffe://example.org/a"}));
  ListNodesRequest can_reattest;
  can_reattest.by_can_reattest = true;
  EXPECT_EQ(list(can_reattest), (V{"spiffe://example.org/d"}));

  ListNodesRequest paged;
  paged.pagination.page_size = 3;
  auto first = must(store_->listAttestedNodes(paged));
  ASSERT_EQ(first.nodes.size(), 3u);
  ASSERT_EQ(first.next_page_token, "spiffe://example.org/c");
  paged.pagination.page_token = first.next_page_token;
  auto second = must(store_->listAttestedNodes(paged));
  ASSERT_EQ(second.nodes.size(), 1u);
  EXPECT_EQ(second.nodes[0].spiffe_id, "spiffe://example.org/d");
  EXPECT_TRUE(second.next_page_token.empty());
}

// --- bundles ------------------------------------------------------------------------------

TEST_P(DataStoreTest, StoresBundles) {
  Bundle b = bundle("spiffe://example.org", {rootA(), rootB()});
  b.jwt_authorities = {JwtAuthority{"kid-1", std::string("\x30\x59\x00\x01", 4), kNow + 100}};
  b.refresh_hint = 300;
  b.sequence_number = 7;
  Bundle stored = must(store_->createBundle(b));
  EXPECT_EQ(stored.trust_domain, "example.org");
  b.trust_domain = "example.org";
  EXPECT_EQ(stored, b);
  EXPECT_EQ(must(store_->fetchBundle("example.org")), b);
  EXPECT_EQ(must(store_->fetchBundle("spiffe://example.org")), b);
  EXPECT_EQ(store_->createBundle(b).error().code, Code::kAlreadyExists);
  EXPECT_EQ(store_->fetchBundle("other.org").error().code, Code::kNotFound);

  must(store_->createBundle(bundle("a.org", {rootC()})));
  auto all = must(store_->listBundles());
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].trust_domain, "a.org");
  EXPECT_EQ(all[1], b);
  EXPECT_EQ(must(store_->countBundles()), 2);

  Bundle replaced = bundle("example.org", {rootC()});
  replaced.sequence_number = 8;
  EXPECT_EQ(must(store_->updateBundle(replaced)), replaced);
  EXPECT_EQ(must(store_->fetchBundle("example.org")), replaced);
  EXPECT_EQ(store_->updateBundle(bundle("none.org", {rootA()})).error().code, Code::kNotFound);

  // setBundle creates or replaces.
  EXPECT_EQ(must(store_->setBundle(bundle("new.org", {rootA()}))).trust_domain, "new.org");
  EXPECT_EQ(must(store_->setBundle(b)), b);
  EXPECT_EQ(must(store_->fetchBundle("example.org")), b);

  EXPECT_EQ(store_->createBundle(bundle("bad.org", {"not DER"})).error().code,
            Code::kInvalidArgument);
  EXPECT_EQ(store_->createBundle(bundle("Bad Domain", {rootA()})).error().code,
            Code::kInvalidArgument);
}

TEST_P(DataStoreTest, AppendingABundleIsIdempotent) {
  // Appending to a missing bundle creates it.
  Bundle first = must(store_->appendBundle(bundle("example.org", {rootA()})));
  EXPECT_EQ(first.x509_authorities_der, (std::vector<std::string>{rootA()}));
  EXPECT_EQ(first.sequence_number, 0u);

  Bundle more = bundle("example.org", {rootA(), rootB()});
  more.jwt_authorities = {JwtAuthority{"kid-1", "key-1", 0}};
  Bundle second = must(store_->appendBundle(more));
  EXPECT_EQ(second.x509_authorities_der, (std::vector<std::string>{rootA(), rootB()}));
  EXPECT_EQ(second.jwt_authorities.size(), 1u);
  EXPECT_EQ(second.sequence_number, 1u);

  Bundle third = must(store_->appendBundle(more));
  EXPECT_EQ(third, second) << "appending the same authorities again changes nothing";
  EXPECT_EQ(must(store_->fetchBundle("example.org")), second);

  // A JWT key is identified by key id and key.
  Bundle rekeyed = bundle("example.org", {});
  rekeyed.jwt_authorities = {JwtAuthority{"kid-1", "key-2", 0}};
  EXPECT_EQ(must(store_->appendBundle(rekeyed)).jwt_authorities.size(), 2u);
}

TEST_P(DataStoreTest, PrunesExpiredAuthorities) {
  // rootA expires at kNow + 23h, rootB at kNow + 47h, rootC at kNow + 71h.
  Bundle b = bundle("example.org", {rootA(), rootB(), rootC()});
  b.jwt_authorities = {JwtAuthority{"old", "k1", kNow + 10}, JwtAuthority{"forever", "k2", 0}};
  must(store_->createBundle(b));
  EXPECT_FALSE(must(store_->pruneBundle("example.org", fromUnix(kNow))));
  EXPECT_TRUE(must(store_->pruneBundle("example.org", fromUnix(kNow + 24 * 3600))));
  Bundle pruned = must(store_->fetchBundle("example.org"));
  EXPECT_EQ(pruned.x509_authorities_der, (std::vector<std::string>{rootB(), rootC()}));
  EXPECT_EQ(pruned.jwt_authorities, (std::vector<JwtAuthority>{{"forever", "k2", 0}}));
  EXPECT_EQ(pruned.sequence_number, 1u);

  auto all = store_->pruneBundle("example.org", fromUnix(kNow + 100 * 3600));
  ASSERT_FALSE(all);
  EXPECT_EQ(all.error().code, Code::kFailedPrecondition);
  EXPECT_EQ(must(store_->fetchBundle("example.org")), pruned);

  EXPECT_FALSE(must(store_->pruneBundle("absent.org", fromUnix(kNow))));
}

TEST_P(DataStoreTest, DeletesBundlesByMode) {
  must(store_->createBundle(bundle("partner.org", {rootA()})));
  RegistrationEntry e = entry("spiffe://example.org/web", {"unix:uid:1"});
  e.federates_with = {"partner.org"};
  e = must(store_->createEntry(e));

  auto restricted = store_->deleteBundle("partner.org");
  ASSERT_FALSE(restricted);
  EXPECT_EQ(restricted.error().code, Code::kFailedPrecondition);

  must(store_->deleteBundle("partner.org", DeleteBundleMode::kDissociate));
  RegistrationEntry dissociated = must(store_->fetchEntry(e.id));
  EXPECT_TRUE(dissociated.federates_with.empty());
  EXPECT_EQ(dissociated.revision_number, 1);
  EXPECT_EQ(store_->fetchBundle("partner.org").error().code, Code::kNotFound);

  must(store_->createBundle(bundle("partner.org", {rootA()})));
  dissociated.federates_with = {"partner.org"};
  must(store_->updateEntry(dissociated));
  must(store_->deleteBundle("spiffe://partner.org", DeleteBundleMode::kDelete));
  EXPECT_EQ(store_->fetchEntry(e.id).error().code, Code::kNotFound);
  EXPECT_EQ(store_->deleteBundle("partner.org").error().code, Code::kNotFound);
}

// --- CA journal ---------------------------------------------------------------------------

TEST_P(DataStoreTest, StoresOneCaJournalPerServer) {
  EXPECT_EQ(store_->fetchCaJournal("server-a").error().code, Code::kNotFound);
  const std::string blob("\x00\x01journal\xff", 10);
  must(store_->setCaJournal("server-a", blob));
  must(store_->setCaJournal("server-b", "b"));
  EXPECT_EQ(must(store_->fetchCaJournal("server-a")), blob);
  must(store_->setCaJournal("server-a", "replaced"));
  EXPECT_EQ(must(store_->fetchCaJournal("server-a")), "replaced");
  EXPECT_EQ(must(store_->fetchCaJournal("server-b")), "b");
  must(store_->setCaJournal("server-b", ""));
  EXPECT_EQ(must(store_->fetchCaJournal("server-b")), "");
}

// --- issued certificates ------------------------------------------------------------------

TEST_P(DataStoreTest, RecordsIssuedCertificates) {
  must(store_->recordIssued({"ABCDEF01", "spiffe://example.org/web", kNow, kNow + 3600, 0}));
  auto dup = store_->recordIssued({"abcdef01", "spiffe://example.org/web", kNow, kNow + 3600, 0});
  ASSERT_FALSE(dup);
  EXPECT_EQ(dup.error().code, Code::kAlreadyExists);
  EXPECT_EQ(store_->recordIssued({"xyz", "spiffe://example.org/web", 0, 0, 0}).error().code,
            Code::kInvalidArgument);

  std::vector<IssuedCertificate> batch;
  for (int k = 0; k < 1000; ++k) {
    char serial[33];
    std::snprintf(serial, sizeof(serial), "%032x", k + 1);
    batch.push_back({serial, "spiffe://example.org/w" + std::to_string(k % 10), kNow,
                     kNow + (k < 250 ? 60 : 3600), 0});
  }
  must(store_->recordIssuedBatch(batch));
  EXPECT_EQ(must(store_->countIssued()), 1001);

  // All or nothing: a batch with one duplicate stores nothing.
  std::vector<IssuedCertificate> mixed = {
      {"ff01", "spiffe://example.org/a", kNow, kNow + 60, 0},
      {"ff02", "spiffe://example.org/a", kNow, kNow + 60, 0},
      batch[500],
  };
  auto r = store_->recordIssuedBatch(mixed);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Code::kAlreadyExists);
  EXPECT_EQ(must(store_->countIssued()), 1001);
  EXPECT_TRUE(store_->recordIssuedBatch({}));

  EXPECT_EQ(must(store_->pruneIssued(fromUnix(kNow + 61))), 250);
  EXPECT_EQ(must(store_->countIssued()), 751);
}

// --- the database going away --------------------------------------------------------------

TEST_P(DataStoreTest, DatabaseGoingAwayIsUnavailableThenRecovers) {
  if (!isPostgres()) {
    GTEST_SKIP() << "an embedded SQLite database cannot go away under an open handle; see "
                    "UnreachableDatabaseIsUnavailable for a file that cannot be opened";
  }
  must(store_->createJoinToken({"before", kNow + 600}));
  ASSERT_TRUE(pg_->stop());
  struct Restart {
    testing::PostgresServer* pg;
    ~Restart() { (void)pg->restart(); }
  } restart{pg_};

  auto read = store_->fetchJoinToken("before");
  ASSERT_FALSE(read);
  EXPECT_EQ(read.error().code, Code::kUnavailable) << read.error().message;
  EXPECT_TRUE(read.error().message.starts_with("postgres:")) << read.error().message;
  auto write = store_->createEntry(entry("spiffe://example.org/web", {"unix:uid:1"}));
  ASSERT_FALSE(write);
  EXPECT_EQ(write.error().code, Code::kUnavailable) << write.error().message;
  auto reopened = open(conn_);
  ASSERT_FALSE(reopened);
  EXPECT_EQ(reopened.error().code, Code::kUnavailable);

  ASSERT_TRUE(pg_->restart());
  // The store reconnects by itself on its next call.
  EXPECT_EQ(must(store_->fetchJoinToken("before")).token, "before");
  EXPECT_TRUE(store_->createEntry(entry("spiffe://example.org/web", {"unix:uid:1"})));

  // A restart between two calls goes unnoticed: the broken connection is found, replaced and
  // the transaction run again.
  ASSERT_TRUE(pg_->stop());
  ASSERT_TRUE(pg_->restart());
  auto after = store_->createEntry(entry("spiffe://example.org/api", {"unix:uid:1"}));
  EXPECT_TRUE(after) << after.error().message;
  EXPECT_EQ(must(store_->countEntries()), 2);
}

}  // namespace
}  // namespace mutual::datastore
