#include "config/hcl.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "base/testing.h"

namespace mutual::config::hcl {
namespace {

using mutual::testing::must;

Value parseOk(const std::string& text) { return must(parse(text, "t.hcl")); }

// The single item of a document `key = value`.
const Value& only(const Value& root) {
  EXPECT_EQ(root.items.size(), 1u);
  return root.items.at(0).value;
}

TEST(HclTest, BlocksLabelsAndAttributes) {
  const Value root = parseOk(
      "server {\n"                                       // 1
      "  bind_port = 8081\n"                             // 2
      "  trust_domain = \"example.org\"\n"               // 3
      "}\n"                                              // 4
      "plugins {\n"                                      // 5
      "  DataStore \"sql\" {\n"                          // 6
      "    plugin_data {\n"                              // 7
      "      database_type = \"sqlite3\"\n"              // 8
      "    }\n"                                          // 9
      "  }\n"                                            // 10
      "  NodeAttestor \"a\" \"b\" { enabled = true }\n"  // 11
      "}\n");
  EXPECT_EQ(root.type, Value::Type::kObject);
  EXPECT_EQ(root.line, 0);
  ASSERT_EQ(root.items.size(), 2u);
  const Item& server = root.items[0];
  EXPECT_EQ(server.key, "server");
  EXPECT_TRUE(server.block);
  EXPECT_TRUE(server.labels.empty());
  EXPECT_EQ(server.line, 1);
  ASSERT_EQ(server.value.items.size(), 2u);
  EXPECT_EQ(server.value.items[0].key, "bind_port");
  EXPECT_FALSE(server.value.items[0].block);
  EXPECT_EQ(server.value.items[0].value.type, Value::Type::kInt);
  EXPECT_EQ(server.value.items[0].value.int_value, 8081);
  EXPECT_EQ(server.value.items[0].value.text, "8081");
  EXPECT_EQ(server.value.items[1].value.text, "example.org");
  EXPECT_EQ(server.value.items[1].line, 3);
  EXPECT_EQ(server.value.items[1].value.location().str(), "t.hcl:3");

  const Item& plugins = root.items[1];
  ASSERT_EQ(plugins.value.items.size(), 2u);
  const Item& ds = plugins.value.items[0];
  EXPECT_EQ(ds.key, "DataStore");
  EXPECT_EQ(ds.labels, std::vector<std::string>{"sql"});
  EXPECT_EQ(ds.line, 6);
  const Item& data = ds.value.items.at(0);
  EXPECT_EQ(data.key, "plugin_data");
  EXPECT_EQ(data.value.items.at(0).value.text, "sqlite3");
  EXPECT_EQ(data.value.items.at(0).value.line, 8);
  EXPECT_EQ(*data.value.items.at(0).value.file, "t.hcl");
  const Item& na = plugins.value.items[1];
  EXPECT_EQ(na.labels, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(na.value.items.at(0).value.type, Value::Type::kBool);
  EXPECT_TRUE(na.value.items.at(0).value.bool_value);
}

TEST(HclTest, ObjectsListsAndSeparators) {
  const Value root = parseOk(
      "ca_subject = {\n"
      "  country = [\"US\"],\n"
      "  organization = [\"SPIFFE\", \"Example\",],\n"
      "  common_name = \"\",\n"
      "}\n"
      "empty = []\n"
      "multi = [\n"
      "  1,\n"
      "  -2,\n"
      "  [true, false],\n"
      "  { a = 1 },\n"
      "]\n"
      "a = 1, b = 2 c = 3\n"
      "\"quoted key\" = \"v\"\n"
      "obj = {}\n");
  ASSERT_EQ(root.items.size(), 8u);
  const Value& subject = root.items[0].value;
  EXPECT_FALSE(root.items[0].block);
  ASSERT_EQ(subject.items.size(), 3u);
  EXPECT_EQ(subject.items[1].value.list.size(), 2u);
  EXPECT_EQ(subject.items[1].value.list[1].text, "Example");
  EXPECT_EQ(subject.items[2].value.text, "");
  EXPECT_TRUE(root.items[1].value.list.empty());
  const Value& multi = root.items[2].value;
  EXPECT_EQ(multi.line, 7);
  ASSERT_EQ(multi.list.size(), 4u);
  EXPECT_EQ(multi.list[0].line, 8);
  EXPECT_EQ(multi.list[1].int_value, -2);
  EXPECT_EQ(multi.list[2].list.size(), 2u);
  EXPECT_EQ(multi.list[3].type, Value::Type::kObject);
  EXPECT_EQ(multi.list[3].items.at(0).key, "a");
  EXPECT_EQ(root.items[3].key, "a");
  EXPECT_EQ(root.items[5].key, "c");
  EXPECT_EQ(root.items[5].value.int_value, 3);
  EXPECT_EQ(root.items[6].key, "quoted key");
  EXPECT_TRUE(root.items[7].value.items.empty());
}

TEST(HclTest, RepeatedKeysAreKeptInOrder) {
  const Value root = parseOk("a = 1\nb = 2\na = 3\n");
  ASSERT_EQ(root.items.size(), 3u);
  EXPECT_EQ(root.items[2].key, "a");
  EXPECT_EQ(root.items[2].value.int_value, 3);
}

TEST(HclTest, IdentifiersMayHoldDotsAndDashes) {
  const Value root = parseOk("a.b-c_1 = true\n_x = false\n");
  EXPECT_EQ(root.items.at(0).key, "a.b-c_1");
  EXPECT_EQ(root.items.at(1).key, "_x");
}

TEST(HclTest, Numbers) {
  struct Case {
    std::string literal;
    Value::Type type;
    int64_t int_value;
    double float_value;
  };
  const std::vector<Case> cases = {
      {"0", Value::Type::kInt, 0, 0},
      {"8081", Value::Type::kInt, 8081, 0},
      {"-17", Value::Type::kInt, -17, 0},
      {"0x1F", Value::Type::kInt, 31, 0},
      {"0755", Value::Type::kInt, 493, 0},
      {"9223372036854775807", Value::Type::kInt, INT64_MAX, 0},
      {"-9223372036854775808", Value::Type::kInt, INT64_MIN, 0},
      {"1.5", Value::Type::kFloat, 0, 1.5},
      {"-0.25", Value::Type::kFloat, 0, -0.25},
      {"1e3", Value::Type::kFloat, 0, 1000},
      {"2.5E-1", Value::Type::kFloat, 0, 0.25},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.literal);
    const Value root = parseOk("n = " + c.literal + "\n");
    const Value& v = only(root);
    EXPECT_EQ(v.type, c.type);
    EXPECT_EQ(v.text, c.literal);
    if (c.type == Value::Type::kInt) {
      EXPECT_EQ(v.int_value, c.int_value);
    } else {
      EXPECT_DOUBLE_EQ(v.float_value, c.float_value);
    }
  }
}

TEST(HclTest, StringEscapes) {
  struct Case {
    std::string literal;
    std::string value;
  };
  const std::vector<Case> cases = {
      {R"("plain")", "plain"},
      {R"("")", ""},
      {R"("a\"b")", "a\"b"},
      {R"("back\\slash")", "back\\slash"},
      {R"("line\nbreak\ttab\r")", "line\nbreak\ttab\r"},
      {R"("\a\b\f\v")", "\a\b\f\v"},
      {R"("\101\x42\u00e9\U0001F600")", "AB\xc3\xa9\xf0\x9f\x98\x80"},
      {R"("C:\\spire")", "C:\\spire"},
      {R"("# not a comment // nor this")", "# not a comment // nor this"},
      {R"("utf-8 é")", "utf-8 \xc3\xa9"},
      // Interpolations are kept as written: no unescaping inside, quotes do not end them.
      {R"("${VAR}")", "${VAR}"},
      {R"("pre-${env.HOME}/x")", "pre-${env.HOME}/x"},
      {R"("${lookup(var.m, "k")}")", "${lookup(var.m, \"k\")}"},
      {R"("${a\n}\n")", "${a\\n}\n"},
      {R"("${a{b}c}d")", "${a{b}c}d"},
      {R"("$VAR and $ alone")", "$VAR and $ alone"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.literal);
    const Value root = parseOk("s = " + c.literal + "\n");
    EXPECT_EQ(only(root).type, Value::Type::kString);
    EXPECT_EQ(only(root).text, c.value);
  }
}

TEST(HclTest, Heredocs) {
  struct Case {
    std::string name;
    std::string text;
    std::string value;
    int next_line;  // line of the item after the heredoc
  };
  const std::vector<Case> cases = {
      {"plain", "s = <<EOF\nline 1\n  line 2\nEOF\nnext = 1\n", "line 1\n  line 2\n", 5},
      {"empty", "s = <<EOF\nEOF\nnext = 1\n", "", 3},
      {"keeps quotes, escapes and comments", "s = <<EOT\n\"a\\n\" # x ${Y}\nEOT\nnext = 1\n",
       "\"a\\n\" # x ${Y}\n", 4},
      {"indented terminator ends a plain heredoc too (hcl v1)", "s = <<EOF\n  a\n  EOF\nnext = 1\n",
       "  a\n", 4},
      {"not a terminator: trailing text", "s = <<EOF\nEOF x\nEOF\nnext = 1\n", "EOF x\n", 4},
      {"<<- unindents by the terminator's indentation",
       "s = <<-EOF\n    a\n      b\n    EOF\nnext = 1\n", "a\n  b\n", 5},
      {"<<- keeps text when a line is less indented", "s = <<-EOF\n    a\n  b\n    EOF\nnext = 1\n",
       "    a\n  b\n", 5},
      {"CRLF line ends", "s = <<EOF\r\nx\r\nEOF\r\nnext = 1\n", "x\r\n", 4},
      {"terminator at end of file", "s = <<EOF\nx\nEOF", "x\n", 0},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    const Value root = parseOk(c.text);
    ASSERT_GE(root.items.size(), 1u);
    EXPECT_TRUE(root.items[0].value.heredoc);
    EXPECT_EQ(root.items[0].value.text, c.value);
    EXPECT_EQ(root.items[0].value.line, 1);
    if (c.next_line > 0) {
      ASSERT_EQ(root.items.size(), 2u);
      EXPECT_EQ(root.items[1].line, c.next_line);
    }
  }
}

TEST(HclTest, HeredocInList) {
  const Value root = parseOk("l = [<<EOF\na\nEOF\n, \"b\"]\n");
  ASSERT_EQ(only(root).list.size(), 2u);
  EXPECT_EQ(only(root).list[0].text, "a\n");
  EXPECT_EQ(only(root).list[1].line, 4);
}

TEST(HclTest, CommentsAndLineNumbers) {
  const Value root = parseOk(
      "# hash comment\n"              // 1
      "// slash comment\n"            // 2
      "/* block\n"                    // 3
      "   comment */ a = 1 # tail\n"  // 4
      "b /* inline */ = 2 // tail\n"  // 5
      "/**/\n"                        // 6
      "c = [ # in a list\n"           // 7
      "  3, /* x */\n"                // 8
      "]\n");
  ASSERT_EQ(root.items.size(), 3u);
  EXPECT_EQ(root.items[0].line, 4);
  EXPECT_EQ(root.items[1].line, 5);
  EXPECT_EQ(root.items[1].value.int_value, 2);
  EXPECT_EQ(root.items[2].line, 7);
  EXPECT_EQ(root.items[2].value.list.at(0).line, 8);
}

TEST(HclTest, EmptyDocuments) {
  for (const std::string text : {"", "\n\n", "# only a comment\n", "/* */", "  \t\r\n"}) {
    SCOPED_TRACE(text);
    const Value root = parseOk(text);
    EXPECT_EQ(root.type, Value::Type::kObject);
    EXPECT_TRUE(root.items.empty());
  }
}

TEST(HclTest, Errors) {
  struct Case {
    std::string name;
    std::string text;
    std::string error;
  };
  const std::vector<Case> cases = {
      {"missing value", "a =\n",
       "t.hcl:2: expected a value (a string, number, true, false, list or object), found end "
       "of file"},
      {"bare word value", "a = b\n",
       "t.hcl:1: expected a value (a string, number, true, false, list or object), found the "
       "name \"b\" (strings need double quotes)"},
      {"no = or {", "server 1\n",
       "t.hcl:1: expected '=' or '{' after key \"server\", found the number 1"},
      {"missing { after a key", "server\n  bind_port = 1\n",
       "t.hcl:2: expected '{' after block header server \"bind_port\", found '=' (only a "
       "single key takes '=')"},
      {"unclosed block", "server {\n  a = 1\n",
       "t.hcl:3: expected a key (a name or a quoted string) or '}' to close the block opened at "
       "line 1, found end of file"},
      {"stray close", "a = 1\n}\n",
       "t.hcl:2: expected a key (a name or a quoted string), found '}'"},
      {"labels with =", "NodeAttestor \"x\" = {}\n",
       "t.hcl:1: expected '{' after block header NodeAttestor \"x\", found '=' (only a single "
       "key takes '=')"},
      {"labels without block", "a \"b\"\n",
       "t.hcl:2: expected '{' after block header a \"b\", found end of file"},
      {"number as key", "1 = 2\n",
       "t.hcl:1: expected a key (a name or a quoted string), found the number 1"},
      {"unterminated string", "a = \"abc\nb = 1\n",
       "t.hcl:1: string not terminated: expected '\"' before the end of the line"},
      {"unterminated string at eof", "a = \"abc",
       "t.hcl:1: string not terminated: expected '\"' before the end of the line"},
      {"unterminated interpolation", "a = \"${x\"\n",
       "t.hcl:1: string not terminated: expected '\"' before the end of the line"},
      {"bad escape", "\n a = \"\\q\"\n",
       "t.hcl:2: invalid escape character 'q' in a string (use \\\\ for a backslash)"},
      {"short hex escape", "a = \"\\x4\"\n", "t.hcl:1: invalid escape: expected 2 hex digits"},
      {"surrogate escape", "a = \"\\ud800\"\n",
       "t.hcl:1: escape is not a valid Unicode code point"},
      {"octal escape too large", "a = \"\\777\"\n", "t.hcl:1: octal escape value above \\377"},
      {"unterminated comment", "a = 1\n/* open\n\n",
       "t.hcl:2: comment /* not terminated: expected */ before end of file"},
      {"unterminated heredoc", "a = <<EOF\nx\n",
       "t.hcl:1: heredoc not terminated: expected a line \"EOF\" before end of file"},
      {"heredoc without anchor", "a = <<\nx\n",
       "t.hcl:1: expected a heredoc anchor such as EOF after '<<'"},
      {"heredoc anchor not alone", "a = <<EOF x\nEOF\n",
       "t.hcl:1: expected a newline after the heredoc anchor <<EOF"},
      {"list missing comma", "a = [1\n 2]\n",
       "t.hcl:2: expected ',' or ']' in the list opened at line 1, found the number 2"},
      {"list unclosed", "a = [1,\n",
       "t.hcl:2: expected a value or ']' to close the list opened at line 1, found end of file"},
      {"list leading comma", "a = [,]\n",
       "t.hcl:1: expected a value or ']' to close the list opened at line 1, found ','"},
      {"bad octal", "a = 089\n", "t.hcl:1: invalid octal number \"089\""},
      {"number then letters", "a = 12ab\n",
       "t.hcl:1: invalid number \"12ab\" (strings need double quotes)"},
      {"int overflow", "a = 9223372036854775808\n",
       "t.hcl:1: number \"9223372036854775808\" is out of range"},
      {"float overflow", "a = 1e999\n", "t.hcl:1: number \"1e999\" is out of range"},
      {"empty fraction", "a = 1.\n", "t.hcl:1: expected digits after the decimal point"},
      {"bare hex prefix", "a = 0x\n", "t.hcl:1: expected hexadecimal digits after 0x"},
      {"colon instead of =", "a: 1\n", "t.hcl:1: unexpected character ':'"},
      {"json document", "{\"a\": 1}\n",
       "t.hcl:1: expected a key (a name or a quoted string), found '{'"},
      {"nul byte", std::string("a = 1\n\0", 7), "t.hcl:2: unexpected NUL byte"},
      {"nul in string", std::string("a = \"x\0\"", 8), "t.hcl:1: unexpected NUL byte in a string"},
      {"control byte", "a = 1\n\x01", "t.hcl:2: unexpected byte 0x01"},
      {"non-ascii key", "\xc3\xa9 = 1\n", "t.hcl:1: unexpected byte 0xc3"},
      {"long string in message is cut", "a " + std::string("\"") + std::string(100, 'x') + "\" 1\n",
       "t.hcl:1: expected '{' after block header a \"" + std::string(40, 'x') +
           "\"..., found the number 1"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    auto r = parse(c.text, "t.hcl");
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, Code::kInvalidArgument);
    EXPECT_EQ(r.error().message, c.error);
  }
}

TEST(HclTest, LongTextIsShortenedInMessages) {
  auto r = parse("a = " + std::string(200, 'b') + "\n", "t.hcl");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message,
            "t.hcl:1: expected a value (a string, number, true, false, list or object), found "
            "the name \"" +
                std::string(40, 'b') + "\"... (strings need double quotes)");
}

std::string nested(int depth, const std::string& open, const std::string& middle,
                   const std::string& close) {
  std::string text = "a = ";
  for (int i = 0; i < depth; ++i) text += open;
  text += middle;
  for (int i = 0; i < depth; ++i) text += close;
  return text + "\n";
}

TEST(HclTest, NestingDepthLimit) {
  // `a = {...}` at the top level is depth 1, so kMaxDepth levels parse and one more fails.
  struct Form {
    std::string open, middle, close;
  };
  for (const auto& f : std::vector<Form>{{"[", "1", "]"}, {"{ b = ", "1", "}"}}) {
    SCOPED_TRACE(f.open);
    EXPECT_TRUE(parse(nested(kMaxDepth, f.open, f.middle, f.close), "t.hcl"));
    auto r = parse(nested(kMaxDepth + 1, f.open, f.middle, f.close), "t.hcl");
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().message, "t.hcl:1: nesting deeper than 32 levels");
  }
  // Blocks nest the same way.
  std::string blocks;
  for (int i = 0; i <= kMaxDepth; ++i) blocks += "b" + std::to_string(i) + " {\n";
  auto r = parse(blocks, "t.hcl");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "t.hcl:33: nesting deeper than 32 levels");
  // Hostile depth fails fast without exhausting the stack.
  auto deep = parse(std::string(1'000'000, '[').insert(0, "a = "), "t.hcl");
  ASSERT_FALSE(deep);
  EXPECT_EQ(deep.error().message, "t.hcl:1: nesting deeper than 32 levels");
}

TEST(HclTest, DescribeAndQuote) {
  const Value root = parseOk("s = \"x\"\nn = 12\nb = false\nl = []\no = {}\nh = <<E\nE\n");
  std::vector<std::string> got;
  for (const auto& item : root.items) got.push_back(item.value.describe());
  EXPECT_EQ(got, (std::vector<std::string>{"the string \"x\"", "the number 12", "false", "a list",
                                           "an object", "a heredoc string"}));
  EXPECT_EQ(quote("a\"b\\c\nd\x01"), "\"a\\\"b\\\\c\\nd\\x01\"");
}

}  // namespace
}  // namespace mutual::config::hcl
