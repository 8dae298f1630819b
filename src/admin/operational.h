#pragma once

#include <string>
#include <thread>

namespace httplib {
class Server;
}

namespace mutual::admin {

// The set-up the operational HTTP endpoints share (the proxy's admin API, the health
// listener): cpp-httplib on a thread of its own, never on a data-plane worker or a control
// thread.

// Sets `server` up and binds it to host:port (0: a free port): two threads (plenty for probes,
// scrapes and operators; cpp-httplib's default is eight), and address reuse only
// (cpp-httplib's default adds SO_REUSEPORT, with which a second process could bind the same
// port and answer half of the requests). Returns the bound port, or -1.
int bindOperational(httplib::Server& server, const std::string& host, int port);

// Serves the bound `server` on a new thread, and returns once it accepts (or has given up):
// cpp-httplib's stop() does nothing before the server runs, so a stop() right after start
// would otherwise leave the thread accepting forever and its join() hanging.
std::thread serveOperational(httplib::Server& server);

// `path` as a cpp-httplib route that matches exactly that path: routes are regular
// expressions, and configured paths must not be read as such ("." matching anything, "/a["
// throwing).
std::string literalRoute(const std::string& path);

}  // namespace mutual::admin
