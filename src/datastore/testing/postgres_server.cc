#include "datastore/testing/postgres_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <pwd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <system_error>
#include <vector>

namespace mutual::datastore::testing {
namespace {

namespace fs = std::filesystem;

constexpr char kSuperuser[] = "mutual";

bool hasServerBinaries(const fs::path& bin) {
  std::error_code ec;
  return fs::exists(bin / "initdb", ec) && fs::exists(bin / "pg_ctl", ec) &&
         fs::exists(bin / "postgres", ec);
}

std::string tail(const fs::path& file, size_t max_bytes = 2000) {
  std::ifstream in(file, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string s = ss.str();
  if (s.size() > max_bytes) s = "..." + s.substr(s.size() - max_bytes);
  return s;
}

// A port the kernel just handed out on 127.0.0.1; free unless someone takes it in between,
// which start() survives by trying again.
Result<int> freePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return fail(Code::kInternal, std::string("socket: ") + std::strerror(errno));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    int err = errno;
    ::close(fd);
    return fail(Code::kInternal, std::string("bind 127.0.0.1:0: ") + std::strerror(err));
  }
  ::close(fd);
  return static_cast<int>(ntohs(addr.sin_port));
}

// Names spliced into CREATE DATABASE / CREATE SCHEMA: test-chosen, but checked anyway.
bool isIdentifier(const std::string& name) {
  return !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
  });
}

}  // namespace

Result<fs::path> PostgresServer::findBinaries() {
  if (const char* env = std::getenv("MUTUAL_PG_BIN"); env != nullptr && *env != '\0') {
    if (hasServerBinaries(env)) return fs::path(env);
    return fail(Code::kNotFound,
                std::string("MUTUAL_PG_BIN=") + env + " does not hold initdb, pg_ctl and postgres");
  }
  const fs::path root = "/usr/lib/postgresql";
  std::vector<std::pair<int, fs::path>> found;
  std::error_code ec;
  for (const auto& version : fs::directory_iterator(root, ec)) {
    fs::path bin = version.path() / "bin";
    if (!hasServerBinaries(bin)) continue;
    found.emplace_back(std::atoi(version.path().filename().c_str()), bin);
  }
  if (found.empty()) {
    return fail(Code::kNotFound,
                "no PostgreSQL server binaries (initdb, pg_ctl, postgres) under "
                "/usr/lib/postgresql/*/bin; install postgresql (Debian) or set MUTUAL_PG_BIN");
  }
  std::sort(found.begin(), found.end());
  return found.back().second;
}

Result<void> PostgresServer::run(const std::vector<std::string>& argv, const fs::path& log) {
  std::vector<std::string> full;
  if (!run_as_.empty()) full = {"/usr/sbin/runuser", "-u", run_as_, "--"};
  full.insert(full.end(), argv.begin(), argv.end());
  std::vector<char*> args;
  for (std::string& a : full) args.push_back(a.data());
  args.push_back(nullptr);

  pid_t pid = ::fork();
  if (pid < 0) return fail(Code::kInternal, std::string("fork: ") + std::strerror(errno));
  if (pid == 0) {
    int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd >= 0) {
      ::dup2(fd, STDOUT_FILENO);
      ::dup2(fd, STDERR_FILENO);
    }
    int devnull = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (devnull >= 0) ::dup2(devnull, STDIN_FILENO);
    ::execv(args[0], args.data());
    ::_exit(127);
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR)
      return fail(Code::kInternal, std::string("waitpid: ") + std::strerror(errno));
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    return fail(Code::kInternal, "`" + full[0] + (full.size() > 1 ? " " + full[1] : "") +
                                     " ...` failed (status " + std::to_string(status) + "); " +
                                     log.string() + ": " + tail(log));
  }
  return {};
}

Result<std::unique_ptr<PostgresServer>> PostgresServer::start() {
  auto bin = findBinaries();
  if (!bin) return fail(bin.error());
  std::unique_ptr<PostgresServer> server(new PostgresServer());
  server->bin_ = *bin;

  std::string templ = (fs::temp_directory_path() / "mutual-pg-XXXXXX").string();
  if (::mkdtemp(templ.data()) == nullptr) {
    return fail(Code::kInternal, "mkdtemp " + templ + ": " + std::strerror(errno));
  }
  server->dir_ = templ;

  if (::geteuid() == 0) {
    const passwd* pw = ::getpwnam("postgres");
    if (pw == nullptr) pw = ::getpwnam("nobody");
    if (pw == nullptr) {
      return fail(Code::kFailedPrecondition,
                  "running as root, and neither user postgres nor nobody exists to run "
                  "PostgreSQL as");
    }
    server->run_as_ = pw->pw_name;
    if (::chown(templ.c_str(), pw->pw_uid, pw->pw_gid) != 0) {
      return fail(Code::kInternal, "chown " + templ + ": " + std::strerror(errno));
    }
    // Log files are created by our forked child as root before runuser drops privileges;
    // create them here and hand them over.
    for (const char* name : {"initdb.log", "pg_ctl.log", "postgres.log"}) {
      fs::path p = server->dir_ / name;
      std::ofstream(p).close();
      if (::chown(p.c_str(), pw->pw_uid, pw->pw_gid) != 0) {
        return fail(Code::kInternal, "chown " + p.string() + ": " + std::strerror(errno));
      }
    }
  }

  if (auto init = server->initCluster(); !init) return fail(init.error());

  Result<void> started;
  for (int attempt = 0; attempt < 3; ++attempt) {
    auto port = freePort();
    if (!port) return fail(port.error());
    server->port_ = *port;
    started = server->startServer();
    if (started) return server;
  }
  return fail(started.error());
}

// initdb takes seconds, and ctest runs every test in a process of its own, so the first
// initdb'ed cluster is kept as a template in the temporary directory (one per binaries
// directory and owner; never started, owned by the user that runs PostgreSQL, mode 0700) and
// later servers copy it, which takes a fraction of a second.
Result<void> PostgresServer::initCluster() {
  std::string key = bin_.string();
  std::replace(key.begin(), key.end(), '/', '_');
  const std::string owner = run_as_.empty() ? std::to_string(::geteuid()) : run_as_;
  const fs::path templ = fs::temp_directory_path() / ("mutual-pg-template" + key + "-" + owner);
  const fs::path data = dir_ / "data";
  std::error_code ec;
  if (fs::exists(templ / "PG_VERSION", ec)) {
    if (run({"/bin/cp", "-a", templ.string(), data.string()}, dir_ / "initdb.log")) return {};
    fs::remove_all(data, ec);  // a partial copy; fall back to initdb
  }
  auto init = run({(bin_ / "initdb").string(), "-D", data.string(), "-U", kSuperuser, "-A", "trust",
                   "-E", "UTF8", "--locale=C", "--no-sync"},
                  dir_ / "initdb.log");
  if (!init) return init;
  // Publish atomically: copy beside, then rename; of racing processes one rename wins and
  // the others drop their copy.
  const fs::path staging = templ.string() + ".tmp-" + std::to_string(::getpid());
  if (run({"/bin/cp", "-a", data.string(), staging.string()}, dir_ / "initdb.log")) {
    if (::rename(staging.c_str(), templ.c_str()) != 0) fs::remove_all(staging, ec);
  } else {
    fs::remove_all(staging, ec);
  }
  return {};
}

Result<void> PostgresServer::startServer() {
  // pg_ctl hands -o to postgres through a shell; the paths come from mkdtemp and contain no
  // spaces.
  std::string options = "-c listen_addresses=127.0.0.1 -p " + std::to_string(port_) + " -k " +
                        dir_.string() +
                        " -c fsync=off -c full_page_writes=off"
                        " -c max_connections=60";
  auto r = run({(bin_ / "pg_ctl").string(), "-D", (dir_ / "data").string(), "-l",
                (dir_ / "postgres.log").string(), "-w", "-t", "60", "-o", options, "start"},
               dir_ / "pg_ctl.log");
  if (!r) {
    Error e = r.error();
    e.message += "; postgres.log: " + tail(dir_ / "postgres.log");
    return fail(std::move(e));
  }
  running_ = true;
  return {};
}

Result<void> PostgresServer::stop() {
  if (!running_) return {};
  auto r = run(
      {(bin_ / "pg_ctl").string(), "-D", (dir_ / "data").string(), "-m", "immediate", "-w", "stop"},
      dir_ / "pg_ctl.log");
  if (r) running_ = false;
  return r;
}

Result<void> PostgresServer::restart() {
  if (running_) return {};
  return startServer();
}

PostgresServer::~PostgresServer() {
  (void)stop();
  std::error_code ec;
  if (!dir_.empty()) fs::remove_all(dir_, ec);
}

std::string PostgresServer::connectionString(const std::string& dbname) const {
  return "host=127.0.0.1 port=" + std::to_string(port_) + " user=" + kSuperuser +
         " dbname=" + dbname + " sslmode=disable";
}

Result<void> PostgresServer::exec(const std::string& connection_string, const std::string& sql) {
  PGconn* conn = PQconnectdb(connection_string.c_str());
  if (PQstatus(conn) != CONNECTION_OK) {
    std::string message = PQerrorMessage(conn);
    PQfinish(conn);
    return fail(Code::kUnavailable, "postgres test server: " + message);
  }
  PGresult* res = PQexec(conn, sql.c_str());
  ExecStatusType status = PQresultStatus(res);
  std::string message = PQresultErrorMessage(res);
  PQclear(res);
  PQfinish(conn);
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
    return fail(Code::kInternal, "postgres test server: " + sql + ": " + message);
  }
  return {};
}

Result<std::string> PostgresServer::createDatabase(const std::string& name) {
  if (!isIdentifier(name)) return invalidArgument("database name " + name + " is not [a-z0-9_]+");
  if (auto r = exec(connectionString("postgres"), "CREATE DATABASE " + name); !r) {
    return fail(r.error());
  }
  return connectionString(name);
}

Result<std::string> PostgresServer::createSchema(const std::string& name) {
  if (!isIdentifier(name)) return invalidArgument("schema name " + name + " is not [a-z0-9_]+");
  if (auto r = exec(connectionString("postgres"), "CREATE SCHEMA " + name); !r) {
    return fail(r.error());
  }
  return connectionString("postgres") + " options='-c search_path=" + name + "'";
}

}  // namespace mutual::datastore::testing
