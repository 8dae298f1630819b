#pragma once

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "admin/health_listener.h"
#include "agent/cache.h"
#include "base/clock.h"
#include "base/file.h"
#include "config/spire_conf.h"
#include "server/node_client.h"
#include "workloadapi/server.h"

namespace mutual::agent {

// SVIDs asked for per SignX509Svids call. The server refuses calls of more than 1,000
// (node_service.cc), so an agent with more entries due at once must split them; smaller calls
// also bound each call's time (500 SVIDs take ~0.1 s of the server's CPU).
inline constexpr size_t kSvidsPerCall = 500;

// [begin, end) index ranges cutting `count` requests into calls of at most `per_call` (> 0),
// in order; empty for count 0.
std::vector<std::pair<size_t, size_t>> callRanges(size_t count, size_t per_call);

// The node agent (`mutual agent run -c agent.conf`). One control thread: attest (join token or
// x509pop) unless a valid node SVID is already on disk (KeyManager "disk"), then sync entries
// and bundles every `sync_interval`, sign an X509-SVID for each entry that has none, is at
// half-life (with jitter), was signed for other certificate fields or by a tainted authority,
// renew its own SVID at half-life; on any failure keep serving what the cache holds and retry
// with backoff. A node SVID that expired, or that the server refuses (an evicted agent), is
// dropped and the node attests again. The Workload API is served from the cache throughout.
class Agent {
 public:
  // What `agent validate` and the start of `agent run` check of the files agent.conf names
  // (relative to `base_dir`): trust_bundle_path holds PEM certificates (unless
  // insecure_bootstrap; skipped when `with_trust_bundle` is false), x509pop's certificate_path
  // holds PEM certificates and private_key_path a private key. One message per problem, each
  // "<agent.conf>:<line>: <field>: <what is wrong>"; empty when all is well.
  static std::vector<std::string> checkFiles(const config::spire::AgentConf& conf,
                                             const std::string& base_dir,
                                             bool with_trust_bundle = true);

  struct Options {
    std::chrono::milliseconds sync_interval{5000};
    std::string base_dir;  // agent.conf's folder: relative paths resolve against it
  };

  static Result<std::unique_ptr<Agent>> start(config::spire::AgentConf conf, Options options);
  ~Agent();
  void stop();

  Cache& cache() { return *cache_; }
  const std::string& socketPath() const { return socket_path_; }
  // The agent's own SPIFFE ID once attested ("" before).
  std::string agentId() const;
  // Ready once the Workload API serves (synced with the server at least once; then it stays
  // ready while the server is away, serving what it holds, as SPIRE's agent does). Otherwise
  // false, with the reason (the last failure to sync) in `why`.
  bool ready(std::string& why) const;
  // "host:port" of the health_checks listener ("" when not enabled).
  std::string healthAddress() const;

 private:
  Agent(config::spire::AgentConf conf, Options options);
  void run();
  Result<void> ensureNodeSvid();
  Result<void> syncOnce();
  // Where the node SVID and its key are kept: KeyManager "disk"'s directory; "" for "memory"
  // (never written: a restarted agent attests again, as in SPIRE).
  std::string nodeSvidDir() const;
  // Forgets the node SVID (memory and nodeSvidDir) the server refused or that expired, so that
  // the next ensureNodeSvid attests again; logs `why` and whether a new join token is needed.
  void dropNodeSvid(const std::string& why);
  // Makes `roots` (the server's bundle, from an attestation, renewal or sync) the bundle the
  // server is verified with, in memory and in data_dir/bundle.pem; an empty set is ignored.
  void keepTrustBundle(std::vector<crypto::Certificate> roots);
  std::string path(const std::string& p) const;

  config::spire::AgentConf conf_;
  Options options_;
  std::optional<FileLock> data_dir_lock_;  // data_dir/agent.lock, for the agent's life
  RealClock clock_;
  spiffe::TrustDomain trust_domain_;
  std::unique_ptr<Cache> cache_;
  std::unique_ptr<workloadapi::WorkloadApiServer> api_;
  std::unique_ptr<admin::HealthListener> health_;
  std::string socket_path_;

  mutable std::mutex mu_;
  std::vector<crypto::Certificate> trust_bundle_;
  std::string trust_bundle_file_;  // where trust_bundle_ was read or saved ("": none yet)
  std::vector<crypto::Certificate> node_chain_;
  std::shared_ptr<const crypto::PrivateKey> node_key_;
  std::string agent_id_;
  std::unique_ptr<server::NodeClient> client_;
  bool client_stale_ = false;  // made with a trust bundle that has changed since
  std::string last_sync_error_;  // "" after a successful sync

  std::thread thread_;
  std::mutex stop_mu_;
  std::condition_variable stop_cv_;
  bool stopping_ = false;
};

}  // namespace mutual::agent
