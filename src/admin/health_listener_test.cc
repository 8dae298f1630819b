#include "admin/health_listener.h"

#include <gtest/gtest.h>
#include <httplib.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <future>
#include <mutex>
#include <vector>

#include "admin/operational.h"
#include "base/testing.h"

namespace mutual::admin {
namespace {

using mutual::testing::must;

config::spire::HealthChecks onAnyPort() {
  config::spire::HealthChecks conf;
  conf.listener_enabled = true;
  conf.bind_address = "127.0.0.1";
  conf.bind_port = 0;
  return conf;
}

int portOf(const HealthListener& listener) {
  const std::string& address = listener.address();
  return std::stoi(address.substr(address.rfind(':') + 1));
}

TEST(HealthListener, AnswersLiveAndReadyWithTheReason) {
  std::atomic<bool> ready{false};
  auto listener = must(HealthListener::start(onAnyPort(), [&](std::string& why) {
    if (!ready) why = "not synced with the server yet";
    return ready.load();
  }));
  httplib::Client http("127.0.0.1", portOf(*listener));
  auto live = http.Get("/live");
  ASSERT_TRUE(live);
  EXPECT_EQ(live->status, 200);
  EXPECT_EQ(live->body, "{\"live\":true}\n");
  auto not_ready = http.Get("/ready");
  ASSERT_TRUE(not_ready);
  EXPECT_EQ(not_ready->status, 503);
  EXPECT_EQ(not_ready->body, "{\"ready\":false,\"reason\":\"not synced with the server yet\"}\n");
  ready = true;
  auto now_ready = http.Get("/ready");
  ASSERT_TRUE(now_ready);
  EXPECT_EQ(now_ready->status, 200);
  EXPECT_EQ(now_ready->body, "{\"ready\":true}\n");
}

TEST(HealthListener, ConfiguredPathsAreLiteral) {
  config::spire::HealthChecks conf = onAnyPort();
  conf.live_path = "/a.b";
  conf.ready_path = "/ready[";  // a regular expression that does not compile
  auto listener = must(HealthListener::start(conf, [](std::string&) { return true; }));
  httplib::Client http("127.0.0.1", portOf(*listener));
  EXPECT_EQ(http.Get("/a.b")->status, 200);
  EXPECT_EQ(http.Get("/axb")->status, 404);
  EXPECT_EQ(http.Get("/ready[")->status, 200);
}

TEST(HealthListener, AHangingReadinessCheckDoesNotHoldUpTheProbes) {
  std::mutex mu;
  std::condition_variable cv;
  bool release = false;
  std::atomic<int> calls{0};
  auto listener = must(HealthListener::start(onAnyPort(), [&](std::string& why) {
    if (++calls == 1) return true;  // the first check answers: "ready"
    std::unique_lock lock(mu);       // the second one hangs, like a datastore that stalled
    cv.wait(lock, [&] { return release; });
    why = "datastore: gone";
    return false;
  }));
  const int port = portOf(*listener);
  httplib::Client http("127.0.0.1", port);
  ASSERT_EQ(http.Get("/ready")->status, 200);
  auto stuck = std::async(std::launch::async, [port] {
    httplib::Client c("127.0.0.1", port);
    c.set_read_timeout(30);
    return c.Get("/ready")->status;
  });
  while (calls < 2) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  // While it hangs: /live answers, and /ready answers the last result at once...
  EXPECT_EQ(http.Get("/live")->status, 200);
  auto meanwhile = http.Get("/ready");
  ASSERT_TRUE(meanwhile);
  EXPECT_EQ(meanwhile->status, 200);
  EXPECT_EQ(calls, 2);  // not a second check
  // ...until the check has hung for kSlowCheck: not ready, saying so.
  std::this_thread::sleep_for(HealthListener::kSlowCheck);
  auto slow = http.Get("/ready");
  ASSERT_TRUE(slow);
  EXPECT_EQ(slow->status, 503);
  EXPECT_NE(slow->body.find("the readiness check has not answered for"), std::string::npos)
      << slow->body;
  {
    std::lock_guard lock(mu);
    release = true;
  }
  cv.notify_all();
  EXPECT_EQ(stuck.get(), 503);
  auto after = http.Get("/ready");
  ASSERT_TRUE(after);
  EXPECT_EQ(after->status, 503);
  EXPECT_NE(after->body.find("datastore: gone"), std::string::npos) << after->body;
}

TEST(HealthListener, StopsRightAfterStarting) {
  // cpp-httplib ignores stop() before its thread runs: start returns only once it does, so
  // this never hangs.
  for (int i = 0; i < 50; ++i) {
    auto listener = must(HealthListener::start(onAnyPort(), [](std::string&) { return true; }));
    listener->stop();
  }
}

TEST(HealthListener, APortInUseIsAnErrorNamingTheBlock) {
  auto first = must(HealthListener::start(onAnyPort(), [](std::string&) { return true; }));
  config::spire::HealthChecks conf = onAnyPort();
  conf.bind_port = portOf(*first);
  conf.location = {"agent.conf", 31};
  auto second = HealthListener::start(conf, [](std::string&) { return true; });
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error().message, "agent.conf:31: health_checks: cannot listen on 127.0.0.1:" +
                                        std::to_string(conf.bind_port) + " (in use?)");
}

// Connections that send nothing, or one byte of a request line now and then, hold a thread
// each; probes still get answers while fewer of them than threads are open, and the silent ones
// are closed after the idle timeout.
TEST(Operational, SlowClientsDoNotStopTheProbes) {
  auto listener = must(HealthListener::start(onAnyPort(), [](std::string&) { return true; }));
  const int port = portOf(*listener);
  auto connect = [&] {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    return fd;
  };
  std::vector<int> slow;
  for (int i = 0; i < kOperationalThreads / 2; ++i) slow.push_back(connect());
  for (int i = 0; i < kOperationalThreads / 4; ++i) {
    const int fd = connect();
    EXPECT_EQ(::send(fd, "GET /re", 7, 0), 7);  // a request that never completes
    slow.push_back(fd);
  }
  httplib::Client http("127.0.0.1", port);
  // Less than the idle timeout: the answer must not wait for the slow connections to go.
  http.set_read_timeout(kOperationalIdleTimeoutSeconds / 2, 0);
  for (int i = 0; i < 3; ++i) {
    auto ready = http.Get("/ready");
    ASSERT_TRUE(ready) << "probe " << i << ": " << httplib::to_string(ready.error());
    EXPECT_EQ(ready->status, 200);
  }
  // The silent connections are closed by the server once the idle timeout has passed.
  char byte = 0;
  timeval wait{kOperationalIdleTimeoutSeconds * 3, 0};
  ::setsockopt(slow.front(), SOL_SOCKET, SO_RCVTIMEO, &wait, sizeof wait);
  EXPECT_EQ(::recv(slow.front(), &byte, 1, 0), 0) << "the server did not close an idle connection";
  for (int fd : slow) ::close(fd);
}

TEST(Operational, LiteralRouteEscapesRegexCharacters) {
  EXPECT_EQ(literalRoute("/live"), "/live");
  EXPECT_EQ(literalRoute("/a.b[c]"), "/a\\.b\\[c\\]");
}

}  // namespace
}  // namespace mutual::admin
