#include "agent/cache.h"

#include <unistd.h>

#include <gtest/gtest.h>

#include "base/testing.h"
#include "ca/authority.h"

namespace mutual::agent {
namespace {

using mutual::testing::must;
using std::chrono::hours;
using std::chrono::minutes;

class CacheTest : public ::testing::Test {
 protected:
  CacheTest()
      : clock_(std::chrono::system_clock::now()),
        td_(must(spiffe::TrustDomain::parse("example.org"))),
        root_(must(ca::createRoot(ca::RootOptions{td_, hours(24), crypto::KeyType::kEcP256, ""},
                                  clock_))),
        cache_(td_, {}, clock_, nullptr) {
    me_.pid = getpid();
    me_.uid = getuid();
    me_.gid = getgid();
  }

  workloadapi::X509Svid svid(const std::string& path) {
    auto id = must(spiffe::SpiffeId::fromPath(td_, path));
    auto issued = must(ca::issueWorkload(
        root_, ca::WorkloadOptions{id, {}, {}, hours(1), {}, crypto::KeyType::kEcP256}, clock_));
    return workloadapi::X509Svid{id, {issued.cert},
                                 std::make_shared<const crypto::PrivateKey>(std::move(issued.key)),
                                 {root_.cert}, ""};
  }

  Entry entry(const std::string& id, const std::string& path, std::vector<std::string> selectors) {
    return Entry{id, must(spiffe::SpiffeId::fromPath(td_, path)), std::move(selectors), {}, {}, 0, 0, ""};
  }

  std::string uidSelector() const { return "unix:uid:" + std::to_string(getuid()); }

  FakeClock clock_;
  spiffe::TrustDomain td_;
  ca::Authority root_;
  Cache cache_;
  workloadapi::Caller me_;
};

TEST_F(CacheTest, UnavailableUntilSynced) {
  auto context = cache_.x509Context(me_);
  ASSERT_FALSE(context);
  EXPECT_EQ(context.error().code, Code::kUnavailable);
}

TEST_F(CacheTest, ServesTheSvidsOfMatchingEntriesOnly) {
  cache_.setEntries({entry("a", "/web", {uidSelector()}),
                     entry("b", "/db", {uidSelector(), "unix:user:nobody-here"}),
                     entry("c", "/other", {"unix:uid:99999"})});
  cache_.setSvid("a", svid("/web"));
  cache_.setSvid("b", svid("/db"));
  cache_.setSvid("c", svid("/other"));
  cache_.setReady(true);
  auto context = must(cache_.x509Context(me_));
  ASSERT_EQ(context.svids.size(), 1u);
  EXPECT_EQ(context.svids[0].id.str(), "spiffe://example.org/web");

  workloadapi::Caller stranger = me_;
  stranger.uid = 424242;
  EXPECT_TRUE(must(cache_.x509Context(stranger)).svids.empty());
  EXPECT_TRUE(must(cache_.x509Bundles(stranger)).bundles.empty());
}

TEST_F(CacheTest, RenewsAtHalfLifeAndNeverServesExpiredSvids) {
  cache_.setEntries({entry("a", "/web", {uidSelector()})});
  cache_.setReady(true);
  ASSERT_EQ(cache_.dueForRenewal(clock_.now()).size(), 1u);  // no SVID yet
  cache_.setSvid("a", svid("/web"));
  EXPECT_TRUE(cache_.dueForRenewal(clock_.now()).empty());
  EXPECT_TRUE(cache_.dueForRenewal(clock_.now() + minutes(20)).empty());
  EXPECT_EQ(cache_.dueForRenewal(clock_.now() + minutes(40)).size(), 1u);
  clock_.advance(std::chrono::seconds(hours(2)));
  EXPECT_TRUE(must(cache_.x509Context(me_)).svids.empty());
}

// `mutual server entry update --dns ...` and the like: the SVID held no longer says what the
// entry asks for, so it is re-signed at the next sync, not at half-life.
TEST_F(CacheTest, ReSignsWhenTheCertificateFieldsChange) {
  Entry web = entry("a", "/web", {uidSelector()});
  cache_.setEntries({web});
  cache_.setSvid("a", svid("/web"));
  EXPECT_TRUE(cache_.dueForRenewal(clock_.now()).empty());

  Entry hinted = web;
  hinted.hint = "internal";
  hinted.federates_with = {"other.org"};
  cache_.setEntries({hinted});
  EXPECT_TRUE(cache_.dueForRenewal(clock_.now()).empty());  // served from the entry as it is

  Entry dns = web;
  dns.dns_names = {"b.local"};
  cache_.setEntries({dns});
  EXPECT_EQ(cache_.dueForRenewal(clock_.now()).size(), 1u);
  cache_.setSvid("a", svid("/web"));
  EXPECT_TRUE(cache_.dueForRenewal(clock_.now()).empty());

  Entry ttl = dns;
  ttl.x509_svid_ttl = 600;
  cache_.setEntries({ttl});
  EXPECT_EQ(cache_.dueForRenewal(clock_.now()).size(), 1u);
}

TEST_F(CacheTest, ReSignsWhenItsIssuerIsTainted) {
  cache_.setEntries({entry("a", "/web", {uidSelector()})});
  cache_.setSvid("a", svid("/web"));
  auto other =
      must(ca::createRoot(ca::RootOptions{td_, hours(24), crypto::KeyType::kEcP256, ""}, clock_));
  auto serverForm = [](std::string ski) {  // the server sends hex without colons
    std::erase(ski, ':');
    return ski;
  };
  ASSERT_FALSE(root_.cert.subjectKeyId().empty());
  cache_.setTaintedAuthorities({serverForm(other.cert.subjectKeyId())});
  EXPECT_TRUE(cache_.dueForRenewal(clock_.now()).empty());
  cache_.setTaintedAuthorities({serverForm(other.cert.subjectKeyId()),
                                serverForm(root_.cert.subjectKeyId())});
  EXPECT_EQ(cache_.dueForRenewal(clock_.now()).size(), 1u);
  cache_.setTaintedAuthorities({});
  EXPECT_TRUE(cache_.dueForRenewal(clock_.now()).empty());
}

TEST_F(CacheTest, EveryChangeBumpsTheGeneration) {
  uint64_t g0 = cache_.generation();
  cache_.setEntries({entry("a", "/web", {uidSelector()})});
  uint64_t g1 = cache_.generation();
  cache_.setSvid("a", svid("/web"));
  uint64_t g2 = cache_.generation();
  EXPECT_LT(g0, g1);
  EXPECT_LT(g1, g2);
  EXPECT_EQ(cache_.waitForChange(g2, std::chrono::milliseconds(1)), g2);
}

// After `mutual server authority prepare --new-root` the next sync brings the new root: workloads
// must get it with their SVIDs at once, not when each SVID renews.
TEST_F(CacheTest, SvidsCarryTheCurrentBundleAndHint) {
  Entry web = entry("a", "/web", {uidSelector()});
  web.hint = "internal";
  cache_.setEntries({web});
  cache_.setBundles({{td_, {root_.cert}}}, {});
  cache_.setSvid("a", svid("/web"));
  cache_.setReady(true);
  auto before = must(cache_.x509Context(me_));
  ASSERT_EQ(before.svids.size(), 1u);
  EXPECT_EQ(before.svids[0].bundle.size(), 1u);
  EXPECT_EQ(before.svids[0].hint, "internal");

  auto next =
      must(ca::createRoot(ca::RootOptions{td_, hours(24), crypto::KeyType::kEcP256, ""}, clock_));
  uint64_t seen = cache_.generation();
  cache_.setBundles({{td_, {root_.cert, next.cert}}}, {});
  EXPECT_GT(cache_.generation(), seen);  // FetchX509SVID streams send the new bundle
  auto after = must(cache_.x509Context(me_));
  ASSERT_EQ(after.svids.size(), 1u);
  ASSERT_EQ(after.svids[0].bundle.size(), 2u);
  EXPECT_EQ(must(after.svids[0].bundle[1].toDer()), must(next.cert.toDer()));
}

TEST_F(CacheTest, DroppedEntriesLoseTheirSvids) {
  cache_.setEntries({entry("a", "/web", {uidSelector()})});
  cache_.setSvid("a", svid("/web"));
  cache_.setEntries({});
  EXPECT_EQ(cache_.svidCount(), 0u);
}

}  // namespace
}  // namespace mutual::agent
