#pragma once

// Internal: the PostgreSQL driver (libpq) behind SqlStore<PostgresDb>. One connection, not
// thread-safe; the store's mutex guards it.

#include <memory>
#include <string>
#include <string_view>

#include "base/error.h"
#include "datastore/sql.h"

struct pg_conn;

namespace mutual::datastore::sql {

class PostgresDb {
 public:
  static constexpr std::string_view kName = "postgres";

  // A libpq key/value string or postgres:// URL; connect_timeout defaults to 5 s. Unavailable
  // (reason "connection") when the server cannot be reached or refuses the login.
  static Result<std::unique_ptr<PostgresDb>> open(const std::string& connection_string);
  ~PostgresDb();
  PostgresDb(const PostgresDb&) = delete;
  PostgresDb& operator=(const PostgresDb&) = delete;

  Result<void> begin(TxMode mode);
  Result<void> commit();
  void rollback();

  // Parameters and results travel in binary form, parameters with explicit types (int8,
  // text, bytea), so no value is ever spliced into SQL text.
  Result<Rows> query(std::string_view sql, const Params& params);
  Result<int64_t> exec(std::string_view sql, const Params& params);
  Result<void> script(std::string_view sql);

  // True when libpq reports the connection as bad (server gone, socket closed).
  bool broken() const;
  // Re-establishes the connection with the original parameters (PQreset).
  Result<void> reconnect();

 private:
  explicit PostgresDb(pg_conn* conn) : conn_(conn) {}
  struct Executed;
  Result<Executed> run(std::string_view sql, const Params& params);

  pg_conn* conn_;
  bool in_tx_ = false;
};

}  // namespace mutual::datastore::sql
