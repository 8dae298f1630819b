// The entry of mutual-control.so (app/control_plane.h): the control plane's commands and the
// proxy's Workload API feed, for a binary that loads them on demand.
#include "app/control_plane.h"
#include "app/roles.h"
#include "cli/commands.h"
#include "workloadapi/proxy_source.h"

namespace mutual::app {
namespace {

void registerCommands(CLI::App& root, int& exit_code) {
  registerServerRole(root, exit_code);
  cli::registerAgentApiCommands(*agentCommand(root), exit_code);
  registerAgentRole(root, exit_code);
}

class WorkloadApiWatch final : public CredentialWatch {
 public:
  explicit WorkloadApiWatch(std::unique_ptr<workloadapi::ProxyCredentialSource> source)
      : source_(std::move(source)) {}
  void stop() override { source_->stop(); }

 private:
  std::unique_ptr<workloadapi::ProxyCredentialSource> source_;
};

Result<std::unique_ptr<CredentialWatch>> watchCredentials(std::string_view address,
                                                          const spiffe::TrustDomain& trust_domain,
                                                          tls::CredentialSink sink,
                                                          const Clock& clock) {
  auto source =
      workloadapi::ProxyCredentialSource::start(address, trust_domain, std::move(sink), clock);
  if (!source) return fail(source.error());
  return std::make_unique<WorkloadApiWatch>(std::move(*source));
}

constexpr ControlPlane kTable{kControlPlaneAbi, MUTUAL_BUILD_ID, &registerCommands,
                              &watchCredentials};

}  // namespace
}  // namespace mutual::app

extern "C" __attribute__((visibility("default"))) const mutual::app::ControlPlane*
mutual_control_plane() {
  return &mutual::app::kTable;
}
