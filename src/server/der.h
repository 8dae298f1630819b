#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>

#include "base/clock.h"

// Just enough DER (X.690) to write certificates and read certification requests without
// OpenSSL's generic ASN.1 machinery, which costs more than the signature itself in OpenSSL 3.0
// (docs/server.md, "Signing performance"). Writers append to a std::string; the reader is
// strict: definite lengths only, minimal length octets, no reading past the end.
namespace mutual::server::der {

inline constexpr uint8_t kBoolean = 0x01;
inline constexpr uint8_t kInteger = 0x02;
inline constexpr uint8_t kBitString = 0x03;
inline constexpr uint8_t kOctetString = 0x04;
inline constexpr uint8_t kNull = 0x05;
inline constexpr uint8_t kOid = 0x06;
inline constexpr uint8_t kUtf8String = 0x0c;
inline constexpr uint8_t kPrintableString = 0x13;
inline constexpr uint8_t kIa5String = 0x16;
inline constexpr uint8_t kUtcTime = 0x17;
inline constexpr uint8_t kGeneralizedTime = 0x18;
inline constexpr uint8_t kSequence = 0x30;
inline constexpr uint8_t kSet = 0x31;
// [n] constructed (EXPLICIT tagging, or IMPLICIT over a constructed type).
constexpr uint8_t contextConstructed(int n) { return static_cast<uint8_t>(0xa0 | n); }
// [n] primitive (IMPLICIT over a primitive type).
constexpr uint8_t contextPrimitive(int n) { return static_cast<uint8_t>(0x80 | n); }

void appendLength(std::string& out, size_t length);
void appendTlv(std::string& out, uint8_t tag, std::string_view content);
std::string tlv(uint8_t tag, std::string_view content);
// The concatenation of `parts` wrapped in `tag`.
std::string wrap(uint8_t tag, std::initializer_list<std::string_view> parts);

// A non-negative INTEGER from big-endian magnitude bytes (leading zeros dropped, a 0x00 added
// when the top bit is set).
std::string unsignedInteger(std::string_view big_endian);
std::string smallInteger(uint64_t value);
// A BIT STRING with no unused bits.
std::string bitString(std::string_view bytes);
// RFC 5280 §4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050, whole seconds, "Z".
std::string time(TimePoint t);

// Reads one element at a time.
class Reader {
 public:
  explicit Reader(std::string_view data) : data_(data) {}
  bool empty() const { return data_.empty(); }
  // The next element's tag, or -1 at the end.
  int peekTag() const { return data_.empty() ? -1 : static_cast<uint8_t>(data_[0]); }
  // Reads the next element if its tag is `tag`: its content, and optionally all its bytes
  // (tag and length included). False, consuming nothing, on another tag or malformed bytes.
  bool read(uint8_t tag, std::string_view& content, std::string_view* whole = nullptr);
  // Skips the next element whatever its tag.
  bool skip();

 private:
  std::string_view data_;
};

}  // namespace mutual::server::der
