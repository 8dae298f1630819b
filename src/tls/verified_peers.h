#pragma once

#include <cstddef>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "base/clock.h"
#include "crypto/certificate.h"
#include "spiffe/spiffe_id.h"

namespace mutual::tls {

// Peer certificate chains one mesh context has already verified as X509-SVIDs. Mesh peers
// reconnect with the same SVID until it rotates, and with OpenSSL 3.0 building and checking
// the path (two signatures, the store lookups, the SVID rules) costs about a sixth of a full
// handshake's CPU on each side; a chain seen before skips all of it. What stays per connection:
// the handshake's own proof of the key (CertificateVerify) and the connection's policy (trust
// domain, allowed IDs).
//
// An entry is the exact DER of the chain (no digest that could collide), the SPIFFE ID it
// verified to, and the window in which every certificate of its path was valid; outside that
// window, or for any chain not seen before, the caller verifies in full. Only successes are
// kept. The cache belongs to one context, so to one set of credentials and bundles: a rotation
// or a bundle update starts from an empty one. Thread-safe; bounded.
class VerifiedPeers {
 public:
  static constexpr size_t kDefaultCapacity = 1024;
  explicit VerifiedPeers(size_t capacity = kDefaultCapacity) : capacity_(capacity) {}

  // The SPIFFE ID `chain_der` verified to, if it did and `now` is inside its window.
  std::optional<spiffe::SpiffeId> find(const std::string& chain_der, TimePoint now) const;
  // Records a verified chain; [valid_from, valid_until) is where its whole path is valid.
  void remember(std::string chain_der, spiffe::SpiffeId id, TimePoint valid_from,
                TimePoint valid_until);

  size_t size() const;
  size_t hits() const;

 private:
  struct Entry {
    spiffe::SpiffeId id;
    TimePoint valid_from;
    TimePoint valid_until;
  };
  const size_t capacity_;
  mutable std::mutex mu_;
  mutable std::unordered_map<std::string, Entry> entries_;
  mutable size_t hits_ = 0;
};

// The key VerifiedPeers uses: the DER of each certificate, leaf first, each preceded by its
// length (so no two different chains concatenate to the same bytes).
std::string chainKey(const std::vector<crypto::Certificate>& chain);

}  // namespace mutual::tls
