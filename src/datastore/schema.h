#pragma once

// Internal: the schema of each backend as an ordered list of migrations. Version N is reached
// by applying steps 1..N in order; a released step is never edited, only followed by a new
// one (and kSchemaVersion in datastore.h raised).

#include <string_view>
#include <vector>

namespace mutual::datastore::sql {

// A migration: the statements that take the schema from version N-1 to N.
using Migration = std::vector<std::string_view>;

// Index 0 holds the step to version 1.
const std::vector<Migration>& sqliteMigrations();
const std::vector<Migration>& postgresMigrations();

}  // namespace mutual::datastore::sql
