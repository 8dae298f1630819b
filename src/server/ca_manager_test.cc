#include "server/ca_manager.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <set>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "base/file.h"
#include "base/testing.h"
#include "base/time.h"
#include "ca/authority.h"
#include "crypto/csr.h"
#include "spiffe/bundle.h"
#include "spiffe/x509_svid.h"

// The CA manager with a fake clock: SPIRE's schedule (prepare at half life, activate at a
// sixth left), the bundle always carrying a root before any SVID needs it, persistence across
// restarts with both key managers, taint and revoke, and the upstream "disk" mode.

namespace mutual::server {
namespace {

using crypto::Certificate;
using crypto::PrivateKey;
using mutual::testing::must;
using std::chrono::hours;
using std::chrono::minutes;
using std::chrono::seconds;

const TimePoint kStart = fromUnix(1'780'000'000);  // 2026-05-28
constexpr char kTd[] = "example.org";

TEST(RotationScheduleTest, FollowsSpire) {
  // ca_ttl 24h: prepare at 12h, activate at 20h (reference/spiffe.md §4.5 worked example).
  EXPECT_EQ(prepareTime(kStart, kStart + hours(24)), kStart + hours(12));
  EXPECT_EQ(activateTime(kStart, kStart + hours(24)), kStart + hours(20));
  // Long-lived CAs: at most 30 days / 7 days before expiry.
  const TimePoint end = kStart + hours(24 * 365);
  EXPECT_EQ(prepareTime(kStart, end), end - hours(24 * 30));
  EXPECT_EQ(activateTime(kStart, end), end - hours(24 * 7));
  EXPECT_EQ(maxUncappedSvidTtl(hours(24)), hours(4));
  EXPECT_EQ(maxUncappedSvidTtl(hours(24 * 365)), hours(24 * 7));
}

class CaManagerTest : public ::testing::Test {
 protected:
  CaManagerTest() {
    spdlog::set_level(spdlog::level::warn);  // the rotation log lines are not the test's output
    clock_ = std::make_shared<FakeClock>(kStart);
    store_ = must(datastore::openDataStore("sqlite3", (dir_.path() / "ds.sqlite3").string()));
    keys_ = must(makeDiskKeyManager(dir_.path() / "keys.json"));
  }

  CaManagerConfig config(Seconds ca_ttl = hours(24)) {
    CaManagerConfig c{.trust_domain = must(spiffe::TrustDomain::parse(kTd))};
    c.ca_ttl = ca_ttl;
    c.server_id = "server-1";
    c.data_dir = dir_.path();
    return c;
  }

  std::unique_ptr<CaManager> start(CaManagerConfig c, KeyManager* keys = nullptr) {
    auto manager =
        std::make_unique<CaManager>(std::move(c), *store_, keys ? *keys : *keys_, clock_);
    must(manager->initialize());
    return manager;
  }

  std::vector<Certificate> bundleRoots() {
    datastore::Bundle bundle = must(store_->fetchBundle(kTd));
    std::vector<Certificate> roots;
    for (const auto& der : bundle.x509_authorities_der) {
      roots.push_back(must(Certificate::fromDer(der)));
    }
    return roots;
  }

  // Signs an SVID with the active authority and verifies it against the stored bundle, as an
  // agent that synced the bundle would.
  Result<spiffe::VerifiedSvid> signAndVerify(const CaManager& manager, TimePoint verify_at) {
    auto ca = manager.current();
    if (!ca) return fail(Code::kUnavailable, "no CA");
    PrivateKey key = must(PrivateKey::generate(crypto::KeyType::kEcP256));
    const std::string csr = must(crypto::createCsr(key));
    auto svid = signX509Svid(*ca, {csr, "spiffe://example.org/web", {}, seconds(0)}, clock_->now(),
                             hours(1));
    if (!svid) return fail(svid.error());
    return verifyWith(*svid, *ca, verify_at);
  }

  Result<spiffe::VerifiedSvid> verifyWith(const SignedSvid& svid, const SigningCa& ca,
                                          TimePoint at) {
    std::vector<Certificate> chain{must(Certificate::fromDer(svid.cert_der))};
    chain.insert(chain.end(), ca.chain.begin(), ca.chain.end());
    spiffe::BundleSet bundles;
    auto td = must(spiffe::TrustDomain::parse(kTd));
    if (auto ok = bundles.put(spiffe::X509Bundle{td, bundleRoots(), {}, {}, {}}); !ok) {
      return fail(ok.error());
    }
    spiffe::SvidOptions options;
    options.at = at;
    return spiffe::verifyX509Svid(chain, bundles, options);
  }

  static const AuthorityInfo* find(const std::vector<AuthorityInfo>& all, AuthorityStatus s) {
    for (const auto& a : all) {
      if (a.status == s) return &a;
    }
    return nullptr;
  }

  mutual::testing::TempDir dir_;
  std::shared_ptr<FakeClock> clock_;
  std::unique_ptr<datastore::DataStore> store_;
  std::unique_ptr<KeyManager> keys_;
};

TEST_F(CaManagerTest, FirstStartCreatesARootAndAnActiveIntermediate) {
  auto manager = start(config());
  auto ca = manager->current();
  ASSERT_TRUE(ca);
  // An intermediate of ca_ttl under a root of 10 x ca_ttl.
  EXPECT_EQ(ca->not_after, kStart + hours(24));
  EXPECT_EQ(ca->chain.size(), 1u);
  EXPECT_TRUE(ca->cert.isCa());
  EXPECT_EQ(ca->cert.pathLen(), 0);
  EXPECT_EQ(ca->cert.uriSans(), std::vector<std::string>{"spiffe://example.org"});
  EXPECT_NE(ca->cert.subject().find("O=SPIFFE"), std::string::npos);
  EXPECT_NE(ca->cert.subject().find("C=US"), std::string::npos);
  auto roots = bundleRoots();
  ASSERT_EQ(roots.size(), 1u);
  EXPECT_TRUE(roots[0].isSelfIssued());
  EXPECT_EQ(roots[0].notAfter(), kStart + hours(240));
  EXPECT_EQ(ca->cert.authorityKeyId(), roots[0].subjectKeyId());
  // The JWT key is published too.
  datastore::Bundle bundle = must(store_->fetchBundle(kTd));
  ASSERT_EQ(bundle.jwt_authorities.size(), 1u);
  EXPECT_EQ(bundle.jwt_authorities[0].key_id, manager->currentJwt()->key_id);
  // The root is also written to data_dir, the keys file is private, the journal is stored.
  auto root_file = must(readFile(dir_.path() / "root_ca.crt"));
  EXPECT_EQ(must(crypto::parsePemCertificates(root_file))[0].sha256Fingerprint(),
            roots[0].sha256Fingerprint());
  struct stat st {};
  ASSERT_EQ(::stat((dir_.path() / "keys.json").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  auto journal = nlohmann::json::parse(must(store_->fetchCaJournal("server-1")));
  EXPECT_EQ(journal["authorities"].size(), 1u);
  EXPECT_EQ(journal["authorities"][0]["status"], "active");
  must(signAndVerify(*manager, kStart));
}

TEST_F(CaManagerTest, PreparesAtHalfLifeAndActivatesWithASixthLeft) {
  auto manager = start(config());
  auto ca = manager->current();
  const std::string first = ca->authority_id;
  // notBefore is backdated 10 s, so the lifetime is 24h10s.
  EXPECT_EQ(ca->not_before, kStart - seconds(10));
  const TimePoint prepare_at = prepareTime(ca->not_before, ca->not_after);
  const TimePoint activate_at = activateTime(ca->not_before, ca->not_after);
  EXPECT_EQ(prepare_at, kStart + hours(12) - seconds(5));
  EXPECT_EQ(activate_at, kStart + hours(20) - seconds(1));  // 86410 s / 6, in whole seconds

  clock_->set(prepare_at - seconds(1));
  EXPECT_FALSE(must(manager->rotate()));
  EXPECT_EQ(find(manager->authorities(), AuthorityStatus::kPrepared), nullptr);

  clock_->set(prepare_at);
  EXPECT_FALSE(must(manager->rotate()));
  auto all = manager->authorities();
  const AuthorityInfo* prepared = find(all, AuthorityStatus::kPrepared);
  ASSERT_NE(prepared, nullptr);
  const std::string second = prepared->authority_id;
  EXPECT_NE(second, first);
  EXPECT_EQ(manager->current()->authority_id, first);  // still signing with the first
  EXPECT_EQ(must(store_->fetchBundle(kTd)).jwt_authorities.size(), 2u);
  // The active authority reports its schedule.
  const AuthorityInfo* active = find(all, AuthorityStatus::kActive);
  EXPECT_EQ(*active->prepare_at, prepare_at);
  EXPECT_EQ(*active->activate_at, activate_at);

  clock_->set(activate_at - seconds(1));
  EXPECT_FALSE(must(manager->rotate()));
  EXPECT_EQ(manager->current()->authority_id, first);

  clock_->set(activate_at);
  EXPECT_TRUE(must(manager->rotate()));
  EXPECT_EQ(manager->current()->authority_id, second);
  all = manager->authorities();
  EXPECT_EQ(find(all, AuthorityStatus::kActive)->authority_id, second);
  EXPECT_EQ(find(all, AuthorityStatus::kOld)->authority_id, first);
  EXPECT_EQ(find(all, AuthorityStatus::kPrepared), nullptr);
  must(signAndVerify(*manager, clock_->now()));
}

TEST_F(CaManagerTest, ANewRootIsInTheBundleBeforeAnythingItAnchorsSigns) {
  auto manager = start(config(hours(1)));  // root lives 10h
  std::set<std::string> roots_seen;
  for (int minute = 0; minute <= 60 * 30; minute += 5) {
    clock_->set(kStart + minutes(minute));
    must(manager->rotate());
    auto ca = manager->current();
    ASSERT_TRUE(ca) << minute;
    // Whatever is active verifies against what agents hold, now and for the SVID's life.
    auto verified = signAndVerify(*manager, clock_->now());
    ASSERT_TRUE(verified) << "minute " << minute << ": " << verified.error().message;
    // Every root the active and prepared authorities chain to is already in the bundle.
    std::set<std::string> published;
    for (const auto& r : bundleRoots()) published.insert(hex(subjectKeyIdBytes(r)));
    for (const auto& a : manager->authorities()) {
      if (a.status == AuthorityStatus::kOld) continue;
      ASSERT_FALSE(a.root_id.empty());
      roots_seen.insert(a.root_id);
      EXPECT_EQ(published.count(a.root_id), 1u) << "minute " << minute;
    }
  }
  // 30 hours with a 10-hour root: the root was replaced several times.
  EXPECT_GE(roots_seen.size(), 3u);
}

TEST_F(CaManagerTest, DiskKeysSurviveARestart) {
  std::string active;
  {
    auto manager = start(config());
    clock_->set(kStart + hours(13));
    must(manager->rotate());
    active = manager->current()->authority_id;
  }
  auto keys = must(makeDiskKeyManager(dir_.path() / "keys.json"));
  auto manager = start(config(), keys.get());
  EXPECT_EQ(manager->current()->authority_id, active);
  // The prepared one survived too and is activated on schedule.
  ASSERT_NE(find(manager->authorities(), AuthorityStatus::kPrepared), nullptr);
  clock_->set(kStart + hours(20));
  EXPECT_TRUE(must(manager->rotate()));
  must(signAndVerify(*manager, clock_->now()));
}

TEST_F(CaManagerTest, MemoryKeysAreRegeneratedAfterARestart) {
  auto memory = makeMemoryKeyManager();
  std::string first;
  SignedSvid old_svid;
  std::shared_ptr<const SigningCa> old_ca;
  {
    auto manager = start(config(), memory.get());
    first = manager->current()->authority_id;
    old_ca = manager->current();
    PrivateKey key = must(PrivateKey::generate(crypto::KeyType::kEcP256));
    old_svid = must(signX509Svid(
        *old_ca, {must(crypto::createCsr(key)), "spiffe://example.org/web", {}, seconds(0)},
        clock_->now(), hours(1)));
  }
  clock_->advance(minutes(10));
  auto fresh = makeMemoryKeyManager();  // the restart lost every key
  auto manager = start(config(), fresh.get());
  EXPECT_NE(manager->current()->authority_id, first);
  auto all = manager->authorities();
  const AuthorityInfo* old = find(all, AuthorityStatus::kOld);
  ASSERT_NE(old, nullptr);
  EXPECT_EQ(old->authority_id, first);
  EXPECT_FALSE(old->keys_present);
  // Both roots are trusted: SVIDs from before the restart stay valid until they expire.
  EXPECT_EQ(bundleRoots().size(), 2u);
  must(verifyWith(old_svid, *old_ca, clock_->now()));
  must(signAndVerify(*manager, clock_->now()));
}

TEST_F(CaManagerTest, OperatorPrepareActivateTaintRevoke) {
  auto manager = start(config());
  const std::string a = manager->current()->authority_id;
  PrivateKey key = must(PrivateKey::generate(crypto::KeyType::kEcP256));
  auto a_ca = manager->current();
  SignedSvid by_a = must(signX509Svid(
      *a_ca, {must(crypto::createCsr(key)), "spiffe://example.org/web", {}, seconds(0)},
      clock_->now(), hours(1)));

  // Refusals with reasons.
  EXPECT_EQ(manager->activate("").error().code, Code::kFailedPrecondition);  // nothing prepared
  EXPECT_EQ(manager->taint(a).error().code, Code::kFailedPrecondition);      // active
  EXPECT_EQ(manager->taint("nope").error().code, Code::kNotFound);

  AuthorityInfo b = must(manager->prepare());
  EXPECT_EQ(b.status, AuthorityStatus::kPrepared);
  EXPECT_EQ(b.root_id, find(manager->authorities(), AuthorityStatus::kActive)->root_id);
  EXPECT_EQ(manager->activate("0000").error().code, Code::kFailedPrecondition);
  must(manager->activate(b.authority_id));
  EXPECT_EQ(manager->current()->authority_id, b.authority_id);

  EXPECT_EQ(manager->revoke(a).error().code, Code::kFailedPrecondition);  // not tainted
  AuthorityInfo tainted = must(manager->taint(a));
  EXPECT_TRUE(tainted.tainted);
  EXPECT_EQ(manager->taintedAuthorityIds(), std::vector<std::string>{a});
  // A shares its root with the active B: revoking it would untrust B.
  auto shared = manager->revoke(a);
  ASSERT_FALSE(shared);
  EXPECT_NE(shared.error().message.find("--new-root"), std::string::npos);

  // After the taint the next authority gets a new root, published at once.
  AuthorityInfo c = must(manager->prepare());
  EXPECT_NE(c.root_id, b.root_id);
  EXPECT_EQ(bundleRoots().size(), 2u);
  must(manager->activate(c.authority_id));
  must(verifyWith(by_a, *a_ca, clock_->now()));  // still trusted until revoked
  // B, old now, shares A's root and is not tainted: revoking A would untrust what B signed.
  auto untainted = manager->revoke(a);
  ASSERT_FALSE(untainted);
  EXPECT_EQ(untainted.error().code, Code::kFailedPrecondition);
  EXPECT_NE(untainted.error().message.find("untainted old authority " + b.authority_id),
            std::string::npos)
      << untainted.error().message;
  EXPECT_NE(untainted.error().message.find("taint it too"), std::string::npos);
  EXPECT_EQ(bundleRoots().size(), 2u);  // nothing was revoked
  for (const auto& info : manager->authorities()) EXPECT_FALSE(info.revoked);
  must(manager->taint(b.authority_id));
  AuthorityInfo revoked = must(manager->revoke(a));
  EXPECT_TRUE(revoked.revoked);
  ASSERT_EQ(bundleRoots().size(), 1u);
  auto untrusted = verifyWith(by_a, *a_ca, clock_->now());
  ASSERT_FALSE(untrusted);
  EXPECT_EQ(untrusted.error().reason, "unknown_ca");
  must(signAndVerify(*manager, clock_->now()));
  // B (tainted) shared the revoked root, so it is revoked too; the JWT keys of both left the
  // bundle.
  for (const auto& info : manager->authorities()) {
    if (info.authority_id == b.authority_id) {
      EXPECT_TRUE(info.revoked);
    }
  }
  EXPECT_EQ(must(store_->fetchBundle(kTd)).jwt_authorities.size(), 1u);
  EXPECT_EQ(manager->revoke(a).error().code, Code::kFailedPrecondition);  // already revoked
}

TEST_F(CaManagerTest, OldAuthoritiesArePrunedADayAfterTheyExpire) {
  auto manager = start(config(hours(6)));
  for (int h = 0; h <= 72; ++h) {
    clock_->set(kStart + hours(h));
    must(manager->rotate());
  }
  for (const auto& a : manager->authorities()) {
    EXPECT_GE(a.not_after, clock_->now() - kPruneSafetyMargin - hours(1)) << a.authority_id;
  }
  // An authority is prepared every 3 hours (half of 6h after the previous one's start): 24
  // were made; those that expired more than a day ago are gone from the journal.
  auto journal = nlohmann::json::parse(must(store_->fetchCaJournal("server-1")));
  EXPECT_EQ(journal["authorities"].size(), manager->authorities().size());
  EXPECT_LE(journal["authorities"].size(), 11u);
  // The bundle only keeps roots that have not expired a day ago.
  for (const auto& root : bundleRoots()) {
    EXPECT_GE(root.notAfter(), clock_->now() - kPruneSafetyMargin - hours(1));
  }
}

TEST_F(CaManagerTest, UpstreamDiskSignsTheAuthorityAndProvidesTheBundle) {
  FakeClock upstream_clock(kStart - hours(1));
  auto td = must(spiffe::TrustDomain::parse(kTd));
  ca::Authority upstream_root = must(ca::createRoot(
      {td, hours(87600), crypto::KeyType::kEcP256, "corporate root"}, upstream_clock));
  ca::IntermediateOptions options;
  options.name = "corporate issuing";
  ca::Issued upstream = must(ca::createIntermediate(upstream_root, options, upstream_clock));
  const auto up = dir_.path() / "upstream";
  must(writeFileAtomic(up / "ca.crt", must(upstream.cert.toPem())));
  must(writeFileAtomic(up / "ca.key", must(upstream.key.toPkcs8Pem()), 0600));
  must(writeFileAtomic(up / "bundle.crt", must(upstream_root.cert.toPem())));

  CaManagerConfig c = config();
  c.upstream = UpstreamDisk{up / "ca.crt", up / "ca.key", up / "bundle.crt"};
  auto manager = start(c);
  auto ca = manager->current();
  // Sent with SVIDs: the server's authority, then the upstream intermediate.
  ASSERT_EQ(ca->chain.size(), 2u);
  EXPECT_EQ(ca->chain[1].sha256Fingerprint(), upstream.cert.sha256Fingerprint());
  auto roots = bundleRoots();
  ASSERT_EQ(roots.size(), 1u);
  EXPECT_EQ(roots[0].sha256Fingerprint(), upstream_root.cert.sha256Fingerprint());
  must(signAndVerify(*manager, clock_->now()));
  EXPECT_FALSE(
      find(manager->authorities(), AuthorityStatus::kActive)->upstream_authority_id.empty());
  EXPECT_EQ(manager->prepare(true).error().code, Code::kFailedPrecondition);

  // Rotation keeps the bundle as it is: only the upstream root.
  clock_->set(kStart + hours(20));
  must(manager->rotate());
  must(manager->rotate());
  EXPECT_EQ(bundleRoots().size(), 1u);
  must(signAndVerify(*manager, clock_->now()));

  // A key that does not match is refused with the file's name.
  PrivateKey other = must(PrivateKey::generate(crypto::KeyType::kEcP256));
  must(writeFileAtomic(up / "ca.key", must(other.toPkcs8Pem()), 0600));
  auto mismatch = manager->prepare();
  ASSERT_FALSE(mismatch);
  EXPECT_NE(mismatch.error().message.find("ca.key"), std::string::npos);
}

}  // namespace
}  // namespace mutual::server
