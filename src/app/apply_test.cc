#include "app/apply.h"

#include <gtest/gtest.h>

#include "base/encoding.h"
#include "base/file.h"
#include "base/time.h"
#include "ca/authority.h"
#include "config/cert_manager.h"
#include "config/testing.h"
#include "crypto/chain_verify.h"

namespace mutual::app {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using config::testing::TempDir;
using crypto::Certificate;

struct CertOptions {
  std::string name = "web";
  std::string namespace_name = "default";
  std::string issuer = "ca-issuer";
  std::string issuer_kind = "ClusterIssuer";
  std::string extra;  // more spec lines, from line 14
};

// Line numbers below are part of the expectations.
// clang-format off
std::string certificateYaml(const CertOptions& o) {
  return "apiVersion: cert-manager.io/v1\n"            // 1
         "kind: Certificate\n"                         // 2
         "metadata:\n"                                 // 3
         "  name: " + o.name + "\n"                    // 4
         "  namespace: " + o.namespace_name + "\n"     // 5
         "spec:\n"                                     // 6
         "  secretName: " + o.name + "\n"              // 7
         "  issuerRef:\n"                              // 8
         "    name: " + o.issuer + "\n"                // 9
         "    kind: " + o.issuer_kind + "\n"           // 10
         "  dnsNames: [" + o.name + ".default.svc]\n"  // 11
         "  duration: 24h\n"                           // 12
         "  renewBefore: 8h\n"                         // 13
         + o.extra;
}
// clang-format on

std::string issuerYaml(const std::string& kind, const std::string& name,
                       const std::string& namespace_name, const std::string& secret) {
  std::string text =
      "apiVersion: cert-manager.io/v1\nkind: " + kind + "\nmetadata:\n  name: " + name + "\n";
  if (!namespace_name.empty()) text += "  namespace: " + namespace_name + "\n";
  return text + "spec:\n  ca:\n    secretName: " + secret + "\n";
}

std::string pem(const std::vector<Certificate>& certs) { return *crypto::toPem(certs); }

std::string secretYaml(const std::string& name, const std::string& namespace_name,
                       const std::string& tls_crt, const std::string& tls_key,
                       const std::string& ca_crt = "") {
  std::string text = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: " + name +
                     "\n  namespace: " + namespace_name +
                     "\ntype: kubernetes.io/tls\ndata:\n  tls.crt: " + base64Encode(tls_crt) +
                     "\n  tls.key: " + base64Encode(tls_key) + "\n";
  if (!ca_crt.empty()) text += "  ca.crt: " + base64Encode(ca_crt) + "\n";
  return text;
}

crypto::ChainOptions chainAt(TimePoint t) {
  crypto::ChainOptions options;
  options.at = t;
  return options;
}

class ApplyTest : public ::testing::Test {
 protected:
  ca::Authority makeRoot(Seconds ttl = 87600h, const std::string& td = "example.org") {
    auto domain = spiffe::TrustDomain::parse(td);
    ca::RootOptions options{*domain, ttl, ca::KeyType::kEcP256, "test root"};
    auto root = ca::createRoot(options, clock_);
    EXPECT_TRUE(root) << root.error().message;
    return std::move(*root);
  }

  std::string caSecretFor(const ca::Authority& ca, const std::string& name = "ca-key-pair",
                          const std::string& namespace_name = "cert-manager") {
    return secretYaml(name, namespace_name, pem({ca.cert}), *ca.key.toPkcs8Pem());
  }

  // The usual inputs: ClusterIssuer ca-issuer, its Secret in cert-manager, and `certs`.
  void writeInputs(const std::string& certs) {
    dir_.write("in/issuer.yaml", issuerYaml("ClusterIssuer", "ca-issuer", "", "ca-key-pair") +
                                     "---\n" + caSecretFor(root_));
    writeCerts(certs);
  }
  void writeCerts(const std::string& certs) { dir_.write("in/certs.yaml", certs); }

  Result<ApplyReport> run() { return reconcile({{dir_.path() / "in"}}, state(), clock_); }

  ApplyReport runOk() {
    auto report = run();
    EXPECT_TRUE(report) << report.error().message;
    return report ? *report : ApplyReport{};
  }

  // The error message with the temporary folder taken out, to read "in/certs.yaml:9: ...".
  std::string runError() {
    auto report = run();
    EXPECT_FALSE(report);
    if (report) return "";
    std::string message = report.error().message;
    const std::string prefix = dir_.path().string() + "/";
    for (size_t pos; (pos = message.find(prefix)) != std::string::npos;) {
      message.erase(pos, prefix.size());
    }
    return message;
  }

  fs::path state() const { return dir_.path() / "state"; }
  fs::path certDir(const std::string& name = "web") const { return state() / "default" / name; }
  std::string read(const fs::path& path) const { return readFile(path).value_or("<missing>"); }
  bool stateIsEmpty() const {
    std::error_code ec;
    return !fs::exists(state(), ec) || fs::is_empty(state(), ec);
  }
  Certificate leaf(const std::string& name = "web") const {
    return crypto::parsePemCertificates(read(certDir(name) / "tls.crt"))->front();
  }

  FakeClock clock_{fromUnix(1'800'000'000)};
  TempDir dir_;
  ca::Authority root_ = makeRoot();
};

TEST_F(ApplyTest, IssuesFilesAndSecret) {
  writeInputs(certificateYaml({}));
  const ApplyReport report = runOk();
  ASSERT_EQ(report.certificates.size(), 1u);
  const auto& c = report.certificates[0];
  EXPECT_EQ(c.action, ApplyAction::kIssued);
  EXPECT_EQ(c.reason, "new certificate");
  EXPECT_EQ(c.namespace_name, "default");
  EXPECT_EQ(c.secret_name, "web");
  EXPECT_EQ(c.dir, certDir());
  EXPECT_TRUE(c.note.empty());
  EXPECT_EQ(c.not_after, clock_.now() + 24h);
  EXPECT_EQ(c.renew_at, c.not_after - 8h);
  EXPECT_EQ(report.nextRenewal(), c.renew_at);
  EXPECT_TRUE(report.changed());

  const auto mode = [&](const char* file) {
    return fs::status(certDir() / file).permissions() & fs::perms::all;
  };
  EXPECT_EQ(mode("tls.key"), fs::perms::owner_read | fs::perms::owner_write);
  EXPECT_EQ(mode("secret.yaml"), fs::perms::owner_read | fs::perms::owner_write);
  EXPECT_EQ(mode("tls.crt") & fs::perms::others_read, fs::perms::others_read);
  EXPECT_EQ(mode("ca.crt") & fs::perms::others_read, fs::perms::others_read);
  EXPECT_TRUE(fs::exists(certDir() / ".mutual-spec.json"));

  const Certificate cert = leaf();
  EXPECT_EQ(cert.dnsSans(), (std::vector<std::string>{"web.default.svc"}));
  EXPECT_EQ(cert.serialHex(), c.serial);
  auto key = crypto::PrivateKey::fromPem(read(certDir() / "tls.key"));
  ASSERT_TRUE(key);
  EXPECT_TRUE(cert.matchesKey(*key));
  EXPECT_TRUE(key->isRsa());  // cert-manager's default algorithm
  EXPECT_EQ(read(certDir() / "ca.crt"), pem({root_.cert}));
  auto trust = crypto::TrustStore::create({root_.cert});
  ASSERT_TRUE(trust);
  auto chain = crypto::verifyChain(cert, {}, *trust, chainAt(clock_.now()));
  EXPECT_TRUE(chain) << chain.error().message;

  // secret.yaml is a kubernetes.io/tls Secret holding the same bytes.
  auto manifests = config::parseManifests(read(certDir() / "secret.yaml"), "secret.yaml");
  ASSERT_TRUE(manifests) << manifests.error().message;
  auto secret = config::parseSecret(manifests->at(0));
  ASSERT_TRUE(secret) << secret.error().message;
  EXPECT_EQ(secret->name, "web");
  EXPECT_EQ(secret->namespace_name, "default");
  EXPECT_EQ(secret->type, "kubernetes.io/tls");
  EXPECT_EQ(secret->data.at("tls.crt"), read(certDir() / "tls.crt"));
  EXPECT_EQ(secret->data.at("tls.key"), read(certDir() / "tls.key"));
  EXPECT_EQ(secret->data.at("ca.crt"), read(certDir() / "ca.crt"));
  EXPECT_EQ(secret->annotations.at("cert-manager.io/certificate-name"), "web");
  EXPECT_EQ(secret->annotations.at("cert-manager.io/issuer-name"), "ca-issuer");
  EXPECT_EQ(secret->annotations.at("cert-manager.io/issuer-kind"), "ClusterIssuer");
  EXPECT_EQ(secret->annotations.at("cert-manager.io/alt-names"), "web.default.svc");
}

TEST_F(ApplyTest, SecondRunIsUpToDateAndWritesNothing) {
  writeInputs(certificateYaml({}));
  runOk();
  const std::string crt = read(certDir() / "tls.crt");
  const auto mtime = fs::last_write_time(certDir() / "tls.crt");
  clock_.advance(1h);
  const ApplyReport report = runOk();
  ASSERT_EQ(report.certificates.size(), 1u);
  EXPECT_EQ(report.certificates[0].action, ApplyAction::kUpToDate);
  EXPECT_EQ(report.certificates[0].reason, "");
  EXPECT_FALSE(report.changed());
  EXPECT_EQ(read(certDir() / "tls.crt"), crt);
  EXPECT_EQ(fs::last_write_time(certDir() / "tls.crt"), mtime);
}

TEST_F(ApplyTest, RenewsOnlyWithinRenewBefore) {
  writeInputs(certificateYaml({}));
  const TimePoint renew_at = runOk().certificates.at(0).renew_at;
  const std::string first = read(certDir() / "tls.crt");
  const std::string first_key = read(certDir() / "tls.key");
  clock_.set(renew_at - 1s);
  EXPECT_EQ(runOk().certificates.at(0).action, ApplyAction::kUpToDate);
  clock_.set(renew_at);
  const ApplyReport report = runOk();
  EXPECT_EQ(report.certificates.at(0).action, ApplyAction::kRenewed);
  EXPECT_EQ(report.certificates.at(0).reason, "due for renewal since " + formatRfc3339(renew_at));
  EXPECT_EQ(report.certificates.at(0).not_after, renew_at + 24h);
  EXPECT_NE(read(certDir() / "tls.crt"), first);
  EXPECT_NE(read(certDir() / "tls.key"), first_key);  // rotationPolicy Always
  EXPECT_EQ(runOk().certificates.at(0).action, ApplyAction::kUpToDate);
}

TEST_F(ApplyTest, ExpiredCertificateIsRenewed) {
  writeInputs(certificateYaml({}));
  runOk();
  clock_.advance(25h);
  const ApplyReport report = runOk();
  EXPECT_EQ(report.certificates.at(0).action, ApplyAction::kRenewed);
  EXPECT_EQ(report.certificates.at(0).reason.rfind("expired at ", 0), 0u);
}

TEST_F(ApplyTest, SpecChangeReissues) {
  writeInputs(certificateYaml({}));
  runOk();
  CertOptions changed;
  changed.extra = "  ipAddresses: [10.0.0.7]\n";
  writeCerts(certificateYaml(changed));
  const ApplyReport report = runOk();
  EXPECT_EQ(report.certificates.at(0).action, ApplyAction::kRenewed);
  EXPECT_EQ(report.certificates.at(0).reason, "spec changed: ipAddresses");
  EXPECT_EQ(leaf().ipSans(), (std::vector<std::string>{"10.0.0.7"}));
}

TEST_F(ApplyTest, RenewBeforeAndTemplateChangesDoNotReissue) {
  writeInputs(certificateYaml({}));
  const std::string serial = runOk().certificates.at(0).serial;
  std::string text = certificateYaml({});
  text.replace(text.find("renewBefore: 8h"), 15, "renewBefore: 2h");
  writeCerts(text + "  secretTemplate:\n    labels: {app: web}\n");
  const ApplyReport report = runOk();
  const auto& c = report.certificates.at(0);
  EXPECT_EQ(c.action, ApplyAction::kUpToDate);
  EXPECT_EQ(c.serial, serial);
  EXPECT_EQ(c.renew_at, c.not_after - 2h);
  EXPECT_EQ(c.reason, "secret.yaml rewritten");
  EXPECT_NE(read(certDir() / "secret.yaml").find("labels:\n    app: web\n"), std::string::npos);
  EXPECT_EQ(runOk().certificates.at(0).reason, "");
}

TEST_F(ApplyTest, RotationPolicyNeverKeepsTheKey) {
  CertOptions never;
  never.extra = "  privateKey: {algorithm: ECDSA, rotationPolicy: Never}\n";
  writeInputs(certificateYaml(never));
  runOk();
  const std::string key = read(certDir() / "tls.key");
  const std::string crt = read(certDir() / "tls.crt");
  clock_.advance(20h);  // past renewBefore
  const ApplyReport report = runOk();
  EXPECT_EQ(report.certificates.at(0).action, ApplyAction::kRenewed);
  EXPECT_NE(read(certDir() / "tls.crt"), crt);
  EXPECT_EQ(read(certDir() / "tls.key"), key);
  // Deleting the certificate alone still reuses the key.
  fs::remove(certDir() / "tls.crt");
  const ApplyReport again = runOk();
  EXPECT_EQ(again.certificates.at(0).action, ApplyAction::kIssued);
  EXPECT_EQ(again.certificates.at(0).reason, "tls.crt is missing");
  EXPECT_EQ(read(certDir() / "tls.key"), key);
}

TEST_F(ApplyTest, RotationPolicyNeverRefusesAKeyOfAnotherType) {
  CertOptions never;
  never.extra = "  privateKey: {algorithm: ECDSA, rotationPolicy: Never}\n";
  writeInputs(certificateYaml(never));
  runOk();
  const std::string crt = read(certDir() / "tls.crt");
  never.extra = "  privateKey: {algorithm: Ed25519, rotationPolicy: Never}\n";
  writeCerts(certificateYaml(never));
  const std::string error = runError();
  EXPECT_EQ(error.rfind("in/certs.yaml:1: spec.privateKey: rotationPolicy is Never but the "
                        "existing key state/default/web/tls.key is EC P-256 and the spec asks "
                        "for ed25519",
                        0),
            0u)
      << error;
  EXPECT_EQ(read(certDir() / "tls.crt"), crt);
}

TEST_F(ApplyTest, MissingFilesAreReissued) {
  writeInputs(certificateYaml({}));
  runOk();
  for (const char* file : {"tls.key", "ca.crt"}) {
    fs::remove(certDir() / file);
    const ApplyReport report = runOk();
    EXPECT_EQ(report.certificates.at(0).action, ApplyAction::kIssued) << file;
    EXPECT_EQ(report.certificates.at(0).reason, std::string(file) + " is missing");
  }
  fs::remove(certDir() / ".mutual-spec.json");
  EXPECT_EQ(runOk().certificates.at(0).action, ApplyAction::kRenewed);
  writeFileAtomic(certDir() / "tls.crt", "garbage");
  EXPECT_EQ(runOk().certificates.at(0).reason, "tls.crt is not a valid certificate");
  fs::remove(certDir() / "secret.yaml");
  EXPECT_EQ(runOk().certificates.at(0).reason, "secret.yaml rewritten");
  EXPECT_TRUE(fs::exists(certDir() / "secret.yaml"));
}

TEST_F(ApplyTest, IssuerCaChangeReissues) {
  writeInputs(certificateYaml({}));
  runOk();
  root_ = makeRoot();
  writeInputs(certificateYaml({}));
  const ApplyReport report = runOk();
  EXPECT_EQ(report.certificates.at(0).action, ApplyAction::kRenewed);
  EXPECT_EQ(report.certificates.at(0).reason, "the issuer's CA changed");
  EXPECT_EQ(read(certDir() / "ca.crt"), pem({root_.cert}));
}

TEST_F(ApplyTest, TtlCappingNoteIsReported) {
  root_ = makeRoot(10h);
  writeInputs(certificateYaml({}));
  const ApplyReport report = runOk();
  const auto& c = report.certificates.at(0);
  EXPECT_FALSE(c.note.empty());
  EXPECT_EQ(c.not_after, root_.cert.notAfter());
  // renewBefore (8h) is shorter than the capped lifetime (10h), so it still applies.
  EXPECT_EQ(c.renew_at, c.not_after - 8h);
}

TEST_F(ApplyTest, DurationTooLargeIsRefusedNamingTheField) {
  // 1000 years: now + duration would wrap into the past; refused, not capped by the CA.
  std::string yaml = certificateYaml({});
  yaml.replace(yaml.find("duration: 24h"), 13, "duration: 8760000h");
  writeInputs(yaml);
  auto report = run();
  ASSERT_FALSE(report);
  EXPECT_EQ(report.error().code, Code::kInvalidArgument);
  const std::string message = runError();
  EXPECT_NE(message.find("in/certs.yaml:12: spec.duration: duration too large"),
            std::string::npos)
      << message;
  EXPECT_TRUE(stateIsEmpty());
}

TEST_F(ApplyTest, ExpiredCaIsBadInputAndWritesNothing) {
  root_ = makeRoot(2h);
  writeInputs(certificateYaml({}));
  clock_.advance(3h);
  auto report = run();
  ASSERT_FALSE(report);
  EXPECT_EQ(report.error().code, Code::kFailedPrecondition);
  EXPECT_NE(report.error().message.find("certs.yaml:1: Certificate default/web: "),
            std::string::npos)
      << report.error().message;
  EXPECT_TRUE(stateIsEmpty());
}

TEST_F(ApplyTest, MissingIssuerIsAnErrorNamingTheLine) {
  CertOptions missing;
  missing.issuer = "nope";
  writeInputs(certificateYaml(missing));
  EXPECT_EQ(runError(),
            "in/certs.yaml:8: spec.issuerRef: ClusterIssuer \"nope\" not found among the "
            "inputs");
  EXPECT_TRUE(stateIsEmpty());
}

TEST_F(ApplyTest, WrongIssuerKindGetsAHint) {
  CertOptions wrong;
  wrong.issuer_kind = "Issuer";
  writeInputs(certificateYaml(wrong));
  EXPECT_EQ(runError(),
            "in/certs.yaml:8: spec.issuerRef: Issuer \"ca-issuer\" not found in namespace "
            "\"default\" among the inputs; there is a ClusterIssuer \"ca-issuer\": set "
            "issuerRef.kind: ClusterIssuer");
}

TEST_F(ApplyTest, MissingCaSecretIsAnErrorNamingTheIssuer) {
  dir_.write("in/issuer.yaml", issuerYaml("ClusterIssuer", "ca-issuer", "", "ca-key-pair"));
  writeCerts(certificateYaml({}));
  EXPECT_EQ(runError(),
            "in/issuer.yaml:7: spec.ca.secretName: Secret \"ca-key-pair\" not found among the "
            "inputs (a ClusterIssuer's CA Secret belongs in namespace \"cert-manager\")");
  EXPECT_TRUE(stateIsEmpty());
}

TEST_F(ApplyTest, ClusterIssuerSecretInOneOtherNamespaceIsAccepted) {
  dir_.write("in/issuer.yaml", issuerYaml("ClusterIssuer", "ca-issuer", "", "ca-key-pair") +
                                   "---\n" + caSecretFor(root_, "ca-key-pair", "security"));
  writeCerts(certificateYaml({}));
  EXPECT_EQ(runOk().certificates.at(0).action, ApplyAction::kIssued);
  // In two namespaces (and not in cert-manager) it is ambiguous.
  dir_.write("in/more.yaml", caSecretFor(root_, "ca-key-pair", "other"));
  EXPECT_EQ(runError().rfind("in/issuer.yaml:7: spec.ca.secretName: Secret \"ca-key-pair\" is "
                             "in several namespaces (security, other)",
                             0),
            0u);
}

TEST_F(ApplyTest, NamespacedIssuer) {
  dir_.write("in/issuer.yaml", issuerYaml("Issuer", "team-ca", "team", "team-ca") + "---\n" +
                                   caSecretFor(root_, "team-ca", "team"));
  CertOptions cert;
  cert.namespace_name = "team";
  cert.issuer = "team-ca";
  cert.issuer_kind = "Issuer";
  writeCerts(certificateYaml(cert));
  const ApplyReport report = runOk();
  EXPECT_EQ(report.certificates.at(0).dir, state() / "team" / "web");
  // The same Issuer name from another namespace is not found.
  cert.namespace_name = "default";
  writeCerts(certificateYaml(cert));
  EXPECT_EQ(runError(),
            "in/certs.yaml:8: spec.issuerRef: Issuer \"team-ca\" not found in namespace "
            "\"default\" among the inputs; an Issuer of that name is in namespace \"team\", but an "
            "Issuer serves only its own namespace");
}

TEST_F(ApplyTest, CaSecretProblemsNameTheSecretField) {
  // A key that does not match the certificate.
  const ca::Authority other = makeRoot();
  dir_.write(
      "in/issuer.yaml",
      issuerYaml("ClusterIssuer", "ca-issuer", "", "ca-key-pair") + "---\n" +
          secretYaml("ca-key-pair", "cert-manager", pem({root_.cert}), *other.key.toPkcs8Pem()));
  writeCerts(certificateYaml({}));
  EXPECT_EQ(runError(),
            "in/issuer.yaml:17: data[tls.key]: does not match the certificate in tls.crt (the "
            "CA Secret of ClusterIssuer \"ca-issuer\")");
  // A leaf is not a CA.
  writeInputs(certificateYaml({}));
  runOk();
  dir_.write("in/issuer.yaml",
             issuerYaml("ClusterIssuer", "ca-issuer", "", "ca-key-pair") + "---\n" +
                 secretYaml("ca-key-pair", "cert-manager", read(certDir() / "tls.crt"),
                            read(certDir() / "tls.key")));
  EXPECT_NE(
      runError().find("in/issuer.yaml:16: data[tls.crt]: the certificate (O=mutual) is not a CA"),
      std::string::npos);
}

TEST_F(ApplyTest, NothingIsWrittenWhenAnyInputIsBad) {
  CertOptions good;
  CertOptions bad;
  bad.name = "api";
  bad.extra = "  usages: [server auth, mtls]\n";
  writeInputs(certificateYaml(good) + "---\n" + certificateYaml(bad));
  EXPECT_EQ(runError().rfind("in/certs.yaml:28: spec.usages[1]: unknown usage \"mtls\"", 0), 0u);
  EXPECT_TRUE(stateIsEmpty());

  CertOptions orphan;
  orphan.name = "api";
  orphan.issuer = "missing";
  writeCerts(certificateYaml(good) + "---\n" + certificateYaml(orphan));
  EXPECT_EQ(runError().rfind("in/certs.yaml:22: spec.issuerRef: ClusterIssuer \"missing\"", 0), 0u);
  EXPECT_TRUE(stateIsEmpty());

  // Malformed YAML anywhere stops everything too.
  writeCerts(certificateYaml(good));
  dir_.write("in/zz.yaml", "apiVersion: v1\nkind: [Secret\n");
  const std::string error = runError();
  EXPECT_EQ(error.rfind("in/zz.yaml:", 0), 0u) << error;
  EXPECT_NE(error.find("invalid YAML"), std::string::npos) << error;
  EXPECT_TRUE(stateIsEmpty());
}

TEST_F(ApplyTest, SvidOutsideTheCaTrustDomainIsRefused) {
  CertOptions svid;
  svid.extra = "  uris: [spiffe://other.org/ns/default/sa/web]\n";
  writeInputs(certificateYaml(svid));
  EXPECT_EQ(runError().rfind("in/certs.yaml:14: spec.uris: SPIFFE ID "
                             "spiffe://other.org/ns/default/sa/web is outside the CA's trust "
                             "domain example.org",
                             0),
            0u);
  EXPECT_TRUE(stateIsEmpty());
}

TEST_F(ApplyTest, SvidGetsServerAndClientAuth) {
  CertOptions svid;
  svid.extra =
      "  uris: [spiffe://example.org/ns/default/sa/web]\n"
      "  privateKey: {algorithm: ECDSA}\n";
  writeInputs(certificateYaml(svid));
  runOk();
  const Certificate cert = leaf();
  EXPECT_EQ(cert.uriSans(), (std::vector<std::string>{"spiffe://example.org/ns/default/sa/web"}));
  EXPECT_EQ(cert.extendedKeyUsage(),
            (std::optional<std::vector<std::string>>{{"serverAuth", "clientAuth"}}));
  EXPECT_EQ(cert.keyUsage(), std::optional<unsigned>(crypto::kDigitalSignature));
  EXPECT_FALSE(cert.isCa());
}

TEST_F(ApplyTest, IntermediateCaSecretShipsTheChain) {
  auto intermediate = ca::createIntermediate(root_, {}, clock_);
  ASSERT_TRUE(intermediate) << intermediate.error().message;
  // tls.crt: the intermediate then its root; no ca.crt, so the root comes from tls.crt.
  dir_.write("in/issuer.yaml",
             issuerYaml("ClusterIssuer", "ca-issuer", "", "ca-key-pair") + "---\n" +
                 secretYaml("ca-key-pair", "cert-manager", pem({intermediate->cert, root_.cert}),
                            *intermediate->key.toPkcs8Pem()));
  writeCerts(certificateYaml({}));
  runOk();
  auto certs = crypto::parsePemCertificates(read(certDir() / "tls.crt"));
  ASSERT_TRUE(certs);
  ASSERT_EQ(certs->size(), 2u);
  EXPECT_EQ((*certs)[1].sha256Fingerprint(), intermediate->cert.sha256Fingerprint());
  EXPECT_EQ(read(certDir() / "ca.crt"), pem({root_.cert}));
  auto trust = crypto::TrustStore::create({root_.cert});
  auto chain = crypto::verifyChain(certs->front(), {(*certs)[1]}, *trust, chainAt(clock_.now()));
  EXPECT_TRUE(chain) << chain.error().message;
}

TEST_F(ApplyTest, CaCertificateIsWrittenOnce) {
  CertOptions sub;
  sub.extra = "  isCA: true\n  commonName: sub CA\n";
  writeInputs(certificateYaml(sub));
  runOk();
  auto certs = crypto::parsePemCertificates(read(certDir() / "tls.crt"));
  ASSERT_TRUE(certs);
  ASSERT_EQ(certs->size(), 1u);  // the root is in ca.crt, not tls.crt
  EXPECT_TRUE(certs->front().isCa());
}

TEST_F(ApplyTest, StateThatIsAFileIsRefused) {
  writeInputs(certificateYaml({}));
  dir_.write("state", "x");
  EXPECT_NE(runError().find("not a directory"), std::string::npos);
}

}  // namespace
}  // namespace mutual::app
