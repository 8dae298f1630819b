#include "app/control_plane.h"

#include <dlfcn.h>

#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <string>
#include <vector>

namespace mutual::app {
namespace {

std::vector<std::string> candidates() {
  if (const char* path = std::getenv("MUTUAL_CONTROL_MODULE"); path != nullptr && *path != '\0') {
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
    std::error_code ec;
    if (path.find('/') != std::string::npos && !std::filesystem::exists(path, ec)) {
      tried += (tried.empty() ? "" : ", ") + path;
      continue;
    }
    // Never closed: the commands, callbacks and vtables it hands out point into it.
    void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (handle == nullptr) {
      return fail(Code::kFailedPrecondition,
                  "cannot load the control-plane module " + path + ": " + dlerror());
    }
    using Entry = const ControlPlane* (*)();
    auto entry = reinterpret_cast<Entry>(dlsym(handle, "mutual_control_plane"));
    const ControlPlane* table = entry != nullptr ? entry() : nullptr;
    if (table == nullptr || table->abi != kControlPlaneAbi ||
        std::string_view(table->version) != PROJECT_VERSION) {
      return fail(Code::kFailedPrecondition,
                  path + " is not the control-plane module of this build of mutual " +
                      PROJECT_VERSION + "; reinstall both from one build");
    }
    return table;
  }
  return fail(Code::kNotFound,
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
