#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/clock.h"
#include "base/duration.h"
#include "base/error.h"
#include "datastore/datastore.h"
#include "server/ca_manager.h"

// The CLI's side of the Admin API (proto/mutual/v1/admin.proto) over the server's unix
// socket, in our own types. Errors carry the server's status code and message; a socket that
// does not exist or does not answer is Unavailable with a message naming the path.
namespace mutual::server {

struct EntryFilter {
  std::string entry_id{};
  std::string spiffe_id{};
  std::string parent_id{};
  std::vector<datastore::Selector> selectors{};
  std::string selector_match{};  // exact (default), subset, superset, any
  std::vector<std::string> federates_with{};
  std::string federates_with_match{};
  std::optional<bool> downstream{};
};

struct JoinTokenInfo {
  std::string token;
  TimePoint expires_at;
  std::string entry_id;  // the alias entry, when a SPIFFE ID was given
};

struct AgentInfo {
  datastore::AttestedNode node;
  std::vector<datastore::Selector> selectors;
};

struct HealthInfo {
  bool healthy = false;
  std::vector<std::string> checks;
  std::string trust_domain;
};

class AdminClient {
 public:
  static Result<std::unique_ptr<AdminClient>> connect(
      const std::string& socket_path, std::chrono::milliseconds timeout = std::chrono::seconds(10));
  ~AdminClient();
  AdminClient(const AdminClient&) = delete;
  AdminClient& operator=(const AdminClient&) = delete;

  Result<datastore::RegistrationEntry> createEntry(const datastore::RegistrationEntry& entry);
  Result<std::vector<datastore::RegistrationEntry>> listEntries(const EntryFilter& filter);
  Result<datastore::RegistrationEntry> updateEntry(const datastore::RegistrationEntry& entry);
  Result<datastore::RegistrationEntry> deleteEntry(const std::string& id);

  Result<JoinTokenInfo> createJoinToken(Seconds ttl, const std::string& spiffe_id);

  Result<datastore::Bundle> getBundle();
  Result<std::vector<datastore::Bundle>> listFederatedBundles();
  Result<datastore::Bundle> setFederatedBundle(const datastore::Bundle& bundle);
  Result<void> deleteFederatedBundle(const std::string& trust_domain, const std::string& mode);

  Result<std::vector<AuthorityInfo>> listAuthorities();
  Result<AuthorityInfo> prepareAuthority(bool new_root);
  Result<AuthorityInfo> activateAuthority(const std::string& authority_id);
  Result<AuthorityInfo> taintAuthority(const std::string& authority_id);
  Result<AuthorityInfo> revokeAuthority(const std::string& authority_id);

  Result<std::vector<AgentInfo>> listAgents();
  Result<AgentInfo> evictAgent(const std::string& spiffe_id);
  Result<AgentInfo> banAgent(const std::string& spiffe_id);

  Result<HealthInfo> healthcheck();

 private:
  struct Impl;
  explicit AdminClient(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace mutual::server
