#include "telemetry/access_log.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "base/testing.h"

namespace mutual::telemetry {
namespace {

namespace fs = std::filesystem;
using mutual::testing::must;

class AccessLogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/mutual-access-log-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::vector<std::string> readLines(const fs::path& path) {
    std::ifstream in(path);
    std::vector<std::string> lines;
    for (std::string line; std::getline(in, line);) lines.push_back(line);
    return lines;
  }
  static std::string contents(const fs::path& path) {
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }

  fs::path dir_;
};

TEST_F(AccessLogTest, LinesArriveInOrderAndCloseFlushes) {
  const fs::path path = dir_ / "access.log";
  const mode_t old_umask = ::umask(022);
  auto log = must(AccessLog::open(path.string()));
  ::umask(old_umask);
  for (int i = 0; i < 10000; ++i) log->write("{\"n\":" + std::to_string(i) + "}");
  log.reset();  // the destructor writes everything queued

  const auto lines = readLines(path);
  ASSERT_EQ(lines.size(), 10000u);
  for (int i = 0; i < 10000; ++i) EXPECT_EQ(lines[i], "{\"n\":" + std::to_string(i) + "}");
  EXPECT_EQ(fs::status(path).permissions() & fs::perms::all,
            fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read);
  const std::string text = contents(path);
  EXPECT_EQ(text.back(), '\n');
}

TEST_F(AccessLogTest, AppendsToAnExistingFile) {
  const fs::path path = dir_ / "access.log";
  std::ofstream(path) << "old line\n";
  auto log = must(AccessLog::open(path.string()));
  log->write("new line");
  log->close();
  EXPECT_EQ(contents(path), "old line\nnew line\n");
  EXPECT_EQ(log->written(), 1u);
  EXPECT_EQ(log->dropped(), 0u);
}

TEST_F(AccessLogTest, ConcurrentWritersNeverInterleave) {
  const fs::path path = dir_ / "access.log";
  constexpr int kWriters = 4;
  constexpr int kLines = 5000;
  // Room for every line (about 30 MB): this test is about interleaving, not overflow.
  auto log = must(AccessLog::open(path.string(), {.buffer_bytes = 64 << 20}));
  std::vector<std::thread> threads;
  for (int w = 0; w < kWriters; ++w) {
    threads.emplace_back([&log, w] {
      for (int i = 0; i < kLines; ++i) {
        // Lines of different lengths, some long, so a torn write would show.
        log->write("w=" + std::to_string(w) + " i=" + std::to_string(i) + " " +
                   std::string(static_cast<size_t>((i * 131) % 3000), static_cast<char>('a' + w)));
      }
    });
  }
  for (auto& t : threads) t.join();
  log->flush();
  EXPECT_EQ(log->written(), static_cast<uint64_t>(kWriters * kLines));
  EXPECT_EQ(log->dropped(), 0u);

  const auto lines = readLines(path);
  ASSERT_EQ(lines.size(), static_cast<size_t>(kWriters * kLines));
  std::map<int, int> next;  // writer -> next expected i
  for (const auto& line : lines) {
    int w = -1;
    int i = -1;
    ASSERT_EQ(std::sscanf(line.c_str(), "w=%d i=%d ", &w, &i), 2) << line.substr(0, 80);
    ASSERT_EQ(i, next[w]) << "out of order for writer " << w;
    ++next[w];
    const std::string payload = line.substr(line.find(' ', line.find(' ') + 1) + 1);
    ASSERT_EQ(payload,
              std::string(static_cast<size_t>((i * 131) % 3000), static_cast<char>('a' + w)));
  }
}

// Blocks the writer thread on a full pipe, then fills the buffer past its size.
TEST_F(AccessLogTest, FullBufferDropsNewLinesAndCountsThem) {
  const fs::path fifo = dir_ / "fifo";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  const int reader = ::open(fifo.c_str(), O_RDONLY | O_NONBLOCK);
  ASSERT_GE(reader, 0);
  auto log = must(AccessLog::open(fifo.string(), {.buffer_bytes = 100000}));

  // A line larger than the pipe (64 KiB): the writer thread is stuck in write() once data
  // shows up, and the buffer is empty again.
  const std::string big(90000, 'x');
  log->write(big);
  pollfd p{reader, POLLIN, 0};
  ASSERT_EQ(::poll(&p, 1, 5000), 1);
  // Lines of 10,000 bytes with their newline: ten fit, five do not.
  for (int i = 0; i < 15; ++i) log->write(std::to_string(i) + std::string(9998, '.'));
  EXPECT_EQ(log->dropped(), 5u);
  log->write(std::string(100000, 'y'));  // longer than the whole buffer
  EXPECT_EQ(log->dropped(), 6u);

  std::string received;
  std::thread drain([&] {
    ::fcntl(reader, F_SETFL, 0);  // blocking reads until the log closes its end
    char buf[65536];
    for (ssize_t n; (n = ::read(reader, buf, sizeof buf)) != 0;) {
      if (n > 0) received.append(buf, static_cast<size_t>(n));
    }
  });
  log->close();
  drain.join();
  ::close(reader);

  std::string expected = big + "\n";
  for (int i = 0; i < 10; ++i) expected += std::to_string(i) + std::string(9998, '.') + "\n";
  EXPECT_EQ(received.size(), expected.size());
  EXPECT_TRUE(received == expected);
  EXPECT_EQ(log->written(), 11u);
  EXPECT_EQ(log->dropped(), 6u);
}

TEST_F(AccessLogTest, WriteErrorsCountAsDropped) {
  const fs::path fifo = dir_ / "fifo";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  int reader = ::open(fifo.c_str(), O_RDONLY | O_NONBLOCK);
  ASSERT_GE(reader, 0);
  auto log = must(AccessLog::open(fifo.string()));
  ::close(reader);  // no reader left: writes fail with EPIPE (SIGPIPE ignored below)
  struct sigaction ignore {};
  struct sigaction old {};
  ignore.sa_handler = SIG_IGN;
  ASSERT_EQ(::sigaction(SIGPIPE, &ignore, &old), 0);
  log->write("lost 1");
  log->write("lost 2");
  log->flush();
  ::sigaction(SIGPIPE, &old, nullptr);
  EXPECT_EQ(log->dropped(), 2u);
  EXPECT_EQ(log->written(), 0u);
}

TEST_F(AccessLogTest, ReopenAfterRotation) {
  const fs::path path = dir_ / "access.log";
  auto log = must(AccessLog::open(path.string()));
  log->write("before");
  log->flush();
  fs::rename(path, dir_ / "access.log.1");
  log->write("still old file");
  log->flush();
  ASSERT_TRUE(log->reopen().has_value());
  log->flush();  // the writer swaps files before its next batch
  log->write("after");
  log->close();
  EXPECT_EQ(contents(dir_ / "access.log.1"), "before\nstill old file\n");
  EXPECT_EQ(contents(path), "after\n");
}

TEST_F(AccessLogTest, LinesAreWrittenWithinTheFlushInterval) {
  const fs::path path = dir_ / "access.log";
  auto log =
      must(AccessLog::open(path.string(), {.flush_interval = std::chrono::milliseconds(20)}));
  log->write("soon");
  // No flush(): the writer comes for the line by itself.
  for (int i = 0; i < 500 && contents(path).empty(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(contents(path), "soon\n");
}

TEST_F(AccessLogTest, FlushReopenAndCloseDoNotWaitForTheInterval) {
  const fs::path path = dir_ / "access.log";
  auto log = must(AccessLog::open(path.string(), {.flush_interval = std::chrono::hours(1)}));
  log->write("one");
  log->flush();
  EXPECT_EQ(contents(path), "one\n");
  fs::rename(path, dir_ / "access.log.1");
  ASSERT_TRUE(log->reopen().has_value());
  log->write("two");
  log->flush();
  log->write("three");
  log->close();
  EXPECT_EQ(contents(dir_ / "access.log.1"), "one\n");
  EXPECT_EQ(contents(path), "two\nthree\n");
}

TEST_F(AccessLogTest, ReopenFailureKeepsTheCurrentFile) {
  const fs::path sub = dir_ / "sub";
  fs::create_directory(sub);
  const fs::path path = sub / "access.log";
  auto log = must(AccessLog::open(path.string()));
  fs::rename(sub, dir_ / "gone");
  const auto r = log->reopen();
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, Code::kNotFound);
  EXPECT_NE(r.error().message.find("access.log"), std::string::npos);
  log->write("kept");
  log->close();
  EXPECT_EQ(contents(dir_ / "gone" / "access.log"), "kept\n");
}

TEST_F(AccessLogTest, OpenFailureNamesThePath) {
  const auto r = AccessLog::open((dir_ / "missing" / "access.log").string());
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, Code::kNotFound);
  EXPECT_NE(r.error().message.find("missing/access.log"), std::string::npos);
}

TEST_F(AccessLogTest, WritesAfterCloseAreDropped) {
  const fs::path path = dir_ / "access.log";
  auto log = must(AccessLog::open(path.string()));
  log->close();
  log->close();  // idempotent
  log->write("late");
  log->flush();  // returns at once
  EXPECT_EQ(log->dropped(), 1u);
  EXPECT_EQ(contents(path), "");
}

TEST_F(AccessLogTest, StdoutIsDuplicatedNotOpened) {
  auto log = must(AccessLog::open("/dev/stdout"));
  EXPECT_TRUE(log->reopen().has_value());
  EXPECT_EQ(log->path(), "/dev/stdout");
  log->close();
  // Our own stdout is still open.
  EXPECT_NE(::fcntl(STDOUT_FILENO, F_GETFD), -1);
}

}  // namespace
}  // namespace mutual::telemetry
