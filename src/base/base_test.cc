#include <filesystem>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>

#include <gtest/gtest.h>

#include "base/duration.h"
#include "base/encoding.h"
#include "base/file.h"
#include "base/testing.h"
#include "base/time.h"

namespace mutual {
namespace {

TEST(Duration, ParsesGoStyle) {
  struct Case {
    const char* text;
    int64_t seconds;
  } cases[] = {
      {"0", 0},          {"1h", 3600},      {"87600h", 315360000}, {"90m", 5400},
      {"1h30m", 5400},   {"30s", 30},       {"1.5h", 5400},        {"2h0m0s", 7200},
      {"1500ms", 1},     {"+5s", 5},
  };
  for (const auto& c : cases) {
    auto d = parseDuration(c.text);
    ASSERT_TRUE(d) << c.text << ": " << d.error().message;
    EXPECT_EQ(d->count(), c.seconds) << c.text;
  }
}

TEST(Duration, RejectsBadInput) {
  for (const char* text : {"", "h", "5", "-1h", "1d", "1h30", "abc", "1..5h", "1e9h"}) {
    auto d = parseDuration(text);
    EXPECT_FALSE(d) << text;
    if (!d) {
      EXPECT_EQ(d.error().code, Code::kInvalidArgument);
    }
  }
}

TEST(Duration, Formats) {
  EXPECT_EQ(formatDuration(Seconds(3600)), "1h0m0s");
  EXPECT_EQ(formatDuration(Seconds(5430)), "1h30m30s");
  EXPECT_EQ(formatDuration(Seconds(45)), "45s");
  EXPECT_EQ(formatDurationShort(Seconds(90000)), "1d1h");
  EXPECT_EQ(formatDurationShort(Seconds(-7200)), "-2h0m");
}

TEST(Time, ParsesRfc3339AndUnix) {
  EXPECT_EQ(toUnix(*parseTime("1970-01-01T00:00:00Z")), 0);
  EXPECT_EQ(toUnix(*parseTime("2026-11-28T18:00:00Z")), 1795888800);
  EXPECT_EQ(toUnix(*parseTime("2026-11-28T20:00:00+02:00")), 1795888800);
  EXPECT_EQ(toUnix(*parseTime("2026-11-28T18:00:00.123Z")), 1795888800);
  EXPECT_EQ(toUnix(*parseTime("1795888800")), 1795888800);
  EXPECT_EQ(formatRfc3339(fromUnix(1795888800)), "2026-11-28T18:00:00Z");
  for (const char* bad : {"", "2026-11-28", "2026-13-01T00:00:00Z", "2026-11-28T18:00:00",
                          "yesterday", "2026-11-28T18:00:00Zjunk"}) {
    EXPECT_FALSE(parseTime(bad)) << bad;
  }
}

// Certificates say 9999-12-31 for "never expires"; TimePoint ends in 2262 (found by
// fuzz/pem_fuzz: the conversion overflowed).
TEST(Time, SaturatesBeyondTimePointRange) {
  EXPECT_EQ(fromUnix(253402300799), TimePoint::max());  // 9999-12-31T23:59:59Z
  EXPECT_EQ(fromUnix(INT64_MAX), TimePoint::max());
  EXPECT_EQ(fromUnix(-253402300800), TimePoint::min());
  EXPECT_EQ(fromUnix(INT64_MIN), TimePoint::min());
  EXPECT_EQ(*parseTime("9999-12-31T23:59:59Z"), TimePoint::max());
  EXPECT_EQ(*parseTime("99999999999999"), TimePoint::max());
  EXPECT_EQ(formatRfc3339(fromUnix(253402300799)).substr(0, 4), "2262");
}

TEST(Time, AddDurationRefusesToWrapIntoThePast) {
  const TimePoint now = fromUnix(1'800'000'000);  // 2027
  EXPECT_EQ(*addDuration(now, Seconds(3600)), fromUnix(1'800'003'600));
  // Up to the latest representable second, and not one past it.
  const int64_t latest = toUnix(TimePoint::max());
  EXPECT_EQ(toUnix(*addDuration(now, Seconds(latest - 1'800'000'000))), latest);
  auto over = addDuration(now, Seconds(latest - 1'800'000'000 + 1));
  ASSERT_FALSE(over);
  EXPECT_EQ(over.error().code, Code::kInvalidArgument);
  EXPECT_EQ(over.error().reason, "duration_too_large");
  EXPECT_NE(over.error().message.find("duration too large"), std::string::npos);
  // The values from the QA report: 2562047h (about 292 years) and 8760000h (1000 years).
  EXPECT_FALSE(addDuration(now, *parseDuration("2562047h")));
  EXPECT_FALSE(addDuration(now, *parseDuration("8760000h")));
  // parseDuration's own ceiling still cannot overflow the comparison.
  EXPECT_FALSE(addDuration(now, Seconds(INT64_MAX / 2)));
}

TEST(File, AtomicWriteSetsModeAndReplaces) {
  const auto dir = std::filesystem::temp_directory_path() / "mutual_base_test";
  std::filesystem::remove_all(dir);
  const auto path = dir / "sub" / "tls.key";
  ASSERT_TRUE(writeFileAtomic(path, "first", kPrivateKeyMode));
  ASSERT_TRUE(writeFileAtomic(path, "second", kPrivateKeyMode));
  EXPECT_EQ(*readFile(path), "second");
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  // No temporary files are left behind.
  int entries = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(path.parent_path())) {
    ++entries;
  }
  EXPECT_EQ(entries, 1);
  auto missing = readFile(dir / "nope");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, Code::kNotFound);
  EXPECT_NE(missing.error().message.find("nope"), std::string::npos);
  std::filesystem::remove_all(dir);
}

TEST(File, LockIsExclusiveAndNamesTheHoldersPid) {
  testing::TempDir dir;
  const auto path = dir.path() / "server.lock";
  {
    auto held = FileLock::acquire(path);
    ASSERT_TRUE(held) << held.error().message;
    // Another open file description is refused (flock), even in the same process.
    auto second = FileLock::acquire(path);
    ASSERT_FALSE(second);
    EXPECT_EQ(second.error().code, Code::kAlreadyExists);
    EXPECT_NE(second.error().message.find(path.string()), std::string::npos);
    EXPECT_NE(second.error().message.find("pid " + std::to_string(::getpid())), std::string::npos)
        << second.error().message;
  }
  // Released with the object.
  EXPECT_TRUE(FileLock::acquire(path));
}

TEST(File, ClearStaleSocketRemovesADeadSocketButNotALiveOne) {
  testing::TempDir dir;
  const auto path = dir.path() / "api.sock";
  EXPECT_TRUE(clearStaleSocket(path));  // nothing there
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.c_str(), path.native().size());
  const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(::listen(fd, 1), 0);
  auto live = clearStaleSocket(path);
  ASSERT_FALSE(live);
  EXPECT_EQ(live.error().code, Code::kAlreadyExists);
  EXPECT_NE(live.error().message.find("another server is listening on it"), std::string::npos);
  EXPECT_TRUE(std::filesystem::exists(path));
  ::close(fd);  // the socket file stays, stale
  EXPECT_TRUE(clearStaleSocket(path));
  EXPECT_FALSE(std::filesystem::exists(path));
  ASSERT_TRUE(writeFileAtomic(path, "not a socket"));
  auto file = clearStaleSocket(path);
  ASSERT_FALSE(file);
  EXPECT_EQ(file.error().code, Code::kFailedPrecondition);
}

int countEntries(const std::filesystem::path& dir) {
  int entries = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir)) ++entries;
  return entries;
}

TEST(File, WriteFilesAtomicReplacesTheSet) {
  const auto dir = std::filesystem::temp_directory_path() / "mutual_base_test_set";
  std::filesystem::remove_all(dir);
  ASSERT_TRUE(writeFilesAtomic({{dir / "tls.crt", "crt1"}, {dir / "tls.key", "key1", 0600}}));
  ASSERT_TRUE(writeFilesAtomic({{dir / "tls.crt", "crt2"}, {dir / "tls.key", "key2", 0600}}));
  EXPECT_EQ(*readFile(dir / "tls.crt"), "crt2");
  EXPECT_EQ(*readFile(dir / "tls.key"), "key2");
  struct stat st {};
  ASSERT_EQ(::stat((dir / "tls.key").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(countEntries(dir), 2);
  std::filesystem::remove_all(dir);
}

TEST(File, WriteFilesAtomicRenamesNothingWhenOneFails) {
  const auto dir = std::filesystem::temp_directory_path() / "mutual_base_test_fail";
  std::filesystem::remove_all(dir);
  ASSERT_TRUE(writeFilesAtomic({{dir / "ca.crt", "old crt"}, {dir / "ca.key", "old key"}}));

  // A target that is a directory: its rename would fail, so nothing is renamed.
  std::filesystem::create_directory(dir / "tls.crt");
  auto bad = writeFilesAtomic(
      {{dir / "ca.crt", "new crt"}, {dir / "tls.crt", "x"}, {dir / "ca.key", "new key"}});
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find((dir / "tls.crt").string()), std::string::npos);
  EXPECT_EQ(bad.error().message.find(".tmp-"), std::string::npos) << bad.error().message;
  EXPECT_EQ(*readFile(dir / "ca.crt"), "old crt");
  EXPECT_EQ(*readFile(dir / "ca.key"), "old key");
  EXPECT_EQ(countEntries(dir), 3);  // ca.crt, ca.key, the tls.crt directory: no temporaries

  // A file that cannot be staged (its parent is a regular file): the earlier ones, already
  // staged, are discarded.
  auto unstageable = writeFilesAtomic({{dir / "ca.crt", "new crt"}, {dir / "ca.key" / "k", "k"}});
  ASSERT_FALSE(unstageable);
  EXPECT_EQ(*readFile(dir / "ca.crt"), "old crt");
  EXPECT_EQ(countEntries(dir), 3);
  std::filesystem::remove_all(dir);
}

TEST(Encoding, AsciiLowerLeavesOtherBytesAlone) {
  EXPECT_EQ(asciiLower("Cluster.LOCAL-09_Z"), "cluster.local-09_z");
  EXPECT_EQ(asciiLower(""), "");
  EXPECT_EQ(asciiLower("\xc3\x89T\xc3\x89"), "\xc3\x89t\xc3\x89");  // UTF-8 bytes unchanged
}

TEST(Encoding, Base64RoundTripsAndRejectsGarbage) {
  const std::string samples[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar",
                                 std::string("\x00\xff\x10", 3)};
  for (const auto& s : samples) {
    EXPECT_EQ(*base64Decode(base64Encode(s)), s);
    EXPECT_EQ(*base64UrlDecode(base64UrlEncode(s)), s);
  }
  EXPECT_EQ(base64Encode("foobar"), "Zm9vYmFy");
  EXPECT_EQ(base64Encode("fo"), "Zm8=");
  EXPECT_EQ(base64UrlEncode("\xfb\xff"), "-_8");
  EXPECT_EQ(*base64Decode("Zm9v\nYmFy"), "foobar");
  EXPECT_FALSE(base64Decode("Zm9v!"));
  EXPECT_FALSE(base64Decode("Z"));
  EXPECT_FALSE(base64Decode("Zm=9"));
  EXPECT_FALSE(base64UrlDecode("Zm9v+"));
}

}  // namespace
}  // namespace mutual

namespace mutual {
namespace {

TEST(Encoding, QuotesForJsonAndYaml) {
  std::string out;
  appendQuoted(out, std::string("a\"b\\c\nd\x01\x7f", 9));
  EXPECT_EQ(out, "\"a\\\"b\\\\c\\nd\\u0001\\u007f\"");
}

}  // namespace
}  // namespace mutual
