#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "base/clock.h"
#include "crypto/certificate.h"

namespace mutual::cli {

// The role a certificate plays in a file: "leaf", "intermediate" or "root".
std::string certificateRole(const crypto::Certificate& cert);

// The SPIFFE ID of a certificate's single URI SAN, or "" when it has none that parses.
std::string spiffeIdOf(const crypto::Certificate& cert);

// A readable summary with SPIFFE ID, SANs, usages and remaining lifetime at `now`.
std::string certificateSummary(const crypto::Certificate& cert, TimePoint now);

// The same facts as JSON (stable field names, documented in docs/cli.md).
nlohmann::json certificateJson(const crypto::Certificate& cert, TimePoint now);

}  // namespace mutual::cli
