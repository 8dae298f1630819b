#include <filesystem>
#include <iostream>
#include <memory>

#include "base/duration.h"
#include "base/time.h"
#include "ca/authority.h"
#include "cli/commands.h"
#include "cli/output.h"
#include "crypto/cert_builder.h"

namespace mutual::cli {

namespace fs = std::filesystem;

namespace {

struct InitFlags {
  std::string trust_domain;
  std::string out;
  std::string ttl = "87600h";
  std::string key = "ec-p256";
  std::string common_name;
  bool common_name_given = false;
  bool force = false;
};

struct IntermediateFlags {
  std::string ca;
  std::string out;
  std::string name = "cluster-1";
  std::string ttl = "8760h";
  std::string key = "ec-p256";
  int path_len = 0;
  bool path_len_given = false;
  bool name_constraint = false;
  bool force = false;
};

// A subject CN from `flag`: X.509 allows at most 64 characters (the check OpenSSL would make,
// but naming the flag).
Result<void> checkCommonName(const std::string& flag, const std::string& value) {
  size_t chars = 0;
  for (const char c : value) chars += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  if (chars > crypto::kMaxCommonNameLength) {
    return invalidArgument(flag + ": must be at most " +
                           std::to_string(crypto::kMaxCommonNameLength) +
                           " characters (it becomes the subject CN), got " +
                           std::to_string(chars));
  }
  return {};
}

// Refuses to overwrite an existing CA key unless --force: losing a root key is not undoable.
// An empty --out would quietly mean the current directory: refused.
Result<void> checkFreshDir(const fs::path& dir, bool force) {
  if (dir.empty()) {
    return invalidArgument("--out: must not be empty (write \".\" for the current directory)");
  }
  std::error_code ec;
  if (!force && fs::exists(dir / "ca.key", ec)) {
    return fail(Code::kAlreadyExists, (dir / "ca.key").string() +
                                          ": a CA key already exists; pass --force to replace it");
  }
  return {};
}

int runInit(const InitFlags& f) {
  auto td = spiffe::TrustDomain::parse(f.trust_domain);
  if (!td) return reportError(td.error().prefix("--trust-domain"));
  // SPIFFE allows any run of [a-z0-9.-_] (and peers' IDs are read that way), but a new root is
  // named DNS-like: ".", ".." or "a..b" cannot be (a trailing dot, the FQDN form, is kept).
  if (const std::string& name = td->name();
      name.front() == '.' || name.find("..") != std::string::npos) {
    return reportError(Error{Code::kInvalidArgument,
                             "--trust-domain: invalid trust domain \"" + name +
                                 "\": a leading dot or an empty label is not a DNS-like name",
                             "invalid_trust_domain"});
  }
  auto ttl = parseTtl(f.ttl, std::chrono::system_clock::now());
  if (!ttl) return reportError(ttl.error());
  auto key = crypto::parseKeyType(f.key);
  if (!key) return reportError(key.error().prefix("--key"));
  if (f.common_name_given && f.common_name.empty()) {
    return reportError(Error{Code::kInvalidArgument,
                             "--common-name: must not be empty (leave the flag out for the "
                             "default, \"mutual root CA (" + td->name() + ")\")", ""});
  }
  if (auto ok = checkCommonName("--common-name", f.common_name); !ok) {
    return reportError(ok.error());
  }
  if (auto ok = checkFreshDir(f.out, f.force); !ok) return reportError(ok.error());
  RealClock clock;
  auto root = ca::createRoot({*td, *ttl, *key, f.common_name}, clock);
  if (!root) return reportError(root.error());
  if (auto ok = ca::writeRoot(f.out, *root); !ok) return reportError(ok.error());
  std::cout << "Created root CA for trust domain " << td->name() << "\n"
            << "  certificate  " << (fs::path(f.out) / "ca.crt").string() << "\n"
            << "  private key  " << (fs::path(f.out) / "ca.key").string() << " (mode 0600)\n"
            << "  subject      " << root->cert.subject() << "\n"
            << "  key          " << root->cert.publicKeyDescription() << "\n"
            << "  valid until  " << formatRfc3339(root->cert.notAfter()) << "\n";
  return kExitOk;
}

int runIntermediate(const IntermediateFlags& f) {
  auto ttl = parseTtl(f.ttl, std::chrono::system_clock::now());
  if (!ttl) return reportError(ttl.error());
  auto key = crypto::parseKeyType(f.key);
  if (!key) return reportError(key.error().prefix("--key"));
  if (auto ok = checkCommonName("--name", f.name); !ok) return reportError(ok.error());
  auto parent = ca::loadAuthority(f.ca);
  if (!parent) return reportError(parent.error());
  if (auto ok = checkFreshDir(f.out, f.force); !ok) return reportError(ok.error());
  ca::IntermediateOptions options;
  options.name = f.name;
  options.ttl = *ttl;
  options.key_type = *key;
  options.name_constraint = f.name_constraint;
  if (f.path_len_given) {
    if (f.path_len < 0) {
      return reportError(Error{Code::kInvalidArgument,
                               "--path-len: must be 0 or more, got " + std::to_string(f.path_len) +
                                   " (leave the flag out for no limit below the parent's)",
                               ""});
    }
    options.path_len = f.path_len;
  }
  RealClock clock;
  auto issued = ca::createIntermediate(*parent, options, clock);
  if (!issued) return reportError(issued.error());
  if (auto ok = ca::writeIntermediate(f.out, *issued); !ok) return reportError(ok.error());
  if (!issued->note.empty()) std::cerr << "warning: " << issued->note << "\n";
  const fs::path out = f.out;
  std::cout << "Created intermediate CA " << f.name << "\n"
            << "  certificate  " << (out / "ca.crt").string() << "\n"
            << "  private key  " << (out / "ca.key").string() << " (mode 0600)\n"
            << "  chain        " << (out / "chain.crt").string() << " (" << issued->chain.size()
            << " intermediate" << (issued->chain.size() == 1 ? "" : "s") << ")\n"
            << "  bundle       " << (out / "bundle.crt").string() << "\n"
            << "  issuer       " << parent->cert.subject() << "\n"
            << "  path length  "
            << (issued->cert.pathLen() ? std::to_string(*issued->cert.pathLen()) : "unlimited")
            << "\n"
            << "  valid until  " << formatRfc3339(issued->cert.notAfter()) << "\n";
  return kExitOk;
}

}  // namespace

void registerCaCommands(CLI::App& root, int& exit_code) {
  CLI::App* ca = root.add_subcommand("ca", "Create certificate authorities");
  ca->require_subcommand(1);

  auto init = std::make_shared<InitFlags>();
  CLI::App* init_cmd = ca->add_subcommand("init", "Create a self-signed root CA");
  init_cmd->add_option("--trust-domain", init->trust_domain, "SPIFFE trust domain, e.g. example.org")
      ->required();
  init_cmd->add_option("--out", init->out, "Directory for ca.crt and ca.key")->required();
  init_cmd->add_option("--ttl", init->ttl, "Lifetime (Go duration)")->capture_default_str();
  init_cmd->add_option("--key", init->key, std::string(crypto::kKeyTypeChoices))
      ->capture_default_str();
  CLI::Option* cn_opt = init_cmd->add_option("--common-name", init->common_name,
                                             "Subject CN (default \"mutual root CA (<td>)\")");
  init_cmd->add_flag("--force", init->force, "Replace an existing CA key in --out");
  init_cmd->callback([init, cn_opt, &exit_code] {
    init->common_name_given = cn_opt->count() > 0;
    exit_code = runInit(*init);
  });

  auto inter = std::make_shared<IntermediateFlags>();
  CLI::App* inter_cmd =
      ca->add_subcommand("intermediate", "Create an intermediate CA signed by another CA");
  inter_cmd->add_option("--ca", inter->ca, "Directory of the signing CA")->required();
  inter_cmd->add_option("--out", inter->out, "Directory for the new CA")->required();
  inter_cmd->add_option("--name", inter->name, "Name (CN), e.g. cluster-1")->capture_default_str();
  inter_cmd->add_option("--ttl", inter->ttl, "Lifetime (Go duration)")->capture_default_str();
  CLI::Option* path_len_opt = inter_cmd->add_option(
      "--path-len", inter->path_len, "Maximum CAs below this one (default: no limit of its own)");
  inter_cmd->add_option("--key", inter->key, std::string(crypto::kKeyTypeChoices))
      ->capture_default_str();
  inter_cmd->add_flag("--name-constraint", inter->name_constraint,
                      "Permit only URI SANs in the trust domain (critical nameConstraints)");
  inter_cmd->add_flag("--force", inter->force, "Replace an existing CA key in --out");
  inter_cmd->callback([inter, path_len_opt, &exit_code] {
    inter->path_len_given = path_len_opt->count() > 0;
    exit_code = runIntermediate(*inter);
  });
}

}  // namespace mutual::cli
