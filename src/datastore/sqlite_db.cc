#include "datastore/sqlite_db.h"

#include <fcntl.h>
#include <unistd.h>

#include <sqlite3.h>

#include <filesystem>
#include <system_error>

namespace mutual::datastore::sql {
namespace {

constexpr int kBusyTimeoutMs = 5000;

// Resets a cached statement however the call ends, so it holds no lock and no bindings.
class StatementReset {
 public:
  explicit StatementReset(sqlite3_stmt* stmt) : stmt_(stmt) {}
  ~StatementReset() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }
  StatementReset(const StatementReset&) = delete;
  StatementReset& operator=(const StatementReset&) = delete;

 private:
  sqlite3_stmt* stmt_;
};

Error errorFor(sqlite3* db, int rc, std::string_view context) {
  std::string message = "sqlite3: ";
  if (!context.empty()) message += std::string(context) + ": ";
  message += db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  switch (rc & 0xff) {
    case SQLITE_CONSTRAINT:
      if (rc == SQLITE_CONSTRAINT_PRIMARYKEY || rc == SQLITE_CONSTRAINT_UNIQUE) {
        return Error{Code::kAlreadyExists, message, kReasonUnique};
      }
      if (rc == SQLITE_CONSTRAINT_FOREIGNKEY) {
        return Error{Code::kFailedPrecondition, message, kReasonForeignKey};
      }
      return Error{Code::kInternal, message, {}};
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return Error{Code::kAborted, message, kReasonBusy};
    case SQLITE_CANTOPEN:
    case SQLITE_IOERR:
    case SQLITE_READONLY:
    case SQLITE_PERM:
    case SQLITE_PROTOCOL:
    case SQLITE_NOLFS:
      return Error{Code::kUnavailable, message, {}};
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return Error{Code::kDataLoss, message, {}};
    case SQLITE_FULL:
    case SQLITE_NOMEM:
      return Error{Code::kResourceExhausted, message, {}};
    default:
      return Error{Code::kInternal, message, {}};
  }
}

}  // namespace

Result<std::unique_ptr<SqliteDb>> SqliteDb::open(const std::string& connection_string) {
  if (connection_string.empty()) {
    return fail(Code::kInvalidArgument, "sqlite3: connection_string (the database file) is empty");
  }
  const bool is_uri = connection_string.starts_with("file:");
  if (!is_uri && connection_string != ":memory:") {
    std::filesystem::path parent = std::filesystem::path(connection_string).parent_path();
    if (!parent.empty()) {
      std::error_code ec;
      std::filesystem::create_directories(parent, ec);
      if (ec) {
        return fail(Code::kUnavailable, "sqlite3: cannot create directory " + parent.string() +
                                            " for " + connection_string + ": " + ec.message());
      }
    }
    // A new database is created 0600 before SQLite opens it (SQLite would make it 0644): it
    // holds unused join tokens. SQLite gives the -wal and -shm files the database's mode.
    const int fd = ::open(connection_string.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd >= 0) ::close(fd);
  }
  sqlite3* raw = nullptr;
  int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX;
  if (is_uri) flags |= SQLITE_OPEN_URI;
  int rc = sqlite3_open_v2(connection_string.c_str(), &raw, flags, nullptr);
  if (rc != SQLITE_OK) {
    Error e = errorFor(raw, rc, "cannot open " + connection_string);
    sqlite3_close_v2(raw);
    if (e.code == Code::kInternal) e.code = Code::kUnavailable;
    return fail(std::move(e));
  }
  std::unique_ptr<SqliteDb> db(new SqliteDb(raw));
  sqlite3_extended_result_codes(raw, 1);
  sqlite3_busy_timeout(raw, kBusyTimeoutMs);
  // journal_mode answers with the mode in effect: "memory" for in-memory databases, where WAL
  // does not apply.
  auto mode = db->query("PRAGMA journal_mode=WAL", {});
  if (!mode) {
    // The first read of the file: "sqlite3: <path>: file is not a database".
    Error e = mode.error();
    e.message.insert(std::string_view("sqlite3: ").size(), connection_string + ": ");
    return fail(std::move(e));
  }
  if (auto fk = db->script("PRAGMA foreign_keys=ON"); !fk) return fail(fk.error());
  return db;
}

SqliteDb::~SqliteDb() {
  for (auto& [sql, stmt] : cache_) sqlite3_finalize(stmt);
  sqlite3_close_v2(db_);
}

Error SqliteDb::error(int rc, std::string_view context) const { return errorFor(db_, rc, context); }

Result<sqlite3_stmt*> SqliteDb::prepare(std::string_view sql) {
  auto it = cache_.find(std::string(sql));
  if (it != cache_.end()) return it->second;
  if (cache_.size() >= kMaxCached) {
    for (auto& [text, stmt] : cache_) sqlite3_finalize(stmt);
    cache_.clear();
  }
  std::string translated = toSqlitePlaceholders(sql);
  sqlite3_stmt* stmt = nullptr;
  int rc = sqlite3_prepare_v3(db_, translated.c_str(), static_cast<int>(translated.size()),
                              SQLITE_PREPARE_PERSISTENT, &stmt, nullptr);
  if (rc != SQLITE_OK) {
    // SQLITE_ERROR here is a bug in our SQL: name the statement. Other codes are the file's.
    return fail(error(rc, (rc & 0xff) == SQLITE_ERROR ? "preparing \"" + std::string(sql) + "\""
                                                      : std::string()));
  }
  cache_.emplace(std::string(sql), stmt);
  return stmt;
}

Result<Rows> SqliteDb::query(std::string_view sql, const Params& params) {
  auto prepared = prepare(sql);
  if (!prepared) return fail(prepared.error());
  sqlite3_stmt* stmt = *prepared;
  StatementReset reset(stmt);
  for (size_t k = 0; k < params.size(); ++k) {
    const Param& p = params[k];
    int index = static_cast<int>(k) + 1;
    int rc = SQLITE_OK;
    switch (p.kind) {
      case Param::Kind::kNull:
        rc = sqlite3_bind_null(stmt, index);
        break;
      case Param::Kind::kInt:
        rc = sqlite3_bind_int64(stmt, index, p.i);
        break;
      case Param::Kind::kText:
        rc = sqlite3_bind_text64(stmt, index, p.s.data(), p.s.size(), SQLITE_STATIC, SQLITE_UTF8);
        break;
      case Param::Kind::kBlob:
        // A zero-length blob must not bind as NULL: give it a non-null pointer.
        rc = sqlite3_bind_blob64(stmt, index, p.s.empty() ? "" : p.s.data(), p.s.size(),
                                 SQLITE_STATIC);
        break;
    }
    if (rc != SQLITE_OK) return fail(error(rc, "binding parameter " + std::to_string(index)));
  }
  Rows rows;
  const int columns = sqlite3_column_count(stmt);
  for (;;) {
    int rc = sqlite3_step(stmt);
    if (rc == SQLITE_DONE) break;
    if (rc != SQLITE_ROW) return fail(error(rc, {}));
    Row& row = rows.emplace_back(columns);
    for (int c = 0; c < columns; ++c) {
      Value& v = row[c];
      switch (sqlite3_column_type(stmt, c)) {
        case SQLITE_NULL:
          break;
        case SQLITE_INTEGER:
          v.null = false;
          v.i = sqlite3_column_int64(stmt, c);
          break;
        default: {
          v.null = false;
          const void* data = sqlite3_column_blob(stmt, c);
          int size = sqlite3_column_bytes(stmt, c);
          if (data != nullptr) v.s.assign(static_cast<const char*>(data), size);
          break;
        }
      }
    }
  }
  return rows;
}

Result<int64_t> SqliteDb::exec(std::string_view sql, const Params& params) {
  auto rows = query(sql, params);
  if (!rows) return fail(rows.error());
  return static_cast<int64_t>(sqlite3_changes64(db_));
}

Result<void> SqliteDb::script(std::string_view sql) {
  char* message = nullptr;
  int rc = sqlite3_exec(db_, std::string(sql).c_str(), nullptr, nullptr, &message);
  if (rc != SQLITE_OK) {
    sqlite3_free(message);
    return fail(error(rc, {}));
  }
  return {};
}

Result<void> SqliteDb::begin(TxMode mode) {
  auto r = exec(mode == TxMode::kRead ? "BEGIN" : "BEGIN IMMEDIATE", {});
  if (!r) return fail(r.error());
  return {};
}

Result<void> SqliteDb::commit() {
  auto r = exec("COMMIT", {});
  if (!r) return fail(r.error());
  return {};
}

void SqliteDb::rollback() {
  if (sqlite3_get_autocommit(db_) == 0) (void)exec("ROLLBACK", {});
}

}  // namespace mutual::datastore::sql
