#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"
#include "config/yaml_field.h"

// The subset of HCL (version 1, as hashicorp/hcl v1 reads it) that SPIRE's server.conf,
// agent.conf and spiffe-helper's helper.conf are written in. Lexical rules and value semantics
// follow hcl v1's scanner and parser; what is left out is listed in docs/spire-config.md.
namespace mutual::config::hcl {

struct Item;

// One value of a document. Every value knows the file and line where it starts, so typed
// parsers can name both in their complaints.
struct Value {
  enum class Type { kString, kInt, kFloat, kBool, kList, kObject };

  Type type = Type::kObject;
  // 1-based line of the value's first character; 0 only for the top-level object (the file).
  int line = 0;
  // The file name as given to parse(); shared by every value of one document.
  std::shared_ptr<const std::string> file;

  // kString: the text after unescaping ("${...}" kept as written); heredocs: their body, each
  // line ending in "\n". kInt, kFloat: the literal as written ("8081", "0x1F", "-1.5e3"), which
  // is what hcl v1 hands to a string field given a number.
  std::string text;
  bool heredoc = false;     // kString written as <<EOF ... EOF
  int64_t int_value = 0;    // kInt ("0x" hex and leading-0 octal are read as such)
  double float_value = 0;   // kFloat
  bool bool_value = false;  // kBool
  std::vector<Value> list;  // kList, in order
  std::vector<Item> items;  // kObject, in document order; a key may appear more than once

  Location location() const;
  // For messages: "the string \"x\"" (long text shortened), "the number 8081", "true",
  // "a list", "an object".
  std::string describe() const;
};

// One entry of an object: an attribute `key = value`, a block `key { ... }` (the same thing
// as `key = { ... }`), or a labelled block `key "a" "b" { ... }`. Labels are kept as written;
// hcl v1 reads `A "b" { }` as `A { b { } }`, and typed parsers that care accept both forms.
struct Item {
  std::string key;
  std::vector<std::string> labels;
  bool block = false;  // written without '='
  int line = 0;        // the key's line
  Value value;
};

// Objects and lists may nest this deep (the top-level object is depth 0). SPIRE's deepest
// settings (k8s_psat clusters) need 6.
inline constexpr int kMaxDepth = 32;

// Parses a whole file. `file` names it in locations and errors. Syntax errors are
// InvalidArgument "<file>:<line>: <message>", naming what was expected and what was found.
// A NUL byte anywhere, unterminated strings, comments and heredocs, and nesting deeper than
// kMaxDepth are errors too. An empty file (or one with only comments) is an empty object.
// JSON documents (which hcl v1 also accepts) are not: they fail at the leading '{'.
Result<Value> parse(std::string_view text, std::string file);

// Quotes `text` for messages: "\"a\\nb\"", non-printable bytes as \xHH.
std::string quote(std::string_view text);

}  // namespace mutual::config::hcl
