#include "workloadapi/convert.h"

#include <gtest/gtest.h>

#include "base/testing.h"
#include "ca/authority.h"

// The client's checks of what a Workload API server sends (SPIFFE Workload API §4.5: a message
// with a mandatory field missing or malformed is discarded), and the server's encoding.

namespace mutual::workloadapi::internal {
namespace {

using mutual::testing::must;

spiffe::TrustDomain td(const char* name) { return must(spiffe::TrustDomain::parse(name)); }
spiffe::SpiffeId id(const char* text) { return must(spiffe::SpiffeId::parse(text)); }

class ConvertTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ca::Authority root = must(ca::createRoot(
        {td("example.org"), std::chrono::hours(24), crypto::KeyType::kEcP256, ""}, clock_));
    auto leaf = must(ca::issueWorkload(root,
                                       {id("spiffe://example.org/web"),
                                        {},
                                        {},
                                        std::chrono::hours(1),
                                        {},
                                        crypto::KeyType::kEcP256},
                                       clock_));
    svid_ = X509Svid{id("spiffe://example.org/web"),
                     {leaf.cert},
                     std::make_shared<const crypto::PrivateKey>(std::move(leaf.key)),
                     {root.cert},
                     "a"};
    other_root_ =
        must(ca::createRoot({td("other.org"), std::chrono::hours(24), crypto::KeyType::kEcP256, ""},
                            clock_))
            .cert;
  }

  ::X509SVIDResponse good() {
    X509Context context;
    context.svids.push_back(svid_);
    context.federated_bundles.emplace(td("other.org"),
                                      std::vector<crypto::Certificate>{other_root_});
    return must(toProto(context));
  }

  void expectInvalid(const ::X509SVIDResponse& response, const std::string& field) {
    auto r = fromProto(response);
    ASSERT_FALSE(r) << "accepted";
    EXPECT_EQ(r.error().code, Code::kInvalidArgument);
    EXPECT_NE(r.error().message.find(field), std::string::npos) << r.error().message;
  }

  RealClock clock_;
  X509Svid svid_{id("spiffe://example.org/x"), {}, nullptr, {}, ""};
  crypto::Certificate other_root_{nullptr};
};

TEST_F(ConvertTest, RoundTrip) {
  ::X509SVIDResponse response = good();
  EXPECT_EQ(response.svids(0).spiffe_id(), "spiffe://example.org/web");
  // SPIRE's map key form: the trust domain's SPIFFE ID.
  EXPECT_EQ(response.federated_bundles().count("spiffe://other.org"), 1u);
  auto context = must(fromProto(response));
  ASSERT_EQ(context.svids.size(), 1u);
  EXPECT_EQ(context.svids[0].id.str(), "spiffe://example.org/web");
  EXPECT_EQ(context.svids[0].hint, "a");
  EXPECT_TRUE(context.svids[0].leaf().matchesKey(*context.svids[0].key));
  EXPECT_EQ(context.federated_bundles.at(td("other.org"))[0].sha256Fingerprint(),
            other_root_.sha256Fingerprint());
}

TEST_F(ConvertTest, AcceptsBareTrustDomainKeys) {
  ::X509SVIDResponse response = good();
  auto& map = *response.mutable_federated_bundles();
  map["other.org"] = map["spiffe://other.org"];
  map.erase("spiffe://other.org");
  EXPECT_TRUE(fromProto(response));
}

TEST_F(ConvertTest, RefusesInvalidMessages) {
  expectInvalid(::X509SVIDResponse(), "no SVID");
  auto r = good();
  r.mutable_svids(0)->set_spiffe_id("");
  expectInvalid(r, "svids[0].spiffe_id");
  r = good();
  r.mutable_svids(0)->set_spiffe_id("spiffe://example.org/other");
  expectInvalid(r, "not an SVID for");
  r = good();
  r.mutable_svids(0)->set_x509_svid("");
  expectInvalid(r, "svids[0].x509_svid");
  r = good();
  r.mutable_svids(0)->set_x509_svid(r.svids(0).x509_svid() + "junk");
  expectInvalid(r, "svids[0].x509_svid");
  r = good();
  r.mutable_svids(0)->set_x509_svid_key("");
  expectInvalid(r, "svids[0].x509_svid_key");
  r = good();
  r.mutable_svids(0)->set_x509_svid_key(r.svids(0).x509_svid_key() + "x");
  expectInvalid(r, "svids[0].x509_svid_key");
  r = good();
  auto other_key = must(crypto::PrivateKey::generate(crypto::KeyType::kEcP256));
  r.mutable_svids(0)->set_x509_svid_key(must(other_key.toPkcs8Der()));
  expectInvalid(r, "does not match");
  r = good();
  r.mutable_svids(0)->set_bundle("");
  expectInvalid(r, "svids[0].bundle");
  r = good();
  (*r.mutable_federated_bundles())["spiffe://"] = r.svids(0).bundle();
  expectInvalid(r, "federated_bundles key");
  r = good();
  (*r.mutable_federated_bundles())["spiffe://third.org"] = "";
  expectInvalid(r, "federated_bundles[spiffe://third.org]");
}

TEST_F(ConvertTest, DuplicateHintsKeepTheFirst) {
  auto r = good();
  *r.add_svids() = r.svids(0);
  auto context = must(fromProto(r));
  EXPECT_EQ(context.svids.size(), 1u);
  r.mutable_svids(1)->set_hint("");
  r.mutable_svids(0)->set_hint("");
  EXPECT_EQ(must(fromProto(r)).svids.size(), 2u) << "empty hints are not duplicates";
}

TEST_F(ConvertTest, Pkcs8Only) {
  auto key = must(crypto::PrivateKey::generate(crypto::KeyType::kEcP256));
  const std::string der = must(key.toPkcs8Der());
  EXPECT_TRUE(parsePkcs8Der(der));
  EXPECT_FALSE(parsePkcs8Der(der + std::string(1, '\0')));
  EXPECT_FALSE(parsePkcs8Der(der.substr(0, der.size() - 1)));
  EXPECT_FALSE(parsePkcs8Der(""));
  // A certificate is not a key.
  EXPECT_FALSE(parsePkcs8Der(must(svid_.leaf().toDer())));
}

TEST_F(ConvertTest, DeterministicBytesIgnoreMapOrder) {
  ::X509BundlesResponse a, b;
  (*a.mutable_bundles())["spiffe://a.org"] = "1";
  (*a.mutable_bundles())["spiffe://b.org"] = "2";
  (*b.mutable_bundles())["spiffe://b.org"] = "2";
  (*b.mutable_bundles())["spiffe://a.org"] = "1";
  EXPECT_EQ(deterministicBytes(a), deterministicBytes(b));
  (*b.mutable_bundles())["spiffe://a.org"] = "3";
  EXPECT_NE(deterministicBytes(a), deterministicBytes(b));
}

TEST_F(ConvertTest, JwtMessages) {
  EXPECT_FALSE(fromProto(::JWTSVIDResponse()));
  ::JWTSVIDResponse r;
  auto* svid = r.add_svids();
  svid->set_spiffe_id("spiffe://example.org/web");
  svid->set_svid("not.a.token");
  EXPECT_FALSE(fromProto(r));
  EXPECT_FALSE(fromProto(::JWTBundlesResponse()));
  ::JWTBundlesResponse bundles;
  (*bundles.mutable_bundles())["spiffe://example.org"] = R"({"keys": []})";
  auto parsed = must(fromProto(bundles));
  EXPECT_TRUE(parsed.at(td("example.org")).empty());
  (*bundles.mutable_bundles())["spiffe://example.org"] = "{}";
  EXPECT_FALSE(fromProto(bundles));

  ValidatedJwt validated{
      id("spiffe://example.org/web"),
      {{"sub", "spiffe://example.org/web"}, {"aud", {"db"}}, {"exp", 1780000000}}};
  auto proto = must(toProto(validated));
  auto back = must(fromProto(proto));
  EXPECT_EQ(back.id.str(), "spiffe://example.org/web");
  EXPECT_EQ(back.claims["aud"], nlohmann::json::array({"db"}));
  EXPECT_EQ(back.claims["exp"].get<double>(), 1780000000.0);
}

}  // namespace
}  // namespace mutual::workloadapi::internal
