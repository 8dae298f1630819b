// PKI throughput: workload certificates issued per second and X509-SVID chains verified per
// second, each next to the raw cost of the OpenSSL primitives it cannot avoid, measured in the
// same run so the ratio (our overhead) is visible. bench/run.sh prints the ratios.
//
//   issuance  BM_IssueWorkload/<key>   ca::issueWorkload + PEM of certificate and key
//             BM_RawKeygenSign/<key>   EVP_PKEY_Q_keygen(<key>) + one ECDSA P-256 signature
//                                      (EVP_DigestSign, SHA-256) over a 300-byte buffer
//             BM_RawKeygenFromParamsSign  the same for P-256, the key generated from cached
//                                      curve parameters (the fastest raw path; what
//                                      crypto::PrivateKey::generate does)
//   verify    BM_VerifyX509Svid        spiffe::verifyX509Svid(leaf + intermediate, BundleSet)
//             BM_RawX509VerifyCert     X509_verify_cert, prebuilt X509_STORE, same chain
//             BM_RawEcdsaVerify2       the two ECDSA P-256 signature checks the chain needs
//   parsing   BM_SpiffeIdParse         spiffe::SpiffeId::parse
//
// The BM_Step_* benchmarks split issuance into its parts, for profiling.

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "ca/authority.h"
#include "crypto/cert_builder.h"
#include "crypto/handles.h"
#include "spiffe/bundle.h"
#include "spiffe/spiffe_id.h"
#include "spiffe/x509_svid.h"

namespace mutual {
namespace {

using crypto::KeyType;
using MdCtxPtr = std::unique_ptr<EVP_MD_CTX, crypto::Deleter<EVP_MD_CTX_free>>;

constexpr char kTrustDomain[] = "prod.example.org";
constexpr char kWorkloadId[] = "spiffe://prod.example.org/ns/payments/sa/checkout-api";
// About the size of a workload certificate's TBSCertificate (ours are 330-420 bytes).
constexpr size_t kTbsSize = 300;

// Set-up failures end the run: a benchmark of a broken PKI measures nothing.
template <typename T>
T orDie(Result<T> r, const char* what) {
  if (!r) {
    std::fprintf(stderr, "pki_bench: %s: %s\n", what, r.error().message.c_str());
    std::abort();
  }
  return std::move(*r);
}

// Every field spelled out: -Wmissing-field-initializers fires on partial aggregates.
ca::WorkloadOptions workloadOptions(KeyType key_type) {
  return ca::WorkloadOptions{orDie(spiffe::SpiffeId::parse(kWorkloadId), "SPIFFE ID"),
                             {},
                             {},
                             std::chrono::hours(1),
                             {},
                             key_type};
}

void countRate(benchmark::State& state, const char* name) {
  state.counters[name] =
      benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}

// root (EC P-256) -> intermediate (EC P-256) -> workload leaf (EC P-256), built once.
struct Pki {
  RealClock clock;
  ca::Authority root;
  ca::Authority intermediate;
  std::vector<crypto::Certificate> chain;  // leaf, intermediate
  spiffe::BundleSet bundles;
  std::string tbs;  // kTbsSize bytes to sign
};

Pki makePki() {
  RealClock clock;
  const auto td = orDie(spiffe::TrustDomain::parse(kTrustDomain), "trust domain");
  auto root = orDie(
      ca::createRoot(ca::RootOptions{td, std::chrono::hours(87600), KeyType::kEcP256, {}}, clock),
      "root");
  auto inter =
      orDie(ca::createIntermediate(root, ca::IntermediateOptions{}, clock), "intermediate");
  ca::Authority intermediate{inter.cert, std::move(inter.key), inter.chain, inter.bundle};
  auto leaf =
      orDie(ca::issueWorkload(intermediate, workloadOptions(KeyType::kEcP256), clock), "leaf");
  spiffe::BundleSet bundles;
  if (auto ok = bundles.put(spiffe::X509Bundle{td, root.roots, {}, {}, {}}); !ok) {
    std::fprintf(stderr, "pki_bench: bundle: %s\n", ok.error().message.c_str());
    std::abort();
  }
  std::string tbs(kTbsSize, '\0');
  for (size_t i = 0; i < tbs.size(); ++i) tbs[i] = static_cast<char>(i * 131 + 7);
  std::vector<crypto::Certificate> chain{leaf.cert, intermediate.cert};
  return Pki{
      clock,         std::move(root), std::move(intermediate), std::move(chain), std::move(bundles),
      std::move(tbs)};
}

Pki& pki() {
  static Pki p = makePki();
  return p;
}

// ---- issuance ------------------------------------------------------------------------------

void BM_IssueWorkload(benchmark::State& state, KeyType key_type) {
  Pki& p = pki();
  const ca::WorkloadOptions options = workloadOptions(key_type);
  for (auto _ : state) {
    auto issued = ca::issueWorkload(p.intermediate, options, p.clock);
    if (!issued) {
      state.SkipWithError(issued.error().message.c_str());
      break;
    }
    auto cert_pem = issued->cert.toPem();
    auto key_pem = issued->key.toPkcs8Pem();
    if (!cert_pem || !key_pem) {
      state.SkipWithError("PEM encoding failed");
      break;
    }
    benchmark::DoNotOptimize(cert_pem->data());
    benchmark::DoNotOptimize(key_pem->data());
  }
  countRate(state, "certs");
}
BENCHMARK_CAPTURE(BM_IssueWorkload, ec_p256, KeyType::kEcP256);
BENCHMARK_CAPTURE(BM_IssueWorkload, ed25519, KeyType::kEd25519);
// RSA key generation time varies with the prime search: more time, fewer surprises.
BENCHMARK_CAPTURE(BM_IssueWorkload, rsa_2048, KeyType::kRsa2048)->MinTime(3);

EVP_PKEY* rawKeygen(KeyType key_type) {
  switch (key_type) {
    case KeyType::kEd25519:
      return EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
    case KeyType::kRsa2048:
      return EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", size_t{2048});
    default:
      return EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
  }
}

// One ECDSA P-256 / SHA-256 signature with a fresh context, as a one-shot signer makes it.
bool rawSign(EVP_PKEY* key, const std::string& tbs) {
  MdCtxPtr ctx(EVP_MD_CTX_new());
  unsigned char sig[128];
  size_t sig_len = sizeof sig;
  return ctx && EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key) == 1 &&
         EVP_DigestSign(ctx.get(), sig, &sig_len,
                        reinterpret_cast<const unsigned char*>(tbs.data()), tbs.size()) == 1;
}

void BM_RawKeygenSign(benchmark::State& state, KeyType key_type) {
  Pki& p = pki();
  EVP_PKEY* ca_key = p.intermediate.key.get();
  for (auto _ : state) {
    crypto::PKeyPtr key(rawKeygen(key_type));
    if (!key || !rawSign(ca_key, p.tbs)) {
      state.SkipWithError("keygen or sign failed");
      break;
    }
    benchmark::DoNotOptimize(key.get());
  }
  countRate(state, "ops");
}
BENCHMARK_CAPTURE(BM_RawKeygenSign, ec_p256, KeyType::kEcP256);
BENCHMARK_CAPTURE(BM_RawKeygenSign, ed25519, KeyType::kEd25519);
BENCHMARK_CAPTURE(BM_RawKeygenSign, rsa_2048, KeyType::kRsa2048)->MinTime(3);

// The stricter baseline: EVP_PKEY_Q_keygen rebuilds the curve for every key, and
// crypto::PrivateKey::generate avoids that by generating from a parameters key made once, so
// the fastest raw P-256 path is this one.
EVP_PKEY* rawKeygenFromParams() {
  static const crypto::PKeyPtr params = [] {
    crypto::PKeyCtxPtr ctx(EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr));
    EVP_PKEY* p = nullptr;
    if (EVP_PKEY_paramgen_init(ctx.get()) != 1 ||
        EVP_PKEY_CTX_set_group_name(ctx.get(), "P-256") != 1 ||
        EVP_PKEY_paramgen(ctx.get(), &p) != 1) {
      std::abort();
    }
    return crypto::PKeyPtr(p);
  }();
  crypto::PKeyCtxPtr ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, params.get(), nullptr));
  EVP_PKEY* key = nullptr;
  if (!ctx || EVP_PKEY_keygen_init(ctx.get()) != 1 || EVP_PKEY_generate(ctx.get(), &key) != 1) {
    return nullptr;
  }
  return key;
}

void BM_RawKeygenFromParamsSign(benchmark::State& state) {
  Pki& p = pki();
  for (auto _ : state) {
    crypto::PKeyPtr key(rawKeygenFromParams());
    if (!key || !rawSign(p.intermediate.key.get(), p.tbs)) {
      state.SkipWithError("keygen or sign failed");
      break;
    }
  }
  countRate(state, "ops");
}
BENCHMARK(BM_RawKeygenFromParamsSign);

void BM_RawKeygen(benchmark::State& state) {
  for (auto _ : state) {
    crypto::PKeyPtr key(rawKeygen(KeyType::kEcP256));
    if (!key) {
      state.SkipWithError("keygen failed");
      break;
    }
  }
  countRate(state, "ops");
}
BENCHMARK(BM_RawKeygen);

void BM_RawSign(benchmark::State& state) {
  Pki& p = pki();
  for (auto _ : state) {
    if (!rawSign(p.intermediate.key.get(), p.tbs)) {
      state.SkipWithError("sign failed");
      break;
    }
  }
  countRate(state, "ops");
}
BENCHMARK(BM_RawSign);

// The parts of BM_IssueWorkload/ec_p256, for profiling.

void BM_Step_GenerateKey(benchmark::State& state) {
  for (auto _ : state) {
    auto key = crypto::PrivateKey::generate(KeyType::kEcP256);
    benchmark::DoNotOptimize(key->get());
  }
  countRate(state, "ops");
}
BENCHMARK(BM_Step_GenerateKey);

void BM_Step_SignCertificate(benchmark::State& state) {
  Pki& p = pki();
  const auto key = orDie(crypto::PrivateKey::generate(KeyType::kEcP256), "key");
  crypto::CertSpec spec;
  spec.organization = "mutual";
  spec.serial = orDie(crypto::randomSerial(), "serial");
  spec.not_before = p.clock.now();
  spec.not_after = spec.not_before + std::chrono::hours(1);
  spec.key_usage = crypto::kDigitalSignature;
  spec.server_auth = spec.client_auth = true;
  spec.uris = {kWorkloadId};
  for (auto _ : state) {
    auto cert = crypto::signCertificate(spec, key.get(), &p.intermediate.cert, p.intermediate.key);
    if (!cert) {
      state.SkipWithError(cert.error().message.c_str());
      break;
    }
  }
  countRate(state, "ops");
}
BENCHMARK(BM_Step_SignCertificate);

void BM_Step_CertToPem(benchmark::State& state) {
  Pki& p = pki();
  for (auto _ : state) benchmark::DoNotOptimize(p.chain.front().toPem()->data());
  countRate(state, "ops");
}
BENCHMARK(BM_Step_CertToPem);

void BM_Step_KeyToPkcs8Pem(benchmark::State& state) {
  const auto key = orDie(crypto::PrivateKey::generate(KeyType::kEcP256), "key");
  for (auto _ : state) benchmark::DoNotOptimize(key.toPkcs8Pem()->data());
  countRate(state, "ops");
}
BENCHMARK(BM_Step_KeyToPkcs8Pem);

// ---- verification --------------------------------------------------------------------------

void BM_VerifyX509Svid(benchmark::State& state) {
  Pki& p = pki();
  spiffe::SvidOptions options;
  options.at = p.clock.now();
  for (auto _ : state) {
    auto verified = spiffe::verifyX509Svid(p.chain, p.bundles, options);
    if (!verified) {
      state.SkipWithError(verified.error().message.c_str());
      break;
    }
    benchmark::DoNotOptimize(verified->id);
  }
  countRate(state, "chains");
}
BENCHMARK(BM_VerifyX509Svid);

void BM_RawX509VerifyCert(benchmark::State& state) {
  Pki& p = pki();
  crypto::X509StorePtr store(X509_STORE_new());
  X509_STORE_add_cert(store.get(), p.root.cert.get());
  crypto::X509StackPtr untrusted(sk_X509_new_null());
  X509_up_ref(p.chain[1].get());
  sk_X509_push(untrusted.get(), p.chain[1].get());
  for (auto _ : state) {
    crypto::X509StoreCtxPtr ctx(X509_STORE_CTX_new());
    if (!ctx ||
        X509_STORE_CTX_init(ctx.get(), store.get(), p.chain[0].get(), untrusted.get()) != 1 ||
        X509_verify_cert(ctx.get()) != 1) {
      state.SkipWithError("X509_verify_cert failed");
      break;
    }
  }
  countRate(state, "chains");
}
BENCHMARK(BM_RawX509VerifyCert);

struct SignedPart {
  std::string tbs;
  std::string sig;
  EVP_PKEY* signer;  // borrowed
};

SignedPart signedPart(const crypto::Certificate& cert, const crypto::Certificate& issuer) {
  unsigned char* der = nullptr;
  const int len = i2d_re_X509_tbs(cert.get(), &der);
  SignedPart part{std::string(reinterpret_cast<char*>(der), static_cast<size_t>(len)),
                  {},
                  X509_get0_pubkey(issuer.get())};
  OPENSSL_free(der);
  const ASN1_BIT_STRING* sig = nullptr;
  X509_get0_signature(&sig, nullptr, cert.get());
  part.sig.assign(reinterpret_cast<const char*>(ASN1_STRING_get0_data(sig)),
                  static_cast<size_t>(ASN1_STRING_length(sig)));
  return part;
}

bool rawVerify(const SignedPart& part) {
  MdCtxPtr ctx(EVP_MD_CTX_new());
  return ctx && EVP_DigestVerifyInit(ctx.get(), nullptr, EVP_sha256(), nullptr, part.signer) == 1 &&
         EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(part.sig.data()),
                          part.sig.size(), reinterpret_cast<const unsigned char*>(part.tbs.data()),
                          part.tbs.size()) == 1;
}

void BM_RawEcdsaVerify2(benchmark::State& state) {
  Pki& p = pki();
  const SignedPart leaf = signedPart(p.chain[0], p.chain[1]);
  const SignedPart inter = signedPart(p.chain[1], p.root.cert);
  for (auto _ : state) {
    if (!rawVerify(leaf) || !rawVerify(inter)) {
      state.SkipWithError("ECDSA verify failed");
      break;
    }
  }
  countRate(state, "chains");
}
BENCHMARK(BM_RawEcdsaVerify2);

// ---- parsing -------------------------------------------------------------------------------

void BM_SpiffeIdParse(benchmark::State& state) {
  for (auto _ : state) {
    auto id = spiffe::SpiffeId::parse(kWorkloadId);
    benchmark::DoNotOptimize(id->path().data());
  }
  countRate(state, "ids");
}
BENCHMARK(BM_SpiffeIdParse);

void BM_SpiffeIdParseInvalid(benchmark::State& state) {
  for (auto _ : state) {
    auto id = spiffe::SpiffeId::parse("spiffe://prod.example.org/ns/payments/../sa/checkout-api");
    benchmark::DoNotOptimize(id.has_value());
  }
  countRate(state, "ids");
}
BENCHMARK(BM_SpiffeIdParseInvalid);

}  // namespace
}  // namespace mutual

BENCHMARK_MAIN();
