#pragma once

// Internal to the datastore module: the small vocabulary the two database drivers
// (SqliteDb, PostgresDb) share, so that SqlStore<Db> writes each query once.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"

namespace mutual::datastore::sql {

// A query parameter. Views only: parameters live for one call, inside the caller's full
// expression, so they never outlive the strings they point to.
struct Param {
  enum class Kind { kNull, kInt, kText, kBlob };
  Kind kind = Kind::kNull;
  int64_t i = 0;
  std::string_view s;
};
inline Param null() { return {}; }
inline Param integer(int64_t v) { return {Param::Kind::kInt, v, {}}; }
inline Param text(std::string_view v) { return {Param::Kind::kText, 0, v}; }
inline Param blob(std::string_view v) { return {Param::Kind::kBlob, 0, v}; }
using Params = std::vector<Param>;

// One column of a result row: integers (BIGINT, COUNT) in `i`, text and blobs in `s`.
struct Value {
  bool null = true;
  int64_t i = 0;
  std::string s;
};
using Row = std::vector<Value>;
using Rows = std::vector<Row>;

enum class TxMode {
  kRead,     // a consistent snapshot; SQLite BEGIN, PostgreSQL REPEATABLE READ READ ONLY
  kWrite,    // SQLite BEGIN IMMEDIATE, PostgreSQL SERIALIZABLE (retried on conflicts)
  kMigrate,  // SQLite BEGIN IMMEDIATE, PostgreSQL READ COMMITTED under an advisory lock
};

// Error::reason values the drivers set so the store can react without parsing messages.
inline constexpr char kReasonConnection[] = "connection";        // lost or unreachable
inline constexpr char kReasonSerialization[] = "serialization";  // retry the transaction
inline constexpr char kReasonUnique[] = "unique_violation";
inline constexpr char kReasonForeignKey[] = "foreign_key_violation";
inline constexpr char kReasonBusy[] = "busy";

// Queries are written with PostgreSQL's $1, $2, ... placeholders; SQLite reads them as ?1,
// ?2, ... (same numbering). Only placeholders, never values, are spliced into SQL text.
std::string toSqlitePlaceholders(std::string_view sql);

// "$<first>, $<first+1>, ... " n times: for IN lists and multi-row VALUES.
std::string placeholders(int first, int n);

}  // namespace mutual::datastore::sql
