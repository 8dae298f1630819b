#pragma once

#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "base/error.h"
#include "crypto/key.h"

// Where the server's CA and JWT keys live, as SPIRE's KeyManager plugins: "memory" keeps them
// in the process (a restart loses them and the CA manager prepares new authorities), "disk"
// keeps them in one JSON file (`keys_path`, mode 0600) so a restart resumes with the same CA.
namespace mutual::server {

class KeyManager {
 public:
  virtual ~KeyManager() = default;
  // "memory" or "disk".
  virtual std::string_view kind() const = 0;
  // Generates a key of `type` under `id`, replacing any key with that id, and returns it.
  // For "disk" the key is on disk before this returns.
  virtual Result<std::shared_ptr<const crypto::PrivateKey>> generate(const std::string& id,
                                                                     crypto::KeyType type) = 0;
  // The key under `id`; NotFound when there is none (for "memory", after every restart).
  virtual Result<std::shared_ptr<const crypto::PrivateKey>> get(const std::string& id) = 0;
  // Forgets a key; no error when absent.
  virtual Result<void> remove(const std::string& id) = 0;
};

std::unique_ptr<KeyManager> makeMemoryKeyManager();

// Loads `path` when it exists: a JSON object {"keys": {"<id>": "<PKCS#8 PEM>", ...}}. Errors
// name the file: unreadable, not JSON, a key that does not parse. The file is rewritten
// atomically with mode 0600 on every change; a file readable by others is an error at load.
Result<std::unique_ptr<KeyManager>> makeDiskKeyManager(const std::filesystem::path& path);

}  // namespace mutual::server
