server {
  trust_domain = "example.org"
  data_dir = "d"
  bind_port = 08081
  ca_ttl = 24
}
