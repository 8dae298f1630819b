#pragma once

#include <set>
#include <string>
#include <vector>

#include "workloadapi/caller.h"

// Workload attestation for the agent: what SPIRE's "unix" WorkloadAttestor derives from a
// Workload API caller, and which registration entries those selectors entitle it to.
namespace mutual::agent {

struct UnixAttestorOptions {
  // Add unix:path:<binary> and unix:sha256:<hex of the binary> (SPIRE's option of that name).
  bool discover_workload_path = false;
  // Largest binary hashed for unix:sha256, in bytes: 0 no limit, negative never (SPIRE's). A
  // larger binary gets no sha256 selector, so entries that ask for one do not match it.
  int64_t workload_size_limit = 0;
};

// SPIRE's unix selectors in their text form "unix:<key>:<value>": uid, user, gid, group, each
// supplementary_gid and supplementary_group (from /proc/PID/status), and path and sha256 when
// asked for. The binary is read through /proc/PID/exe (the running image, even if the file was
// replaced since); the caller's re-check after attestation refuses a pid reused meanwhile.
// Names are left out when the caller's uid or gid has no passwd or group entry.
std::set<std::string> unixSelectors(const workloadapi::Caller& caller,
                                    const UnixAttestorOptions& options);

// The supplementary group ids on the "Groups:" line of /proc/PID/status text.
std::vector<unsigned> parseSupplementaryGroups(const std::string& status_text);

// SPIRE's matching rule: an entry applies to a workload when every one of the entry's
// selectors is among the workload's (the entry's set is a subset). An entry without
// selectors matches nothing.
bool entryMatches(const std::vector<std::string>& entry_selectors,
                  const std::set<std::string>& workload_selectors);

}  // namespace mutual::agent
