// The load generator of bench/sign_compare.sh: N client threads send P-256 certification
// requests to one signing server for a fixed time, as fast as each gets answers (closed loop),
// and report certificates per second, latency percentiles and the server's CPU time.
//
//   sign_driver cfssl  --url http://127.0.0.1:PORT ...
//   sign_driver mutual --address 127.0.0.1:PORT --bundle ROOTS.pem --token TOKEN
//                      --entry-id ID ...
//                      [--batch N: CSRs per call, default 1]
//   common: --csr-dir DIR (*.der, PKCS#10 DER) --clients 4 --duration 10 --warmup 1
//           --cpu-pid PID (repeatable; the process and its children) --out FILE.json
//
// Why one C++ driver for both servers: both sides then pay the same, small client cost (one
// thread per client, requests encoded before the clock starts, the answer only checked for a
// certificate, not parsed) on a 2-core machine where the client shares the CPUs with the
// server. A Python client would spend more CPU than the servers do and its latency would hide
// the servers' own. Parsing the answers into X509 objects was tried and dropped: OpenSSL 3.0's
// d2i_X509 (provider decoders, lock-heavy) made the client use more CPU than either server,
// and more for mutual (a leaf and its intermediate) than for cfssl (a leaf).
//
// cfssl: POST /api/v1/cfssl/sign {"certificate_request": PEM}, HTTP/1.1 keep-alive, one
// connection per client. mutual: the agent's Node API, SignX509Svids with one CSR per call
// (or --batch), over mTLS with an agent SVID from a join token (attested here through
// NodeClient), one channel and connection per client, on the generated stub directly.
#include <httplib.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/grpcpp.h>
#include <grpcpp/security/tls_certificate_provider.h>
#include <grpcpp/security/tls_certificate_verifier.h>
#include <grpcpp/security/tls_credentials_options.h>

#include "crypto/certificate.h"
#include "crypto/csr.h"
#include "crypto/key.h"
#include "mutual/v1/node.grpc.pb.h"
#include "server/node_client.h"

namespace {

using Clock = std::chrono::steady_clock;
using mutual::server::NodeClient;

struct Options {
  std::string mode;
  std::string url;      // cfssl
  std::string address;  // mutual
  std::string bundle;
  std::string token;
  std::string entry_id;
  std::string csr_dir;
  std::string out;
  int clients = 4;
  int batch = 1;  // mutual: CSRs per SignX509Svids call
  double duration = 10;
  double warmup = 1;
  std::vector<int> cpu_pids;
};

[[noreturn]] void die(const std::string& message) {
  std::cerr << "sign_driver: " << message << "\n";
  std::exit(2);
}

std::string readFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) die("cannot read " + path.string());
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

Options parse(int argc, char** argv) {
  if (argc < 2) die("usage: sign_driver cfssl|mutual [options] (see the source's header)");
  Options o;
  o.mode = argv[1];
  for (int i = 2; i < argc; ++i) {
    std::string flag = argv[i];
    if (i + 1 >= argc) die(flag + " needs a value");
    std::string value = argv[++i];
    if (flag == "--url")
      o.url = value;
    else if (flag == "--address")
      o.address = value;
    else if (flag == "--bundle")
      o.bundle = value;
    else if (flag == "--token")
      o.token = value;
    else if (flag == "--entry-id")
      o.entry_id = value;
    else if (flag == "--csr-dir")
      o.csr_dir = value;
    else if (flag == "--out")
      o.out = value;
    else if (flag == "--clients")
      o.clients = std::stoi(value);
    else if (flag == "--batch")
      o.batch = std::stoi(value);
    else if (flag == "--duration")
      o.duration = std::stod(value);
    else if (flag == "--warmup")
      o.warmup = std::stod(value);
    else if (flag == "--cpu-pid")
      o.cpu_pids.push_back(std::stoi(value));
    else
      die("unknown flag " + flag);
  }
  if (o.mode != "cfssl" && o.mode != "mutual") die("mode must be cfssl or mutual");
  if (o.csr_dir.empty()) die("--csr-dir is required");
  if (o.clients < 1 || o.duration <= 0 || o.batch < 1) {
    die("--clients, --duration and --batch must be positive");
  }
  if (o.batch != 1 && o.mode != "mutual") die("--batch: cfssl signs one CSR per request");
  return o;
}

// utime + stime of a process (all its threads), in clock ticks; 0 when it is gone.
long long processTicks(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat;
  if (!std::getline(in, stat)) return 0;
  // Fields after the command name, which is in parentheses and may contain spaces.
  std::istringstream rest(stat.substr(stat.rfind(')') + 2));
  std::string field;
  long long utime = 0, stime = 0;
  for (int i = 3; rest >> field; ++i) {
    if (i == 14) utime = std::stoll(field);
    if (i == 15) {
      stime = std::stoll(field);
      break;
    }
  }
  return utime + stime;
}

// The processes whose CPU counts as the server's: each --cpu-pid and its children (the
// PostgreSQL backends serving the mutual server are children of the postmaster).
std::vector<int> serverProcesses(const std::vector<int>& roots) {
  std::vector<int> out = roots;
  for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
    const std::string name = entry.path().filename();
    if (name.empty() || !std::all_of(name.begin(), name.end(), ::isdigit)) continue;
    std::ifstream in(entry.path() / "stat");
    std::string stat;
    if (!std::getline(in, stat) || stat.rfind(')') == std::string::npos) continue;
    std::istringstream rest(stat.substr(stat.rfind(')') + 2));
    std::string state;
    int ppid = 0;
    rest >> state >> ppid;
    if (std::find(roots.begin(), roots.end(), ppid) != roots.end()) out.push_back(std::stoi(name));
  }
  return out;
}

long long totalTicks(const std::vector<int>& pids) {
  long long sum = 0;
  for (int pid : pids) sum += processTicks(pid);
  return sum;
}

struct Worker {
  std::vector<double> latencies_us;  // of calls completed inside the measured window
  long long errors = 0;
  long long succeeded = 0;  // every successful call, warm-up and overrun included
  std::string first_error;
};

// One request: returns an empty string on success, else why it failed.
using Call = std::function<std::string(size_t csr_index)>;

void runWorker(const Call& call, size_t csr_count, size_t offset, Clock::time_point start,
               Clock::time_point end, Worker& w) {
  w.latencies_us.reserve(200000);
  for (size_t i = offset;; i += 7) {
    const auto t0 = Clock::now();
    if (t0 >= end) break;
    std::string error = call(i % csr_count);
    const auto t1 = Clock::now();
    if (error.empty()) ++w.succeeded;
    if (t0 < start) continue;  // warm-up
    if (!error.empty()) {
      if (w.errors++ == 0) w.first_error = error;
      continue;
    }
    if (t1 <= end) {
      w.latencies_us.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count());
    }
  }
}

std::string derToPemCsr(const std::string& der) {
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  X509_REQ* req = d2i_X509_REQ(nullptr, &p, static_cast<long>(der.size()));
  if (req == nullptr) die("a CSR does not parse");
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_X509_REQ(bio, req);
  char* data = nullptr;
  long n = BIO_get_mem_data(bio, &data);
  std::string pem(data, static_cast<size_t>(n));
  BIO_free(bio);
  X509_REQ_free(req);
  return pem;
}

}  // namespace

int main(int argc, char** argv) {
  const Options o = parse(argc, argv);
  std::vector<std::string> csrs;
  for (const auto& entry : std::filesystem::directory_iterator(o.csr_dir)) {
    if (entry.path().extension() == ".der") csrs.push_back(readFile(entry.path()));
  }
  if (csrs.empty()) die("no *.der CSR in " + o.csr_dir);

  // One call function per client, with its own connection, built before the clock starts.
  std::vector<Call> calls;
  std::vector<std::unique_ptr<httplib::Client>> http_clients;
  if (o.mode == "cfssl") {
    if (o.url.empty()) die("--url is required");
    auto bodies = std::make_shared<std::vector<std::string>>();
    for (const auto& der : csrs) {
      bodies->push_back(nlohmann::json{{"certificate_request", derToPemCsr(der)}}.dump());
    }
    for (int c = 0; c < o.clients; ++c) {
      auto client = std::make_unique<httplib::Client>(o.url);
      client->set_keep_alive(true);
      client->set_tcp_nodelay(true);  // headers and body are two writes: no Nagle delay
      client->set_read_timeout(10, 0);
      httplib::Client* raw = client.get();
      http_clients.push_back(std::move(client));
      calls.push_back([raw, bodies](size_t i) -> std::string {
        auto res = raw->Post("/api/v1/cfssl/sign", (*bodies)[i], "application/json");
        if (!res) return "HTTP error " + httplib::to_string(res.error());
        if (res->status != 200) return "HTTP " + std::to_string(res->status) + ": " + res->body;
        if (res->body.find("\"success\":true") == std::string::npos ||
            res->body.find("-----BEGIN CERTIFICATE-----") == std::string::npos) {
          return "cfssl: " + res->body;
        }
        return "";
      });
    }
  } else {
    if (o.address.empty() || o.bundle.empty() || o.token.empty() || o.entry_id.empty()) {
      die("mutual needs --address, --bundle, --token and --entry-id");
    }
    auto roots = mutual::crypto::parsePemCertificates(readFile(o.bundle));
    if (!roots) die("bundle: " + roots.error().message);
    auto td = mutual::spiffe::TrustDomain::parse("example.org");
    if (!td) die("trust domain");
    auto key = mutual::crypto::PrivateKey::generate(mutual::crypto::KeyType::kEcP256);
    if (!key) die("key: " + key.error().message);
    auto shared_key = std::make_shared<const mutual::crypto::PrivateKey>(std::move(*key));
    auto csr = mutual::crypto::createCsr(*shared_key);
    if (!csr) die("csr: " + csr.error().message);
    auto bootstrap =
        NodeClient::connect({.address = o.address, .trust_domain = *td, .trust_bundle = *roots});
    if (!bootstrap) die("connect: " + bootstrap.error().message);
    auto svid = (*bootstrap)->attestJoinToken(o.token, *csr);
    if (!svid) die("attest: " + svid.error().message);
    std::cerr << "sign_driver: attested as " << svid->spiffe_id << "\n";
    auto requests = std::make_shared<std::vector<mutual::v1::SignX509SvidsRequest>>();
    for (size_t i = 0; i < csrs.size(); ++i) {
      mutual::v1::SignX509SvidsRequest call;
      for (size_t j = 0; j < static_cast<size_t>(o.batch); ++j) {
        auto* r = call.add_requests();
        r->set_entry_id(o.entry_id);
        r->set_csr(csrs[(i + j) % csrs.size()]);
      }
      requests->push_back(std::move(call));
    }
    const int batch = o.batch;
    auto chain_pem = mutual::crypto::toPem(svid->chain);
    auto key_pem = shared_key->toPkcs8Pem();
    if (!chain_pem || !key_pem) die("cannot encode the agent SVID");
    const std::string roots_pem = readFile(o.bundle);
    for (int c = 0; c < o.clients; ++c) {
      auto provider = std::make_shared<grpc::experimental::StaticDataCertificateProvider>(
          roots_pem, std::vector<grpc::experimental::IdentityKeyCertPair>{{*key_pem, *chain_pem}});
      grpc::experimental::TlsChannelCredentialsOptions tls;
      tls.set_certificate_provider(provider);
      tls.watch_root_certs();
      tls.watch_identity_key_cert_pairs();
      // The chain is verified against the bundle; the server's SPIFFE ID is not checked here
      // (NodeClient checked it during attestation), nor a host name (its SVID has none).
      tls.set_verify_server_certs(true);
      tls.set_check_call_host(false);
      tls.set_certificate_verifier(std::make_shared<grpc::experimental::NoOpCertificateVerifier>());
      grpc::ChannelArguments args;
      args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);  // a connection of its own
      auto channel =
          grpc::CreateCustomChannel(o.address, grpc::experimental::TlsCredentials(tls), args);
      std::shared_ptr<mutual::v1::Node::Stub> stub = mutual::v1::Node::NewStub(channel);
      calls.push_back([stub, requests, batch](size_t i) -> std::string {
        grpc::ClientContext context;
        context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
        mutual::v1::SignX509SvidsResponse response;
        grpc::Status status = stub->SignX509Svids(&context, (*requests)[i], &response);
        if (!status.ok()) return "SignX509Svids: " + status.error_message();
        if (response.svids_size() != batch || response.svids(0).cert_chain_size() < 1) {
          return "expected one SVID per CSR";
        }
        return "";
      });
    }
  }
  // A first call on every connection before the clock starts (TCP, TLS, HTTP/2 set-up).
  for (size_t c = 0; c < calls.size(); ++c) {
    if (auto error = calls[c](c); !error.empty()) die("first call failed: " + error);
  }

  const auto start = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                        std::chrono::duration<double>(o.warmup));
  const auto end = start + std::chrono::duration_cast<Clock::duration>(
                               std::chrono::duration<double>(o.duration));
  std::vector<Worker> workers(static_cast<size_t>(o.clients));
  std::vector<std::thread> threads;
  for (int c = 0; c < o.clients; ++c) {
    threads.emplace_back(runWorker, std::cref(calls[static_cast<size_t>(c)]), csrs.size(),
                         static_cast<size_t>(c) * 13, start, end,
                         std::ref(workers[static_cast<size_t>(c)]));
  }
  std::this_thread::sleep_until(start);
  const std::vector<int> pids = serverProcesses(o.cpu_pids);
  const long long ticks0 = totalTicks(pids);
  const long long main0 = pids.empty() ? 0 : processTicks(pids.front());
  const long long self0 = processTicks(getpid());
  std::this_thread::sleep_until(end);
  const long long ticks1 = totalTicks(pids);
  const long long main1 = pids.empty() ? 0 : processTicks(pids.front());
  const long long self1 = processTicks(getpid());
  for (auto& t : threads) t.join();

  std::vector<double> all;
  long long errors = 0;
  long long succeeded = static_cast<long long>(calls.size());  // the first calls
  std::string first_error;
  for (auto& w : workers) {
    all.insert(all.end(), w.latencies_us.begin(), w.latencies_us.end());
    errors += w.errors;
    succeeded += w.succeeded;
    if (first_error.empty()) first_error = w.first_error;
  }
  std::sort(all.begin(), all.end());
  const auto pct = [&](double p) {
    if (all.empty()) return 0.0;
    return all[std::min(all.size() - 1, static_cast<size_t>(p * static_cast<double>(all.size())))];
  };
  const double hz = static_cast<double>(sysconf(_SC_CLK_TCK));
  const double cpu = static_cast<double>(ticks1 - ticks0) / hz;
  // Latencies are per call; a call signs `batch` certificates.
  const double certificates = static_cast<double>(all.size()) * o.batch;
  const double rate = certificates / o.duration;
  nlohmann::json result{
      {"server", o.mode},
      {"clients", o.clients},
      {"batch", o.batch},
      {"calls", all.size()},
      {"duration_s", o.duration},
      {"certificates", certificates},
      {"errors", errors},
      {"signed_total", succeeded * o.batch},
      {"first_error", first_error},
      {"certificates_per_s", rate},
      {"server_cpu_s", cpu},
      {"server_processes", pids.size()},
      // The first --cpu-pid alone (the signing server without its database's processes).
      {"server_main_process_cpu_s", static_cast<double>(main1 - main0) / hz},
      {"certificates_per_cpu_s", cpu > 0 ? certificates / cpu : 0.0},
      {"driver_cpu_s", static_cast<double>(self1 - self0) / hz},
      {"p50_us", pct(0.50)},
      {"p90_us", pct(0.90)},
      {"p99_us", pct(0.99)},
      {"max_us", all.empty() ? 0.0 : all.back()},
  };
  const std::string text = result.dump(2);
  if (!o.out.empty()) {
    std::ofstream(o.out) << text << "\n";
  }
  std::cout << text << "\n";
  return errors > 0 && all.empty() ? 1 : 0;
}
