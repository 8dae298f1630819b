#include "agent/unix_attestor.h"

#include <grp.h>

#include <fstream>
#include <memory>
#include <optional>
#include <sstream>

#include <openssl/evp.h>

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

// Hex SHA-256 of the process's binary; nullopt when unreadable or over `limit` bytes (0: none).
std::optional<std::string> binarySha256(pid_t pid, int64_t limit) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/exe", std::ios::binary);
  if (!in) return std::nullopt;
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  if (!ctx || EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) != 1) return std::nullopt;
  std::vector<char> buffer(1 << 16);
  int64_t total = 0;
  while (in) {
    in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
    const auto n = in.gcount();
    total += n;
    if (limit > 0 && total > limit) return std::nullopt;
    if (n > 0 && EVP_DigestUpdate(ctx.get(), buffer.data(), static_cast<size_t>(n)) != 1) {
      return std::nullopt;
    }
  }
  if (in.bad()) return std::nullopt;
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (EVP_DigestFinal_ex(ctx.get(), digest, &length) != 1) return std::nullopt;
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  for (unsigned int i = 0; i < length; ++i) {
    hex += kHex[digest[i] >> 4];
    hex += kHex[digest[i] & 0xf];
  }
  return hex;
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
    if (caller.pid > 0 && options.workload_size_limit >= 0) {
      if (auto digest = binarySha256(caller.pid, options.workload_size_limit)) {
        selectors.insert("unix:sha256:" + *digest);
      }
    }
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
