plugins {
  NodeAttestor "k8s_psat" {
    plugin_data {
      clusters = {
        "c1" = { service_account_allow_list = ["spire:agent"] }
      }
    }
  }
  UpstreamAuthority "disk" { plugin_data { key_file_path = "k", cert_file_path = "c" } }
  KeyManager { memory {} }
}
