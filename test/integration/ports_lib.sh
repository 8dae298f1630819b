# Ports for integration tests that cannot bind port 0 (sourced, not run). They stay below the
# kernel's ephemeral range: a port in it may be the source port of some other connection (or
# a TIME_WAIT one, plenty after a benchmark), and then binding it fails.
EPHEMERAL_LOW=$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
((EPHEMERAL_LOW > 20081)) || EPHEMERAL_LOW=32768

# free_port: a port between 10000 and EPHEMERAL_LOW that nobody listens on.
free_port() {
  local port
  while :; do
    port=$((10000 + RANDOM % (EPHEMERAL_LOW - 10000)))
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null || { echo "$port"; return; }
  done
}
