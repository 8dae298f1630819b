#pragma once

// Internal: the SQLite driver behind SqlStore<SqliteDb>. Not thread-safe; the store's mutex
// guards it.

#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

#include "base/error.h"
#include "datastore/sql.h"

struct sqlite3;
struct sqlite3_stmt;

namespace mutual::datastore::sql {

class SqliteDb {
 public:
  static constexpr std::string_view kName = "sqlite3";

  // A file path or a "file:" URI. Creates missing parent directories of a plain path. Sets
  // WAL, busy_timeout 5000 ms, foreign_keys on. Unavailable when the file cannot be opened.
  static Result<std::unique_ptr<SqliteDb>> open(const std::string& connection_string);
  ~SqliteDb();
  SqliteDb(const SqliteDb&) = delete;
  SqliteDb& operator=(const SqliteDb&) = delete;

  Result<void> begin(TxMode mode);
  Result<void> commit();
  void rollback();  // best effort; no error when no transaction is open

  Result<Rows> query(std::string_view sql, const Params& params);
  // Returns the number of rows changed.
  Result<int64_t> exec(std::string_view sql, const Params& params);
  // Runs statements without parameters (DDL), uncached.
  Result<void> script(std::string_view sql);

  // An embedded database has no connection to lose.
  bool broken() const { return false; }
  Result<void> reconnect() { return {}; }

 private:
  explicit SqliteDb(sqlite3* db) : db_(db) {}
  Result<sqlite3_stmt*> prepare(std::string_view sql);
  Error error(int rc, std::string_view context) const;

  sqlite3* db_;
  // Prepared statements by their SQL text ($-placeholder form). Cleared when it grows past
  // kMaxCached (dynamic filters make a few variants).
  std::unordered_map<std::string, sqlite3_stmt*> cache_;
  static constexpr size_t kMaxCached = 256;
};

}  // namespace mutual::datastore::sql
