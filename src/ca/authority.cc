#include "ca/authority.h"

#include "base/file.h"
#include "base/time.h"
#include "ca/validity.h"
#include "crypto/cert_builder.h"

namespace mutual::ca {

namespace fs = std::filesystem;
using crypto::CertSpec;

namespace {

constexpr char kOrganization[] = "mutual";

unsigned leafKeyUsage(const PrivateKey& key, const Usages& usages) {
  unsigned ku = crypto::kDigitalSignature | usages.extra_key_usage;
  if (key.isRsa()) ku |= crypto::kKeyEncipherment;
  return ku;
}

// The parent must be able to sign: a CA with keyCertSign whose key matches.
Result<void> checkCanSign(const Authority& ca) {
  if (!ca.cert.isCa()) {
    return fail(Code::kFailedPrecondition,
                "the issuing certificate (" + ca.cert.subject() +
                    ") is not a CA (basicConstraints cA=false); a leaf cannot sign certificates",
                "issuer_not_ca");
  }
  const auto ku = ca.cert.keyUsage();
  if (ku && (*ku & crypto::kKeyCertSign) == 0) {
    return fail(Code::kFailedPrecondition,
                "the issuing CA (" + ca.cert.subject() + ") lacks keyUsage keyCertSign",
                "issuer_not_ca");
  }
  return {};
}

Result<Issued> sign(const Authority& ca, CertSpec spec, Seconds ttl, const Clock& clock,
                    PrivateKey key) {
  if (auto ok = checkCanSign(ca); !ok) return fail(ok.error());
  auto validity = computeValidity(clock.now(), ttl, ca.cert.notBefore(), ca.cert.notAfter());
  if (!validity) return fail(validity.error());
  auto serial = crypto::randomSerial();
  if (!serial) return fail(serial.error());
  spec.serial = std::move(*serial);
  spec.not_before = validity->not_before;
  spec.not_after = validity->not_after;
  auto cert = crypto::signCertificate(spec, key.get(), &ca.cert, ca.key);
  if (!cert) return fail(cert.error());
  return Issued{std::move(*cert), std::move(key), ca.chain, ca.roots, validity->note};
}

Result<PrivateKey> keyOrNew(std::optional<PrivateKey> key, KeyType type) {
  if (key) return std::move(*key);
  return PrivateKey::generate(type);
}

// Leaves never sign: keyCertSign needs cA=true (RFC 5280 §4.2.1.3), and an X509-SVID must
// carry neither keyCertSign nor cRLSign (X509-SVID §4.3).
Result<void> checkLeafKeyUsage(unsigned extra_key_usage, bool svid) {
  if (extra_key_usage & crypto::kKeyCertSign) {
    return fail(Code::kInvalidArgument,
                "keyUsage keyCertSign is for CA certificates only; a leaf cannot sign certificates",
                "leaf_key_cert_sign");
  }
  if (svid && (extra_key_usage & crypto::kCrlSign)) {
    return fail(Code::kInvalidArgument, "an X509-SVID must not have keyUsage cRLSign",
                "leaf_crl_sign");
  }
  return {};
}

Result<void> checkSameTrustDomain(const Authority& ca, const spiffe::SpiffeId& id) {
  const auto td = ca.trustDomain();
  if (td && !id.memberOf(*td)) {
    return fail(Code::kInvalidArgument,
                "SPIFFE ID " + id.str() + " is outside the CA's trust domain " + td->name(),
                "trust_domain_mismatch");
  }
  return {};
}

}  // namespace

std::optional<spiffe::TrustDomain> Authority::trustDomain() const {
  for (const auto& uri : cert.uriSans()) {
    if (auto id = spiffe::SpiffeId::parse(uri)) return id->trustDomain();
  }
  return std::nullopt;
}

Result<Authority> createRoot(const RootOptions& options, const Clock& clock) {
  auto key = PrivateKey::generate(options.key_type);
  if (!key) return fail(key.error());
  if (options.ttl <= Seconds(0)) return invalidArgument("--ttl must be positive");
  auto serial = crypto::randomSerial();
  if (!serial) return fail(serial.error());
  CertSpec spec;
  spec.common_name = options.common_name.empty()
                         ? "mutual root CA (" + options.trust_domain.name() + ")"
                         : options.common_name;
  spec.organization = kOrganization;
  spec.serial = std::move(*serial);
  spec.not_before = clock.now() - kBackdate;
  auto not_after = addDuration(clock.now(), options.ttl);
  if (!not_after) return fail(not_after.error());
  spec.not_after = *not_after;
  spec.is_ca = true;
  spec.key_usage = crypto::kKeyCertSign | crypto::kCrlSign;
  spec.uris = {options.trust_domain.idString()};
  auto cert = crypto::signCertificate(spec, key->get(), nullptr, *key);
  if (!cert) return fail(cert.error());
  Certificate root = *cert;
  return Authority{std::move(*cert), std::move(*key), {}, {std::move(root)}};
}

Result<Issued> createIntermediate(const Authority& parent, const IntermediateOptions& options,
                                  const Clock& clock) {
  if (auto ok = checkCanSign(parent); !ok) return fail(ok.error());
  std::optional<int> path_len = options.path_len;
  std::string path_len_note;
  if (const auto parent_len = parent.cert.pathLen()) {
    if (*parent_len == 0) {
      return fail(Code::kFailedPrecondition,
                  "the parent CA (" + parent.cert.subject() +
                      ") has path length 0: it may sign leaves but no further CA",
                  "path_length_exceeded");
    }
    if (path_len && *path_len > *parent_len - 1) {
      path_len_note = "path length capped: asked for " + std::to_string(*path_len) + ", issued " +
                      std::to_string(*parent_len - 1) + " because the parent CA (" +
                      parent.cert.subject() + ") has path length " + std::to_string(*parent_len);
    }
    if (!path_len || *path_len > *parent_len - 1) path_len = *parent_len - 1;
  }
  if (path_len && *path_len < 0) return invalidArgument("--path-len must be 0 or more");
  if (options.name.empty()) return invalidArgument("--name must not be empty");
  auto key = PrivateKey::generate(options.key_type);
  if (!key) return fail(key.error());
  CertSpec spec;
  spec.common_name = options.name;
  spec.organization = kOrganization;
  spec.is_ca = true;
  spec.path_len = path_len;
  spec.key_usage = crypto::kKeyCertSign | crypto::kCrlSign;
  if (const auto td = parent.trustDomain()) {
    spec.uris = {td->idString()};
    if (options.name_constraint) spec.permitted_uri_hosts = {td->name()};
  } else if (options.name_constraint) {
    return invalidArgument("the parent CA has no SPIFFE trust domain to constrain names to");
  }
  auto issued = sign(parent, std::move(spec), options.ttl, clock, std::move(*key));
  if (!issued) return fail(issued.error());
  issued->chain.insert(issued->chain.begin(), issued->cert);
  if (!path_len_note.empty()) {
    issued->note = issued->note.empty() ? path_len_note : issued->note + "; " + path_len_note;
  }
  return issued;
}

Result<Issued> issueWorkload(const Authority& ca, const WorkloadOptions& options,
                             const Clock& clock) {
  if (options.id.isRoot()) {
    return fail(Code::kInvalidArgument,
                "SPIFFE ID " + options.id.str() + " has no path; a workload ID needs one, "
                "e.g. " + options.id.str() + "/ns/default/sa/web",
                "id_without_path");
  }
  if (auto ok = checkSameTrustDomain(ca, options.id); !ok) return fail(ok.error());
  if (!options.usages.server_auth && !options.usages.client_auth) {
    return invalidArgument("--usage must include server, client or both");
  }
  if (auto ok = checkLeafKeyUsage(options.usages.extra_key_usage, /*svid=*/true); !ok) {
    return fail(ok.error());
  }
  auto key = PrivateKey::generate(options.key_type);
  if (!key) return fail(key.error());
  CertSpec spec;
  spec.organization = kOrganization;
  // The first DNS name doubles as the CN for clients that still read it, when it fits; a
  // longer one (DNS names reach 253) leaves the CN out, as without DNS names: the SANs are
  // what peers check.
  if (!options.dns_names.empty() &&
      options.dns_names.front().size() <= crypto::kMaxCommonNameLength) {
    spec.common_name = options.dns_names.front();
  }
  spec.key_usage = leafKeyUsage(*key, options.usages);
  spec.server_auth = options.usages.server_auth;
  spec.client_auth = options.usages.client_auth;
  spec.uris = {options.id.str()};
  spec.dns_names = options.dns_names;
  spec.ip_addresses = options.ip_addresses;
  return sign(ca, std::move(spec), options.ttl, clock, std::move(*key));
}

Result<Issued> issueCertificate(const Authority& ca, const CertificateRequest& request,
                                const Clock& clock, std::optional<PrivateKey> existing) {
  int spiffe_uris = 0;
  for (const auto& uri : request.uris) {
    if (uri.rfind("spiffe:", 0) != 0) continue;
    ++spiffe_uris;
    auto id = spiffe::SpiffeId::parse(uri);
    if (!id) return fail(id.error());
    if (id->isRoot() && !request.is_ca) {
      return invalidArgument("SPIFFE ID " + id->str() + " has no path; a workload ID needs one");
    }
    if (!id->isRoot() && request.is_ca) {
      // X509-SVID §3.2: a signing certificate's SPIFFE ID has no path.
      return fail(Code::kInvalidArgument,
                  "SPIFFE ID " + id->str() + " has a path; a CA may only carry its trust "
                  "domain's ID (" + id->trustDomain().idString() + ")",
                  "signing_cert_id_has_path");
    }
    if (auto ok = checkSameTrustDomain(ca, *id); !ok) return fail(ok.error());
  }
  if (spiffe_uris > 0 && request.uris.size() != 1 && !request.is_ca) {
    return invalidArgument("an X509-SVID carries exactly one URI SAN (the SPIFFE ID); found " +
                           std::to_string(request.uris.size()) + " URIs");
  }
  if (request.is_ca && ca.cert.pathLen() == 0) {
    return fail(Code::kFailedPrecondition,
                "the issuing CA (" + ca.cert.subject() +
                    ") has path length 0: it may sign leaves but no further CA",
                "path_length_exceeded");
  }
  if (!request.is_ca) {
    if (auto ok = checkLeafKeyUsage(request.usages.extra_key_usage, spiffe_uris > 0); !ok) {
      return fail(ok.error());
    }
  }
  if (request.common_name.empty() && request.dns_names.empty() && request.uris.empty() &&
      request.ip_addresses.empty() && request.emails.empty()) {
    return invalidArgument("the certificate names nothing: set commonName, dnsNames, uris, "
                           "ipAddresses or emailAddresses");
  }
  auto key = keyOrNew(std::move(existing), request.key_type);
  if (!key) return fail(key.error());
  CertSpec spec;
  spec.organization = kOrganization;
  spec.common_name = request.common_name;
  spec.uris = request.uris;
  spec.dns_names = request.dns_names;
  spec.ip_addresses = request.ip_addresses;
  spec.emails = request.emails;
  if (request.is_ca) {
    spec.is_ca = true;
    spec.key_usage = crypto::kKeyCertSign | crypto::kCrlSign | request.usages.extra_key_usage;
  } else {
    spec.key_usage = leafKeyUsage(*key, request.usages);
    spec.server_auth = request.usages.server_auth;
    spec.client_auth = request.usages.client_auth;
  }
  auto issued = sign(ca, std::move(spec), request.ttl, clock, std::move(*key));
  if (issued && request.is_ca) issued->chain.insert(issued->chain.begin(), issued->cert);
  return issued;
}

Result<Authority> loadAuthority(const fs::path& dir) {
  const auto read = [&](const char* name) -> Result<std::string> {
    auto text = readFile(dir / name);
    if (!text) return fail(text.error());
    return text;
  };
  auto cert_pem = read("ca.crt");
  if (!cert_pem) return fail(cert_pem.error());
  auto certs = crypto::parsePemCertificates(*cert_pem);
  if (!certs) return fail(certs.error().prefix((dir / "ca.crt").string()));
  auto key_pem = read("ca.key");
  if (!key_pem) return fail(key_pem.error());
  auto key = PrivateKey::fromPem(*key_pem);
  if (!key) return fail(key.error().prefix((dir / "ca.key").string()));
  Certificate cert = certs->front();
  if (!cert.matchesKey(*key)) {
    return invalidArgument((dir / "ca.key").string() + ": does not match the certificate in " +
                           (dir / "ca.crt").string());
  }
  Authority authority{cert, std::move(*key), {}, {}};
  if (auto ok = checkCanSign(authority); !ok) {
    return fail(ok.error().prefix((dir / "ca.crt").string()));
  }
  std::error_code ec;
  if (fs::exists(dir / "chain.crt", ec)) {
    auto chain_pem = read("chain.crt");
    if (!chain_pem) return fail(chain_pem.error());
    auto chain = crypto::parsePemCertificates(*chain_pem);
    if (!chain) return fail(chain.error().prefix((dir / "chain.crt").string()));
    authority.chain = std::move(*chain);
  } else if (!cert.isSelfIssued()) {
    authority.chain = {cert};
  }
  if (fs::exists(dir / "bundle.crt", ec)) {
    auto bundle_pem = read("bundle.crt");
    if (!bundle_pem) return fail(bundle_pem.error());
    auto roots = crypto::parsePemCertificates(*bundle_pem);
    if (!roots) return fail(roots.error().prefix((dir / "bundle.crt").string()));
    authority.roots = std::move(*roots);
  } else if (cert.isSelfIssued()) {
    authority.roots = {cert};
  } else {
    return invalidArgument(dir.string() + ": intermediate CA without bundle.crt (the root); " +
                           "create it with `mutual ca intermediate` or add bundle.crt");
  }
  return authority;
}

Result<void> writeRoot(const fs::path& dir, const Authority& root) {
  auto cert = root.cert.toPem();
  auto key = root.key.toPkcs8Pem();
  if (!cert) return fail(cert.error());
  if (!key) return fail(key.error());
  // As a set: a failure leaves the old files, never a new key beside an old certificate.
  return writeFilesAtomic(
      {{dir / "ca.crt", *cert, 0644}, {dir / "ca.key", *key, kPrivateKeyMode}});
}

Result<void> writeIntermediate(const fs::path& dir, const Issued& intermediate) {
  auto cert = intermediate.cert.toPem();
  auto key = intermediate.key.toPkcs8Pem();
  auto chain = crypto::toPem(intermediate.chain);
  auto bundle = crypto::toPem(intermediate.bundle);
  for (const auto* r : {&cert, &key, &chain, &bundle}) {
    if (!*r) return fail(r->error());
  }
  return writeFilesAtomic({{dir / "ca.crt", *cert, 0644},
                           {dir / "chain.crt", *chain, 0644},
                           {dir / "bundle.crt", *bundle, 0644},
                           {dir / "ca.key", *key, kPrivateKeyMode}});
}

Result<LeafFiles> renderLeaf(const Issued& leaf) {
  std::vector<Certificate> full{leaf.cert};
  full.insert(full.end(), leaf.chain.begin(), leaf.chain.end());
  auto crt = crypto::toPem(full);
  auto key = leaf.key.toPkcs8Pem();
  auto ca = crypto::toPem(leaf.bundle);
  if (!crt) return fail(crt.error());
  if (!key) return fail(key.error());
  if (!ca) return fail(ca.error());
  return LeafFiles{std::move(*crt), std::move(*key), std::move(*ca)};
}

Result<void> writeLeaf(const fs::path& dir, const Issued& leaf) {
  auto files = renderLeaf(leaf);
  if (!files) return fail(files.error());
  return writeFilesAtomic({{dir / "tls.crt", std::move(files->tls_crt), 0644},
                           {dir / "ca.crt", std::move(files->ca_crt), 0644},
                           {dir / "tls.key", std::move(files->tls_key), kPrivateKeyMode}});
}

}  // namespace mutual::ca
