#include "tls/verified_peers.h"

#include <cstdint>

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
    auto der = cert.toDer();
    if (!der) return {};  // not encodable: never matches (callers skip the cache)
    const uint32_t length = static_cast<uint32_t>(der->size());
    key.append(reinterpret_cast<const char*>(&length), sizeof(length));
    key.append(*der);
  }
  return key;
}

}  // namespace mutual::tls
