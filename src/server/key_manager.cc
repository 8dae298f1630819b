#include "server/key_manager.h"

#include <sys/stat.h>

#include <nlohmann/json.hpp>

#include "base/file.h"

namespace mutual::server {

namespace {

using KeyPtr = std::shared_ptr<const crypto::PrivateKey>;

class MemoryKeyManager final : public KeyManager {
 public:
  std::string_view kind() const override { return "memory"; }

  Result<KeyPtr> generate(const std::string& id, crypto::KeyType type) override {
    auto key = crypto::PrivateKey::generate(type);
    if (!key) return fail(key.error());
    auto shared = std::make_shared<const crypto::PrivateKey>(std::move(*key));
    std::lock_guard lock(mu_);
    keys_[id] = shared;
    return KeyPtr(shared);
  }

  Result<KeyPtr> get(const std::string& id) override {
    std::lock_guard lock(mu_);
    auto it = keys_.find(id);
    if (it == keys_.end()) return fail(Code::kNotFound, "no key \"" + id + "\" in memory");
    return it->second;
  }

  Result<void> remove(const std::string& id) override {
    std::lock_guard lock(mu_);
    keys_.erase(id);
    return {};
  }

 private:
  std::mutex mu_;
  std::map<std::string, KeyPtr> keys_;
};

class DiskKeyManager final : public KeyManager {
 public:
  explicit DiskKeyManager(std::filesystem::path path) : path_(std::move(path)) {}

  std::string_view kind() const override { return "disk"; }

  Result<void> load() {
    std::error_code ec;
    if (!std::filesystem::exists(path_, ec)) return {};
    struct stat st {};
    if (::stat(path_.c_str(), &st) == 0 && (st.st_mode & 0077) != 0) {
      return fail(Code::kFailedPrecondition,
                  path_.string() + ": key file is readable by others (mode " +
                      std::to_string((st.st_mode >> 6) & 7) +
                      std::to_string((st.st_mode >> 3) & 7) + std::to_string(st.st_mode & 7) +
                      "); chmod 600 it");
    }
    auto text = readFile(path_);
    if (!text) return fail(text.error());
    auto json = nlohmann::json::parse(*text, nullptr, false);
    if (json.is_discarded() || !json.is_object() || !json.contains("keys") ||
        !json["keys"].is_object()) {
      return invalidArgument(path_.string() + ": not a key file (expected {\"keys\": {...}})");
    }
    for (const auto& [id, pem] : json["keys"].items()) {
      if (!pem.is_string())
        return invalidArgument(path_.string() + ": keys." + id + ": not a PEM string");
      auto key = crypto::PrivateKey::fromPem(pem.get<std::string>());
      if (!key) return fail(key.error().prefix(path_.string() + ": keys." + id));
      pems_[id] = pem.get<std::string>();
      keys_[id] = std::make_shared<const crypto::PrivateKey>(std::move(*key));
    }
    return {};
  }

  Result<KeyPtr> generate(const std::string& id, crypto::KeyType type) override {
    auto key = crypto::PrivateKey::generate(type);
    if (!key) return fail(key.error());
    auto pem = key->toPkcs8Pem();
    if (!pem) return fail(pem.error());
    auto shared = std::make_shared<const crypto::PrivateKey>(std::move(*key));
    std::lock_guard lock(mu_);
    auto pems = pems_;
    pems[id] = *pem;
    if (auto ok = save(pems); !ok) return fail(ok.error());
    pems_ = std::move(pems);
    keys_[id] = shared;
    return KeyPtr(shared);
  }

  Result<KeyPtr> get(const std::string& id) override {
    std::lock_guard lock(mu_);
    auto it = keys_.find(id);
    if (it == keys_.end()) {
      return fail(Code::kNotFound, "no key \"" + id + "\" in " + path_.string());
    }
    return it->second;
  }

  Result<void> remove(const std::string& id) override {
    std::lock_guard lock(mu_);
    if (pems_.count(id) == 0) return {};
    auto pems = pems_;
    pems.erase(id);
    if (auto ok = save(pems); !ok) return ok;
    pems_ = std::move(pems);
    keys_.erase(id);
    return {};
  }

 private:
  Result<void> save(const std::map<std::string, std::string>& pems) {
    nlohmann::json json;
    json["keys"] = nlohmann::json::object();
    for (const auto& [id, pem] : pems) json["keys"][id] = pem;
    return writeFileAtomic(path_, json.dump(2) + "\n", kPrivateKeyMode);
  }

  std::filesystem::path path_;
  std::mutex mu_;
  std::map<std::string, std::string> pems_;
  std::map<std::string, KeyPtr> keys_;
};

}  // namespace

std::unique_ptr<KeyManager> makeMemoryKeyManager() { return std::make_unique<MemoryKeyManager>(); }

Result<std::unique_ptr<KeyManager>> makeDiskKeyManager(const std::filesystem::path& path) {
  auto manager = std::make_unique<DiskKeyManager>(path);
  if (auto ok = manager->load(); !ok) return fail(ok.error());
  return std::unique_ptr<KeyManager>(std::move(manager));
}

}  // namespace mutual::server
