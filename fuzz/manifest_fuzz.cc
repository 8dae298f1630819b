// The manifest loader over arbitrary bytes: YAML parsing, the strict field layer and every
// typed parser (cert-manager kinds, mesh kinds). Invariants: no exception escapes, and every
// rejection is one InvalidArgument error naming the file.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "config/cert_manager.h"
#include "config/manifest.h"
#include "config/mesh.h"
#include "fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const std::string file = "fuzz.yaml";
  auto manifests = mutual::config::parseManifests(text, file);
  if (!manifests) {
    FUZZ_CHECK(manifests.error().code == mutual::Code::kInvalidArgument);
    FUZZ_CHECK(manifests.error().message.rfind(file, 0) == 0);
    return 0;
  }
  auto resources = mutual::config::parseCertManagerResources(*manifests);
  if (!resources) {
    FUZZ_CHECK(resources.error().code == mutual::Code::kInvalidArgument);
    FUZZ_CHECK(!resources.error().message.empty());
  }
  const mutual::config::MeshConfig mesh = mutual::config::parseMeshManifests(*manifests);
  for (const auto& finding : mesh.findings) FUZZ_CHECK(!finding.str().empty());
  return 0;
}
