#pragma once

#include <set>
#include <string>
#include <vector>

#include "workloadapi/caller.h"

// Workload attestation for the agent: what SPIRE's "unix" WorkloadAttestor derives from a
// Workload API caller, and which registration entries those selectors entitle it to.
namespace mutual::agent {

struct UnixAttestorOptions {
  bool discover_workload_path = false;  // add unix:path:<binary> (SPIRE's option of that name)
};

// SPIRE's unix selectors in their text form "unix:<key>:<value>": uid, user, gid, group, each
// supplementary_gid and supplementary_group (from /proc/PID/status), and path when asked for.
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
