#include "tls/verified_peers.h"

#include <openssl/x509.h>

namespace mutual::tls {

std::optional<spiffe::SpiffeId> VerifiedPeers::find(const std::string& chain_der,
                                                    TimePoint now) const {
  std::lock_guard lock(mu_);
  auto it = entries_.find(chain_der);
  if (it == entries_.end()) return std::nullopt;
  if (now < it->second.valid_from || now >= it->second.valid_until) {
    entries_.erase(it);  // verified in full again: that names the failure (expired, ...)
    return std::nullopt;
  }
  ++hits_;
  return it->second.id;
}

void VerifiedPeers::remember(std::string chain_der, spiffe::SpiffeId id, TimePoint valid_from,
                             TimePoint valid_until) {
  if (capacity_ == 0) return;
  std::lock_guard lock(mu_);
  if (entries_.size() >= capacity_ && entries_.find(chain_der) == entries_.end()) {
    entries_.erase(entries_.begin());  // any one: more distinct peers than this is rare
  }
  entries_.insert_or_assign(std::move(chain_der), Entry{std::move(id), valid_from, valid_until});
}

size_t VerifiedPeers::size() const {
  std::lock_guard lock(mu_);
  return entries_.size();
}

size_t VerifiedPeers::hits() const {
  std::lock_guard lock(mu_);
  return hits_;
}

std::string chainKey(const std::vector<crypto::Certificate>& chain) {
  std::string key;
  for (const auto& cert : chain) {
    unsigned char* der = nullptr;
    int len = i2d_X509(cert.get(), &der);
    if (len <= 0) return {};  // not encodable: never matches (callers skip the cache)
    key.append(reinterpret_cast<const char*>(&len), sizeof(len));
    key.append(reinterpret_cast<const char*>(der), static_cast<size_t>(len));
    OPENSSL_free(der);
  }
  return key;
}

}  // namespace mutual::tls
