#pragma once

#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "base/error.h"
#include "config/yaml_field.h"

namespace mutual::config {

// The Kubernetes ObjectMeta fields mutual reads. Other standard ObjectMeta fields that
// `kubectl get -o yaml` prints (uid, resourceVersion, generation, managedFields, ...) are
// accepted and ignored; anything else under metadata is an unknown-field error.
struct ObjectMeta {
  std::string name;
  std::string namespace_name;  // as written; "" when absent (typed parsers apply defaults)
  std::map<std::string, std::string> labels;
  std::map<std::string, std::string> annotations;
  std::string creation_timestamp;  // as written; "" when absent or null
};

// One Kubernetes-style document: the generic envelope every typed parser starts from
// (Certificate today; PeerAuthentication, DestinationRule, ... later).
struct Manifest {
  std::string api_version;
  std::string kind;
  ObjectMeta metadata;
  YAML::Node node;    // the whole document
  Location location;  // the file as named by the user, and the document's first line

  // A strict view of the whole document, for typed parsers.
  Field root() const { return Field(node, location.file); }
  // The API group: "cert-manager.io" for "cert-manager.io/v1", "" for the core "v1".
  std::string group() const;
  // "Certificate default/my-service-tls", or "ClusterIssuer ca-issuer" without a namespace.
  std::string describe() const;
};

// Parses a YAML text of one or more documents separated by `---`. Documents that are empty or
// only comments are skipped. Every document must be an object with string `apiVersion` and
// `kind` and a `metadata.name` that is a DNS-1123 subdomain; `metadata.namespace`, when set, a
// DNS-1123 label. Malformed YAML is an InvalidArgument error "<file>:<line>: invalid YAML: ..."
// with the line yaml-cpp reports.
Result<std::vector<Manifest>> parseManifests(std::string_view text, const std::string& file);

// The files `loadManifests` reads for `paths`: a file as is; a folder's *.yaml, *.yml and
// *.json files (not recursive, sorted by name, like `kubectl apply -f DIR`). NotFound for a
// path that does not exist; an InvalidArgument error for a folder without manifests.
Result<std::vector<std::filesystem::path>> manifestFiles(
    const std::vector<std::filesystem::path>& paths);

// Reads and parses every manifest in `paths` (see manifestFiles), in order.
Result<std::vector<Manifest>> loadManifests(const std::vector<std::filesystem::path>& paths);

// Kubernetes name rules. A DNS-1123 subdomain: at most 253 characters of [a-z0-9-.], each
// dot-separated part starting and ending with [a-z0-9]. A DNS-1123 label: at most 63
// characters of [a-z0-9-], starting and ending with [a-z0-9]. Neither can be "." or "..", so
// both are safe as a single path component.
bool isDns1123Subdomain(std::string_view name);
bool isDns1123Label(std::string_view name);

// The largest manifest file mutual reads (a guard against reading a wrong, huge file).
inline constexpr size_t kMaxManifestBytes = 8 << 20;

}  // namespace mutual::config
