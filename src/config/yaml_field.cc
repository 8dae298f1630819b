#include "config/yaml_field.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <limits>
#include <sstream>
#include <unordered_map>

#include <yaml-cpp/eventhandler.h>

#include "base/encoding.h"

namespace mutual::config {

namespace {

// How a scalar reads under the YAML 1.2 core schema (plus the YAML 1.1 booleans).
enum class Scalar { kNull, kBool, kYaml11Bool, kInt, kFloat, kString, kUnknownTag };

constexpr std::string_view kTagStr = "tag:yaml.org,2002:str";
constexpr std::string_view kTagInt = "tag:yaml.org,2002:int";
constexpr std::string_view kTagBool = "tag:yaml.org,2002:bool";
constexpr std::string_view kTagFloat = "tag:yaml.org,2002:float";
constexpr std::string_view kTagNull = "tag:yaml.org,2002:null";

bool isDigits(std::string_view s, bool (*ok)(char)) {
  return !s.empty() && std::all_of(s.begin(), s.end(), ok);
}
bool isDec(char c) { return c >= '0' && c <= '9'; }
bool isOct(char c) { return c >= '0' && c <= '7'; }
bool isHex(char c) { return isDec(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

bool looksInt(std::string_view s) {
  if (s.starts_with("0o")) return isDigits(s.substr(2), isOct);
  if (s.starts_with("0x")) return isDigits(s.substr(2), isHex);
  if (!s.empty() && (s.front() == '-' || s.front() == '+')) s.remove_prefix(1);
  return isDigits(s, isDec);
}

bool looksFloat(std::string_view s) {
  if (!s.empty() && (s.front() == '-' || s.front() == '+')) s.remove_prefix(1);
  if (s == ".inf" || s == ".Inf" || s == ".INF") return true;
  if (s == ".nan" || s == ".NaN" || s == ".NAN") return true;
  size_t i = 0;
  size_t int_digits = 0;
  while (i < s.size() && isDec(s[i])) ++i, ++int_digits;
  size_t frac_digits = 0;
  if (i < s.size() && s[i] == '.') {
    ++i;
    while (i < s.size() && isDec(s[i])) ++i, ++frac_digits;
  }
  if (int_digits + frac_digits == 0) return false;
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < s.size() && (s[i] == '-' || s[i] == '+')) ++i;
    const size_t exp_start = i;
    while (i < s.size() && isDec(s[i])) ++i;
    if (i == exp_start) return false;
  }
  return i == s.size();
}

Scalar resolvePlain(std::string_view s) {
  if (s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL") return Scalar::kNull;
  if (s == "true" || s == "True" || s == "TRUE" || s == "false" || s == "False" || s == "FALSE") {
    return Scalar::kBool;
  }
  static constexpr std::array<std::string_view, 16> kYaml11 = {
      "y",  "Y",  "yes", "Yes", "YES", "n",   "N",   "no",
      "No", "NO", "on",  "On",  "ON",  "off", "Off", "OFF"};
  if (std::find(kYaml11.begin(), kYaml11.end(), s) != kYaml11.end()) return Scalar::kYaml11Bool;
  if (looksInt(s)) return Scalar::kInt;
  if (looksFloat(s)) return Scalar::kFloat;
  return Scalar::kString;
}

Scalar resolve(const YAML::Node& node) {
  if (!node.IsDefined() || node.IsNull()) return Scalar::kNull;
  const std::string& tag = node.Tag();
  if (tag == "!" || tag == kTagStr) return Scalar::kString;
  if (tag == "?" || tag.empty()) return resolvePlain(node.Scalar());
  if (tag == kTagInt) return Scalar::kInt;
  if (tag == kTagBool) return Scalar::kBool;
  if (tag == kTagFloat) return Scalar::kFloat;
  if (tag == kTagNull) return Scalar::kNull;
  return Scalar::kUnknownTag;
}

std::string quote(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out + "\"";
}

int markLine(const YAML::Node& node) {
  if (!node.IsDefined()) return 0;
  const int line = node.Mark().line;
  return line >= 0 ? line + 1 : 0;
}

}  // namespace

bool readsAsPlainString(std::string_view text) {
  if (text.empty() || !std::isalnum(static_cast<unsigned char>(text.front()))) return false;
  for (char c : text) {
    const bool safe = std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' ||
                      c == '_' || c == '/' || c == '+' || c == '=';
    if (!safe) return false;
  }
  return resolvePlain(text) == Scalar::kString;
}

std::string Location::str() const {
  if (line <= 0) return file;
  return file + ":" + std::to_string(line);
}

Error fieldError(const Location& where, std::string_view path, std::string_view message) {
  std::string text = where.str();
  if (!text.empty()) text += ": ";
  if (!path.empty()) text += std::string(path) + ": ";
  text += message;
  return Error{Code::kInvalidArgument, std::move(text), "invalid_config"};
}

size_t editDistance(std::string_view a, std::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t up = row[j];
      const size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + cost});
      diag = up;
    }
  }
  return row[b.size()];
}

Field::Field(YAML::Node node, std::string file)
    : node_(std::move(node)), file_(std::move(file)), line_(markLine(node_)) {}

Field::Field(YAML::Node node, std::string path, std::string file, int line)
    : node_(std::move(node)), path_(std::move(path)), file_(std::move(file)), line_(line) {}

bool Field::isNull() const {
  if (!node_.IsDefined() || node_.IsNull()) return true;
  return node_.IsScalar() && resolve(node_) == Scalar::kNull;
}

void Field::fail(std::string_view message) const {
  throw FieldError(location(), path_, std::string(message));
}

std::string Field::describe() const {
  if (node_.IsMap()) return "an object";
  if (node_.IsSequence()) return "a list";
  switch (resolve(node_)) {
    case Scalar::kNull:
      return "null";
    case Scalar::kBool:
      return "the boolean " + node_.Scalar();
    case Scalar::kYaml11Bool:
      return quote(node_.Scalar()) + " (a boolean to Kubernetes, which reads YAML 1.1)";
    case Scalar::kInt:
    case Scalar::kFloat:
      return "the number " + node_.Scalar();
    case Scalar::kString:
      return "the string " + quote(node_.Scalar());
    case Scalar::kUnknownTag:
      return "a value tagged " + node_.Tag();
  }
  return "an unknown value";
}

void Field::requireMap() const {
  if (node_.IsMap() || isNull()) return;
  fail("expected an object, got " + describe());
}

Field Field::child(const YAML::Node& key, const YAML::Node& value, std::string path) const {
  int line = markLine(key);
  if (line == 0) line = line_;
  return Field(value, std::move(path), file_, line);
}

namespace {

// The text of a mapping key; keys must be scalars.
std::string keyText(const Field& parent, const YAML::Node& key) {
  if (!key.IsScalar()) {
    const int line = markLine(key);
    throw FieldError(Location{parent.location().file, line ? line : parent.line()}, parent.path(),
                     "object keys must be strings");
  }
  return key.Scalar();
}

std::string joinPath(const std::string& parent, std::string_view key) {
  if (parent.empty()) return std::string(key);
  return parent + "." + std::string(key);
}

}  // namespace

void Field::allowOnly(std::initializer_list<std::string_view> allowed) const {
  requireMap();
  if (isNull()) return;
  std::unordered_map<std::string, int> seen;
  for (auto it = node_.begin(); it != node_.end(); ++it) {
    const std::string key = keyText(*this, it->first);
    const Field value = child(it->first, it->second, joinPath(path_, key));
    if (auto [pos, inserted] = seen.emplace(key, value.line()); !inserted) {
      value.fail("duplicate field (first set at line " + std::to_string(pos->second) + ")");
    }
    if (std::find(allowed.begin(), allowed.end(), key) != allowed.end()) continue;
    std::string hint;
    size_t best = std::numeric_limits<size_t>::max();
    for (auto candidate : allowed) {
      // Case slips ("autoMTLS" for "autoMtls") count as close.
      const size_t d =
          std::min(editDistance(key, candidate), editDistance(asciiLower(key), asciiLower(candidate)));
      if (d < best && d <= std::max<size_t>(2, candidate.size() / 3)) {
        best = d;
        hint = " (did you mean \"" + std::string(candidate) + "\"?)";
      }
    }
    if (hint.empty()) {
      std::string names;
      for (auto candidate : allowed) {
        names += (names.empty() ? "" : ", ") + std::string(candidate);
      }
      hint = " (known fields: " + names + ")";
    }
    value.fail("unknown field" + hint);
  }
}

Field Field::get(std::string_view key) const {
  requireMap();
  if (!isNull()) {
    for (auto it = node_.begin(); it != node_.end(); ++it) {
      if (it->first.IsScalar() && it->first.Scalar() == key) {
        return child(it->first, it->second, joinPath(path_, key));
      }
    }
  }
  return Field(YAML::Node(), joinPath(path_, key), file_, line_);
}

Field Field::require(std::string_view key) const {
  Field value = get(key);
  if (value.isNull()) value.fail("required field is missing");
  return value;
}

std::vector<std::pair<std::string, Field>> Field::entries() const {
  requireMap();
  std::vector<std::pair<std::string, Field>> out;
  if (isNull()) return out;
  std::unordered_map<std::string, int> seen;
  for (auto it = node_.begin(); it != node_.end(); ++it) {
    std::string key = keyText(*this, it->first);
    Field value = child(it->first, it->second, path_ + "[" + key + "]");
    if (auto [pos, inserted] = seen.emplace(key, value.line()); !inserted) {
      value.fail("duplicate key (first set at line " + std::to_string(pos->second) + ")");
    }
    out.emplace_back(std::move(key), std::move(value));
  }
  return out;
}

std::vector<Field> Field::items() const {
  std::vector<Field> out;
  if (isNull()) return out;
  if (!node_.IsSequence()) fail("expected a list, got " + describe());
  size_t i = 0;
  for (const auto& item : node_) {
    int line = item.IsNull() ? 0 : markLine(item);
    if (line == 0) line = line_;
    out.push_back(Field(item, path_ + "[" + std::to_string(i) + "]", file_, line));
    ++i;
  }
  return out;
}

std::string Field::string() const {
  const Scalar kind = node_.IsScalar() ? resolve(node_) : Scalar::kUnknownTag;
  if (isNull()) return {};
  if (kind == Scalar::kString) return node_.Scalar();
  if (kind == Scalar::kInt || kind == Scalar::kFloat || kind == Scalar::kBool ||
      kind == Scalar::kYaml11Bool) {
    fail("expected a string, got " + describe() + "; quote it to make it a string");
  }
  fail("expected a string, got " + describe());
}

std::string Field::nonEmptyString() const {
  std::string value = string();
  if (value.empty()) fail("must not be empty");
  return value;
}

bool Field::boolean() const {
  if (isNull()) return false;
  if (node_.IsScalar() && resolve(node_) == Scalar::kBool) {
    const std::string& s = node_.Scalar();
    if (s == "true" || s == "True" || s == "TRUE") return true;
    if (s == "false" || s == "False" || s == "FALSE") return false;
  }
  fail("expected true or false, got " + describe());
}

int64_t Field::integer() const {
  if (isNull()) return 0;
  if (node_.IsScalar() && resolve(node_) == Scalar::kInt) {
    std::string_view s = node_.Scalar();
    int base = 10;
    bool negative = false;
    if (s.starts_with("0o")) {
      base = 8;
      s.remove_prefix(2);
    } else if (s.starts_with("0x")) {
      base = 16;
      s.remove_prefix(2);
    } else if (!s.empty() && (s.front() == '+' || s.front() == '-')) {
      negative = s.front() == '-';
      s.remove_prefix(1);
    }
    uint64_t magnitude = 0;
    const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), magnitude, base);
    if (ec == std::errc() && end == s.data() + s.size() &&
        magnitude <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      const auto value = static_cast<int64_t>(magnitude);
      return negative ? -value : value;
    }
    fail("integer " + node_.Scalar() + " is out of range");
  }
  fail("expected an integer, got " + describe());
}

std::vector<std::string> Field::strings() const {
  std::vector<std::string> out;
  if (!isNull() && !node_.IsSequence()) fail("expected a list of strings, got " + describe());
  for (const auto& item : items()) out.push_back(item.string());
  return out;
}

std::map<std::string, std::string> Field::stringMap() const {
  std::map<std::string, std::string> out;
  if (!isNull() && !node_.IsMap()) {
    fail("expected an object of string values, got " + describe());
  }
  for (const auto& [key, value] : entries()) out[key] = value.string();
  return out;
}

namespace {

// Walks the documents' events without building nodes: where each starts, and whether it holds
// anything.
class DocumentEvents final : public YAML::EventHandler {
 public:
  void OnDocumentStart(const YAML::Mark& mark) override {
    start_ = mark;
    content_ = false;
  }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
  void OnAlias(const YAML::Mark&, YAML::anchor_t) override { content_ = true; }
  void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t,
                const std::string&) override {
    content_ = true;
  }
  void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {
    content_ = true;
  }
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {
    content_ = true;
  }
  void OnMapEnd() override {}
  const YAML::Mark& start() const { return start_; }
  bool content() const { return content_; }

 private:
  YAML::Mark start_ = YAML::Mark::null_mark();
  bool content_ = false;
};

}  // namespace

Result<void> checkYamlText(std::string_view text, const std::string& file,
                           std::string_view only_document_of) {
  int line = 1;
  for (const char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == '\n') ++line;
    if ((c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7f) {
      static constexpr char kHex[] = "0123456789abcdef";
      return fail(Code::kInvalidArgument,
                  Location{file, line}.str() + ": invalid YAML: control character 0x" +
                      kHex[c >> 4] + kHex[c & 15] + " is not allowed (is this a binary file?)",
                  "invalid_yaml");
    }
  }
  try {
    std::istringstream in{std::string(text)};
    YAML::Parser parser(in);
    DocumentEvents events;
    bool first = true;
    int previous = -1;
    while (parser.HandleNextDocument(events)) {
      if (!first && events.start().pos == previous) {
        throw YAML::ParserException(events.start(),
                                    "unexpected character outside a flow collection");
      }
      if (!first && !only_document_of.empty() && events.content()) {
        throw YAML::ParserException(events.start(), std::string(only_document_of) +
                                                        " holds one document; found a second one");
      }
      previous = events.start().pos;
      first = false;
    }
  } catch (const YAML::Exception& e) {
    return fail(yamlSyntaxError(e, file));
  }
  return {};
}

Error yamlSyntaxError(const YAML::Exception& e, const std::string& file) {
  const int line = e.mark.line >= 0 ? e.mark.line + 1 : 0;
  std::string where = Location{file, line}.str();
  if (e.mark.column >= 0 && line > 0) where += ":" + std::to_string(e.mark.column + 1);
  return Error{Code::kInvalidArgument, where + ": invalid YAML: " + e.msg, "invalid_yaml"};
}

}  // namespace mutual::config
