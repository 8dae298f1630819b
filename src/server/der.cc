#include "server/der.h"

#include <ctime>

#include "base/time.h"

namespace mutual::server::der {

void appendLength(std::string& out, size_t length) {
  if (length < 0x80) {
    out.push_back(static_cast<char>(length));
    return;
  }
  unsigned char bytes[sizeof(size_t)];
  int n = 0;
  for (size_t v = length; v != 0; v >>= 8) bytes[n++] = static_cast<unsigned char>(v & 0xff);
  out.push_back(static_cast<char>(0x80 | n));
  while (n > 0) out.push_back(static_cast<char>(bytes[--n]));
}

void appendTlv(std::string& out, uint8_t tag, std::string_view content) {
  out.push_back(static_cast<char>(tag));
  appendLength(out, content.size());
  out.append(content);
}

std::string tlv(uint8_t tag, std::string_view content) {
  std::string out;
  out.reserve(content.size() + 6);
  appendTlv(out, tag, content);
  return out;
}

std::string wrap(uint8_t tag, std::initializer_list<std::string_view> parts) {
  size_t size = 0;
  for (auto p : parts) size += p.size();
  std::string out;
  out.reserve(size + 6);
  out.push_back(static_cast<char>(tag));
  appendLength(out, size);
  for (auto p : parts) out.append(p);
  return out;
}

std::string unsignedInteger(std::string_view big_endian) {
  while (big_endian.size() > 1 && big_endian[0] == 0) big_endian.remove_prefix(1);
  std::string content;
  if (big_endian.empty() || (static_cast<uint8_t>(big_endian[0]) & 0x80) != 0) content.push_back(0);
  content.append(big_endian);
  return tlv(kInteger, content);
}

std::string smallInteger(uint64_t value) {
  std::string magnitude;
  for (int shift = 56; shift >= 0; shift -= 8) {
    magnitude.push_back(static_cast<char>((value >> shift) & 0xff));
  }
  return unsignedInteger(magnitude);
}

std::string bitString(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size() + 6);
  out.push_back(static_cast<char>(kBitString));
  appendLength(out, bytes.size() + 1);
  out.push_back(0);
  out.append(bytes);
  return out;
}

std::string time(TimePoint t) {
  const time_t secs = static_cast<time_t>(toUnix(t));
  std::tm tm{};
  gmtime_r(&secs, &tm);
  const int year = tm.tm_year + 1900;
  char buf[32];
  if (year >= 1950 && year < 2050) {
    std::snprintf(buf, sizeof buf, "%02d%02d%02d%02d%02d%02dZ", year % 100, tm.tm_mon + 1,
                  tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
    return tlv(kUtcTime, buf);
  }
  std::snprintf(buf, sizeof buf, "%04d%02d%02d%02d%02d%02dZ", year, tm.tm_mon + 1, tm.tm_mday,
                tm.tm_hour, tm.tm_min, tm.tm_sec);
  return tlv(kGeneralizedTime, buf);
}

namespace {

// Parses the header at the front of `data`: the tag, the content's offset and length.
bool header(std::string_view data, uint8_t& tag, size_t& offset, size_t& length) {
  if (data.size() < 2) return false;
  tag = static_cast<uint8_t>(data[0]);
  if ((tag & 0x1f) == 0x1f) return false;  // high tag numbers never occur here
  const auto first = static_cast<uint8_t>(data[1]);
  if (first < 0x80) {
    offset = 2;
    length = first;
  } else {
    const int n = first & 0x7f;
    if (n == 0 || n > 4 || data.size() < static_cast<size_t>(2 + n)) return false;  // no BER
    if (static_cast<uint8_t>(data[2]) == 0) return false;                           // not minimal
    length = 0;
    for (int i = 0; i < n; ++i) length = (length << 8) | static_cast<uint8_t>(data[2 + i]);
    if (length < 0x80) return false;  // not minimal
    offset = 2 + static_cast<size_t>(n);
  }
  return length <= data.size() - offset;
}

}  // namespace

bool Reader::read(uint8_t tag, std::string_view& content, std::string_view* whole) {
  uint8_t actual = 0;
  size_t offset = 0;
  size_t length = 0;
  if (!header(data_, actual, offset, length) || actual != tag) return false;
  content = data_.substr(offset, length);
  if (whole != nullptr) *whole = data_.substr(0, offset + length);
  data_.remove_prefix(offset + length);
  return true;
}

bool Reader::skip() {
  uint8_t tag = 0;
  size_t offset = 0;
  size_t length = 0;
  if (!header(data_, tag, offset, length)) return false;
  data_.remove_prefix(offset + length);
  return true;
}

}  // namespace mutual::server::der
