#include "datastore/postgres_db.h"

#include <libpq-fe.h>

#include <array>
#include <cstring>

namespace mutual::datastore::sql {
namespace {

// Type OIDs from pg_type.dat; stable across PostgreSQL versions.
constexpr Oid kBoolOid = 16;
constexpr Oid kByteaOid = 17;
constexpr Oid kInt8Oid = 20;
constexpr Oid kInt2Oid = 21;
constexpr Oid kInt4Oid = 23;
constexpr Oid kTextOid = 25;

// Any constant works as long as every mutual server uses the same one: it serialises schema
// migrations of servers starting together on one database.
constexpr char kMigrationLock[] = "SELECT pg_advisory_xact_lock(7262707963)";

struct ResultDeleter {
  void operator()(PGresult* r) const { PQclear(r); }
};
using ResultPtr = std::unique_ptr<PGresult, ResultDeleter>;

// libpq messages span lines ("...failed: Connection refused\n\tIs the server running...");
// ours stay on one line: whitespace runs become one space.
std::string trimmed(const char* text) {
  std::string out;
  for (const char* p = text != nullptr ? text : ""; *p != '\0'; ++p) {
    const bool space = *p == '\n' || *p == '\t' || *p == '\r' || *p == ' ';
    if (space) {
      if (!out.empty() && out.back() != ' ') out.push_back(' ');
    } else {
      out.push_back(*p);
    }
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

Error pgError(PGconn* conn, const PGresult* res) {
  std::string message = "postgres: ";
  const char* state = res != nullptr ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : nullptr;
  std::string detail = trimmed(res != nullptr ? PQresultErrorMessage(res) : nullptr);
  if (detail.empty()) detail = trimmed(PQerrorMessage(conn));
  if (detail.empty()) detail = "unknown libpq error";
  message += detail;
  std::string_view sqlstate = state != nullptr ? state : "";
  if (PQstatus(conn) == CONNECTION_BAD || sqlstate.starts_with("08") || sqlstate == "57P01" ||
      sqlstate == "57P02" || sqlstate == "57P03") {
    return Error{Code::kUnavailable, message, kReasonConnection};
  }
  if (sqlstate == "40001" || sqlstate == "40P01") {
    return Error{Code::kAborted, message, kReasonSerialization};
  }
  if (sqlstate == "23505") return Error{Code::kAlreadyExists, message, kReasonUnique};
  if (sqlstate == "23503") return Error{Code::kFailedPrecondition, message, kReasonForeignKey};
  if (sqlstate.starts_with("53")) return Error{Code::kResourceExhausted, message, {}};
  if (sqlstate.starts_with("22")) return Error{Code::kInvalidArgument, message, {}};
  return Error{Code::kInternal, message, {}};
}

int64_t readBigEndian(const char* p, int size) {
  uint64_t v = 0;
  for (int k = 0; k < size; ++k) v = (v << 8) | static_cast<unsigned char>(p[k]);
  // Sign-extend values narrower than 64 bits.
  if (size < 8 && size > 0 && (static_cast<unsigned char>(p[0]) & 0x80) != 0) {
    v |= ~uint64_t{0} << (size * 8);
  }
  return static_cast<int64_t>(v);
}

void ignoreNotice(void*, const char*) {}

}  // namespace

struct PostgresDb::Executed {
  ResultPtr result;
};

Result<std::unique_ptr<PostgresDb>> PostgresDb::open(const std::string& connection_string) {
  // Defaults first: the expanded connection string that follows overrides them.
  const char* keywords[] = {"connect_timeout", "application_name", "dbname", nullptr};
  const char* values[] = {"5", "mutual", connection_string.c_str(), nullptr};
  PGconn* conn = PQconnectdbParams(keywords, values, /*expand_dbname=*/1);
  if (conn == nullptr) {
    return fail(Code::kResourceExhausted, "postgres: out of memory creating a connection");
  }
  if (PQstatus(conn) != CONNECTION_OK) {
    Error e{Code::kUnavailable, "postgres: " + trimmed(PQerrorMessage(conn)), kReasonConnection};
    PQfinish(conn);
    return fail(std::move(e));
  }
  PQsetNoticeProcessor(conn, ignoreNotice, nullptr);
  return std::unique_ptr<PostgresDb>(new PostgresDb(conn));
}

PostgresDb::~PostgresDb() { PQfinish(conn_); }

bool PostgresDb::broken() const { return PQstatus(conn_) == CONNECTION_BAD; }

Result<void> PostgresDb::reconnect() {
  in_tx_ = false;
  PQreset(conn_);
  if (PQstatus(conn_) != CONNECTION_OK) {
    return fail(Code::kUnavailable,
                "postgres: reconnecting failed: " + trimmed(PQerrorMessage(conn_)),
                kReasonConnection);
  }
  PQsetNoticeProcessor(conn_, ignoreNotice, nullptr);
  return {};
}

Result<PostgresDb::Executed> PostgresDb::run(std::string_view sql, const Params& params) {
  const size_t n = params.size();
  std::vector<Oid> types(n, 0);
  std::vector<const char*> values(n, nullptr);
  std::vector<int> lengths(n, 0);
  std::vector<int> formats(n, 1);
  std::vector<std::array<char, 8>> ints(n);
  for (size_t k = 0; k < n; ++k) {
    const Param& p = params[k];
    switch (p.kind) {
      case Param::Kind::kNull:
        break;
      case Param::Kind::kInt: {
        uint64_t v = static_cast<uint64_t>(p.i);
        for (int b = 7; b >= 0; --b) {
          ints[k][b] = static_cast<char>(v & 0xff);
          v >>= 8;
        }
        types[k] = kInt8Oid;
        values[k] = ints[k].data();
        lengths[k] = 8;
        break;
      }
      case Param::Kind::kText:
      case Param::Kind::kBlob:
        types[k] = p.kind == Param::Kind::kText ? kTextOid : kByteaOid;
        values[k] = p.s.empty() ? "" : p.s.data();
        lengths[k] = static_cast<int>(p.s.size());
        break;
    }
  }
  std::string text(sql);
  ResultPtr res(PQexecParams(conn_, text.c_str(), static_cast<int>(n), types.data(), values.data(),
                             lengths.data(), formats.data(),
                             /*resultFormat=*/1));
  ExecStatusType status = res ? PQresultStatus(res.get()) : PGRES_FATAL_ERROR;
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
    return fail(pgError(conn_, res.get()));
  }
  return Executed{std::move(res)};
}

Result<Rows> PostgresDb::query(std::string_view sql, const Params& params) {
  auto executed = run(sql, params);
  if (!executed) return fail(executed.error());
  PGresult* res = executed->result.get();
  const int nrows = PQntuples(res);
  const int ncols = PQnfields(res);
  Rows rows;
  rows.reserve(nrows);
  for (int r = 0; r < nrows; ++r) {
    Row& row = rows.emplace_back(ncols);
    for (int c = 0; c < ncols; ++c) {
      if (PQgetisnull(res, r, c)) continue;
      Value& v = row[c];
      v.null = false;
      const char* data = PQgetvalue(res, r, c);
      const int size = PQgetlength(res, r, c);
      switch (PQftype(res, c)) {
        case kInt8Oid:
        case kInt4Oid:
        case kInt2Oid:
        case kBoolOid:
          v.i = readBigEndian(data, size);
          break;
        default:
          v.s.assign(data, size);
          break;
      }
    }
  }
  return rows;
}

Result<int64_t> PostgresDb::exec(std::string_view sql, const Params& params) {
  auto executed = run(sql, params);
  if (!executed) return fail(executed.error());
  const char* tuples = PQcmdTuples(executed->result.get());
  return tuples != nullptr && *tuples != '\0' ? std::stoll(tuples) : int64_t{0};
}

Result<void> PostgresDb::script(std::string_view sql) {
  ResultPtr res(PQexec(conn_, std::string(sql).c_str()));
  ExecStatusType status = res ? PQresultStatus(res.get()) : PGRES_FATAL_ERROR;
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
    return fail(pgError(conn_, res.get()));
  }
  return {};
}

Result<void> PostgresDb::begin(TxMode mode) {
  const char* sql = "BEGIN";
  if (mode == TxMode::kRead) sql = "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY";
  if (mode == TxMode::kWrite) sql = "BEGIN ISOLATION LEVEL SERIALIZABLE";
  if (auto r = script(sql); !r) return r;
  in_tx_ = true;
  if (mode == TxMode::kMigrate) {
    if (auto r = script(kMigrationLock); !r) return r;
  }
  return {};
}

Result<void> PostgresDb::commit() {
  in_tx_ = false;
  return script("COMMIT");
}

void PostgresDb::rollback() {
  if (!in_tx_) return;
  in_tx_ = false;
  if (!broken()) (void)script("ROLLBACK");
}

}  // namespace mutual::datastore::sql
