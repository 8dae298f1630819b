// The HCL parser over arbitrary bytes, then the typed SPIRE server.conf and agent.conf readers
// over the same text. Invariants: no exception escapes; every rejection is one InvalidArgument
// naming the file; a parsed tree keeps every line inside the input and nests no deeper than
// hcl::kMaxDepth.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "config/hcl.h"
#include "config/spire_conf.h"
#include "fuzz_check.h"

namespace {

namespace hcl = mutual::config::hcl;

constexpr char kFile[] = "fuzz.conf";

bool rejected(const mutual::Error& e) {
  return e.code == mutual::Code::kInvalidArgument && e.message.rfind(kFile, 0) == 0;
}

// Checks lines and depth of `v` and everything below it.
void checkTree(const hcl::Value& v, int depth, int lines) {
  FUZZ_CHECK(depth <= hcl::kMaxDepth);
  FUZZ_CHECK(v.line >= (depth == 0 ? 0 : 1) && v.line <= lines);
  FUZZ_CHECK(v.file && *v.file == kFile);
  FUZZ_CHECK(!v.describe().empty());
  for (const auto& item : v.items) {
    FUZZ_CHECK(item.line >= 1 && item.line <= item.value.line);
    FUZZ_CHECK(!item.block || item.value.type == hcl::Value::Type::kObject);
    FUZZ_CHECK(item.labels.empty() || item.block);
    checkTree(item.value,
              depth + (item.value.type == hcl::Value::Type::kObject ||
                               item.value.type == hcl::Value::Type::kList
                           ? 1
                           : 0),
              lines);
  }
  for (const auto& element : v.list) {
    checkTree(element,
              depth + (element.type == hcl::Value::Type::kObject ||
                               element.type == hcl::Value::Type::kList
                           ? 1
                           : 0),
              lines);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const int lines = 1 + static_cast<int>(std::count(text.begin(), text.end(), '\n'));

  auto root = hcl::parse(text, kFile);
  if (!root) {
    FUZZ_CHECK(rejected(root.error()));
  } else {
    FUZZ_CHECK(root->type == hcl::Value::Type::kObject);
    checkTree(*root, 0, lines);
  }

  namespace spire = mutual::config::spire;
  auto server = spire::parseServerConf(text, kFile);
  if (!server) {
    FUZZ_CHECK(rejected(server.error()));
  } else {
    FUZZ_CHECK(root.has_value());
    FUZZ_CHECK(!server->data_dir.empty() && !server->node_attestors.empty());
    FUZZ_CHECK(server->trustDomain().name() == server->trust_domain);
  }
  auto agent = spire::parseAgentConf(text, kFile);
  if (!agent) {
    FUZZ_CHECK(rejected(agent.error()));
  } else {
    FUZZ_CHECK(root.has_value());
    FUZZ_CHECK(!agent->server_address.empty() && !agent->workload_attestors.empty());
    FUZZ_CHECK(agent->insecure_bootstrap != !agent->trust_bundle_path.empty());
  }
  // Environment expansion never grows a text without variables and keeps '$'-free text as is.
  if (text.find('$') == std::string_view::npos) FUZZ_CHECK(spire::expandEnv(text) == text);
  return 0;
}
