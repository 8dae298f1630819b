#include "config/yaml_field.h"

#include <gtest/gtest.h>

namespace mutual::config {
namespace {

Field parse(const std::string& yaml) { return Field(YAML::Load(yaml), "f.yaml"); }

// Runs `body` and returns the FieldError message, or "" when it did not throw.
template <typename F>
std::string errorOf(F&& body) {
  try {
    body();
  } catch (const FieldError& e) {
    EXPECT_EQ(e.error().code, Code::kInvalidArgument);
    return e.error().message;
  }
  return "";
}

TEST(LocationTest, FormatsFileAndLine) {
  EXPECT_EQ((Location{"a.yaml", 3}).str(), "a.yaml:3");
  EXPECT_EQ((Location{"a.yaml", 0}).str(), "a.yaml");
  EXPECT_EQ(fieldError({"a.yaml", 3}, "spec.x", "bad").message, "a.yaml:3: spec.x: bad");
  EXPECT_EQ(fieldError({"a.yaml", 3}, "", "bad").message, "a.yaml:3: bad");
}

struct ScalarCase {
  std::string value;     // YAML text after "v: "
  std::string accessor;  // string | boolean | integer | strings | map
  std::string want;      // expected value rendered, or "error: <substring>"
};

class ScalarTest : public testing::TestWithParam<ScalarCase> {};

TEST_P(ScalarTest, TypesLikeKubernetes) {
  const auto& c = GetParam();
  const Field v = parse("x: 1\nv: " + c.value + "\n").get("v");
  std::string got;
  const std::string err = errorOf([&] {
    if (c.accessor == "string") got = v.string();
    if (c.accessor == "boolean") got = v.boolean() ? "true" : "false";
    if (c.accessor == "integer") got = std::to_string(v.integer());
    if (c.accessor == "strings") {
      for (const auto& s : v.strings()) got += s + ",";
    }
    if (c.accessor == "map") {
      for (const auto& [k, s] : v.stringMap()) got += k + "=" + s + ",";
    }
  });
  if (c.want.rfind("error: ", 0) == 0) {
    EXPECT_NE(err, "") << "value " << c.value;
    EXPECT_NE(err.find(c.want.substr(7)), std::string::npos) << err;
    EXPECT_EQ(err.rfind("f.yaml:2: v", 0), 0u) << err;
  } else {
    EXPECT_EQ(err, "");
    EXPECT_EQ(got, c.want);
  }
}

INSTANTIATE_TEST_SUITE_P(
    Scalars, ScalarTest,
    testing::Values(
        ScalarCase{"hello", "string", "hello"}, ScalarCase{"\"123\"", "string", "123"},
        ScalarCase{"'true'", "string", "true"}, ScalarCase{"!!str 12", "string", "12"},
        ScalarCase{"24h", "string", "24h"}, ScalarCase{"~", "string", ""},
        ScalarCase{"", "string", ""}, ScalarCase{"|\n  block", "string", "block\n"},
        ScalarCase{"123", "string", "error: got the number 123; quote it"},
        ScalarCase{"1.5", "string", "error: got the number 1.5"},
        ScalarCase{"true", "string", "error: got the boolean true"},
        ScalarCase{"yes", "string", "error: a boolean to Kubernetes"},
        ScalarCase{"[a]", "string", "error: expected a string, got a list"},
        ScalarCase{"{a: b}", "string", "error: expected a string, got an object"},
        ScalarCase{"!custom x", "string", "error: tagged !custom"},
        ScalarCase{"true", "boolean", "true"}, ScalarCase{"False", "boolean", "false"},
        ScalarCase{"\"true\"", "boolean", "error: expected true or false, got the string"},
        ScalarCase{"yes", "boolean", "error: expected true or false"},
        ScalarCase{"1", "boolean", "error: expected true or false, got the number 1"},
        ScalarCase{"256", "integer", "256"}, ScalarCase{"-3", "integer", "-3"},
        ScalarCase{"0x10", "integer", "16"}, ScalarCase{"0o10", "integer", "8"},
        ScalarCase{"\"256\"", "integer", "error: expected an integer, got the string"},
        ScalarCase{"2.5", "integer", "error: expected an integer"},
        ScalarCase{"99999999999999999999", "integer", "error: out of range"},
        ScalarCase{"[a, b]", "strings", "a,b,"}, ScalarCase{"[]", "strings", ""},
        ScalarCase{"", "strings", ""},
        ScalarCase{"a", "strings", "error: expected a list of strings, got the string"},
        ScalarCase{"{a: b, c: d}", "map", "a=b,c=d,"},
        ScalarCase{"[a]", "map", "error: expected an object of string values, got a list"}));

TEST(FieldTest, ItemErrorsNameTheIndexAndLine) {
  const Field v = parse("v:\n  - a\n  - 7\n").get("v");
  EXPECT_EQ(errorOf([&] { v.strings(); }),
            "f.yaml:3: v[1]: expected a string, got the number 7; quote it to make it a string");
}

TEST(FieldTest, MapEntryErrorsUseBrackets) {
  const Field v = parse("labels:\n  app: web\n  tier: 3\n").get("labels");
  EXPECT_EQ(errorOf([&] { v.stringMap(); }).substr(0, 28), "f.yaml:3: labels[tier]: expe");
}

TEST(FieldTest, UnknownFieldSuggestsTheClosestName) {
  const Field spec = parse("spec:\n  dnsName: [a]\n").get("spec");
  EXPECT_EQ(errorOf([&] {
              spec.allowOnly({"dnsNames", "uris"});
            }),
            "f.yaml:2: spec.dnsName: unknown field (did you mean \"dnsNames\"?)");
  const Field other = parse("spec:\n  zzzzzzzz: 1\n").get("spec");
  EXPECT_EQ(errorOf([&] {
              other.allowOnly({"dnsNames", "uris"});
            }),
            "f.yaml:2: spec.zzzzzzzz: unknown field (known fields: dnsNames, uris)");
}

TEST(FieldTest, DuplicateKeysAreErrors) {
  const Field root = parse("a: 1\nb: 2\na: 3\n");
  EXPECT_EQ(errorOf([&] {
              root.allowOnly({"a", "b"});
            }),
            "f.yaml:3: a: duplicate field (first set at line 1)");
  const Field labels = parse("l:\n  x: a\n  x: b\n").get("l");
  EXPECT_NE(errorOf([&] { labels.entries(); }).find("f.yaml:3: l[x]: duplicate key"),
            std::string::npos);
}

TEST(FieldTest, RequireNamesTheMissingFieldAtTheParent) {
  const Field spec = parse("x: 1\nspec:\n  a: 1\n").get("spec");
  EXPECT_EQ(errorOf([&] { spec.require("secretName"); }),
            "f.yaml:2: spec.secretName: required field is missing");
  const Field empty = parse("spec:\n  secretName:\n").get("spec");
  EXPECT_EQ(errorOf([&] { empty.require("secretName"); }),
            "f.yaml:2: spec.secretName: required field is missing");
}

TEST(FieldTest, AbsentAndNullAreNull) {
  const Field root = parse("a: ~\nb: null\nc:\nd: {}\ne: []\nf: \"\"\n");
  EXPECT_TRUE(root.get("a").isNull());
  EXPECT_TRUE(root.get("b").isNull());
  EXPECT_TRUE(root.get("c").isNull());
  EXPECT_TRUE(root.get("missing").isNull());
  EXPECT_FALSE(root.get("d").isNull());
  EXPECT_FALSE(root.get("e").isNull());
  EXPECT_FALSE(root.get("f").isNull());
  EXPECT_EQ(root.get("f").string(), "");
}

TEST(FieldTest, GetOnAScalarFails) {
  const Field spec = parse("spec: 5\n").get("spec");
  EXPECT_EQ(errorOf([&] { spec.get("x"); }),
            "f.yaml:1: spec: expected an object, got the number 5");
}

TEST(FieldTest, NonScalarKeysAreRefused) {
  const Field root = parse("? [a]\n: b\n");
  EXPECT_NE(errorOf([&] { root.allowOnly({"a"}); }).find("object keys must be strings"),
            std::string::npos);
}

TEST(FieldTest, ParseStrictTurnsThrowsIntoResults) {
  const auto ok = parseStrict([] { return 1; });
  ASSERT_TRUE(ok);
  EXPECT_EQ(*ok, 1);
  const auto bad = parseStrict([]() -> int { parse("a: 1\n").get("a").fail("nope"); });
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().message, "f.yaml:1: a: nope");
}

TEST(YamlTest, ReadsAsPlainString) {
  for (const char* s : {"abc", "LS0tLS1CRUdJTg==", "my-service.default", "a/b+c", "24h"}) {
    EXPECT_TRUE(readsAsPlainString(s)) << s;
  }
  for (const char* s : {"", "123", "1.5", "1e5", "true", "yes", "No", "null", "a b", "a:b", "-x",
                        "#x", "\"", "0x1f"}) {
    EXPECT_FALSE(readsAsPlainString(s)) << s;
  }
}

TEST(YamlTest, EditDistance) {
  EXPECT_EQ(editDistance("", ""), 0u);
  EXPECT_EQ(editDistance("dnsName", "dnsNames"), 1u);
  EXPECT_EQ(editDistance("kitten", "sitting"), 3u);
}

TEST(CheckYamlTextTest, RefusesWhatYamlCppWouldNotCheck) {
  EXPECT_TRUE(checkYamlText("a: 1\nb: \"x\ty\"\r\n---\nc: 2\n", "f.yaml"));
  auto control = checkYamlText("a: 1\nb: \x1b[0m\n", "f.yaml");
  ASSERT_FALSE(control);
  EXPECT_EQ(control.error().message,
            "f.yaml:2: invalid YAML: control character 0x1b is not allowed (is this a binary "
            "file?)");
  EXPECT_EQ(control.error().reason, "invalid_yaml");
  // A stray top-level "," starts a document that consumes nothing: yaml-cpp 0.7 loops on it.
  auto stuck = checkYamlText("a: 1\n---\n,\n", "f.yaml");
  ASSERT_FALSE(stuck);
  EXPECT_NE(stuck.error().message.find("f.yaml:3:"), std::string::npos) << stuck.error().message;
  EXPECT_NE(stuck.error().message.find("unexpected character outside a flow collection"),
            std::string::npos);
}

TEST(CheckYamlTextTest, OneDocumentWhenAsked) {
  EXPECT_TRUE(checkYamlText("a: 1\n---\nb: 2\n", "f.yaml"));
  EXPECT_TRUE(checkYamlText("a: 1\n---\n# only a comment\n", "p.yaml", "proxy.yaml"));
  auto second = checkYamlText("a: 1\n---\nb: 2\n", "p.yaml", "proxy.yaml");
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error().message,
            "p.yaml:2:1: invalid YAML: proxy.yaml holds one document; found a second one");
}

}  // namespace
}  // namespace mutual::config
