#include "agent/unix_attestor.h"

#include <grp.h>

#include <fstream>
#include <sstream>

namespace mutual::agent {
namespace {

std::string groupName(unsigned gid) {
  struct group entry{};
  struct group* found = nullptr;
  std::vector<char> buffer(4096);
  if (getgrgid_r(gid, &entry, buffer.data(), buffer.size(), &found) != 0 || found == nullptr) {
    return "";
  }
  return entry.gr_name;
}

}  // namespace

std::vector<unsigned> parseSupplementaryGroups(const std::string& status_text) {
  std::vector<unsigned> groups;
  std::istringstream lines(status_text);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.rfind("Groups:", 0) != 0) continue;
    std::istringstream fields(line.substr(7));
    unsigned gid;
    while (fields >> gid) groups.push_back(gid);
    break;
  }
  return groups;
}

std::set<std::string> unixSelectors(const workloadapi::Caller& caller,
                                    const UnixAttestorOptions& options) {
  std::set<std::string> selectors;
  selectors.insert("unix:uid:" + std::to_string(caller.uid));
  selectors.insert("unix:gid:" + std::to_string(caller.gid));
  if (!caller.user_name.empty()) selectors.insert("unix:user:" + caller.user_name);
  if (!caller.group_name.empty()) selectors.insert("unix:group:" + caller.group_name);
  if (caller.pid > 0) {
    std::ifstream status("/proc/" + std::to_string(caller.pid) + "/status");
    std::stringstream text;
    text << status.rdbuf();
    for (unsigned gid : parseSupplementaryGroups(text.str())) {
      selectors.insert("unix:supplementary_gid:" + std::to_string(gid));
      if (auto name = groupName(gid); !name.empty()) {
        selectors.insert("unix:supplementary_group:" + name);
      }
    }
  }
  if (options.discover_workload_path && !caller.binary_path.empty()) {
    selectors.insert("unix:path:" + caller.binary_path);
  }
  return selectors;
}

bool entryMatches(const std::vector<std::string>& entry_selectors,
                  const std::set<std::string>& workload_selectors) {
  if (entry_selectors.empty()) return false;
  for (const auto& selector : entry_selectors) {
    if (workload_selectors.count(selector) == 0) return false;
  }
  return true;
}

}  // namespace mutual::agent
