// Certification requests over arbitrary bytes, as SignX509Svids and AttestAgent receive them
// from agents: server::verifiedCsrPublicKey (the server's own DER reader and P-256 fast path,
// falling back to OpenSSL's generic parser). Invariant (differential): whatever the server
// accepts, OpenSSL's generic path (crypto::verifyCsr) accepts too, with the same public key
// bytes; a request the generic path refuses is never accepted.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include <openssl/err.h>

#include "crypto/csr.h"
#include "fuzz_check.h"
#include "server/svid_signer.h"

using namespace mutual;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  auto fast = server::verifiedCsrPublicKey(input);
  auto generic = crypto::verifyCsr(input);
  if (fast) {
    FUZZ_CHECK(generic.has_value());
    FUZZ_CHECK(*fast == generic->public_key_der);
  } else {
    FUZZ_CHECK(fast.error().code == Code::kInvalidArgument);
  }
  ERR_clear_error();
  return 0;
}
