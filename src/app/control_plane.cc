#include "app/control_plane.h"

#include <dlfcn.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <string>
#include <vector>

namespace mutual::app {
namespace {

std::vector<std::string> candidates() {
  // secure_getenv: the variable chooses code to run, so it is ignored in a setuid or
  // file-capability process.
  if (const char* path = secure_getenv("MUTUAL_CONTROL_MODULE"); path != nullptr && *path != '\0') {
    return {path};
  }
  std::error_code ec;
  const auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) return {"mutual-control.so"};  // the loader's own search path
  const auto dir = exe.parent_path();
  return {(dir / "mutual-control.so").string(),
          (dir.parent_path() / "lib" / "mutual" / "mutual-control.so").string()};
}

Result<const ControlPlane*> load() {
  std::string tried;
  for (const auto& path : candidates()) {
    if (path.find('/') != std::string::npos && ::access(path.c_str(), F_OK) != 0 &&
        errno == ENOENT) {
      tried += (tried.empty() ? "" : ", ") + path;
      continue;
    }
    void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (handle == nullptr) {
      return fail(Code::kInternal,
                  "cannot load the control-plane module " + path + ": " + dlerror());
    }
    using Entry = const ControlPlane* (*)();
    auto entry = reinterpret_cast<Entry>(dlsym(handle, "mutual_control_plane"));
    const ControlPlane* table = entry != nullptr ? entry() : nullptr;
    if (table == nullptr || table->abi != kControlPlaneAbi ||
        std::string_view(table->build_id) != MUTUAL_BUILD_ID) {
      dlclose(handle);
      return fail(Code::kInternal, path +
                                       " is not the control-plane module of this build of mutual " +
                                       PROJECT_VERSION + " (build " + MUTUAL_BUILD_ID +
                                       "); install the binary and the module from one build");
    }
    // Kept open for good: the commands, callbacks and vtables it hands out point into it.
    return table;
  }
  return fail(Code::kUnavailable,
              "the control-plane module (mutual-control.so) is not installed; looked at " + tried +
                  ". `server`, `agent` and credentials.workload_api need it; set "
                  "MUTUAL_CONTROL_MODULE to its path if it lives elsewhere");
}

}  // namespace

Result<const ControlPlane*> loadControlPlane() {
  static std::once_flag once;
  static Result<const ControlPlane*> loaded = fail(Code::kInternal, "not loaded");
  std::call_once(once, [] { loaded = load(); });
  return loaded;
}

}  // namespace mutual::app
