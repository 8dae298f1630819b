#pragma once

#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "base/clock.h"
#include "base/duration.h"
#include "base/error.h"
#include "crypto/key.h"
#include "datastore/datastore.h"
#include "server/key_manager.h"
#include "server/svid_signer.h"
#include "server/x509.h"
#include "spiffe/spiffe_id.h"

// The server's signing authorities, rotated as SPIRE rotates them (pkg/server/ca/manager):
// two slots, the current (active) authority and the next (prepared) one, with a journal of
// every authority kept in the datastore. docs/server.md, "CA rotation", is the user's view.
//
// Without an UpstreamAuthority the server keeps its own self-signed root (lifetime
// root_ttl, 10 x ca_ttl by default; key type and subject from server.conf), and each
// authority is an intermediate of ca_ttl signed by it. With UpstreamAuthority "disk" each
// authority is an intermediate signed by the upstream CA, and the bundle is the upstream's.
namespace mutual::server {

// --- The schedule: pure functions of the current authority's validity ---------------------

// The next authority is prepared once the current one has min(lifetime/2, 30 days) left.
TimePoint prepareTime(TimePoint not_before, TimePoint not_after);
// It is activated once the current one has min(lifetime/6, 7 days) left.
TimePoint activateTime(TimePoint not_before, TimePoint not_after);
// The longest SVID TTL an authority of `ca_ttl` always serves in full: min(ca_ttl/6, 7 days)
// (an SVID signed just before activation must not outlive its CA).
Seconds maxUncappedSvidTtl(Seconds ca_ttl);

// Old authorities leave the journal, and expired roots the bundle, this long after they
// expire (SPIRE's safety threshold).
inline constexpr Seconds kPruneSafetyMargin{24 * 3600};

enum class AuthorityStatus { kPrepared, kActive, kOld };
std::string_view authorityStatusName(AuthorityStatus status);  // "prepared", "active", "old"

// An X.509 authority as `authority show` prints it.
struct AuthorityInfo {
  std::string authority_id;  // its subjectKeyIdentifier, lowercase hex (SPIRE's authority ID)
  AuthorityStatus status = AuthorityStatus::kOld;
  bool tainted = false;
  bool revoked = false;
  TimePoint not_before;
  TimePoint not_after;
  std::string subject;
  // Self-signed mode: the authority ID of the root that signed it; "" with an upstream.
  std::string root_id;
  std::string upstream_authority_id;  // the upstream CA's SKI hex, when there is one
  std::string jwt_key_id;
  bool keys_present = false;  // false after a restart with KeyManager "memory"
  // For the active authority: when the next is prepared and activated.
  std::optional<TimePoint> prepare_at;
  std::optional<TimePoint> activate_at;
};

// The JWT signing key of an authority (one per authority, with the same lifetime).
struct JwtKey {
  std::string key_id;  // "kid"
  std::shared_ptr<const crypto::PrivateKey> key;
  std::string public_key_der;
  TimePoint not_after;
};

struct UpstreamDisk {
  std::filesystem::path cert_file;  // the upstream CA, then intermediates above it
  std::filesystem::path key_file;
  std::filesystem::path bundle_file;  // empty: the cert file holds a self-signed root
};

struct CaManagerConfig {
  spiffe::TrustDomain trust_domain;
  Seconds ca_ttl{24 * 3600};
  Seconds root_ttl{0};  // 0: 10 x ca_ttl
  crypto::KeyType key_type = crypto::KeyType::kEcP256;
  crypto::KeyType jwt_key_type = crypto::KeyType::kEcP256;
  NameSpec subject{{"US"}, {"SPIFFE"}, "", ""};  // ca_subject
  std::optional<UpstreamDisk> upstream{};
  // Names this server's journal in a datastore several servers may share.
  std::string server_id{};
  // Self-signed mode writes the current root here as root_ca.crt (empty: nowhere).
  std::filesystem::path data_dir{};
};

class CaManager {
 public:
  CaManager(CaManagerConfig config, datastore::DataStore& store, KeyManager& keys,
            std::shared_ptr<const Clock> clock);

  // Loads the journal and the keys, then makes sure an authority is active: on first start
  // (no journal) it creates the root and the first authority; when the active authority's
  // keys are gone (KeyManager "memory" after a restart) or it expired, a new one is prepared
  // and activated at once. Publishes the roots and JWT keys to the trust domain's bundle.
  Result<void> initialize();

  // One tick of the rotator: prepares the next authority, activates it, prunes old ones, each
  // when due at the clock's now. Returns true when the active authority changed.
  Result<bool> rotate();

  // The active authority, ready to sign; null before initialize() succeeded.
  std::shared_ptr<const SigningCa> current() const;
  std::shared_ptr<const JwtKey> currentJwt() const;
  // IDs of tainted authorities: agents re-sign SVIDs issued by them.
  std::vector<std::string> taintedAuthorityIds() const;

  // Every authority in the journal: active first, then prepared, then old (newest first).
  std::vector<AuthorityInfo> authorities() const;

  // `authority prepare`: prepares a new next authority now, replacing a prepared one. With
  // `new_root` (self-signed mode) it is signed by a new root, published in the bundle at once.
  Result<AuthorityInfo> prepare(bool new_root = false);
  // `authority activate`: the prepared authority with this ID becomes the active one (the
  // active one becomes old). FailedPrecondition when `id` is not the prepared authority.
  Result<AuthorityInfo> activate(const std::string& authority_id);
  // `authority taint`: marks an old authority tainted; agents then replace the SVIDs it
  // signed, and the next prepared authority gets a new root. FailedPrecondition for the
  // active or prepared authority (as SPIRE: only an old authority can be tainted).
  Result<AuthorityInfo> taint(const std::string& authority_id);
  // `authority revoke`: removes a tainted, non-active authority's root and JWT key from the
  // bundle, so nothing it signed is trusted any more. FailedPrecondition when it is not
  // tainted, is active or prepared, when its root also anchors the active or prepared
  // authority (prepare --new-root and activate first), or with an UpstreamAuthority (revoke
  // the upstream root at its source).
  Result<AuthorityInfo> revoke(const std::string& authority_id);

  // Called (without locks held) after the active authority or the bundle changed.
  void setOnChange(std::function<void()> callback);

  const CaManagerConfig& config() const { return config_; }

 private:
  struct Root {
    std::string id;
    crypto::Certificate cert;
    std::string key_id;
    bool tainted = false;
    bool revoked = false;
    std::shared_ptr<const CertSigner> signer;  // null when the key is gone
  };
  struct Authority {
    std::string id;
    AuthorityStatus status = AuthorityStatus::kPrepared;
    std::vector<crypto::Certificate> chain;  // the authority first, then intermediates above
    std::string root_id;
    std::string upstream_id;
    std::string key_id;
    std::string jwt_key_id;  // KeyManager id of the JWT key
    std::string jwt_kid;
    std::string jwt_public_key_der;
    bool tainted = false;
    bool revoked = false;
    std::shared_ptr<const SigningCa> signing;  // null when the keys are gone
    std::shared_ptr<const JwtKey> jwt;
    TimePoint notBefore() const { return chain.front().notBefore(); }
    TimePoint notAfter() const { return chain.front().notAfter(); }
  };

  Result<void> loadJournal();
  Result<void> saveJournal();
  Result<bool> rotateLocked(TimePoint now);
  Result<Authority*> prepareLocked(TimePoint now, bool new_root);
  Result<void> activateLocked(Authority& next);
  Result<Root*> rootForNext(TimePoint now, bool new_root);
  Result<Root*> createRoot(TimePoint now);
  Result<void> publish(const Authority& authority);
  Result<void> loadKeys(Authority& authority);
  void pruneLocked(TimePoint now);
  void publishSnapshot();
  Authority* findLocked(AuthorityStatus status);
  Authority* findByIdLocked(const std::string& id);
  AuthorityInfo infoLocked(const Authority& authority) const;
  // taint() and revoke(): the checks they share (the authority exists and is old), then the
  // action's own checks and changes, then the snapshot, the journal and the callback.
  enum class OldAuthorityAction { kTaint, kRevoke };
  Result<AuthorityInfo> changeOldAuthority(const std::string& authority_id,
                                           OldAuthorityAction action);
  Result<void> taintLocked(Authority& authority);
  Result<void> revokeLocked(Authority& authority);
  void notify();

  CaManagerConfig config_;
  datastore::DataStore& store_;
  KeyManager& keys_;
  std::shared_ptr<const Clock> clock_;

  mutable std::mutex mu_;  // guards everything below
  std::vector<Root> roots_;
  std::vector<Authority> authorities_;  // oldest first
  TimePoint last_prune_{};

  mutable std::mutex snapshot_mu_;
  std::shared_ptr<const SigningCa> current_;
  std::shared_ptr<const JwtKey> current_jwt_;
  std::vector<std::string> tainted_;
  std::function<void()> on_change_;
};

}  // namespace mutual::server
