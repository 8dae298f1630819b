#include "workloadapi/caller.h"

#include <grp.h>
#include <pwd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <fstream>
#include <sstream>
#include <vector>

namespace mutual::workloadapi {

namespace {

std::string procPath(pid_t pid, const char* leaf) {
  return "/proc/" + std::to_string(pid) + "/" + leaf;
}

std::string readLink(const std::string& path) {
  std::vector<char> buf(4096);
  const ssize_t n = ::readlink(path.c_str(), buf.data(), buf.size());
  if (n <= 0 || static_cast<size_t>(n) >= buf.size()) return "";
  return std::string(buf.data(), static_cast<size_t>(n));
}

std::string userName(uid_t uid) {
  std::vector<char> buf(16384);
  struct passwd pw {};
  struct passwd* found = nullptr;
  if (getpwuid_r(uid, &pw, buf.data(), buf.size(), &found) != 0 || found == nullptr) return "";
  return found->pw_name;
}

std::string groupName(gid_t gid) {
  std::vector<char> buf(16384);
  struct group gr {};
  struct group* found = nullptr;
  if (getgrgid_r(gid, &gr, buf.data(), buf.size(), &found) != 0 || found == nullptr) return "";
  return found->gr_name;
}

}  // namespace

Result<uint64_t> parseStartTime(std::string_view stat) {
  // "PID (comm) S ppid ...": comm may hold anything but is closed by the last ')'.
  const size_t close = stat.rfind(')');
  if (close == std::string_view::npos) return invalidArgument("malformed /proc/PID/stat");
  std::string_view rest = stat.substr(close + 1);
  // Fields after comm start at field 3 (state); starttime is field 22.
  int field = 2;
  size_t pos = 0;
  while (pos < rest.size()) {
    while (pos < rest.size() && rest[pos] == ' ') ++pos;
    if (pos >= rest.size()) break;
    size_t end = rest.find(' ', pos);
    if (end == std::string_view::npos) end = rest.size();
    ++field;
    if (field == 22) {
      uint64_t value = 0;
      auto [ptr, ec] = std::from_chars(rest.data() + pos, rest.data() + end, value);
      if (ec != std::errc() || ptr != rest.data() + end) {
        return invalidArgument("malformed starttime in /proc/PID/stat");
      }
      return value;
    }
    pos = end;
  }
  return invalidArgument("/proc/PID/stat has no starttime field");
}

Result<uint64_t> processStartTime(pid_t pid) {
  if (pid <= 0) return fail(Code::kNotFound, "no process id");
  std::ifstream in(procPath(pid, "stat"));
  if (!in) return fail(Code::kNotFound, "process " + std::to_string(pid) + " does not exist");
  std::stringstream text;
  text << in.rdbuf();
  return parseStartTime(text.str());
}

Caller describeProcess(pid_t pid, uid_t uid, gid_t gid) {
  Caller caller;
  caller.pid = pid;
  caller.uid = uid;
  caller.gid = gid;
  caller.user_name = userName(uid);
  caller.group_name = groupName(gid);
  if (pid > 0) {
    // The start time first: if the process is gone by the time we read exe, a pid reused in
    // between gets a different start time and the re-check refuses the caller.
    if (auto start = processStartTime(pid)) caller.start_time = *start;
    caller.binary_path = readLink(procPath(pid, "exe"));
  }
  return caller;
}

Result<Caller> callerFromSocket(int fd) {
  struct ucred cred {};
  socklen_t len = sizeof cred;
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 || len != sizeof cred) {
    return fail(Code::kInternal, std::string("SO_PEERCRED: ") + std::strerror(errno));
  }
  return describeProcess(cred.pid, cred.uid, cred.gid);
}

Result<void> recheckCaller(const Caller& caller) {
  if (caller.pid <= 0) {
    return fail(Code::kUnavailable,
                "workload attestation failed: the caller's process id is not visible (another "
                "pid namespace?)",
                "no_pid");
  }
  if (caller.start_time == 0) {
    return fail(Code::kUnavailable,
                "workload attestation failed: process " + std::to_string(caller.pid) +
                    " exited before it could be attested",
                "caller_exited");
  }
  auto now = processStartTime(caller.pid);
  if (!now || *now != caller.start_time) {
    return fail(Code::kUnavailable,
                "workload attestation failed: process " + std::to_string(caller.pid) +
                    " that opened the connection has exited",
                "caller_exited");
  }
  return {};
}

}  // namespace mutual::workloadapi
