#include "agent/unix_attestor.h"

#include <unistd.h>

#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>

namespace mutual::agent {
namespace {

TEST(UnixAttestor, ParsesSupplementaryGroups) {
  EXPECT_EQ(parseSupplementaryGroups("Name:\tx\nGroups:\t4 24 27 \nNSpid:\t1\n"),
            (std::vector<unsigned>{4, 24, 27}));
  EXPECT_TRUE(parseSupplementaryGroups("Name:\tx\nGroups:\t\n").empty());
  EXPECT_TRUE(parseSupplementaryGroups("").empty());
}

TEST(UnixAttestor, SelectorsOfThisProcess) {
  workloadapi::Caller me;
  me.pid = getpid();
  me.uid = getuid();
  me.gid = getgid();
  me.user_name = "someone";
  me.binary_path = "/usr/bin/app";
  auto selectors = unixSelectors(me, {});
  EXPECT_TRUE(selectors.count("unix:uid:" + std::to_string(getuid())));
  EXPECT_TRUE(selectors.count("unix:gid:" + std::to_string(getgid())));
  EXPECT_TRUE(selectors.count("unix:user:someone"));
  EXPECT_FALSE(selectors.count("unix:path:/usr/bin/app"));  // only when discovery is on
  auto with_path = unixSelectors(me, {.discover_workload_path = true});
  EXPECT_TRUE(with_path.count("unix:path:/usr/bin/app"));
}

// unix:sha256 is the hash of the running binary, as `sha256sum` prints it; a size limit below
// the binary's size, or a negative one, leaves it out.
TEST(UnixAttestor, Sha256OfTheRunningBinary) {
  workloadapi::Caller me;
  me.pid = getpid();
  me.binary_path = std::filesystem::read_symlink("/proc/self/exe").string();
  std::string expected;
  if (FILE* p = popen(("sha256sum " + me.binary_path).c_str(), "r")) {
    char line[200] = {};
    if (fgets(line, sizeof line, p) != nullptr) expected = std::string(line).substr(0, 64);
    pclose(p);
  }
  ASSERT_EQ(expected.size(), 64u);
  const auto has_hash = [&](int64_t limit) {
    return unixSelectors(me, {.discover_workload_path = true, .workload_size_limit = limit})
        .count("unix:sha256:" + expected) == 1;
  };
  EXPECT_TRUE(has_hash(0));
  EXPECT_TRUE(has_hash(int64_t{1} << 40));
  EXPECT_FALSE(has_hash(1024));
  EXPECT_FALSE(has_hash(-1));
}

TEST(UnixAttestor, EntryMatchesWhenItsSelectorsAreASubset) {
  std::set<std::string> workload{"unix:uid:1000", "unix:gid:1000", "unix:user:app"};
  EXPECT_TRUE(entryMatches({"unix:uid:1000"}, workload));
  EXPECT_TRUE(entryMatches({"unix:uid:1000", "unix:user:app"}, workload));
  EXPECT_FALSE(entryMatches({"unix:uid:1000", "unix:user:root"}, workload));
  EXPECT_FALSE(entryMatches({"unix:uid:0"}, workload));
  EXPECT_FALSE(entryMatches({}, workload));
}

}  // namespace
}  // namespace mutual::agent
