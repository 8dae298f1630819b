#include "server/der.h"

#include <gtest/gtest.h>

#include "base/time.h"

// The DER writer and reader the certificate encoder and the CSR parser stand on.

namespace mutual::server::der {
namespace {

std::string bytes(std::initializer_list<int> list) {
  std::string out;
  for (int b : list) out.push_back(static_cast<char>(b));
  return out;
}

TEST(DerTest, LengthsUseTheShortestForm) {
  std::string out;
  appendLength(out, 0x7f);
  EXPECT_EQ(out, bytes({0x7f}));
  out.clear();
  appendLength(out, 0x80);
  EXPECT_EQ(out, bytes({0x81, 0x80}));
  out.clear();
  appendLength(out, 0x1234);
  EXPECT_EQ(out, bytes({0x82, 0x12, 0x34}));
}

TEST(DerTest, IntegersArePositiveAndMinimal) {
  EXPECT_EQ(smallInteger(0), bytes({0x02, 0x01, 0x00}));
  EXPECT_EQ(smallInteger(2), bytes({0x02, 0x01, 0x02}));
  EXPECT_EQ(smallInteger(128), bytes({0x02, 0x02, 0x00, 0x80}));
  EXPECT_EQ(unsignedInteger(bytes({0x00, 0x00, 0x7f})), bytes({0x02, 0x01, 0x7f}));
  EXPECT_EQ(unsignedInteger(bytes({0xff})), bytes({0x02, 0x02, 0x00, 0xff}));
}

TEST(DerTest, TimesSwitchToGeneralizedTimeIn2050) {
  // RFC 5280 §4.1.2.5.
  EXPECT_EQ(time(fromUnix(0)), tlv(kUtcTime, "700101000000Z"));
  EXPECT_EQ(time(fromUnix(2524607999)), tlv(kUtcTime, "491231235959Z"));
  EXPECT_EQ(time(fromUnix(2524608000)), tlv(kGeneralizedTime, "20500101000000Z"));
}

TEST(DerTest, ReaderTakesWellFormedElements) {
  const std::string data = wrap(kSequence, {smallInteger(5), tlv(kOctetString, "ab")}) + "x";
  Reader reader(data);
  std::string_view content;
  std::string_view whole;
  ASSERT_TRUE(reader.read(kSequence, content, &whole));
  EXPECT_EQ(whole.size(), data.size() - 1);
  EXPECT_EQ(reader.peekTag(), 'x');
  Reader inner(content);
  std::string_view value;
  EXPECT_FALSE(inner.read(kOctetString, value));  // wrong tag consumes nothing
  ASSERT_TRUE(inner.read(kInteger, value));
  EXPECT_EQ(value, bytes({5}));
  ASSERT_TRUE(inner.read(kOctetString, value));
  EXPECT_EQ(value, "ab");
  EXPECT_TRUE(inner.empty());
}

TEST(DerTest, ReaderRefusesMalformedLengths) {
  std::string_view content;
  struct Case {
    const char* name;
    std::string data;
  };
  const Case cases[] = {
      {"truncated content", bytes({0x30, 0x05, 0x01})},
      {"indefinite length (BER)", bytes({0x30, 0x80, 0x00, 0x00})},
      {"long form for a short length", bytes({0x30, 0x81, 0x01, 0x00})},
      {"leading zero length octet", bytes({0x30, 0x82, 0x00, 0x81})},
      {"header only", bytes({0x30})},
      {"high tag number", bytes({0x1f, 0x01, 0x00})},
  };
  for (const auto& c : cases) {
    Reader reader(c.data);
    EXPECT_FALSE(reader.read(static_cast<uint8_t>(c.data[0]), content)) << c.name;
    EXPECT_FALSE(Reader(c.data).skip()) << c.name;
  }
}

}  // namespace
}  // namespace mutual::server::der
