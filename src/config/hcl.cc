#include "config/hcl.h"

#include <charconv>
#include <cmath>
#include <system_error>
#include <utility>

namespace mutual::config::hcl {

namespace {

// Longest piece of user text quoted in one message, so a hostile file cannot make huge errors.
constexpr size_t kMaxQuoted = 40;

std::string shortQuote(std::string_view text) {
  if (text.size() <= kMaxQuoted) return quote(text);
  return quote(text.substr(0, kMaxQuoted)) + "...";
}

// A number literal for messages, unquoted.
std::string shortNumber(std::string_view text) {
  if (text.size() <= kMaxQuoted) return std::string(text);
  return std::string(text.substr(0, kMaxQuoted)) + "...";
}

bool isLetter(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool isDigit(char c) { return c >= '0' && c <= '9'; }
bool isHexDigit(char c) { return isDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }
// hcl v1 identifiers continue with letters, digits, '-' and '.'.
bool isIdentChar(char c) { return isLetter(c) || isDigit(c) || c == '-' || c == '.'; }

int hexValue(char c) {
  if (isDigit(c)) return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return c - 'A' + 10;
}

void appendUtf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

enum class Tok {
  kEof,
  kIdent,
  kString,
  kHeredoc,
  kInt,
  kFloat,
  kBool,
  kLBrace,
  kRBrace,
  kLBrack,
  kRBrack,
  kAssign,
  kComma,
};

struct Token {
  Tok type = Tok::kEof;
  int line = 0;
  std::string text;  // identifier, decoded string or heredoc body, number literal
  int64_t int_value = 0;
  double float_value = 0;
  bool bool_value = false;
};

std::string describe(const Token& t) {
  switch (t.type) {
    case Tok::kEof:
      return "end of file";
    case Tok::kIdent:
      return "the name " + shortQuote(t.text);
    case Tok::kString:
      return "the string " + shortQuote(t.text);
    case Tok::kHeredoc:
      return "a heredoc";
    case Tok::kInt:
    case Tok::kFloat:
      return "the number " + shortNumber(t.text);
    case Tok::kBool:
      return t.bool_value ? "true" : "false";
    case Tok::kLBrace:
      return "'{'";
    case Tok::kRBrace:
      return "'}'";
    case Tok::kLBrack:
      return "'['";
    case Tok::kRBrack:
      return "']'";
    case Tok::kAssign:
      return "'='";
    case Tok::kComma:
      return "','";
  }
  return "a token";
}

// Thrown inside the parser and turned into a Result by parse().
struct SyntaxError {
  int line;
  std::string message;
};

[[noreturn]] void syntaxError(int line, std::string message) {
  throw SyntaxError{line, std::move(message)};
}

class Lexer {
 public:
  explicit Lexer(std::string_view src) : src_(src) {}

  Token next() {
    skipSpaceAndComments();
    Token t;
    t.line = line_;
    if (pos_ >= src_.size()) return t;
    const char c = src_[pos_];
    switch (c) {
      case '{':
        return punct(t, Tok::kLBrace);
      case '}':
        return punct(t, Tok::kRBrace);
      case '[':
        return punct(t, Tok::kLBrack);
      case ']':
        return punct(t, Tok::kRBrack);
      case '=':
        return punct(t, Tok::kAssign);
      case ',':
        return punct(t, Tok::kComma);
      case '"':
        return string(t);
      case '<':
        if (peek(1) == '<') return heredoc(t);
        break;
      default:
        break;
    }
    if (isDigit(c) || (c == '-' && isDigit(peek(1)))) return number(t);
    if (isLetter(c)) return ident(t);
    syntaxError(line_, "unexpected " + describeByte(c));
  }

 private:
  char peek(size_t ahead) const { return pos_ + ahead < src_.size() ? src_[pos_ + ahead] : '\0'; }

  static std::string describeByte(char c) {
    if (c == '\0') return "NUL byte";
    const auto u = static_cast<unsigned char>(c);
    if (u >= 0x21 && u < 0x7F) return std::string("character '") + c + "'";
    static constexpr char kHex[] = "0123456789abcdef";
    return std::string("byte 0x") + kHex[u >> 4] + kHex[u & 0xF];
  }

  Token punct(Token& t, Tok type) {
    t.type = type;
    ++pos_;
    return t;
  }

  void skipSpaceAndComments() {
    while (pos_ < src_.size()) {
      const char c = src_[pos_];
      if (c == '\n') {
        ++line_;
        ++pos_;
      } else if (c == ' ' || c == '\t' || c == '\r') {
        ++pos_;
      } else if (c == '#' || (c == '/' && peek(1) == '/')) {
        while (pos_ < src_.size() && src_[pos_] != '\n') {
          if (src_[pos_] == '\0') syntaxError(line_, "unexpected NUL byte in a comment");
          ++pos_;
        }
      } else if (c == '/' && peek(1) == '*') {
        const int start = line_;
        pos_ += 2;
        for (;;) {
          if (pos_ >= src_.size()) {
            syntaxError(start, "comment /* not terminated: expected */ before end of file");
          }
          const char d = src_[pos_];
          if (d == '*' && peek(1) == '/') {
            pos_ += 2;
            break;
          }
          if (d == '\0') syntaxError(line_, "unexpected NUL byte in a comment");
          if (d == '\n') ++line_;
          ++pos_;
        }
      } else {
        return;
      }
    }
  }

  Token ident(Token& t) {
    const size_t start = pos_;
    while (pos_ < src_.size() && isIdentChar(src_[pos_])) ++pos_;
    t.text = std::string(src_.substr(start, pos_ - start));
    if (t.text == "true" || t.text == "false") {
      t.type = Tok::kBool;
      t.bool_value = t.text == "true";
    } else {
      t.type = Tok::kIdent;
    }
    return t;
  }

  // Decimal, hex (0x...) and octal (leading 0) integers; floats with a fraction and/or an
  // exponent; an optional leading '-'. As in hcl v1, no '+' and no '_' separators.
  Token number(Token& t) {
    const size_t start = pos_;
    if (src_[pos_] == '-') ++pos_;
    bool is_float = false;
    int base = 10;
    if (src_[pos_] == '0' && (peek(1) == 'x' || peek(1) == 'X')) {
      base = 16;
      pos_ += 2;
      const size_t digits = pos_;
      while (pos_ < src_.size() && isHexDigit(src_[pos_])) ++pos_;
      if (pos_ == digits) syntaxError(line_, "expected hexadecimal digits after 0x");
    } else {
      while (pos_ < src_.size() && isDigit(src_[pos_])) ++pos_;
      if (pos_ < src_.size() && src_[pos_] == '.') {
        is_float = true;
        ++pos_;
        const size_t digits = pos_;
        while (pos_ < src_.size() && isDigit(src_[pos_])) ++pos_;
        if (pos_ == digits) syntaxError(line_, "expected digits after the decimal point");
      }
      if (pos_ < src_.size() && (src_[pos_] == 'e' || src_[pos_] == 'E')) {
        is_float = true;
        ++pos_;
        if (pos_ < src_.size() && (src_[pos_] == '+' || src_[pos_] == '-')) ++pos_;
        const size_t digits = pos_;
        while (pos_ < src_.size() && isDigit(src_[pos_])) ++pos_;
        if (pos_ == digits) syntaxError(line_, "expected digits in the exponent");
      }
    }
    t.text = std::string(src_.substr(start, pos_ - start));
    if (pos_ < src_.size() && isIdentChar(src_[pos_])) {
      size_t end = pos_;
      while (end < src_.size() && isIdentChar(src_[end])) ++end;
      syntaxError(line_, "invalid number " + shortQuote(src_.substr(start, end - start)) +
                             " (strings need double quotes)");
    }
    if (is_float) {
      t.type = Tok::kFloat;
      const char* first = t.text.data();
      const char* last = first + t.text.size();
      const auto [ptr, ec] = std::from_chars(first, last, t.float_value);
      if (ec != std::errc() || ptr != last || !std::isfinite(t.float_value)) {
        syntaxError(line_, "number " + shortQuote(t.text) + " is out of range");
      }
      return t;
    }
    t.type = Tok::kInt;
    std::string_view digits = t.text;
    const bool negative = digits.front() == '-';
    if (negative) digits.remove_prefix(1);
    if (base == 16) {
      digits.remove_prefix(2);
    } else if (digits.size() > 1 && digits.front() == '0') {
      base = 8;
      digits.remove_prefix(1);
      for (char c : digits) {
        if (c > '7') syntaxError(line_, "invalid octal number " + shortQuote(t.text));
      }
    }
    // Parse the magnitude unsigned so that -9223372036854775808 fits.
    uint64_t magnitude = 0;
    const auto [ptr, ec] =
        std::from_chars(digits.data(), digits.data() + digits.size(), magnitude, base);
    const uint64_t limit = negative ? uint64_t{1} << 63 : (uint64_t{1} << 63) - 1;
    if (ec != std::errc() || ptr != digits.data() + digits.size() || magnitude > limit) {
      syntaxError(line_, "number " + shortQuote(t.text) + " is out of range");
    }
    t.int_value = negative ? static_cast<int64_t>(0 - magnitude) : static_cast<int64_t>(magnitude);
    return t;
  }

  // A double-quoted, single-line string. Escapes as in hcl v1 (and Go): \a \b \f \n \r \t \v
  // \\ \" \NNN (octal) \xHH \uHHHH \UHHHHHHHH. Inside "${...}" nothing is unescaped and quotes
  // do not end the string (hcl v1 keeps interpolations as written; SPIRE never evaluates them).
  Token string(Token& t) {
    t.type = Tok::kString;
    const int start = line_;
    ++pos_;
    int braces = 0;
    for (;;) {
      if (pos_ >= src_.size() || src_[pos_] == '\n') {
        syntaxError(start, "string not terminated: expected '\"' before the end of the line");
      }
      const char c = src_[pos_];
      if (c == '\0') syntaxError(line_, "unexpected NUL byte in a string");
      if (braces > 0) {
        if (c == '{') ++braces;
        if (c == '}') --braces;
        t.text += c;
        ++pos_;
        if (c == '\\' && pos_ < src_.size() && src_[pos_] != '\n' && src_[pos_] != '\0') {
          t.text += src_[pos_++];
        }
        continue;
      }
      if (c == '"') {
        ++pos_;
        return t;
      }
      if (c == '$' && peek(1) == '{') {
        braces = 1;
        t.text += "${";
        pos_ += 2;
        continue;
      }
      if (c == '\\') {
        escape(t.text);
        continue;
      }
      t.text += c;
      ++pos_;
    }
  }

  void escape(std::string& out) {
    const char e = peek(1);
    pos_ += 2;
    switch (e) {
      case 'a':
        out += '\a';
        return;
      case 'b':
        out += '\b';
        return;
      case 'f':
        out += '\f';
        return;
      case 'n':
        out += '\n';
        return;
      case 'r':
        out += '\r';
        return;
      case 't':
        out += '\t';
        return;
      case 'v':
        out += '\v';
        return;
      case '\\':
        out += '\\';
        return;
      case '"':
        out += '"';
        return;
      case 'x':
        out += static_cast<char>(hexDigits(2));
        return;
      case 'u':
        appendCodePoint(out, hexDigits(4));
        return;
      case 'U':
        appendCodePoint(out, hexDigits(8));
        return;
      default:
        break;
    }
    if (e >= '0' && e <= '7') {
      uint32_t v = static_cast<uint32_t>(e - '0');
      for (int i = 0; i < 2; ++i) {
        const char d = peek(0);
        if (d < '0' || d > '7') syntaxError(line_, "invalid octal escape: expected 3 digits");
        v = v * 8 + static_cast<uint32_t>(d - '0');
        ++pos_;
      }
      if (v > 255) syntaxError(line_, "octal escape value above \\377");
      out += static_cast<char>(v);
      return;
    }
    if (e == '\n' || e == '\0') {
      syntaxError(line_, "string not terminated: expected '\"' before the end of the line");
    }
    syntaxError(line_,
                "invalid escape " + describeByte(e) + " in a string (use \\\\ for a backslash)");
  }

  uint32_t hexDigits(int n) {
    uint32_t v = 0;
    for (int i = 0; i < n; ++i) {
      const char d = peek(0);
      if (!isHexDigit(d)) {
        syntaxError(line_, "invalid escape: expected " + std::to_string(n) + " hex digits");
      }
      v = v * 16 + static_cast<uint32_t>(hexValue(d));
      ++pos_;
    }
    return v;
  }

  void appendCodePoint(std::string& out, uint32_t cp) {
    if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
      syntaxError(line_, "escape is not a valid Unicode code point");
    }
    appendUtf8(out, cp);
  }

  // <<ANCHOR or <<-ANCHOR, a newline, the body, then a line holding only the anchor (leading
  // whitespace allowed, as in hcl v1). With '-' the body is unindented by the terminator
  // line's indentation when every body line starts with it (hcl v1's rule, blank lines
  // included).
  Token heredoc(Token& t) {
    t.type = Tok::kHeredoc;
    const int start = line_;
    pos_ += 2;
    const bool indented = peek(0) == '-';
    if (indented) ++pos_;
    const size_t anchor_start = pos_;
    while (pos_ < src_.size() && (isLetter(src_[pos_]) || isDigit(src_[pos_]))) ++pos_;
    const std::string_view anchor = src_.substr(anchor_start, pos_ - anchor_start);
    if (anchor.empty()) syntaxError(line_, "expected a heredoc anchor such as EOF after '<<'");
    if (peek(0) == '\r' && peek(1) == '\n') ++pos_;
    if (peek(0) != '\n') {
      syntaxError(line_, "expected a newline after the heredoc anchor <<" +
                             std::string(indented ? "-" : "") + std::string(anchor));
    }
    ++pos_;
    ++line_;
    std::vector<std::string_view> lines;
    for (;;) {
      if (pos_ >= src_.size()) {
        syntaxError(start, "heredoc not terminated: expected a line " + quote(anchor) +
                               " before end of file");
      }
      size_t end = src_.find('\n', pos_);
      if (end == std::string_view::npos) end = src_.size();
      const std::string_view line = src_.substr(pos_, end - pos_);
      if (line.find('\0') != std::string_view::npos) {
        syntaxError(line_, "unexpected NUL byte in a heredoc");
      }
      pos_ = end < src_.size() ? end + 1 : end;
      std::string_view trimmed = line;
      while (!trimmed.empty() && trimmed.back() == '\r') trimmed.remove_suffix(1);
      const size_t indent = trimmed.find_first_not_of(" \t\v\f");
      if (indent != std::string_view::npos && trimmed.substr(indent) == anchor) {
        const std::string_view prefix = line.substr(0, indent);
        bool all_indented = indented;
        for (auto l : lines) all_indented = all_indented && l.starts_with(prefix);
        for (auto l : lines) {
          if (all_indented) l.remove_prefix(prefix.size());
          t.text += l;
          t.text += '\n';
        }
        if (end < src_.size()) ++line_;
        return t;
      }
      lines.push_back(line);
      if (end < src_.size()) ++line_;
    }
  }

  std::string_view src_;
  size_t pos_ = 0;
  int line_ = 1;
};

class Parser {
 public:
  Parser(std::string_view text, std::shared_ptr<const std::string> file)
      : lexer_(text), file_(std::move(file)) {
    advance();
  }

  Value document() {
    Value root = newValue(Value::Type::kObject, 0);
    body(root, 0, 0);
    return root;
  }

 private:
  void advance() { tok_ = lexer_.next(); }

  Value newValue(Value::Type type, int line) const {
    Value v;
    v.type = type;
    v.line = line;
    v.file = file_;
    return v;
  }

  void enter(int depth) const {
    if (depth > kMaxDepth) {
      syntaxError(tok_.line, "nesting deeper than " + std::to_string(kMaxDepth) + " levels");
    }
  }

  // The items of an object up to its '}' (or end of file at the top level, open_line 0).
  void body(Value& obj, int depth, int open_line) {
    const bool top = open_line == 0;
    for (;;) {
      if (top && tok_.type == Tok::kEof) return;
      if (!top && tok_.type == Tok::kRBrace) {
        advance();
        return;
      }
      if (tok_.type != Tok::kIdent && tok_.type != Tok::kString) {
        std::string expected = "expected a key (a name or a quoted string)";
        if (!top)
          expected += " or '}' to close the block opened at line " + std::to_string(open_line);
        syntaxError(tok_.line, expected + ", found " + describe(tok_));
      }
      obj.items.push_back(item(depth));
      if (tok_.type == Tok::kComma) advance();
    }
  }

  Item item(int depth) {
    Item it;
    it.line = tok_.line;
    it.key = std::move(tok_.text);
    advance();
    while (tok_.type == Tok::kIdent || tok_.type == Tok::kString) {
      it.labels.push_back(std::move(tok_.text));
      advance();
    }
    if (tok_.type == Tok::kAssign) {
      if (!it.labels.empty()) {
        syntaxError(tok_.line, "expected '{' after block header " + header(it) +
                                   ", found '=' (only a single key takes '=')");
      }
      advance();
      it.value = value(depth);
      return it;
    }
    if (tok_.type == Tok::kLBrace) {
      it.block = true;
      it.value = object(depth + 1);
      return it;
    }
    if (!it.labels.empty()) {
      syntaxError(tok_.line,
                  "expected '{' after block header " + header(it) + ", found " + describe(tok_));
    }
    syntaxError(tok_.line, "expected '=' or '{' after key " + shortQuote(it.key) + ", found " +
                               describe(tok_));
  }

  // `key "label" ...` for messages.
  static std::string header(const Item& it) {
    std::string out = it.key.size() <= kMaxQuoted ? it.key : shortQuote(it.key);
    for (const auto& label : it.labels) out += " " + shortQuote(label);
    return out;
  }

  Value object(int depth) {
    enter(depth);
    Value v = newValue(Value::Type::kObject, tok_.line);
    advance();
    body(v, depth, v.line);
    return v;
  }

  Value list(int depth) {
    enter(depth);
    Value v = newValue(Value::Type::kList, tok_.line);
    advance();
    for (;;) {
      if (tok_.type == Tok::kRBrack) {
        advance();
        return v;
      }
      if (tok_.type == Tok::kEof || tok_.type == Tok::kRBrace || tok_.type == Tok::kComma ||
          tok_.type == Tok::kAssign || tok_.type == Tok::kIdent) {
        syntaxError(tok_.line, "expected a value or ']' to close the list opened at line " +
                                   std::to_string(v.line) + ", found " + describe(tok_) +
                                   hintForIdent());
      }
      v.list.push_back(value(depth));
      if (tok_.type == Tok::kComma) {
        advance();
      } else if (tok_.type != Tok::kRBrack) {
        syntaxError(tok_.line, "expected ',' or ']' in the list opened at line " +
                                   std::to_string(v.line) + ", found " + describe(tok_));
      }
    }
  }

  std::string hintForIdent() const {
    return tok_.type == Tok::kIdent ? " (strings need double quotes)" : "";
  }

  Value value(int depth) {
    Value v = newValue(Value::Type::kString, tok_.line);
    switch (tok_.type) {
      case Tok::kString:
      case Tok::kHeredoc:
        v.heredoc = tok_.type == Tok::kHeredoc;
        v.text = std::move(tok_.text);
        break;
      case Tok::kInt:
        v.type = Value::Type::kInt;
        v.text = std::move(tok_.text);
        v.int_value = tok_.int_value;
        break;
      case Tok::kFloat:
        v.type = Value::Type::kFloat;
        v.text = std::move(tok_.text);
        v.float_value = tok_.float_value;
        break;
      case Tok::kBool:
        v.type = Value::Type::kBool;
        v.text = std::move(tok_.text);
        v.bool_value = tok_.bool_value;
        break;
      case Tok::kLBrace:
        return object(depth + 1);
      case Tok::kLBrack:
        return list(depth + 1);
      default:
        syntaxError(tok_.line,
                    "expected a value (a string, number, true, false, list or object), found " +
                        describe(tok_) + hintForIdent());
    }
    advance();
    return v;
  }

  Lexer lexer_;
  std::shared_ptr<const std::string> file_;
  Token tok_;
};

}  // namespace

std::string quote(std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "\"";
  for (char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (u < 0x20 || u == 0x7F) {
      out += "\\x";
      out += kHex[u >> 4];
      out += kHex[u & 0xF];
    } else {
      out += c;
    }
  }
  return out + "\"";
}

Location Value::location() const { return {file ? *file : std::string(), line}; }

std::string Value::describe() const {
  switch (type) {
    case Type::kString:
      return heredoc ? "a heredoc string" : "the string " + shortQuote(text);
    case Type::kInt:
    case Type::kFloat:
      return "the number " + shortNumber(text);
    case Type::kBool:
      return bool_value ? "true" : "false";
    case Type::kList:
      return "a list";
    case Type::kObject:
      return "an object";
  }
  return "a value";
}

Result<Value> parse(std::string_view text, std::string file) {
  auto name = std::make_shared<const std::string>(std::move(file));
  try {
    Parser parser(text, name);
    return parser.document();
  } catch (const SyntaxError& e) {
    return fail(fieldError(Location{*name, e.line}, "", e.message));
  }
}

}  // namespace mutual::config::hcl
