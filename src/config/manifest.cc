#include "config/manifest.h"

#include <algorithm>
#include <sstream>

#include "base/file.h"

namespace mutual::config {

namespace fs = std::filesystem;

namespace {

bool isLowerAlnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

ObjectMeta parseMeta(const Field& meta) {
  // Fields of ObjectMeta that exports carry; read-only server state mutual ignores.
  meta.allowOnly({"name", "namespace", "labels", "annotations", "creationTimestamp", "uid",
                  "resourceVersion", "generation", "generateName", "managedFields",
                  "ownerReferences", "finalizers", "deletionTimestamp",
                  "deletionGracePeriodSeconds", "selfLink"});
  ObjectMeta out;
  const Field name = meta.require("name");
  out.name = name.nonEmptyString();
  if (!isDns1123Subdomain(out.name)) {
    name.fail("invalid name \"" + out.name +
              "\": must be lowercase letters, digits, '-' and '.', starting and ending with a "
              "letter or digit (a DNS-1123 subdomain, at most 253 characters)");
  }
  const Field ns = meta.get("namespace");
  out.namespace_name = ns.string();
  if (!ns.isNull() && !isDns1123Label(out.namespace_name)) {
    ns.fail("invalid namespace \"" + out.namespace_name +
            "\": must be lowercase letters, digits and '-', starting and ending with a letter "
            "or digit (a DNS-1123 label, at most 63 characters)");
  }
  out.labels = meta.get("labels").stringMap();
  out.annotations = meta.get("annotations").stringMap();
  out.creation_timestamp = meta.get("creationTimestamp").string();
  return out;
}

Manifest parseDocument(const YAML::Node& doc, const std::string& file) {
  const Field root(doc, file);
  if (!doc.IsMap()) {
    root.fail("expected a Kubernetes object (apiVersion, kind, metadata, ...), got " +
              root.describe());
  }
  Manifest out;
  out.node = doc;
  out.location = root.location();
  out.api_version = root.require("apiVersion").nonEmptyString();
  out.kind = root.require("kind").nonEmptyString();
  out.metadata = parseMeta(root.require("metadata"));
  return out;
}

}  // namespace

std::string Manifest::group() const {
  const auto slash = api_version.find('/');
  if (slash == std::string::npos) return {};
  return api_version.substr(0, slash);
}

std::string Manifest::describe() const {
  if (metadata.namespace_name.empty()) return kind + " " + metadata.name;
  return kind + " " + metadata.namespace_name + "/" + metadata.name;
}

bool isDns1123Label(std::string_view name) {
  if (name.empty() || name.size() > 63) return false;
  if (!isLowerAlnum(name.front()) || !isLowerAlnum(name.back())) return false;
  return std::all_of(name.begin(), name.end(), [](char c) { return isLowerAlnum(c) || c == '-'; });
}

bool isDns1123Subdomain(std::string_view name) {
  if (name.empty() || name.size() > 253) return false;
  size_t start = 0;
  while (true) {
    const size_t dot = name.find('.', start);
    const std::string_view part =
        name.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
    if (part.empty() || !isLowerAlnum(part.front()) || !isLowerAlnum(part.back())) return false;
    if (!std::all_of(part.begin(), part.end(),
                     [](char c) { return isLowerAlnum(c) || c == '-'; })) {
      return false;
    }
    if (dot == std::string_view::npos) return true;
    start = dot + 1;
  }
}

Result<std::vector<Manifest>> parseManifests(std::string_view text, const std::string& file) {
  if (auto ok = checkYamlText(text, file); !ok) return fail(ok.error());
  std::vector<YAML::Node> docs;
  try {
    std::istringstream in{std::string(text)};
    docs = YAML::LoadAll(in);
  } catch (const YAML::Exception& e) {
    return fail(yamlSyntaxError(e, file));
  }
  return parseStrict([&] {
    std::vector<Manifest> out;
    for (const auto& doc : docs) {
      if (!doc.IsDefined() || doc.IsNull()) continue;
      out.push_back(parseDocument(doc, file));
    }
    return out;
  });
}

Result<std::vector<fs::path>> manifestFiles(const std::vector<fs::path>& paths) {
  std::vector<fs::path> out;
  for (const auto& path : paths) {
    std::error_code ec;
    const auto status = fs::status(path, ec);
    if (ec || !fs::exists(status)) {
      return fail(Code::kNotFound, path.string() + ": no such file or directory");
    }
    if (!fs::is_directory(status)) {
      out.push_back(path);
      continue;
    }
    std::vector<fs::path> found;
    for (const auto& entry : fs::directory_iterator(path, ec)) {
      const auto ext = entry.path().extension();
      if ((ext == ".yaml" || ext == ".yml" || ext == ".json") && !entry.is_directory()) {
        found.push_back(entry.path());
      }
    }
    if (ec) return fail(Code::kPermissionDenied, path.string() + ": " + ec.message());
    if (found.empty()) {
      return invalidArgument(path.string() + ": no manifests (*.yaml, *.yml, *.json) in folder");
    }
    std::sort(found.begin(), found.end());
    out.insert(out.end(), found.begin(), found.end());
  }
  return out;
}

Result<std::vector<Manifest>> loadManifests(const std::vector<fs::path>& paths) {
  auto files = manifestFiles(paths);
  if (!files) return fail(files.error());
  std::vector<Manifest> out;
  for (const auto& file : *files) {
    std::error_code ec;
    const auto size = fs::file_size(file, ec);
    if (!ec && size > kMaxManifestBytes) {
      return invalidArgument(file.string() + ": larger than " +
                             std::to_string(kMaxManifestBytes >> 20) + " MiB; not a manifest?");
    }
    auto text = readFile(file);
    if (!text) return fail(text.error());
    auto manifests = parseManifests(*text, file.string());
    if (!manifests) return fail(manifests.error());
    out.insert(out.end(), std::make_move_iterator(manifests->begin()),
               std::make_move_iterator(manifests->end()));
  }
  return out;
}

}  // namespace mutual::config
