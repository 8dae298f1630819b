#include "telemetry/logging.h"

#include <cctype>
#include <sstream>

#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

namespace mutual::telemetry {
namespace {

class LoggingTest : public ::testing::Test {
 protected:
  // Later tests must not log into this test's destroyed stream.
  void TearDown() override { ASSERT_TRUE(setupLogging("info").has_value()); }
  std::ostringstream out_;
};

TEST_F(LoggingTest, PatternHasTimeLevelThreadAndMessage) {
  ASSERT_TRUE(
      setupLogging("info", std::make_shared<spdlog::sinks::ostream_sink_mt>(out_)).has_value());
  spdlog::info("conn={} handshake ok peer={}", 7, "spiffe://example.org/a");
  spdlog::debug("hidden");
  // std::regex trips g++ 12's -Wmaybe-uninitialized in the sanitizer build: match by hand.
  const std::string text = out_.str();
  const std::string shape = "dddd-dd-ddTdd:dd:dd.dddZ info [";
  ASSERT_GT(text.size(), shape.size()) << text;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == 'd') {
      EXPECT_TRUE(std::isdigit(static_cast<unsigned char>(text[i]))) << text;
    } else {
      EXPECT_EQ(text[i], shape[i]) << text;
    }
  }
  const size_t close = text.find(']', shape.size());
  ASSERT_NE(close, std::string::npos) << text;
  ASSERT_GT(close, shape.size());  // a thread id
  for (size_t i = shape.size(); i < close; ++i) {
    EXPECT_TRUE(std::isdigit(static_cast<unsigned char>(text[i]))) << text;
  }
  EXPECT_EQ(text.substr(close), "] conn=7 handshake ok peer=spiffe://example.org/a\n");
}

TEST_F(LoggingTest, SetLevel) {
  ASSERT_TRUE(
      setupLogging("warning", std::make_shared<spdlog::sinks::ostream_sink_mt>(out_)).has_value());
  EXPECT_EQ(logLevel(), "warning");
  spdlog::info("not shown");
  EXPECT_EQ(out_.str(), "");

  ASSERT_TRUE(setLevel("debug").has_value());
  EXPECT_EQ(logLevel(), "debug");
  spdlog::debug("conn=1 shown");
  EXPECT_NE(out_.str().find("debug"), std::string::npos);
  EXPECT_NE(out_.str().find("conn=1 shown"), std::string::npos);

  ASSERT_TRUE(setLevel("warn").has_value());
  EXPECT_EQ(logLevel(), "warning");
  for (const char* name : {"trace", "info", "error", "critical", "off"}) {
    ASSERT_TRUE(setLevel(name).has_value()) << name;
    EXPECT_EQ(logLevel(), name);
  }
}

TEST_F(LoggingTest, UnknownLevelIsAnErrorAndChangesNothing) {
  ASSERT_TRUE(setupLogging("error").has_value());
  for (const char* name : {"verbose", "DEBUG", "", "err", "warn "}) {
    const auto r = setLevel(name);
    ASSERT_FALSE(r.has_value()) << name;
    EXPECT_EQ(r.error().code, Code::kInvalidArgument);
    EXPECT_NE(r.error().message.find("trace, debug, info"), std::string::npos);
  }
  EXPECT_EQ(logLevel(), "error");
  EXPECT_FALSE(setupLogging("loud").has_value());
  EXPECT_EQ(logLevel(), "error");
}

}  // namespace
}  // namespace mutual::telemetry
