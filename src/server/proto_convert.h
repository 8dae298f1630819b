#pragma once

// Internal to the server module: our types to and from the generated mutual.v1 messages, and
// Error to and from grpc::Status. Nothing outside src/server includes this.

#include <grpcpp/grpcpp.h>

#include "base/error.h"
#include "datastore/datastore.h"
#include "mutual/v1/admin.pb.h"
#include "mutual/v1/node.pb.h"
#include "server/ca_manager.h"

namespace mutual::server::proto {

void toProto(const datastore::RegistrationEntry& entry, mutual::v1::Entry* out);
datastore::RegistrationEntry fromProto(const mutual::v1::Entry& entry);

void toProto(const datastore::Bundle& bundle, mutual::v1::Bundle* out);
datastore::Bundle fromProto(const mutual::v1::Bundle& bundle);

void toProto(const AuthorityInfo& info, mutual::v1::Authority* out);
AuthorityInfo fromProto(const mutual::v1::Authority& authority);

// Error codes are gRPC's, one to one.
grpc::Status toStatus(const Error& error);
// `what` names the call for the message: "<what>: <status message>".
Error fromStatus(const grpc::Status& status, std::string_view what);

}  // namespace mutual::server::proto
