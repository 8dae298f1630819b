#pragma once

#include <cstdint>
#include <map>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "base/error.h"

namespace mutual::config {

// Where a value came from: the file as the user named it and a 1-based line (0 when unknown).
struct Location {
  std::string file;
  int line = 0;

  // "certs.yaml:14", or "certs.yaml" when the line is unknown.
  std::string str() const;
};

// The one error shape of every config parser: InvalidArgument with the message
// "<file>:<line>: <path>: <message>" (the path is left out when empty).
Error fieldError(const Location& where, std::string_view path, std::string_view message);

// Thrown by Field accessors. Config parsing is an edge where STYLE.md allows exceptions: the
// typed parsers throw while walking a document and turn it into a Result at their boundary
// (see `parseStrict`). Nothing outside the config module ever sees one.
class FieldError : public std::runtime_error {
 public:
  explicit FieldError(Error error) : std::runtime_error(error.message), error_(std::move(error)) {}
  // The error of one field, keeping its parts for callers that report each finding on its own
  // (config::Finding) rather than as one message.
  FieldError(Location where, std::string path, std::string detail)
      : FieldError(fieldError(where, path, detail)) {
    where_ = std::move(where);
    path_ = std::move(path);
    detail_ = std::move(detail);
  }
  const Error& error() const { return error_; }
  // The parts of the message; all empty when constructed from an Error alone.
  const Location& where() const { return where_; }
  const std::string& path() const { return path_; }
  const std::string& detail() const { return detail_; }

 private:
  Error error_;
  Location where_;
  std::string path_;
  std::string detail_;
};

// Runs `parse` (which may throw FieldError) and returns its value or the error as a Result.
template <typename F>
auto parseStrict(F&& parse) -> Result<decltype(parse())> {
  try {
    return parse();
  } catch (const FieldError& e) {
    return fail(e.error());
  }
}

// A strict, typed view of one YAML node for manifest parsers. It knows its field path
// ("spec.dnsNames[2]") and its location, so every complaint names file, line and field.
//
// Scalars are typed as Kubernetes reads YAML: a plain (unquoted) scalar is null, a boolean, a
// number or a string by the YAML 1.2 core schema; in addition the YAML 1.1 booleans (yes, no,
// on, off, y, n) that Kubernetes' decoder turns into booleans are refused where a string is
// expected, with a hint to quote them. Quoted and block scalars are always strings.
//
// An absent field is a Field for which isNull() is true; a field written with an empty or
// `null` value is the same (Kubernetes treats both as unset).
class Field {
 public:
  // A view of a whole document read from `file`.
  Field(YAML::Node node, std::string file);

  const std::string& path() const { return path_; }
  Location location() const { return {file_, line_}; }
  int line() const { return line_; }
  const YAML::Node& node() const { return node_; }

  // Absent, `~`, `null` or empty.
  bool isNull() const;
  bool isMap() const { return node_.IsMap(); }
  bool isList() const { return node_.IsSequence(); }

  // Throws FieldError "<file>:<line>: <path>: <message>".
  [[noreturn]] void fail(std::string_view message) const;

  // Objects. All of these fail unless the node is a mapping (null counts as an empty one).
  //
  // Fails on the first key not in `allowed` ("unknown field", with a did-you-mean hint when a
  // known name is close) and on any key written twice.
  void allowOnly(std::initializer_list<std::string_view> allowed) const;
  // The value of `key`, path "<path>.<key>", located at the key's line. Absent: isNull() is
  // true and the location is this object's.
  Field get(std::string_view key) const;
  // Like get() but fails "required field is missing" when absent or null.
  Field require(std::string_view key) const;
  // Every entry in document order, paths "<path>[<key>]" (for maps with free-form keys such as
  // labels or Secret data). Keys must be scalars.
  std::vector<std::pair<std::string, Field>> entries() const;

  // Lists. Fail unless the node is a sequence (null counts as an empty one). Items have paths
  // "<path>[i]".
  std::vector<Field> items() const;

  // Typed scalars. Each fails on a value of another type, naming what was found.
  std::string string() const;
  // A string that must not be empty.
  std::string nonEmptyString() const;
  bool boolean() const;
  int64_t integer() const;
  // A list of strings (null: empty).
  std::vector<std::string> strings() const;
  // A map of strings to strings, as labels and annotations (null: empty).
  std::map<std::string, std::string> stringMap() const;

  // What the node is, for messages: "a string", "the number 12", "a list", "an object", ...
  std::string describe() const;

 private:
  Field(YAML::Node node, std::string path, std::string file, int line);
  void requireMap() const;
  Field child(const YAML::Node& key, const YAML::Node& value, std::string path) const;

  YAML::Node node_;
  std::string path_;
  std::string file_;
  int line_ = 0;
};

// True when `text` written as a plain (unquoted) YAML scalar reads back as that same string:
// only letters, digits and ._/+=- , starting with a letter or digit, and not a number,
// boolean (YAML 1.1 included) or null. Writers quote everything else.
bool readsAsPlainString(std::string_view text);

// What yaml-cpp 0.7 does not check, checked on `text` (read from `file`) before it parses:
// C0 control characters other than tab, LF and CR, and DEL (YAML 1.2 §5.1 allows none; some
// send yaml-cpp into an endless loop, found by fuzz/manifest_fuzz.cc), and a document that
// starts where the one before it did (it consumed nothing, as after a stray top-level ",":
// yaml-cpp would loop forever). When `only_document_of` names the file's kind ("proxy.yaml"),
// a second document with content is refused too. Errors are yamlSyntaxError's.
Result<void> checkYamlText(std::string_view text, const std::string& file,
                           std::string_view only_document_of = {});

// A yaml-cpp exception as InvalidArgument "<file>:<line>[:<column>]: invalid YAML: <what>"
// (cause "invalid_yaml").
Error yamlSyntaxError(const YAML::Exception& e, const std::string& file);

// Levenshtein distance, for "did you mean" hints.
size_t editDistance(std::string_view a, std::string_view b);

}  // namespace mutual::config
