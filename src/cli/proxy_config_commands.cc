// `mutual proxy-config secret|edges --admin ADDR`: what a running proxy holds, read from its
// admin API (as `istioctl proxy-config secret` and `linkerd viz edges` do).
#include <iostream>
#include <memory>

#include <CLI/CLI.hpp>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/output.h"
#include "config/proxy_config.h"

namespace mutual::cli {
namespace {

struct Flags {
  std::string admin = "127.0.0.1:15000";
  std::string output = "table";
};

// cpp-httplib names its errors in one word ("Connection"): what each means here.
std::string describe(httplib::Error error) {
  switch (error) {
    case httplib::Error::Connection:
      return "cannot connect (is a proxy running with its admin API there?)";
    case httplib::Error::ConnectionTimeout: return "the connection timed out";
    case httplib::Error::Read: return "no complete answer (timed out or closed)";
    case httplib::Error::Write: return "the request could not be sent";
    default: return httplib::to_string(error);
  }
}

Result<nlohmann::json> fetch(const std::string& admin, const std::string& path) {
  // The admin address as proxy.yaml writes it: HOST:PORT, IPv6 in brackets.
  auto address = config::parseHostPort(admin, false);
  if (!address) {
    return invalidArgument("--admin: " + address.error().message);
  }
  httplib::Client client(address->host, address->port);
  client.set_connection_timeout(5);
  client.set_read_timeout(10);
  auto response = client.Get(path.c_str());
  if (!response) {
    return fail(Code::kUnavailable, "admin " + admin + path + ": " + describe(response.error()));
  }
  if (response->status != 200) {
    return fail(Code::kUnavailable, "admin " + admin + path + ": HTTP " + std::to_string(response->status));
  }
  auto body = nlohmann::json::parse(response->body, nullptr, false);
  if (body.is_discarded()) return fail(Code::kInternal, "admin " + admin + path + ": not JSON");
  return body;
}

std::string str(const nlohmann::json& value) {
  if (value.is_string()) return value.get<std::string>();
  if (value.is_null()) return "-";
  return value.dump();
}

int runSecret(const Flags& f) {
  auto output = parseOutput(f.output, {"table", "json"});
  if (!output) return reportError(output.error());
  auto certs = fetch(f.admin, "/certs");
  if (!certs) return reportError(certs.error());
  if (*output == Output::kJson) {
    std::cout << certs->dump(2) << "\n";
    return kExitOk;
  }
  // istioctl's layout: one row per resource (the SVID, then each root of the bundle).
  std::vector<std::vector<std::string>> rows;
  if (!(*certs)["identity"].is_null()) {
    const bool expired = certs->value("expired", false);
    rows.push_back({"default", str((*certs)["identity"]), "Cert Chain",
                    expired ? "EXPIRED" : "ACTIVE",
                    str((*certs)["serial"]), str((*certs)["not_after"]),
                    str((*certs)["not_before"])});
  }
  for (const auto& bundle : (*certs)["bundles"]) {
    for (const auto& root : bundle["roots"]) {
      rows.push_back({"ROOTCA", str(bundle["trust_domain"]), "CA", "ACTIVE", str(root["serial"]),
                      str(root["not_after"]), str(root["not_before"])});
    }
  }
  printTable(std::cout,
             {"RESOURCE NAME", "IDENTITY", "TYPE", "STATUS", "SERIAL NUMBER", "NOT AFTER",
              "NOT BEFORE"},
             rows);
  if ((*certs)["identity"].is_null()) {
    std::cout << "no SVID loaded";
    if (!str((*certs)["last_error"]).empty()) std::cout << ": " << str((*certs)["last_error"]);
    std::cout << "\n";
  }
  return kExitOk;
}

int runEdges(const Flags& f) {
  auto output = parseOutput(f.output, {"table", "json"});
  if (!output) return reportError(output.error());
  auto edges = fetch(f.admin, "/edges");
  if (!edges) return reportError(edges.error());
  if (*output == Output::kJson) {
    std::cout << edges->dump(2) << "\n";
    return kExitOk;
  }
  std::vector<std::vector<std::string>> rows;
  for (const auto& edge : *edges) {
    rows.push_back({str(edge["direction"]), str(edge["listener"]), str(edge["peer"]),
                    str(edge["peer_address"]), edge["mtls"].get<bool>() ? "√" : "-",
                    std::to_string(edge["connections"].get<uint64_t>()),
                    std::to_string(edge["failures"].get<uint64_t>()), str(edge["last_seen"]),
                    str(edge["last_failure"]).empty() ? "-" : str(edge["last_failure"])});
  }
  printTable(std::cout,
             {"DIRECTION", "LISTENER", "PEER", "ADDRESS", "SECURED", "CONNECTIONS", "FAILURES",
              "LAST SEEN", "LAST FAILURE"},
             rows);
  return kExitOk;
}

}  // namespace

void registerProxyConfigCommands(CLI::App& root, int& exit_code) {
  CLI::App* pc = root.add_subcommand("proxy-config", "Inspect a running proxy through its admin API");
  pc->alias("pc");
  pc->require_subcommand(1);
  auto flags = std::make_shared<Flags>();
  for (auto [name, help] : {std::pair{"secret", "The SVID and trust bundle the proxy holds"},
                            std::pair{"edges", "Recent peers, their identity and whether mTLS was used"}}) {
    CLI::App* cmd = pc->add_subcommand(name, help);
    cmd->add_option("--admin", flags->admin, "The proxy's admin address")->capture_default_str();
    cmd->add_option("-o,--output", flags->output, "table|json")->capture_default_str();
    std::string which = name;
    cmd->callback([flags, which, &exit_code] {
      exit_code = which == "secret" ? runSecret(*flags) : runEdges(*flags);
    });
  }
}

}  // namespace mutual::cli
