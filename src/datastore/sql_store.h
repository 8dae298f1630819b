#pragma once

// Internal to the datastore module and its tests.

#include <memory>
#include <string>
#include <string_view>

#include "datastore/datastore.h"

namespace mutual::datastore {

// openDataStore, but migrating the schema only up to `version` (1..kSchemaVersion): lets the
// conformance suite build an old database and check that opening it migrates it. Refuses
// (FailedPrecondition) a database already past `version`.
Result<std::unique_ptr<DataStore>> openDataStoreAtVersion(std::string_view database_type,
                                                          const std::string& connection_string,
                                                          int version,
                                                          const OpenOptions& options = {});

}  // namespace mutual::datastore
