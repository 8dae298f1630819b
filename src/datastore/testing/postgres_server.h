#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "base/error.h"

// A throwaway PostgreSQL server for tests: its own cluster in a temporary directory, on
// 127.0.0.1 with a free port and its unix socket inside that directory, fsync off. Used by
// the datastore conformance suite and by tests of modules that need a shared database.
namespace mutual::datastore::testing {

class PostgresServer {
 public:
  // The directory holding initdb, pg_ctl and postgres: $MUTUAL_PG_BIN when set, else the
  // newest /usr/lib/postgresql/<version>/bin. NotFound, saying where it looked, when none.
  static Result<std::filesystem::path> findBinaries();

  // initdb (trust authentication, superuser "mutual", locale C; the first cluster is kept
  // in the temporary directory as "mutual-pg-template<bin>-<owner>" and copied by later
  // calls, which saves seconds per test process) and start. Run as root, the
  // cluster belongs to and runs as an unprivileged user ("postgres" if it exists, else
  // "nobody"), via runuser, since PostgreSQL refuses to run as root.
  static Result<std::unique_ptr<PostgresServer>> start();

  // Stops the server (immediate mode) and removes the directory.
  ~PostgresServer();
  PostgresServer(const PostgresServer&) = delete;
  PostgresServer& operator=(const PostgresServer&) = delete;

  // `pg_ctl stop -m immediate`: clients see their connections drop. No-op when stopped.
  Result<void> stop();
  // Starts the stopped server again on the same port.
  Result<void> restart();
  bool running() const { return running_; }

  int port() const { return port_; }
  const std::filesystem::path& dir() const { return dir_; }
  // "host=127.0.0.1 port=<port> user=mutual dbname=<dbname> sslmode=disable"
  std::string connectionString(const std::string& dbname) const;

  // CREATE DATABASE; `name` must be [a-z0-9_]+. Returns its connection string. Takes about
  // half a second (PostgreSQL copies the template database); prefer createSchema in tests.
  Result<std::string> createDatabase(const std::string& name);
  // CREATE SCHEMA in database "postgres"; `name` must be [a-z0-9_]+. Returns a connection
  // string whose search_path is that schema only, so whatever connects with it sees an empty
  // database of its own. Takes milliseconds.
  Result<std::string> createSchema(const std::string& name);
  // Runs SQL (no parameters) through `connection_string`, as the superuser.
  Result<void> exec(const std::string& connection_string, const std::string& sql);

 private:
  PostgresServer() = default;
  Result<void> initCluster();
  Result<void> startServer();
  Result<void> run(const std::vector<std::string>& argv, const std::filesystem::path& log);

  std::filesystem::path bin_;
  std::filesystem::path dir_;
  std::string run_as_;  // empty when not root
  int port_ = 0;
  bool running_ = false;
};

}  // namespace mutual::datastore::testing
