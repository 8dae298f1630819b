#include "net/client_hello.h"

#include <gtest/gtest.h>

#include <fstream>
#include <iterator>
#include <optional>
#include <string>
#include <vector>

namespace mutual::net {
namespace {

using Bytes = std::vector<uint8_t>;

Bytes readTestdata(const std::string& name) {
  const std::string path = std::string(MUTUAL_NET_TESTDATA) + "/" + name;
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in) << "cannot open " << path;
  return Bytes(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

Bytes ascii(std::string_view s) { return Bytes(s.begin(), s.end()); }

SniffResult sniff(const Bytes& b) { return sniffClientHello(b); }

void put16(Bytes& out, size_t v) {
  out.push_back(static_cast<uint8_t>(v >> 8));
  out.push_back(static_cast<uint8_t>(v));
}

// `body` behind a `len_bytes`-byte length prefix.
Bytes vec(size_t len_bytes, const Bytes& body) {
  Bytes out;
  if (len_bytes == 1) {
    out.push_back(static_cast<uint8_t>(body.size()));
  } else {
    put16(out, body.size());
  }
  out.insert(out.end(), body.begin(), body.end());
  return out;
}

Bytes concat(std::initializer_list<Bytes> parts) {
  Bytes out;
  for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

// ---- A ClientHello builder, for the cases no real client sends ---------------------------

struct Extension {
  uint16_t type;
  Bytes data;
};

Extension sniExt(const std::string& host) {
  return {0, vec(2, concat({{0}, vec(2, ascii(host))}))};
}

Extension alpnExt(const std::vector<std::string>& protocols) {
  Bytes list;
  for (const auto& p : protocols) list = concat({list, vec(1, ascii(p))});
  return {16, vec(2, list)};
}

Extension versionsExt(const std::vector<uint16_t>& versions) {
  Bytes list;
  for (auto v : versions) put16(list, v);
  return {43, vec(1, list)};
}

struct Hello {
  uint16_t legacy_version = 0x0303;
  Bytes session_id = Bytes(32, 0xab);
  Bytes cipher_suites = {0x13, 0x01, 0x13, 0x02};
  Bytes compression = {0};
  std::optional<std::vector<Extension>> extensions = std::vector<Extension>{};

  // The body: legacy_version .. extensions.
  Bytes body() const {
    Bytes out;
    put16(out, legacy_version);
    out.insert(out.end(), 32, 0x42);  // random
    out = concat({out, vec(1, session_id), vec(2, cipher_suites), vec(1, compression)});
    if (extensions) {
      Bytes list;
      for (const auto& e : *extensions) {
        put16(list, e.type);
        list = concat({list, vec(2, e.data)});
      }
      out = concat({out, vec(2, list)});
    }
    return out;
  }
};

// A handshake message: type, 24-bit length, body.
Bytes handshake(const Bytes& body, uint8_t type = 1) {
  Bytes out = {type, static_cast<uint8_t>(body.size() >> 16),
               static_cast<uint8_t>(body.size() >> 8), static_cast<uint8_t>(body.size())};
  out.insert(out.end(), body.begin(), body.end());
  return out;
}

// `message` in handshake records of at most `fragment` bytes each.
Bytes records(const Bytes& message, size_t fragment = 16384, uint16_t version = 0x0301) {
  Bytes out;
  for (size_t pos = 0; pos < message.size(); pos += fragment) {
    const size_t n = std::min(fragment, message.size() - pos);
    out.push_back(22);
    put16(out, version);
    put16(out, n);
    out.insert(out.end(), message.begin() + static_cast<long>(pos),
               message.begin() + static_cast<long>(pos + n));
  }
  return out;
}

Bytes wire(const Hello& hello) { return records(handshake(hello.body())); }

// The ClientHello inside captured bytes (a single record), to refragment it.
Bytes messageOf(const Bytes& captured) { return Bytes(captured.begin() + 5, captured.end()); }

std::string statusName(SniffStatus s) {
  switch (s) {
    case SniffStatus::kNeedMore:
      return "kNeedMore";
    case SniffStatus::kTls:
      return "kTls";
    case SniffStatus::kNotTls:
      return "kNotTls";
  }
  return "?";
}

// Every proper prefix is kNeedMore with a `needed` beyond the prefix and no beyond the whole.
void expectPrefixesNeedMore(const Bytes& whole) {
  for (size_t i = 0; i < whole.size(); ++i) {
    const auto r = sniffClientHello(std::span<const uint8_t>(whole.data(), i));
    ASSERT_EQ(r.status, SniffStatus::kNeedMore) << "prefix " << i << " of " << whole.size() << ": "
                                                << statusName(r.status) << " " << r.error;
    EXPECT_GT(r.needed, i) << "prefix " << i;
    EXPECT_LE(r.needed, whole.size()) << "prefix " << i;
    EXPECT_TRUE(r.error.empty());
  }
}

// ---- Captured ClientHellos (testdata/capture.sh) ------------------------------------------

struct Capture {
  std::string file;
  std::string sni;
  std::vector<std::string> alpn;
  bool tls13;
  bool mesh;
};

const Capture kCaptures[] = {
    {"openssl_tls13_sni_alpn.bin",
     "reviews.shop.svc.cluster.local",
     {"istio-peer-exchange", "istio", "h2"},
     true,
     true},
    {"openssl_tls12_sni_alpn.bin",
     "cart.shop.svc.cluster.local",
     {"istio-http/1.1", "http/1.1"},
     false,
     true},
    {"openssl_default_no_sni.bin", "", {}, true, false},
    {"openssl_tls12_one_cipher.bin", "a.b", {}, false, false},
};

TEST(ClientHelloTest, CapturedFromOpenssl) {
  for (const auto& c : kCaptures) {
    SCOPED_TRACE(c.file);
    const Bytes bytes = readTestdata(c.file);
    ASSERT_GT(bytes.size(), 100u);
    const auto r = sniff(bytes);
    ASSERT_EQ(r.status, SniffStatus::kTls) << r.error;
    EXPECT_EQ(r.error, "");
    EXPECT_EQ(r.needed, 0u);
    EXPECT_EQ(r.hello.sni, c.sni);
    EXPECT_EQ(r.hello.alpn, c.alpn);
    EXPECT_EQ(r.hello.record_version, 0x0301);
    EXPECT_EQ(r.hello.legacy_version, 0x0303);
    EXPECT_EQ(r.hello.supported_versions_tls13, c.tls13);
    EXPECT_EQ(offersMeshAlpn(r.hello), c.mesh);
  }
}

TEST(ClientHelloTest, EveryPrefixOfACaptureNeedsMore) {
  for (const auto& c : kCaptures) {
    SCOPED_TRACE(c.file);
    const Bytes bytes = readTestdata(c.file);
    expectPrefixesNeedMore(bytes);
    // One record: once its header is in, the exact size is known.
    for (size_t i = 5; i < bytes.size(); ++i) {
      EXPECT_EQ(sniffClientHello(std::span<const uint8_t>(bytes.data(), i)).needed, bytes.size());
    }
  }
}

TEST(ClientHelloTest, BytesAfterTheClientHelloAreIgnored) {
  const Bytes bytes = readTestdata("openssl_tls13_sni_alpn.bin");
  const auto alone = sniff(bytes);
  for (const Bytes& tail : {ascii("GET / HTTP/1.1\r\n"), Bytes(20000, 0xff), Bytes{22, 3, 1}}) {
    const auto r = sniff(concat({bytes, tail}));
    ASSERT_EQ(r.status, SniffStatus::kTls);
    EXPECT_EQ(r.error, "");
    EXPECT_EQ(r.hello.sni, alone.hello.sni);
    EXPECT_EQ(r.hello.alpn, alone.hello.alpn);
  }
}

TEST(ClientHelloTest, FragmentedAcrossRecords) {
  const Bytes message = messageOf(readTestdata("openssl_tls13_sni_alpn.bin"));
  for (size_t fragment : {1u, 2u, 3u, 4u, 5u, 7u, 100u, 200u}) {
    SCOPED_TRACE("fragment " + std::to_string(fragment));
    const Bytes bytes = records(message, fragment);
    expectPrefixesNeedMore(bytes);
    const auto r = sniff(bytes);
    ASSERT_EQ(r.status, SniffStatus::kTls) << r.error;
    EXPECT_EQ(r.error, "");
    EXPECT_EQ(r.hello.sni, "reviews.shop.svc.cluster.local");
    EXPECT_EQ(r.hello.alpn, (std::vector<std::string>{"istio-peer-exchange", "istio", "h2"}));
    EXPECT_TRUE(r.hello.supported_versions_tls13);
  }
  // Later records may carry another TLS record version.
  Bytes mixed = concat({records(Bytes(message.begin(), message.begin() + 10)),
                        records(Bytes(message.begin() + 10, message.end()), 16384, 0x0303)});
  EXPECT_EQ(sniff(mixed).error, "");
  EXPECT_EQ(sniff(mixed).status, SniffStatus::kTls);
}

// ---- Not TLS ------------------------------------------------------------------------------

TEST(ClientHelloTest, PlaintextIsNotTlsAtTheFirstByte) {
  struct Case {
    Bytes bytes;
    std::string error;
  };
  const Case cases[] = {
      {ascii("G"), "first byte 0x47 ('G') is not a TLS handshake record (0x16)"},
      {ascii("GET / HTTP/1.1\r\nHost: cart\r\n\r\n"),
       "first byte 0x47 ('G') is not a TLS handshake record (0x16)"},
      {ascii("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"),
       "first byte 0x50 ('P') is not a TLS handshake record (0x16)"},
      {ascii("SSH-2.0-OpenSSH_9.2\r\n"),
       "first byte 0x53 ('S') is not a TLS handshake record (0x16)"},
      {Bytes{0x00, 0x00, 0x00}, "first byte 0x00 is not a TLS handshake record (0x16)"},
      {Bytes{0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x28},
       "first byte 0x15 is not a TLS handshake record (0x16)"},
      {Bytes{0x80}, "an SSLv2-format ClientHello (first byte 0x80); only TLS records are accepted"},
      // An SSLv2-compatible ClientHello as old clients sent it.
      {Bytes{0x80, 0x2e, 0x01, 0x03, 0x01, 0x00, 0x15},
       "an SSLv2-format ClientHello (first byte 0x80); only TLS records are accepted"},
      {Bytes{0x16, 0x02}, "record version major byte 0x02 is not 3 (TLS)"},
      {Bytes{0x16, 0x03, 0x00}, "record version 0x0300 is not TLS 1.0 to 1.3 (0x0301 to 0x0304)"},
      {Bytes{0x16, 0x03, 0x05, 0x00, 0x10},
       "record version 0x0305 is not TLS 1.0 to 1.3 (0x0301 to 0x0304)"},
  };
  for (const auto& c : cases) {
    const auto r = sniff(c.bytes);
    EXPECT_EQ(r.status, SniffStatus::kNotTls) << c.error;
    EXPECT_EQ(r.error, c.error);
    EXPECT_EQ(r.needed, 0u);
  }
}

TEST(ClientHelloTest, EmptyAndHeaderPrefixesNeedARecordHeader) {
  for (const Bytes& b : {Bytes{}, Bytes{0x16}, Bytes{0x16, 0x03}, Bytes{0x16, 0x03, 0x01},
                         Bytes{0x16, 0x03, 0x04, 0x00}}) {
    const auto r = sniff(b);
    EXPECT_EQ(r.status, SniffStatus::kNeedMore);
    EXPECT_EQ(r.needed, 5u);
  }
  // Once the record header is in, the record's length is.
  const auto r = sniff(Bytes{0x16, 0x03, 0x01, 0x01, 0x00});
  EXPECT_EQ(r.status, SniffStatus::kNeedMore);
  EXPECT_EQ(r.needed, 5u + 256u);
  EXPECT_EQ(r.hello.record_version, 0x0301);
}

// ---- TLS, but malformed -------------------------------------------------------------------

void expectTlsError(const Bytes& bytes, const std::string& error, int line = __builtin_LINE()) {
  SCOPED_TRACE("called at line " + std::to_string(line));
  const auto r = sniff(bytes);
  EXPECT_EQ(r.status, SniffStatus::kTls) << error << ": " << statusName(r.status);
  EXPECT_EQ(r.error, error);
  EXPECT_TRUE(r.hello.sni.empty());
  EXPECT_TRUE(r.hello.alpn.empty());
}

TEST(ClientHelloTest, BadRecords) {
  expectTlsError(Bytes{0x16, 0x03, 0x01, 0x00, 0x00}, "empty handshake record");
  expectTlsError(Bytes{0x16, 0x03, 0x01, 0x40, 0x01}, "record length 16385 exceeds 2^14");
  // A ServerHello (2) where a ClientHello belongs: known from the first byte of the message.
  expectTlsError(Bytes{0x16, 0x03, 0x03, 0x00, 0x30, 0x02},
                 "handshake message type 2 is not a ClientHello (1)");

  const Bytes message = handshake(Hello{}.body());
  const Bytes first = records(Bytes(message.begin(), message.begin() + 10));
  // An alert record in the middle of the ClientHello, judged from its first byte.
  expectTlsError(concat({first, Bytes{21}}), "record 2 has content type 21 inside the ClientHello");
  expectTlsError(concat({first, Bytes{21, 3, 3, 0, 2, 2, 40}}),
                 "record 2 has content type 21 inside the ClientHello");
  expectTlsError(concat({first, Bytes{22, 2, 0}}), "record 2 has version 0x0200");
  expectTlsError(concat({first, Bytes{22, 3, 1, 0, 0}}), "empty handshake record");
}

TEST(ClientHelloTest, Oversized) {
  // The handshake header announces more than the proxy peeks: known at its fourth byte.
  expectTlsError(Bytes{0x16, 0x03, 0x01, 0x40, 0x00, 0x01, 0x01, 0x00, 0x00}, "oversized");
  EXPECT_EQ(sniff(Bytes{0x16, 0x03, 0x01, 0x40, 0x00, 0x01, 0x01, 0x00}).status,
            SniffStatus::kNeedMore);
  // A 40 KB ClientHello in full records fits.
  Hello big;
  big.extensions = std::vector<Extension>{{0xfe00, Bytes(40000, 0)}, sniExt("big.example")};
  const Bytes fits = wire(big);
  ASSERT_LT(fits.size(), kMaxClientHelloBytes);
  const auto ok = sniff(fits);
  EXPECT_EQ(ok.status, SniffStatus::kTls);
  EXPECT_EQ(ok.error, "");
  EXPECT_EQ(ok.hello.sni, "big.example");
  // A message that fits alone but not with the headers of its many small records.
  const Bytes small_records = records(handshake(big.body()), 4);
  ASSERT_GT(small_records.size(), kMaxClientHelloBytes);
  expectTlsError(small_records, "oversized");
  // The answer is the same for any input that holds the first kMaxClientHelloBytes bytes.
  expectTlsError(
      Bytes(small_records.begin(), small_records.begin() + static_cast<long>(kMaxClientHelloBytes)),
      "oversized");
  // Known as soon as the smallest possible rest would not fit; until then, wait.
  const auto early = sniffClientHello(std::span<const uint8_t>(small_records.data(), 10000));
  EXPECT_EQ(early.status, SniffStatus::kNeedMore);
  EXPECT_LE(early.needed, kMaxClientHelloBytes);
  const auto late = sniffClientHello(std::span<const uint8_t>(small_records.data(), 60000));
  EXPECT_EQ(late.status, SniffStatus::kTls);
  EXPECT_EQ(late.error, kOversized);
  // Found by fuzz/client_hello_fuzz.cc: a 65318-byte ClientHello in one-byte records is
  // oversized from the record where even the smallest possible rest no longer fits, whatever
  // comes after it (here a record with a bad version, which must not change the answer).
  Bytes tiny = records(concat({{1, 0x00, 0xff, 0x22}, Bytes(96, 0x03)}), 1);
  tiny = concat({tiny, {22, 0x42, 0x42, 0x00, 0x01, 0x00}});
  expectTlsError(tiny, "oversized");
  expectTlsError(Bytes(tiny.begin(), tiny.begin() + 300), "oversized");
  EXPECT_EQ(sniffClientHello(std::span<const uint8_t>(tiny.data(), 200)).status,
            SniffStatus::kNeedMore);
  // A message too large for kMaxClientHelloBytes in any framing.
  Hello huge;
  huge.extensions = std::vector<Extension>{{0xfe00, Bytes(65500, 0)}};
  expectTlsError(records(handshake(huge.body())), "oversized");
}

TEST(ClientHelloTest, BuiltHelloParses) {
  Hello h;
  h.extensions = std::vector<Extension>{
      {0x0a0a, {}},  // GREASE
      sniExt("cart.shop.svc.cluster.local"),
      alpnExt({"istio-h2", "h2"}),
      versionsExt({0x0a0a, 0x0304, 0x0303}),
  };
  const auto r = sniff(wire(h));
  ASSERT_EQ(r.status, SniffStatus::kTls) << r.error;
  EXPECT_EQ(r.error, "");
  EXPECT_EQ(r.hello.sni, "cart.shop.svc.cluster.local");
  EXPECT_EQ(r.hello.alpn, (std::vector<std::string>{"istio-h2", "h2"}));
  EXPECT_TRUE(r.hello.supported_versions_tls13);
  EXPECT_TRUE(offersMeshAlpn(r.hello));

  // Without extensions at all (valid before TLS 1.3), and with an empty extension block.
  Hello bare;
  bare.extensions.reset();
  for (const Hello& x : {bare, Hello{}}) {
    const auto r2 = sniff(wire(x));
    EXPECT_EQ(r2.status, SniffStatus::kTls);
    EXPECT_EQ(r2.error, "");
    EXPECT_EQ(r2.hello.sni, "");
    EXPECT_FALSE(r2.hello.supported_versions_tls13);
  }
  // A server_name entry of an unknown type is skipped; TLS 1.2 only in supported_versions.
  Hello other;
  other.extensions = std::vector<Extension>{
      {0, vec(2, concat({{7}, vec(2, ascii("x")), {0}, vec(2, ascii("h.example"))}))},
      versionsExt({0x0303})};
  const auto r3 = sniff(wire(other));
  EXPECT_EQ(r3.error, "");
  EXPECT_EQ(r3.hello.sni, "h.example");
  EXPECT_FALSE(r3.hello.supported_versions_tls13);
}

TEST(ClientHelloTest, MalformedBody) {
  const Bytes good = Hello{}.body();
  struct Case {
    Bytes body;
    std::string error;
  };
  Hello long_session;
  long_session.session_id = Bytes(33, 1);
  Hello odd_suites;
  odd_suites.cipher_suites = {0x13, 0x01, 0x13};
  Hello no_suites;
  no_suites.cipher_suites = {};
  Hello no_compression;
  no_compression.compression = {};
  Hello sslv2;
  sslv2.legacy_version = 0x0200;
  const Case cases[] = {
      {{}, "truncated legacy_version"},
      {{0x03}, "truncated legacy_version"},
      {Bytes(good.begin(), good.begin() + 20), "truncated random"},
      {Bytes(good.begin(), good.begin() + 34), "truncated legacy_session_id"},
      {Bytes(good.begin(), good.begin() + 40), "truncated legacy_session_id"},
      {Bytes(good.begin(), good.begin() + 67), "truncated cipher_suites"},
      {Bytes(good.begin(), good.begin() + 70), "truncated cipher_suites"},
      {Bytes(good.begin(), good.begin() + 72), "truncated cipher_suites"},
      {Bytes(good.begin(), good.begin() + 73), "truncated legacy_compression_methods"},
      {Bytes(good.begin(), good.begin() + 74), "truncated legacy_compression_methods"},
      {Bytes(good.begin(), good.begin() + 76), "truncated extensions"},
      {concat({Bytes(good.begin(), good.begin() + 75), {0x00, 0x04, 0x00}}),
       "truncated extensions"},
      {concat({good, {0x00}}), "1 bytes after the extensions"},
      {long_session.body(), "legacy_session_id longer than 32 bytes"},
      {odd_suites.body(), "cipher_suites length must be a positive even number"},
      {no_suites.body(), "cipher_suites length must be a positive even number"},
      {no_compression.body(), "empty legacy_compression_methods"},
      {sslv2.body(), "legacy_version 0x0200 is not SSL 3 or TLS"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.error);
    expectTlsError(records(handshake(c.body)), c.error);
  }
}

TEST(ClientHelloTest, MalformedExtensions) {
  struct Case {
    std::vector<Extension> extensions;
    std::string error;
  };
  const Case cases[] = {
      // server_name (0)
      {{{0, {}}}, "server_name: length mismatch"},
      {{{0, {0x00}}}, "server_name: length mismatch"},
      {{{0, concat({sniExt("a.b").data, {0}})}}, "server_name: length mismatch"},
      {{{0, {0x00, 0x05, 0x00}}}, "server_name: length mismatch"},
      {{{0, vec(2, {})}}, "server_name: empty server_name_list"},
      {{{0, vec(2, {0x00})}}, "server_name: truncated entry"},
      {{{0, vec(2, {0x00, 0x00, 0x05, 'a'})}}, "server_name: truncated entry"},
      {{{0, vec(2, concat({{0}, vec(2, {})}))}}, "server_name: empty host_name"},
      {{{0, vec(2, concat({{0}, vec(2, ascii("a.b")), {0}, vec(2, ascii("c.d"))}))}},
       "server_name: more than one host_name"},
      {{sniExt("a b")}, "server_name: host_name has a byte outside printable ASCII"},
      {{sniExt(std::string("a\0b", 3))},
       "server_name: host_name has a byte outside printable ASCII"},
      {{sniExt("caf\xc3\xa9")}, "server_name: host_name has a byte outside printable ASCII"},
      // application_layer_protocol_negotiation (16)
      {{{16, {}}}, "alpn: length mismatch"},
      {{{16, {0x00, 0x03, 0x02, 'h'}}}, "alpn: length mismatch"},
      {{{16, concat({alpnExt({"h2"}).data, {0}})}}, "alpn: length mismatch"},
      {{{16, vec(2, {})}}, "alpn: empty protocol_name_list"},
      {{{16, vec(2, {0x05, 'h', '2'})}}, "alpn: truncated protocol name"},
      {{{16, vec(2, {0x02, 'h', '2', 0x00})}}, "alpn: empty protocol name"},
      // supported_versions (43)
      {{{43, {}}}, "supported_versions: length mismatch"},
      {{{43, {0x04, 0x03, 0x04}}}, "supported_versions: length mismatch"},
      {{{43, {0x02, 0x03, 0x04, 0x00}}}, "supported_versions: length mismatch"},
      {{{43, vec(1, {})}}, "supported_versions: list length must be a positive even number"},
      {{{43, vec(1, {0x03, 0x04, 0x03})}},
       "supported_versions: list length must be a positive even number"},
      // The extension list itself.
      {{sniExt("a.b"), alpnExt({"h2"}), sniExt("c.d")}, "extension 0 appears twice"},
      {{{0xff01, {}}, {0xff01, {}}}, "extension 65281 appears twice"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.error);
    Hello h;
    h.extensions = c.extensions;
    expectTlsError(wire(h), c.error);
  }
  // An extension header cut short, and one whose length runs past the block.
  Hello h;
  const Bytes body = h.body();  // ends with an empty extension block: 0x00 0x00
  Bytes cut(body.begin(), body.end() - 2);
  expectTlsError(records(handshake(concat({cut, vec(2, {0x00, 0x10, 0x00})}))),
                 "truncated extension");
  expectTlsError(records(handshake(concat({cut, vec(2, {0x00, 0x10, 0x00, 0x09, 0x00})}))),
                 "truncated extension");
  // A valid SNI before a malformed ALPN is not reported.
  h.extensions = std::vector<Extension>{sniExt("a.b"), {16, vec(2, {})}};
  expectTlsError(wire(h), "alpn: empty protocol_name_list");
}

TEST(ClientHelloTest, HandshakeLengthBeyondTheRecordsIsWaitedFor) {
  // The message says 100 bytes; the only record has 20 of them: wait for another record.
  Bytes message = handshake(Hello{}.body());
  const Bytes first = records(Bytes(message.begin(), message.begin() + 20));
  const auto r = sniff(first);
  ASSERT_EQ(r.status, SniffStatus::kNeedMore);
  EXPECT_EQ(r.needed, first.size() + 5 + (message.size() - 20));
  // The message ends inside a record that is still arriving: exact.
  const Bytes one = records(message);
  const auto r2 = sniffClientHello(std::span<const uint8_t>(one.data(), 30));
  EXPECT_EQ(r2.needed, one.size());
}

TEST(ClientHelloTest, MeshAlpn) {
  ClientHelloInfo hello;
  EXPECT_FALSE(offersMeshAlpn(hello));
  for (const char* p :
       {"istio-peer-exchange", "istio", "istio-http/1.0", "istio-http/1.1", "istio-h2"}) {
    hello.alpn = {"h2", p};
    EXPECT_TRUE(offersMeshAlpn(hello)) << p;
  }
  for (const char* p : {"h2", "http/1.1", "Istio", "istio-http/2", "istio-"}) {
    hello.alpn = {p};
    EXPECT_FALSE(offersMeshAlpn(hello)) << p;
  }
}

}  // namespace
}  // namespace mutual::net
