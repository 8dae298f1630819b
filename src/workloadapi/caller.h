#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "base/error.h"

// Who is calling the Workload API: the kernel's peer credentials of the unix socket
// (SO_PEERCRED, taken when the process called connect()) and what procfs says about that
// process. This is the attestation data the agent's workload attestors select on.
namespace mutual::workloadapi {

struct Caller {
  pid_t pid = 0;  // 0 when the peer is in a pid namespace we cannot see
  uid_t uid = 0;
  gid_t gid = 0;
  std::string binary_path;  // readlink /proc/PID/exe; "" when unreadable (another user's
                            // process without ptrace rights, or a kernel thread)
  std::string user_name;    // getpwuid_r; "" when the uid has no passwd entry
  std::string group_name;   // getgrgid_r; "" when the gid has no group entry
  // Field 22 of /proc/PID/stat (clock ticks after boot): with the pid, names one process
  // across pid reuse. 0 when unknown (the process had already exited).
  uint64_t start_time = 0;
};

// The peer credentials of a connected unix socket plus the procfs facts of the peer process.
// Errors only when the socket gives no credentials; missing procfs facts leave fields empty.
Result<Caller> callerFromSocket(int fd);

// The procfs and name-service facts of `pid`, with the given credentials.
Caller describeProcess(pid_t pid, uid_t uid, gid_t gid);

// Field 22 (starttime) of /proc/PID/stat. NotFound when the process does not exist.
Result<uint64_t> processStartTime(pid_t pid);
// Parses the text of /proc/PID/stat (the command name may hold spaces and parentheses).
Result<uint64_t> parseStartTime(std::string_view stat);

// Whether the process that connected is still the one behind caller.pid: it exists and its
// start time is the recorded one. Unavailable "workload attestation failed: ..." otherwise.
Result<void> recheckCaller(const Caller& caller);

}  // namespace mutual::workloadapi
