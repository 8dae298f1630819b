#include <sstream>

#include <gtest/gtest.h>

#include "cli/output.h"

namespace mutual::cli {
namespace {

TEST(Output, ParsesOnlyAllowedFormats) {
  EXPECT_EQ(*parseOutput("json", {"text", "json"}), Output::kJson);
  EXPECT_EQ(*parseOutput("table", {"table", "json"}), Output::kTable);
  auto bad = parseOutput("yaml", {"text", "json"});
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("text|json"), std::string::npos);
}

TEST(Output, AlignsTableColumns) {
  std::ostringstream out;
  printTable(out, {"status", "name"}, {{"ok", "a"}, {"expiring", "bb"}});
  EXPECT_EQ(out.str(), "STATUS    NAME\nok        a\nexpiring  bb\n");
}

TEST(Output, MapsErrorsToDocumentedExitCodes) {
  EXPECT_EQ(exitCodeFor({Code::kInvalidArgument, "x", ""}), kExitBadInput);
  EXPECT_EQ(exitCodeFor({Code::kNotFound, "x", ""}), kExitBadInput);
  EXPECT_EQ(exitCodeFor({Code::kPermissionDenied, "x", ""}), kExitFailed);
  EXPECT_EQ(exitCodeFor({Code::kInternal, "x", ""}), kExitFailed);
}

}  // namespace
}  // namespace mutual::cli
