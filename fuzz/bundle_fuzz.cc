// parseSpiffeBundle (the SPIFFE bundle JWK Set a federation endpoint serves) and parsePemBundle
// over arbitrary bytes. Invariants: a parsed bundle writes back (toSpiffeBundleJson) to JSON
// that parses to the same authorities, sequence, refresh hint and JWT keys, and its authorities
// make a trust store.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_check.h"
#include "spiffe/bundle.h"

using namespace mutual;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  static const spiffe::TrustDomain kTd = *spiffe::TrustDomain::parse("example.org");

  auto bundle = spiffe::parseSpiffeBundle(kTd, text);
  if (bundle) {
    FUZZ_CHECK(bundle->trust_domain == kTd);
    spiffe::BundleSet set;
    FUZZ_CHECK(set.put(*bundle).has_value());
    FUZZ_CHECK(set.find(kTd) != nullptr && set.trustStore(kTd) != nullptr);
    // Authorities with keys a JWK cannot describe (DSA, ...) cannot be written back.
    if (auto json = spiffe::toSpiffeBundleJson(*bundle)) {
      auto back = spiffe::parseSpiffeBundle(kTd, *json);
      FUZZ_CHECK(back);
      FUZZ_CHECK(back->authorities.size() == bundle->authorities.size());
      for (size_t i = 0; i < back->authorities.size(); ++i) {
        FUZZ_CHECK(*back->authorities[i].toDer() == *bundle->authorities[i].toDer());
      }
      FUZZ_CHECK(back->sequence == bundle->sequence);
      FUZZ_CHECK(back->refresh_hint == bundle->refresh_hint);
      FUZZ_CHECK(back->jwt_keys_json.size() == bundle->jwt_keys_json.size());
    }
  } else {
    FUZZ_CHECK(bundle.error().code == Code::kInvalidArgument);
  }

  if (auto pem = spiffe::parsePemBundle(kTd, text)) {
    FUZZ_CHECK(!pem->authorities.empty());
    auto written = spiffe::toPemBundle(*pem);
    FUZZ_CHECK(written);
    auto back = spiffe::parsePemBundle(kTd, *written);
    FUZZ_CHECK(back && back->authorities.size() == pem->authorities.size());
  }
  return 0;
}
