// sniffClientHello over arbitrary bytes. Invariants:
// - kNeedMore asks for more bytes than it was given and at most kMaxClientHelloBytes;
// - kNotTls is decided on the record header alone (at most 3 bytes) and says why;
// - a final answer (kTls, kNotTls) does not change when bytes are appended, and a kNeedMore
//   answer stays kNeedMore for every shorter prefix (the proxy peeks a growing prefix);
// - a well-formed kTls answer has an SNI of printable ASCII and no empty ALPN name; a
//   malformed one carries neither.

#include <cstddef>
#include <cstdint>
#include <span>

#include "fuzz_check.h"
#include "net/client_hello.h"

namespace {

using mutual::net::SniffResult;
using mutual::net::SniffStatus;

bool sameAnswer(const SniffResult& a, const SniffResult& b) {
  return a.status == b.status && a.error == b.error && a.needed == b.needed &&
         a.hello.sni == b.hello.sni && a.hello.alpn == b.hello.alpn &&
         a.hello.record_version == b.hello.record_version &&
         a.hello.legacy_version == b.hello.legacy_version &&
         a.hello.supported_versions_tls13 == b.hello.supported_versions_tls13;
}

void checkOne(std::span<const uint8_t> bytes, const SniffResult& r) {
  switch (r.status) {
    case SniffStatus::kNeedMore:
      FUZZ_CHECK(r.needed > bytes.size());
      FUZZ_CHECK(r.needed <= mutual::net::kMaxClientHelloBytes);
      FUZZ_CHECK(r.error.empty());
      break;
    case SniffStatus::kNotTls:
      FUZZ_CHECK(!bytes.empty());
      FUZZ_CHECK(!r.error.empty());
      FUZZ_CHECK(r.needed == 0);
      break;
    case SniffStatus::kTls:
      FUZZ_CHECK(bytes.size() >= 5 && bytes[0] == 22);
      FUZZ_CHECK(r.needed == 0);
      if (!r.error.empty()) {
        FUZZ_CHECK(r.hello.sni.empty() && r.hello.alpn.empty());
        break;
      }
      for (char c : r.hello.sni) FUZZ_CHECK(c > 0x20 && c < 0x7f);
      for (const auto& p : r.hello.alpn) FUZZ_CHECK(!p.empty() && p.size() < 256);
      break;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::span<const uint8_t> bytes(data, size);
  const SniffResult whole = mutual::net::sniffClientHello(bytes);
  checkOne(bytes, whole);
  if (whole.status == SniffStatus::kNotTls) {
    const SniffResult head = mutual::net::sniffClientHello(bytes.first(std::min<size_t>(size, 3)));
    FUZZ_CHECK(head.status == SniffStatus::kNotTls && head.error == whole.error);
  }
  // A prefix chosen by the input itself: its answer must be consistent with the whole's.
  if (size > 0) {
    const size_t cut = (static_cast<size_t>(data[size - 1]) * 257 + size) % size;
    const auto prefix = bytes.first(cut);
    const SniffResult part = mutual::net::sniffClientHello(prefix);
    checkOne(prefix, part);
    if (part.status != SniffStatus::kNeedMore) FUZZ_CHECK(sameAnswer(part, whole));
    if (whole.status == SniffStatus::kNeedMore) FUZZ_CHECK(part.status == SniffStatus::kNeedMore);
  }
  (void)mutual::net::offersMeshAlpn(whole.hello);
  return 0;
}
