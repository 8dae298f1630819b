// SpiffeId::parse, TrustDomain::parse and validatePath over arbitrary bytes. Invariants: a
// parsed ID is already canonical (str() gives back the input) and re-parses to the same ID; its
// trust domain and path are valid on their own; rejection is always InvalidArgument.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_check.h"
#include "spiffe/spiffe_id.h"

using mutual::Code;
using mutual::spiffe::SpiffeId;
using mutual::spiffe::TrustDomain;
using mutual::spiffe::validatePath;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);

  auto id = SpiffeId::parse(text);
  if (id) {
    const std::string str = id->str();
    FUZZ_CHECK(str == text);
    auto again = SpiffeId::parse(str);
    FUZZ_CHECK(again && *again == *id);
    FUZZ_CHECK(id->isRoot() == id->path().empty());
    FUZZ_CHECK(validatePath(id->path()).has_value());
    FUZZ_CHECK(id->memberOf(id->trustDomain()));
    auto td = TrustDomain::parse(id->trustDomain().name());
    FUZZ_CHECK(td && *td == id->trustDomain());
    auto td_of_id = TrustDomain::parse(str);  // go-spiffe accepts an ID where a TD is expected
    FUZZ_CHECK(td_of_id && *td_of_id == id->trustDomain());
    auto rebuilt = SpiffeId::fromPath(id->trustDomain(), id->path());
    FUZZ_CHECK(rebuilt && *rebuilt == *id);
  } else {
    FUZZ_CHECK(id.error().code == Code::kInvalidArgument);
    FUZZ_CHECK(!id.error().message.empty());
  }

  if (auto td = TrustDomain::parse(text)) {
    FUZZ_CHECK(!td->name().empty() && td->name().size() <= 255);
    auto again = TrustDomain::parse(td->name());
    FUZZ_CHECK(again && *again == *td);
    auto own_id = SpiffeId::parse(td->idString());
    FUZZ_CHECK(own_id && own_id->isRoot() && own_id->trustDomain() == *td);
  }

  if (validatePath(text)) {
    static const TrustDomain kTd = *TrustDomain::parse("example.org");
    auto under = SpiffeId::fromPath(kTd, text);
    FUZZ_CHECK(under && under->path() == text);
  }
  return 0;
}
