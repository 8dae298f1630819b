#include "config/cert_manager.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <iostream>

#include "base/encoding.h"
#include "base/time.h"
#include "config/testing.h"

namespace mutual::config {
namespace {

using namespace std::chrono_literals;
using testing::TempDir;

// Writes `yaml` to certs.yaml in a fresh folder and parses everything in it, as `mutual apply`
// does. Error messages then start with "certs.yaml:" after the folder.
struct Loaded {
  Result<CertManagerResources> resources;
  std::string dir;
};

Loaded load(const std::string& yaml) {
  TempDir dir;
  const auto file = dir.write("certs.yaml", yaml);
  auto manifests = loadManifests({file});
  Loaded out{fail(Code::kUnknown, ""), dir.path().string() + "/"};
  if (!manifests) {
    out.resources = fail(manifests.error());
  } else {
    out.resources = parseCertManagerResources(*manifests);
  }
  if (!out.resources) {
    // Strip the temporary folder so expectations read "certs.yaml:14: ...".
    auto& message = out.resources.error().message;
    if (message.rfind(out.dir, 0) == 0) message.erase(0, out.dir.size());
  }
  return out;
}

constexpr char kCertHead[] =
    "apiVersion: cert-manager.io/v1\n"  // 1
    "kind: Certificate\n"               // 2
    "metadata:\n"                       // 3
    "  name: web\n"                     // 4
    "  namespace: default\n"            // 5
    "spec:\n"                           // 6
    "  secretName: web-tls\n"           // 7
    "  issuerRef:\n"                    // 8
    "    name: ca-issuer\n"             // 9
    "    kind: ClusterIssuer\n";        // 10; extra spec lines start at 11

Certificate parseOneCertificate(const std::string& extra) {
  auto loaded = load(std::string(kCertHead) + extra);
  EXPECT_TRUE(loaded.resources) << loaded.resources.error().message;
  if (!loaded.resources || loaded.resources->certificates.size() != 1) return {};
  return loaded.resources->certificates.front();
}

TEST(CertificateTest, CertManagerDefaults) {
  const Certificate cert = parseOneCertificate("  dnsNames: [web.default.svc]\n");
  EXPECT_EQ(cert.name, "web");
  EXPECT_EQ(cert.namespace_name, "default");
  EXPECT_EQ(cert.secret_name, "web-tls");
  EXPECT_EQ(cert.duration, 2160h);
  EXPECT_FALSE(cert.renew_before);
  EXPECT_EQ(cert.usages, (std::vector<std::string>{"digital signature", "key encipherment"}));
  EXPECT_EQ(cert.private_key.algorithm, KeyAlgorithm::kRsa);
  EXPECT_EQ(cert.private_key.size, 2048);
  EXPECT_EQ(cert.private_key.rotation_policy, RotationPolicy::kAlways);
  EXPECT_EQ(cert.issuer_ref.name, "ca-issuer");
  EXPECT_EQ(cert.issuer_ref.kind, IssuerKind::kClusterIssuer);
  EXPECT_EQ(cert.issuer_ref.group, "cert-manager.io");
  EXPECT_EQ(cert.issuer_ref.location.line, 8);
  EXPECT_EQ(cert.location.line, 1);
  EXPECT_FALSE(cert.isSvid());
  // What the ca module is asked: no EKU (cert-manager's default), RSA keeps keyEncipherment.
  EXPECT_EQ(cert.request.ttl, 2160h);
  EXPECT_FALSE(cert.request.usages.server_auth);
  EXPECT_FALSE(cert.request.usages.client_auth);
  EXPECT_EQ(cert.request.usages.extra_key_usage,
            crypto::kDigitalSignature | crypto::kKeyEncipherment);
  EXPECT_EQ(cert.request.key_type, ca::KeyType::kRsa2048);
  EXPECT_EQ(cert.request.dns_names, (std::vector<std::string>{"web.default.svc"}));
}

TEST(CertificateTest, NamespaceDefaultsToDefault) {
  auto loaded = load(
      "apiVersion: cert-manager.io/v1\nkind: Certificate\nmetadata: {name: a}\n"
      "spec: {secretName: a, commonName: a, issuerRef: {name: i}}\n");
  ASSERT_TRUE(loaded.resources) << loaded.resources.error().message;
  EXPECT_EQ(loaded.resources->certificates.at(0).namespace_name, "default");
  EXPECT_EQ(loaded.resources->certificates.at(0).issuer_ref.kind, IssuerKind::kIssuer);
}

TEST(CertificateTest, SvidDefaultsToServerAndClientAuth) {
  const Certificate cert = parseOneCertificate(
      "  uris: [spiffe://cluster.local/ns/default/sa/web]\n"
      "  privateKey: {algorithm: ECDSA}\n");
  EXPECT_TRUE(cert.isSvid());
  EXPECT_EQ(cert.usages, (std::vector<std::string>{"digital signature", "key encipherment",
                                                   "server auth", "client auth"}));
  EXPECT_TRUE(cert.request.usages.server_auth);
  EXPECT_TRUE(cert.request.usages.client_auth);
  // ECDSA keys cannot encipher: the bit is dropped.
  EXPECT_EQ(cert.request.usages.extra_key_usage, crypto::kDigitalSignature);
  EXPECT_EQ(cert.request.key_type, ca::KeyType::kEcP256);
}

TEST(CertificateTest, EveryField) {
  const Certificate cert = parseOneCertificate(
      "  commonName: web.example.com\n"
      "  dnsNames: [web.example.com, '*.web.example.com']\n"
      "  uris: [https://example.com/web]\n"
      "  ipAddresses: [10.0.0.1, '::1']\n"
      "  emailAddresses: [ops@example.com]\n"
      "  duration: 24h\n"
      "  renewBefore: 8h\n"
      "  usages: [server auth, client auth, digital signature, key encipherment, server auth]\n"
      "  isCA: false\n"
      "  privateKey:\n"
      "    algorithm: RSA\n"
      "    size: 3072\n"
      "    rotationPolicy: Never\n"
      "    encoding: PKCS8\n"
      "  secretTemplate:\n"
      "    labels: {app: web}\n"
      "    annotations: {team: payments}\n"
      "  revisionHistoryLimit: 3\n"
      "  encodeUsagesInRequest: true\n");
  EXPECT_EQ(cert.common_name, "web.example.com");
  EXPECT_EQ(cert.dns_names.size(), 2u);
  EXPECT_EQ(cert.uris, (std::vector<std::string>{"https://example.com/web"}));
  EXPECT_EQ(cert.ip_addresses, (std::vector<std::string>{"10.0.0.1", "::1"}));
  EXPECT_EQ(cert.email_addresses, (std::vector<std::string>{"ops@example.com"}));
  EXPECT_EQ(cert.duration, 24h);
  EXPECT_EQ(cert.renew_before, Seconds(8h));
  EXPECT_EQ(cert.usages, (std::vector<std::string>{"server auth", "client auth",
                                                   "digital signature", "key encipherment"}));
  EXPECT_EQ(cert.private_key.key_type, ca::KeyType::kRsa3072);
  EXPECT_EQ(cert.private_key.rotation_policy, RotationPolicy::kNever);
  EXPECT_EQ(cert.secret_labels.at("app"), "web");
  EXPECT_EQ(cert.secret_annotations.at("team"), "payments");
  EXPECT_EQ(cert.request.ttl, 24h);
  EXPECT_TRUE(cert.request.usages.server_auth);
  EXPECT_EQ(cert.request.emails, cert.email_addresses);
  EXPECT_EQ(cert.request.key_type, ca::KeyType::kRsa3072);
}

TEST(CertificateTest, IsCaAddsCertSign) {
  const Certificate cert = parseOneCertificate(
      "  commonName: sub CA\n  isCA: true\n  privateKey: {algorithm: Ed25519, size: 999}\n");
  EXPECT_TRUE(cert.is_ca);
  EXPECT_TRUE(cert.request.is_ca);
  EXPECT_EQ(cert.usages.back(), "cert sign");
  EXPECT_EQ(cert.private_key.key_type, ca::KeyType::kEd25519);  // size ignored, as cert-manager
}

TEST(CertificateTest, RenewalTime) {
  const TimePoint nb = fromUnix(1'000'000);
  Certificate cert;
  cert.duration = 24h;
  EXPECT_EQ(cert.renewalTime(nb, nb + 24h), nb + 16h);  // 1/3 of the lifetime
  cert.renew_before = 8h;
  EXPECT_EQ(cert.renewalTime(nb, nb + 24h), nb + 16h);
  cert.renew_before = 2h;
  EXPECT_EQ(cert.renewalTime(nb, nb + 24h), nb + 22h);
  // Capped: renewBefore is not shorter than the actual lifetime, so 1/3 of it.
  EXPECT_EQ(cert.renewalTime(nb, nb + 90min), nb + 60min);
  cert.renew_before.reset();
  cert.renew_before_percentage = 25;
  EXPECT_EQ(cert.renewalTime(nb, nb + 60min), nb + 45min);
}

TEST(UsageTest, Mapping) {
  auto rsa = mapUsages({"key encipherment", "server auth"}, KeyAlgorithm::kRsa);
  ASSERT_TRUE(rsa);
  EXPECT_TRUE(rsa->server_auth);
  EXPECT_FALSE(rsa->client_auth);
  EXPECT_EQ(rsa->extra_key_usage, crypto::kKeyEncipherment);
  auto ec = mapUsages({"key encipherment", "signing", "client auth"}, KeyAlgorithm::kEcdsa);
  ASSERT_TRUE(ec);
  EXPECT_EQ(ec->extra_key_usage, crypto::kDigitalSignature);
  EXPECT_TRUE(ec->client_auth);
  EXPECT_FALSE(mapUsages({"code signing"}, KeyAlgorithm::kRsa));
  EXPECT_FALSE(mapUsages({"nope"}, KeyAlgorithm::kRsa));
  EXPECT_EQ(defaultUsages(true).size(), 4u);
  EXPECT_EQ(defaultUsages(false).size(), 2u);
}

struct BadCase {
  std::string name;
  std::string yaml;  // extra spec lines after kCertHead, or a whole text when it has "kind:"
  std::string want;  // the message must start with this
};
void PrintTo(const BadCase& c, std::ostream* os) { *os << c.name; }

class BadCertManagerTest : public ::testing::TestWithParam<BadCase> {};

TEST_P(BadCertManagerTest, OneClearErrorWithFileLineAndField) {
  const auto& c = GetParam();
  const bool whole = c.yaml.find("kind:") != std::string::npos;
  auto loaded = load(whole ? c.yaml : std::string(kCertHead) + c.yaml);
  ASSERT_FALSE(loaded.resources) << c.name;
  EXPECT_EQ(loaded.resources.error().code, Code::kInvalidArgument);
  EXPECT_EQ(loaded.resources.error().message.rfind(c.want, 0), 0u)
      << c.name << "\n  got:  " << loaded.resources.error().message << "\n  want: " << c.want;
}

const std::string kCn = "  commonName: web\n";

INSTANTIATE_TEST_SUITE_P(
    Certificate, BadCertManagerTest,
    ::testing::Values(
        BadCase{"bad duration", kCn + "  duration: 24x\n",
                "certs.yaml:12: spec.duration: invalid duration \"24x\""},
        BadCase{"duration below minimum", kCn + "  duration: 30m\n",
                "certs.yaml:12: spec.duration: must be at least 1h"},
        BadCase{"duration not a string", kCn + "  duration: 24\n",
                "certs.yaml:12: spec.duration: expected a string, got the number 24"},
        BadCase{"renewBefore not shorter", kCn + "  duration: 24h\n  renewBefore: 24h\n",
                "certs.yaml:13: spec.renewBefore: must be shorter than the duration (24h0m0s), "
                "got 24h0m0s"},
        BadCase{"renewBefore beyond default duration", kCn + "  renewBefore: 2200h\n",
                "certs.yaml:12: spec.renewBefore: must be shorter than the duration (2160h0m0s)"},
        BadCase{"renewBefore below minimum", kCn + "  renewBefore: 1m\n",
                "certs.yaml:12: spec.renewBefore: must be at least 5m"},
        BadCase{"bad renewBefore", kCn + "  renewBefore: soon\n",
                "certs.yaml:12: spec.renewBefore: invalid duration \"soon\""},
        BadCase{"renewBefore and percentage",
                kCn + "  renewBefore: 1h\n  renewBeforePercentage: 10\n",
                "certs.yaml:13: spec.renewBeforePercentage: cannot be set together with "
                "spec.renewBefore"},
        BadCase{"percentage out of range", kCn + "  renewBeforePercentage: 100\n",
                "certs.yaml:12: spec.renewBeforePercentage: must be between 1 and 99"},
        BadCase{"unknown field", kCn + "  dnsName: [a]\n",
                "certs.yaml:12: spec.dnsName: unknown field (did you mean \"dnsNames\"?)"},
        BadCase{"unknown top-level field", "  commonName: a\nstatuss: {}\n",
                "certs.yaml:12: statuss: unknown field (did you mean \"status\"?)"},
        BadCase{"duplicate field", kCn + "  commonName: b\n",
                "certs.yaml:12: spec.commonName: duplicate field (first set at line 11)"},
        BadCase{"dnsNames not a list", "  dnsNames: web.example.com\n",
                "certs.yaml:11: spec.dnsNames: expected a list of strings, got the string"},
        BadCase{"bad dns name", "  dnsNames:\n  - ok.example\n  - not ok\n",
                "certs.yaml:13: spec.dnsNames[1]: invalid DNS name \"not ok\""},
        BadCase{"isCA quoted", kCn + "  isCA: \"true\"\n",
                "certs.yaml:12: spec.isCA: expected true or false, got the string \"true\""},
        BadCase{"isCA yes", kCn + "  isCA: yes\n",
                "certs.yaml:12: spec.isCA: expected true or false, got \"yes\""},
        BadCase{"bad spiffe id", "  uris: [spiffe://Example.org/web]\n",
                "certs.yaml:11: spec.uris[0]: invalid SPIFFE ID \"spiffe://Example.org/web\": "
                "trust domain characters are limited"},
        BadCase{"spiffe id with empty segment", "  uris:\n  - spiffe://example.org/a//b\n",
                "certs.yaml:12: spec.uris[0]: invalid SPIFFE ID"},
        BadCase{"spiffe id without path", "  uris: [spiffe://example.org]\n",
                "certs.yaml:11: spec.uris[0]: SPIFFE ID spiffe://example.org has no path"},
        BadCase{"svid with two uris", "  uris: [spiffe://example.org/a, https://x.example]\n",
                "certs.yaml:11: spec.uris: an X509-SVID carries exactly one URI SAN"},
        BadCase{"uri without scheme", "  uris: [just-a-name]\n",
                "certs.yaml:11: spec.uris[0]: invalid URI \"just-a-name\""},
        BadCase{"bad ip", "  ipAddresses: [10.0.0.300]\n",
                "certs.yaml:11: spec.ipAddresses[0]: invalid IP address \"10.0.0.300\""},
        BadCase{"bad email", "  emailAddresses: [nobody]\n",
                "certs.yaml:11: spec.emailAddresses[0]: invalid email address \"nobody\""},
        BadCase{"common name too long", "  commonName: " + std::string(65, 'a') + "\n",
                "certs.yaml:11: spec.commonName: must be at most 64 characters, got 65"},
        BadCase{"common name number", "  commonName: 123\n",
                "certs.yaml:11: spec.commonName: expected a string, got the number 123; quote "
                "it"},
        BadCase{"no names", "  duration: 24h\n",
                "certs.yaml:6: spec: at least one of commonName, dnsNames, uris, ipAddresses "
                "or emailAddresses must be set"},
        BadCase{"unknown usage", kCn + "  usages: [server auth, mtls]\n",
                "certs.yaml:12: spec.usages[1]: unknown usage \"mtls\" (one of: signing, "},
        BadCase{"unsupported usage", kCn + "  usages:\n  - code signing\n",
                "certs.yaml:13: spec.usages[0]: usage \"code signing\" is not supported by "
                "mutual apply"},
        BadCase{"cert sign on a leaf", kCn + "  usages: [cert sign]\n",
                "certs.yaml:12: spec.usages[0]: usage \"cert sign\" needs isCA: true"},
        BadCase{"usages not a list", kCn + "  usages: server auth\n",
                "certs.yaml:12: spec.usages: expected a list of strings, got the string"},
        BadCase{"unknown algorithm", kCn + "  privateKey:\n    algorithm: DSA\n",
                "certs.yaml:13: spec.privateKey.algorithm: unknown algorithm \"DSA\" (one of "
                "RSA, ECDSA, Ed25519)"},
        BadCase{"small rsa", kCn + "  privateKey: {algorithm: RSA, size: 1024}\n",
                "certs.yaml:12: spec.privateKey.size: must be between 2048 and 8192 for RSA, "
                "got 1024"},
        BadCase{"rsa 8192", kCn + "  privateKey: {size: 8192}\n",
                "certs.yaml:12: spec.privateKey.size: RSA 8192 is not supported by mutual "
                "apply"},
        BadCase{"p521", kCn + "  privateKey: {algorithm: ECDSA, size: 521}\n",
                "certs.yaml:12: spec.privateKey.size: ECDSA P-521 is not supported"},
        BadCase{"bad ec size", kCn + "  privateKey: {algorithm: ECDSA, size: 255}\n",
                "certs.yaml:12: spec.privateKey.size: must be 256, 384 or 521 for ECDSA"},
        BadCase{"size as string", kCn + "  privateKey: {algorithm: ECDSA, size: \"256\"}\n",
                "certs.yaml:12: spec.privateKey.size: expected an integer, got the string"},
        BadCase{"bad rotation policy", kCn + "  privateKey: {rotationPolicy: Sometimes}\n",
                "certs.yaml:12: spec.privateKey.rotationPolicy: unknown rotationPolicy "
                "\"Sometimes\" (Always or Never)"},
        BadCase{"pkcs1", kCn + "  privateKey: {encoding: PKCS1}\n",
                "certs.yaml:12: spec.privateKey.encoding: PKCS1 is not supported"},
        BadCase{"unknown private key field", kCn + "  privateKey: {algorythm: RSA}\n",
                "certs.yaml:12: spec.privateKey.algorythm: unknown field (did you mean "
                "\"algorithm\"?)"},
        BadCase{"subject unsupported", kCn + "  subject:\n    organizations: [acme]\n",
                "certs.yaml:12: spec.subject: not supported by mutual apply"},
        BadCase{"keystores unsupported", kCn + "  keystores: {pkcs12: {create: true}}\n",
                "certs.yaml:12: spec.keystores: not supported by mutual apply (it writes PEM"},
        BadCase{"template annotation reserved",
                kCn + "  secretTemplate:\n    annotations:\n      cert-manager.io/x: z\n",
                "certs.yaml:14: spec.secretTemplate.annotations[cert-manager.io/x]: "
                "cert-manager.io/ annotations are set by the issuer"},
        BadCase{"template label number", kCn + "  secretTemplate: {labels: {tier: 1}}\n",
                "certs.yaml:12: spec.secretTemplate.labels[tier]: expected a string"},
        BadCase{"revision history zero", kCn + "  revisionHistoryLimit: 0\n",
                "certs.yaml:12: spec.revisionHistoryLimit: must be 1 or more"},
        BadCase{"missing secretName",
                "apiVersion: cert-manager.io/v1\nkind: Certificate\nmetadata: {name: a}\n"
                "spec:\n  commonName: a\n  issuerRef: {name: i}\n",
                "certs.yaml:4: spec.secretName: required field is missing"},
        BadCase{"bad secretName",
                "apiVersion: cert-manager.io/v1\nkind: Certificate\nmetadata: {name: a}\n"
                "spec:\n  secretName: ../etc\n  commonName: a\n  issuerRef: {name: i}\n",
                "certs.yaml:5: spec.secretName: invalid name \"../etc\""},
        BadCase{"missing issuerRef",
                "apiVersion: cert-manager.io/v1\nkind: Certificate\nmetadata: {name: a}\n"
                "spec:\n  secretName: a\n  commonName: a\n",
                "certs.yaml:4: spec.issuerRef: required field is missing"},
        BadCase{"issuerRef without name",
                "apiVersion: cert-manager.io/v1\nkind: Certificate\nmetadata: {name: a}\n"
                "spec:\n  secretName: a\n  commonName: a\n  issuerRef: {kind: Issuer}\n",
                "certs.yaml:7: spec.issuerRef.name: required field is missing"},
        BadCase{"issuerRef bad kind",
                "apiVersion: cert-manager.io/v1\nkind: Certificate\nmetadata: {name: a}\n"
                "spec:\n  secretName: a\n  commonName: a\n  issuerRef:\n    name: i\n"
                "    kind: VaultIssuer\n",
                "certs.yaml:9: spec.issuerRef.kind: kind \"VaultIssuer\" is not supported"},
        BadCase{"external issuer",
                "apiVersion: cert-manager.io/v1\nkind: Certificate\nmetadata: {name: a}\n"
                "spec:\n  secretName: a\n  commonName: a\n  issuerRef:\n    name: i\n"
                "    group: awspca.cert-manager.io\n",
                "certs.yaml:9: spec.issuerRef.group: external issuers (group "
                "\"awspca.cert-manager.io\") are not supported"},
        BadCase{"missing spec",
                "apiVersion: cert-manager.io/v1\nkind: Certificate\nmetadata: {name: a}\n",
                "certs.yaml:1: spec: required field is missing"},
        BadCase{"old apiVersion",
                "apiVersion: cert-manager.io/v1alpha2\nkind: Certificate\nmetadata: {name: a}\n"
                "spec: {}\n",
                "certs.yaml:1: apiVersion: apiVersion \"cert-manager.io/v1alpha2\" is not "
                "supported for Certificate; use \"cert-manager.io/v1\""}),
    [](const auto& info) {
      std::string name = info.param.name;
      for (auto& c : name) {
        if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
      }
      return name;
    });

INSTANTIATE_TEST_SUITE_P(
    IssuerAndSecret, BadCertManagerTest,
    ::testing::Values(
        BadCase{"acme issuer",
                "apiVersion: cert-manager.io/v1\nkind: ClusterIssuer\nmetadata: {name: le}\n"
                "spec:\n  acme:\n    server: https://acme.example\n",
                "certs.yaml:5: spec.acme: issuer type \"acme\" is not supported by mutual "
                "apply; only \"ca\" issuers are"},
        BadCase{"selfSigned issuer",
                "apiVersion: cert-manager.io/v1\nkind: Issuer\nmetadata: {name: ss}\n"
                "spec:\n  selfSigned: {}\n",
                "certs.yaml:5: spec.selfSigned: issuer type \"selfSigned\" is not supported"},
        BadCase{"issuer without type",
                "apiVersion: cert-manager.io/v1\nkind: Issuer\nmetadata: {name: x}\nspec: {}\n",
                "certs.yaml:4: spec: no issuer type set"},
        BadCase{"issuer unknown type",
                "apiVersion: cert-manager.io/v1\nkind: Issuer\nmetadata: {name: x}\n"
                "spec:\n  cas: {secretName: a}\n",
                "certs.yaml:5: spec.cas: unknown field (did you mean \"ca\"?)"},
        BadCase{"ca without secretName",
                "apiVersion: cert-manager.io/v1\nkind: ClusterIssuer\nmetadata: {name: x}\n"
                "spec:\n  ca: {}\n",
                "certs.yaml:5: spec.ca.secretName: required field is missing"},
        BadCase{"ca with crl",
                "apiVersion: cert-manager.io/v1\nkind: ClusterIssuer\nmetadata: {name: x}\n"
                "spec:\n  ca:\n    secretName: a\n    crlDistributionPoints: [http://crl]\n",
                "certs.yaml:7: spec.ca.crlDistributionPoints: not supported by mutual apply"},
        BadCase{"secret bad base64",
                "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\ntype: Opaque\n"
                "data:\n  a: '!!!'\n",
                "certs.yaml:6: data[a]: invalid base64"},
        BadCase{"tls secret without key",
                "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\ntype: kubernetes.io/tls\n"
                "data:\n  tls.crt: YQ==\n",
                "certs.yaml:5: data: a kubernetes.io/tls Secret must hold tls.key"},
        BadCase{"secret bad key",
                "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\nstringData:\n  a b: x\n",
                "certs.yaml:5: stringData[a b]: invalid key \"a b\""},
        BadCase{"secret unknown field",
                "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\nspec: {}\n",
                "certs.yaml:4: spec: unknown field"},
        BadCase{"secret wrong apiVersion", "apiVersion: v2\nkind: Secret\nmetadata: {name: s}\n",
                "certs.yaml:1: apiVersion: apiVersion \"v2\" is not supported for Secret"}));

INSTANTIATE_TEST_SUITE_P(
    Resources, BadCertManagerTest,
    ::testing::Values(
        BadCase{"unknown kind",
                "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\n---\n"
                "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\n",
                "certs.yaml:6: kind: unknown kind \"Widget\" (apiVersion \"example.com/v1\"); "
                "mutual apply reads Certificate, Issuer and ClusterIssuer"},
        BadCase{"certificate of another group",
                "apiVersion: example.com/v1\nkind: Certificate\nmetadata: {name: w}\n",
                "certs.yaml:2: kind: unknown kind \"Certificate\""},
        BadCase{"duplicate certificate",
                "apiVersion: cert-manager.io/v1\nkind: Certificate\nmetadata: {name: a}\n"
                "spec: {secretName: a, commonName: a, issuerRef: {name: i}}\n---\n"
                "apiVersion: cert-manager.io/v1\nkind: Certificate\nmetadata: {name: a}\n"
                "spec: {secretName: b, commonName: a, issuerRef: {name: i}}\n",
                "certs.yaml:6: metadata.name: Certificate default/a is defined twice (also at "},
        BadCase{"two certificates one secret",
                "apiVersion: cert-manager.io/v1\nkind: Certificate\nmetadata: {name: a}\n"
                "spec: {secretName: s, commonName: a, issuerRef: {name: i}}\n---\n"
                "apiVersion: cert-manager.io/v1\nkind: Certificate\nmetadata: {name: b}\n"
                "spec: {secretName: s, commonName: a, issuerRef: {name: i}}\n",
                "certs.yaml:6: spec.secretName: Secret \"s\" in namespace \"default\" is already "
                "written by the Certificate at "},
        BadCase{"duplicate secret across namespaces defaulting",
                "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\n---\n"
                "apiVersion: v1\nkind: Secret\nmetadata: {name: s, namespace: default}\n",
                "certs.yaml:5: metadata.name: Secret default/s is defined twice"}));

TEST(ResourcesTest, SkipsKindsMutualReadsElsewhere) {
  auto loaded = load(
      "apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {name: p}\n"
      "spec: {mtls: {mode: STRICT}}\n---\n"
      "apiVersion: v1\nkind: Service\nmetadata: {name: svc}\n---\n"
      "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\n");
  ASSERT_TRUE(loaded.resources) << loaded.resources.error().message;
  EXPECT_TRUE(loaded.resources->certificates.empty());
}

constexpr char kIssuersAndSecrets[] =
    "apiVersion: cert-manager.io/v1\n"
    "kind: ClusterIssuer\n"
    "metadata: {name: ca-issuer, namespace: ignored}\n"
    "spec:\n"
    "  ca:\n"
    "    secretName: ca-key-pair\n"  // 6
    "---\n"
    "apiVersion: cert-manager.io/v1\n"
    "kind: Issuer\n"
    "metadata: {name: team-ca, namespace: team}\n"
    "spec: {ca: {secretName: team-ca}}\n"
    "---\n"
    "apiVersion: v1\n"  // 13
    "kind: Secret\n"
    "metadata: {name: ca-key-pair, namespace: cert-manager}\n"
    "type: kubernetes.io/tls\n"
    "data:\n"
    "  tls.crt: Y2VydA==\n"  // 18
    "  tls.key: a2V5\n"
    "stringData:\n"
    "  tls.key: override\n"  // 21
    "  note: hello\n";

TEST(ResourcesTest, IssuersAndSecrets) {
  auto loaded = load(kIssuersAndSecrets);
  ASSERT_TRUE(loaded.resources) << loaded.resources.error().message;
  const auto& r = *loaded.resources;
  ASSERT_EQ(r.issuers.size(), 2u);
  const Issuer* cluster = r.findIssuer(IssuerKind::kClusterIssuer, "ca-issuer", "anything");
  ASSERT_NE(cluster, nullptr);
  EXPECT_EQ(cluster->namespace_name, "");  // cluster-scoped: the namespace is ignored
  EXPECT_EQ(cluster->secret_name, "ca-key-pair");
  EXPECT_EQ(cluster->secret_name_location.line, 6);
  EXPECT_EQ(cluster->describe(), "ClusterIssuer \"ca-issuer\"");
  EXPECT_EQ(r.findIssuer(IssuerKind::kIssuer, "ca-issuer", ""), nullptr);
  const Issuer* team = r.findIssuer(IssuerKind::kIssuer, "team-ca", "team");
  ASSERT_NE(team, nullptr);
  EXPECT_EQ(team->describe(), "Issuer \"team-ca\" in namespace \"team\"");
  EXPECT_EQ(r.findIssuer(IssuerKind::kIssuer, "team-ca", "default"), nullptr);

  const Secret* secret = r.findSecret("ca-key-pair", "cert-manager");
  ASSERT_NE(secret, nullptr);
  EXPECT_EQ(secret->type, "kubernetes.io/tls");
  EXPECT_EQ(secret->data.at("tls.crt"), "cert");
  EXPECT_EQ(secret->data.at("tls.key"), "override");  // stringData wins, as in Kubernetes
  EXPECT_EQ(secret->data.at("note"), "hello");
  EXPECT_EQ(secret->locate("tls.crt").line, 18);
  EXPECT_EQ(secret->locate("tls.key").line, 21);
  EXPECT_EQ(secret->locate("absent").line, 13);
  EXPECT_EQ(r.findSecretsNamed("ca-key-pair").size(), 1u);
  EXPECT_EQ(r.findSecret("ca-key-pair", "default"), nullptr);
}

TEST(RenderSecretTest, RoundTrips) {
  Secret secret;
  secret.name = "my-service-tls";
  secret.namespace_name = "default";
  secret.type = "kubernetes.io/tls";
  secret.labels = {{"app", "web"}, {"n", "123"}};
  secret.annotations = {{"cert-manager.io/certificate-name", "my-service-tls"},
                        {"cert-manager.io/alt-names", ""},
                        {"note", "a: \"quoted\"\nline"}};
  secret.data = {{"tls.crt", "-----BEGIN CERTIFICATE-----\n"}, {"tls.key", std::string(1, '\0')}};
  const std::string yaml = renderSecret(secret);
  EXPECT_NE(yaml.find("  name: my-service-tls\n"), std::string::npos) << yaml;
  EXPECT_NE(yaml.find("type: kubernetes.io/tls\n"), std::string::npos) << yaml;
  EXPECT_NE(yaml.find("  tls.crt: " + base64Encode("-----BEGIN CERTIFICATE-----\n")),
            std::string::npos)
      << yaml;
  auto manifests = parseManifests(yaml, "secret.yaml");
  ASSERT_TRUE(manifests) << manifests.error().message << "\n" << yaml;
  auto back = parseSecret(manifests->at(0));
  ASSERT_TRUE(back) << back.error().message << "\n" << yaml;
  EXPECT_EQ(back->name, secret.name);
  EXPECT_EQ(back->namespace_name, secret.namespace_name);
  EXPECT_EQ(back->type, secret.type);
  EXPECT_EQ(back->labels, secret.labels);
  EXPECT_EQ(back->annotations, secret.annotations);
  EXPECT_EQ(back->data, secret.data);
}

}  // namespace
}  // namespace mutual::config

namespace mutual::config {
namespace {

// The shared conformance examples (../shared/conformance/crds/examples), when present: the
// cert-manager documents validate_crd.py accepts must parse, and those it rejects must fail.
std::filesystem::path conformanceDir() {
  const char* shared = std::getenv("MUTUAL_SHARED_DIR");
  return std::filesystem::path(shared ? shared : "../shared") / "conformance" / "crds" /
         "examples";
}

TEST(ConformanceTest, ValidExamplesParse) {
  const auto file = conformanceDir() / "valid.yaml";
  if (!std::filesystem::exists(file)) GTEST_SKIP() << "no " << file;
  auto manifests = loadManifests({file});
  ASSERT_TRUE(manifests) << manifests.error().message;
  auto resources = parseCertManagerResources(*manifests);
  ASSERT_TRUE(resources) << resources.error().message;
  ASSERT_EQ(resources->certificates.size(), 1u);
  const Certificate& cert = resources->certificates.front();
  EXPECT_EQ(cert.name, "ledger-svid");
  EXPECT_TRUE(cert.isSvid());
  EXPECT_EQ(cert.duration, 1h);
  EXPECT_EQ(cert.renew_before, Seconds(20min));
}

TEST(ConformanceTest, InvalidCertificatesFail) {
  const auto file = conformanceDir() / "invalid.yaml";
  if (!std::filesystem::exists(file)) GTEST_SKIP() << "no " << file;
  auto manifests = loadManifests({file});
  ASSERT_TRUE(manifests) << manifests.error().message;
  int certificates = 0;
  for (const auto& m : *manifests) {
    if (m.kind != "Certificate") continue;
    ++certificates;
    auto cert = parseCertificate(m);
    EXPECT_FALSE(cert) << m.describe();
    if (!cert) {
      EXPECT_EQ(cert.error().message.rfind(file.string() + ":", 0), 0u);
      std::cout << "  " << cert.error().message << "\n";
    }
  }
  EXPECT_EQ(certificates, 3);
  // The unknown kind in the same file stops the whole set.
  EXPECT_FALSE(parseCertManagerResources(*manifests));
}

}  // namespace
}  // namespace mutual::config
