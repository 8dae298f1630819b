#include "datastore/schema.h"

namespace mutual::datastore::sql {

// The two lists differ only in column types: SQLite's INTEGER and BLOB against PostgreSQL's
// BIGINT and BYTEA, and PostgreSQL's key columns compare bytewise (COLLATE "C") so that
// ordering and page tokens behave as in SQLite whatever the database's locale.

const std::vector<Migration>& sqliteMigrations() {
  static const std::vector<Migration> kMigrations = {
      // 1: registration entries, bundles, join tokens, attested nodes.
      {
          R"(CREATE TABLE bundles (
               trust_domain TEXT PRIMARY KEY,
               refresh_hint INTEGER NOT NULL DEFAULT 0,
               sequence_number INTEGER NOT NULL DEFAULT 0))",
          R"(CREATE TABLE bundle_x509_authorities (
               trust_domain TEXT NOT NULL REFERENCES bundles(trust_domain) ON DELETE CASCADE,
               position INTEGER NOT NULL,
               der BLOB NOT NULL,
               not_after INTEGER NOT NULL,
               PRIMARY KEY (trust_domain, position)))",
          R"(CREATE TABLE bundle_jwt_authorities (
               trust_domain TEXT NOT NULL REFERENCES bundles(trust_domain) ON DELETE CASCADE,
               position INTEGER NOT NULL,
               key_id TEXT NOT NULL,
               public_key BLOB NOT NULL,
               expires_at INTEGER NOT NULL,
               PRIMARY KEY (trust_domain, position)))",
          R"(CREATE TABLE entries (
               id TEXT PRIMARY KEY,
               spiffe_id TEXT NOT NULL,
               parent_id TEXT NOT NULL,
               x509_svid_ttl INTEGER NOT NULL DEFAULT 0,
               jwt_svid_ttl INTEGER NOT NULL DEFAULT 0,
               admin INTEGER NOT NULL DEFAULT 0,
               downstream INTEGER NOT NULL DEFAULT 0,
               expires_at INTEGER NOT NULL DEFAULT 0,
               hint TEXT NOT NULL DEFAULT '',
               created_at INTEGER NOT NULL,
               revision_number INTEGER NOT NULL DEFAULT 0))",
          "CREATE INDEX entries_spiffe_id ON entries (spiffe_id)",
          "CREATE INDEX entries_parent_id ON entries (parent_id)",
          "CREATE INDEX entries_expires_at ON entries (expires_at)",
          "CREATE INDEX entries_hint ON entries (hint)",
          R"(CREATE TABLE entry_selectors (
               entry_id TEXT NOT NULL REFERENCES entries(id) ON DELETE CASCADE,
               type TEXT NOT NULL,
               value TEXT NOT NULL,
               PRIMARY KEY (entry_id, type, value)))",
          "CREATE INDEX entry_selectors_type_value ON entry_selectors (type, value)",
          R"(CREATE TABLE entry_dns_names (
               entry_id TEXT NOT NULL REFERENCES entries(id) ON DELETE CASCADE,
               position INTEGER NOT NULL,
               name TEXT NOT NULL,
               PRIMARY KEY (entry_id, position)))",
          R"(CREATE TABLE entry_federates_with (
               entry_id TEXT NOT NULL REFERENCES entries(id) ON DELETE CASCADE,
               trust_domain TEXT NOT NULL REFERENCES bundles(trust_domain),
               PRIMARY KEY (entry_id, trust_domain)))",
          "CREATE INDEX entry_federates_with_td ON entry_federates_with (trust_domain)",
          R"(CREATE TABLE join_tokens (
               token TEXT PRIMARY KEY,
               expiry INTEGER NOT NULL))",
          "CREATE INDEX join_tokens_expiry ON join_tokens (expiry)",
          R"(CREATE TABLE attested_nodes (
               spiffe_id TEXT PRIMARY KEY,
               attestation_type TEXT NOT NULL,
               cert_serial TEXT NOT NULL,
               cert_not_after INTEGER NOT NULL,
               new_cert_serial TEXT NOT NULL,
               new_cert_not_after INTEGER NOT NULL,
               can_reattest INTEGER NOT NULL))",
          "CREATE INDEX attested_nodes_cert_not_after ON attested_nodes (cert_not_after)",
          R"(CREATE TABLE node_selectors (
               spiffe_id TEXT NOT NULL,
               type TEXT NOT NULL,
               value TEXT NOT NULL,
               PRIMARY KEY (spiffe_id, type, value)))",
          "CREATE INDEX node_selectors_type_value ON node_selectors (type, value)",
      },
      // 2: the CA journal and the record of issued certificates.
      {
          R"(CREATE TABLE ca_journals (
               server_id TEXT PRIMARY KEY,
               data BLOB NOT NULL,
               updated_at INTEGER NOT NULL))",
          R"(CREATE TABLE issued_certificates (
               serial_hex TEXT PRIMARY KEY,
               spiffe_id TEXT NOT NULL,
               not_before INTEGER NOT NULL,
               not_after INTEGER NOT NULL,
               issued_at INTEGER NOT NULL))",
          "CREATE INDEX issued_certificates_not_after ON issued_certificates (not_after)",
      },
  };
  return kMigrations;
}

const std::vector<Migration>& postgresMigrations() {
  static const std::vector<Migration> kMigrations = {
      // 1: registration entries, bundles, join tokens, attested nodes.
      {
          R"(CREATE TABLE bundles (
               trust_domain TEXT COLLATE "C" PRIMARY KEY,
               refresh_hint BIGINT NOT NULL DEFAULT 0,
               sequence_number BIGINT NOT NULL DEFAULT 0))",
          R"(CREATE TABLE bundle_x509_authorities (
               trust_domain TEXT COLLATE "C" NOT NULL
                 REFERENCES bundles(trust_domain) ON DELETE CASCADE,
               position BIGINT NOT NULL,
               der BYTEA NOT NULL,
               not_after BIGINT NOT NULL,
               PRIMARY KEY (trust_domain, position)))",
          R"(CREATE TABLE bundle_jwt_authorities (
               trust_domain TEXT COLLATE "C" NOT NULL
                 REFERENCES bundles(trust_domain) ON DELETE CASCADE,
               position BIGINT NOT NULL,
               key_id TEXT COLLATE "C" NOT NULL,
               public_key BYTEA NOT NULL,
               expires_at BIGINT NOT NULL,
               PRIMARY KEY (trust_domain, position)))",
          R"(CREATE TABLE entries (
               id TEXT COLLATE "C" PRIMARY KEY,
               spiffe_id TEXT COLLATE "C" NOT NULL,
               parent_id TEXT COLLATE "C" NOT NULL,
               x509_svid_ttl BIGINT NOT NULL DEFAULT 0,
               jwt_svid_ttl BIGINT NOT NULL DEFAULT 0,
               admin BIGINT NOT NULL DEFAULT 0,
               downstream BIGINT NOT NULL DEFAULT 0,
               expires_at BIGINT NOT NULL DEFAULT 0,
               hint TEXT COLLATE "C" NOT NULL DEFAULT '',
               created_at BIGINT NOT NULL,
               revision_number BIGINT NOT NULL DEFAULT 0))",
          "CREATE INDEX entries_spiffe_id ON entries (spiffe_id)",
          "CREATE INDEX entries_parent_id ON entries (parent_id)",
          "CREATE INDEX entries_expires_at ON entries (expires_at)",
          "CREATE INDEX entries_hint ON entries (hint)",
          R"(CREATE TABLE entry_selectors (
               entry_id TEXT COLLATE "C" NOT NULL REFERENCES entries(id) ON DELETE CASCADE,
               type TEXT COLLATE "C" NOT NULL,
               value TEXT COLLATE "C" NOT NULL,
               PRIMARY KEY (entry_id, type, value)))",
          "CREATE INDEX entry_selectors_type_value ON entry_selectors (type, value)",
          R"(CREATE TABLE entry_dns_names (
               entry_id TEXT COLLATE "C" NOT NULL REFERENCES entries(id) ON DELETE CASCADE,
               position BIGINT NOT NULL,
               name TEXT COLLATE "C" NOT NULL,
               PRIMARY KEY (entry_id, position)))",
          R"(CREATE TABLE entry_federates_with (
               entry_id TEXT COLLATE "C" NOT NULL REFERENCES entries(id) ON DELETE CASCADE,
               trust_domain TEXT COLLATE "C" NOT NULL REFERENCES bundles(trust_domain),
               PRIMARY KEY (entry_id, trust_domain)))",
          "CREATE INDEX entry_federates_with_td ON entry_federates_with (trust_domain)",
          R"(CREATE TABLE join_tokens (
               token TEXT COLLATE "C" PRIMARY KEY,
               expiry BIGINT NOT NULL))",
          "CREATE INDEX join_tokens_expiry ON join_tokens (expiry)",
          R"(CREATE TABLE attested_nodes (
               spiffe_id TEXT COLLATE "C" PRIMARY KEY,
               attestation_type TEXT COLLATE "C" NOT NULL,
               cert_serial TEXT COLLATE "C" NOT NULL,
               cert_not_after BIGINT NOT NULL,
               new_cert_serial TEXT COLLATE "C" NOT NULL,
               new_cert_not_after BIGINT NOT NULL,
               can_reattest BIGINT NOT NULL))",
          "CREATE INDEX attested_nodes_cert_not_after ON attested_nodes (cert_not_after)",
          R"(CREATE TABLE node_selectors (
               spiffe_id TEXT COLLATE "C" NOT NULL,
               type TEXT COLLATE "C" NOT NULL,
               value TEXT COLLATE "C" NOT NULL,
               PRIMARY KEY (spiffe_id, type, value)))",
          "CREATE INDEX node_selectors_type_value ON node_selectors (type, value)",
      },
      // 2: the CA journal and the record of issued certificates.
      {
          R"(CREATE TABLE ca_journals (
               server_id TEXT COLLATE "C" PRIMARY KEY,
               data BYTEA NOT NULL,
               updated_at BIGINT NOT NULL))",
          R"(CREATE TABLE issued_certificates (
               serial_hex TEXT COLLATE "C" PRIMARY KEY,
               spiffe_id TEXT COLLATE "C" NOT NULL,
               not_before BIGINT NOT NULL,
               not_after BIGINT NOT NULL,
               issued_at BIGINT NOT NULL))",
          "CREATE INDEX issued_certificates_not_after ON issued_certificates (not_after)",
      },
  };
  return kMigrations;
}

}  // namespace mutual::datastore::sql
