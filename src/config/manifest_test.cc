#include "config/manifest.h"

#include <gtest/gtest.h>

#include "config/testing.h"

namespace mutual::config {
namespace {

using testing::TempDir;

TEST(ManifestTest, ParsesMultipleDocumentsWithTheirLines) {
  const std::string text =
      "# leading comment\n"               // 1
      "apiVersion: v1\n"                  // 2
      "kind: Secret\n"                    // 3
      "metadata:\n"                       // 4
      "  name: a\n"                       // 5
      "  namespace: ns1\n"                // 6
      "  labels: {app: web}\n"            // 7
      "  annotations: {note: hi}\n"       // 8
      "  creationTimestamp: null\n"       // 9
      "---\n"                             // 10
      "---\n"                             // 11
      "# only a comment\n"                // 12
      "---\n"                             // 13
      "apiVersion: cert-manager.io/v1\n"  // 14
      "kind: ClusterIssuer\n"             // 15
      "metadata: {name: b}\n"             // 16
      "spec: {}\n";                       // 17
  auto manifests = parseManifests(text, "m.yaml");
  ASSERT_TRUE(manifests) << manifests.error().message;
  ASSERT_EQ(manifests->size(), 2u);
  const auto& a = (*manifests)[0];
  EXPECT_EQ(a.api_version, "v1");
  EXPECT_EQ(a.kind, "Secret");
  EXPECT_EQ(a.group(), "");
  EXPECT_EQ(a.metadata.name, "a");
  EXPECT_EQ(a.metadata.namespace_name, "ns1");
  EXPECT_EQ(a.metadata.labels.at("app"), "web");
  EXPECT_EQ(a.metadata.annotations.at("note"), "hi");
  EXPECT_EQ(a.location.str(), "m.yaml:2");
  EXPECT_EQ(a.describe(), "Secret ns1/a");
  const auto& b = (*manifests)[1];
  EXPECT_EQ(b.group(), "cert-manager.io");
  EXPECT_EQ(b.location.str(), "m.yaml:14");
  EXPECT_EQ(b.describe(), "ClusterIssuer b");
  EXPECT_TRUE(b.node["spec"].IsMap());
}

TEST(ManifestTest, EmptyTextHasNoManifests) {
  auto manifests = parseManifests("# nothing\n---\n", "m.yaml");
  ASSERT_TRUE(manifests);
  EXPECT_TRUE(manifests->empty());
}

TEST(ManifestTest, ReadsJson) {
  auto manifests = parseManifests(
      "{\"apiVersion\": \"v1\", \"kind\": \"Secret\",\n \"metadata\": {\"name\": \"x\"}}",
      "m.json");
  ASSERT_TRUE(manifests) << manifests.error().message;
  EXPECT_EQ(manifests->at(0).kind, "Secret");
}

TEST(ManifestTest, IgnoresServerSideMetadata) {
  auto manifests = parseManifests(
      "apiVersion: v1\nkind: Secret\nmetadata:\n  name: x\n  uid: 1b2c\n"
      "  resourceVersion: \"42\"\n  generation: 3\n  managedFields: [{manager: kubectl}]\n",
      "m.yaml");
  EXPECT_TRUE(manifests) << manifests.error().message;
}

struct BadCase {
  std::string name;
  std::string text;
  std::string want;  // the whole message must start with this
};
void PrintTo(const BadCase& c, std::ostream* os) { *os << c.name; }

class BadManifestTest : public ::testing::TestWithParam<BadCase> {};

TEST_P(BadManifestTest, OneClearError) {
  const auto& c = GetParam();
  auto manifests = parseManifests(c.text, "bad.yaml");
  ASSERT_FALSE(manifests) << c.name;
  EXPECT_EQ(manifests.error().code, Code::kInvalidArgument);
  EXPECT_EQ(manifests.error().message.rfind(c.want, 0), 0u)
      << c.name << ": " << manifests.error().message;
}

INSTANTIATE_TEST_SUITE_P(
    Rules, BadManifestTest,
    ::testing::Values(
        BadCase{"malformed flow", "a: 1\nb: [1, 2\nc: 3\n", "bad.yaml:3:2: invalid YAML: "},
        BadCase{"bad indentation", "apiVersion: v1\n  kind: Secret\n",
                "bad.yaml:2:7: invalid YAML: illegal map value"},
        BadCase{"undefined alias", "a: *nope\n", "bad.yaml:1:"},
        BadCase{"not an object", "- a\n- b\n",
                "bad.yaml:1: expected a Kubernetes object (apiVersion, kind, metadata, ...), "
                "got a list"},
        BadCase{"missing apiVersion", "kind: Secret\nmetadata: {name: a}\n",
                "bad.yaml:1: apiVersion: required field is missing"},
        BadCase{"missing kind", "apiVersion: v1\nmetadata: {name: a}\n",
                "bad.yaml:1: kind: required field is missing"},
        BadCase{"kind not a string", "apiVersion: v1\nkind: [Secret]\nmetadata: {name: a}\n",
                "bad.yaml:2: kind: expected a string, got a list"},
        BadCase{"missing metadata", "apiVersion: v1\nkind: Secret\n",
                "bad.yaml:1: metadata: required field is missing"},
        BadCase{"missing name", "apiVersion: v1\nkind: Secret\nmetadata:\n  namespace: a\n",
                "bad.yaml:3: metadata.name: required field is missing"},
        BadCase{"bad name", "apiVersion: v1\nkind: Secret\nmetadata:\n  name: My_Secret\n",
                "bad.yaml:4: metadata.name: invalid name \"My_Secret\""},
        BadCase{"path traversal name", "apiVersion: v1\nkind: Secret\nmetadata:\n  name: ..\n",
                "bad.yaml:4: metadata.name: invalid name \"..\""},
        BadCase{"bad namespace",
                "apiVersion: v1\nkind: Secret\nmetadata:\n  name: a\n  namespace: a.b\n",
                "bad.yaml:5: metadata.namespace: invalid namespace \"a.b\""},
        BadCase{"label not a string",
                "apiVersion: v1\nkind: Secret\nmetadata:\n  name: a\n  labels:\n    n: 1\n",
                "bad.yaml:6: metadata.labels[n]: expected a string, got the number 1"},
        BadCase{"unknown metadata field",
                "apiVersion: v1\nkind: Secret\nmetadata:\n  name: a\n  label: {}\n",
                "bad.yaml:5: metadata.label: unknown field (did you mean \"labels\"?)"},
        BadCase{"second document bad",
                "apiVersion: v1\nkind: Secret\nmetadata: {name: a}\n---\napiVersion: v1\n",
                "bad.yaml:5: kind: required field is missing"}),
    [](const auto& info) {
      std::string name = info.param.name;
      for (auto& c : name) {
        if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
      }
      return name;
    });

TEST(DnsNameTest, Rules) {
  EXPECT_TRUE(isDns1123Subdomain("my-service.default"));
  EXPECT_TRUE(isDns1123Subdomain("a"));
  EXPECT_FALSE(isDns1123Subdomain(""));
  EXPECT_FALSE(isDns1123Subdomain("-a"));
  EXPECT_FALSE(isDns1123Subdomain("a..b"));
  EXPECT_FALSE(isDns1123Subdomain("A"));
  EXPECT_FALSE(isDns1123Subdomain("a/b"));
  EXPECT_FALSE(isDns1123Subdomain(std::string(254, 'a')));
  EXPECT_TRUE(isDns1123Label("cert-manager"));
  EXPECT_FALSE(isDns1123Label("a.b"));
  EXPECT_FALSE(isDns1123Label(std::string(64, 'a')));
}

constexpr char kSecret[] = "apiVersion: v1\nkind: Secret\nmetadata: {name: %}\n";

std::string secretNamed(const std::string& name) {
  std::string text = kSecret;
  text.replace(text.find('%'), 1, name);
  return text;
}

TEST(LoadTest, ReadsFilesAndFoldersInOrder) {
  TempDir dir;
  dir.write("d/b.yaml", secretNamed("b"));
  dir.write("d/a.yml", secretNamed("a"));
  dir.write("d/c.json",
            "{\"apiVersion\": \"v1\", \"kind\": \"Secret\", \"metadata\": "
            "{\"name\": \"c\"}}");
  dir.write("d/README.md", "not yaml: [");
  dir.write("d/sub/x.yaml", secretNamed("x"));
  const auto single = dir.write("single.txt", secretNamed("s"));
  auto manifests = loadManifests({dir.path() / "d", single});
  ASSERT_TRUE(manifests) << manifests.error().message;
  std::vector<std::string> names;
  for (const auto& m : *manifests) names.push_back(m.metadata.name);
  EXPECT_EQ(names, (std::vector<std::string>{"a", "b", "c", "s"}));
  EXPECT_EQ(manifests->front().location.str(), (dir.path() / "d" / "a.yml").string() + ":1");
}

TEST(LoadTest, MissingPathIsNotFound) {
  TempDir dir;
  auto manifests = loadManifests({dir.path() / "nope.yaml"});
  ASSERT_FALSE(manifests);
  EXPECT_EQ(manifests.error().code, Code::kNotFound);
  EXPECT_NE(manifests.error().message.find("nope.yaml"), std::string::npos);
}

TEST(LoadTest, FolderWithoutManifestsIsAnError) {
  TempDir dir;
  dir.write("d/notes.txt", "hi");
  auto manifests = loadManifests({dir.path() / "d"});
  ASSERT_FALSE(manifests);
  EXPECT_NE(manifests.error().message.find("no manifests"), std::string::npos);
}

TEST(LoadTest, ErrorsNameTheFile) {
  TempDir dir;
  const auto file = dir.write("bad.yaml", "apiVersion: v1\nkind: Secret\nmetadata: [\n");
  auto manifests = loadManifests({file});
  ASSERT_FALSE(manifests);
  EXPECT_EQ(manifests.error().message.rfind(file.string() + ":", 0), 0u)
      << manifests.error().message;
  EXPECT_NE(manifests.error().message.find("invalid YAML"), std::string::npos);
}

}  // namespace
}  // namespace mutual::config

namespace mutual::config {
namespace {

TEST(ManifestCharacterSet, ControlCharactersAreRefusedWithTheirLine) {
  // This input sent yaml-cpp 0.7 into an endless loop (fuzz/manifest_fuzz.cc).
  const std::string hang("\x2c\x7f\x00\x00nd\xa5\x0e", 8);
  auto r = parseManifests(hang, "bin.yaml");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Code::kInvalidArgument);
  EXPECT_EQ(r.error().message.rfind("bin.yaml:1: invalid YAML: control character 0x7f", 0), 0u)
      << r.error().message;
  auto second_line = parseManifests("a: 1\nb: \x01\n", "x.yaml");
  ASSERT_FALSE(second_line);
  EXPECT_EQ(second_line.error().message.rfind("x.yaml:2:", 0), 0u) << second_line.error().message;
  // Tabs, CR and LF are fine.
  EXPECT_TRUE(parseManifests("# comment\r\n\t\n", "ok.yaml"));
}

}  // namespace
}  // namespace mutual::config

namespace mutual::config {
namespace {

TEST(ManifestProgress, AStrayTopLevelCommaIsAnErrorNotAHang) {
  // yaml-cpp 0.7's LoadAll loops forever on these (fuzz/manifest_fuzz.cc).
  for (const char* text : {",;ULL\n", ",\n", "apiVersion: v1\n---\n,\n"}) {
    auto r = parseManifests(text, "comma.yaml");
    ASSERT_FALSE(r) << text;
    EXPECT_EQ(r.error().code, Code::kInvalidArgument);
    EXPECT_EQ(r.error().message.rfind("comma.yaml:", 0), 0u) << r.error().message;
  }
}

}  // namespace
}  // namespace mutual::config
