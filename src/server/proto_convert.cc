#include "server/proto_convert.h"

#include "base/time.h"

namespace mutual::server::proto {

void toProto(const datastore::RegistrationEntry& e, mutual::v1::Entry* out) {
  out->set_id(e.id);
  out->set_spiffe_id(e.spiffe_id);
  out->set_parent_id(e.parent_id);
  for (const auto& s : e.selectors) {
    auto* sel = out->add_selectors();
    sel->set_type(s.type);
    sel->set_value(s.value);
  }
  out->set_x509_svid_ttl(e.x509_svid_ttl);
  out->set_jwt_svid_ttl(e.jwt_svid_ttl);
  for (const auto& d : e.dns_names) out->add_dns_names(d);
  out->set_admin(e.admin);
  out->set_downstream(e.downstream);
  for (const auto& f : e.federates_with) out->add_federates_with(f);
  out->set_expires_at(e.expires_at);
  out->set_hint(e.hint);
  out->set_created_at(e.created_at);
  out->set_revision_number(e.revision_number);
}

datastore::RegistrationEntry fromProto(const mutual::v1::Entry& e) {
  datastore::RegistrationEntry out;
  out.id = e.id();
  out.spiffe_id = e.spiffe_id();
  out.parent_id = e.parent_id();
  for (const auto& s : e.selectors()) out.selectors.push_back({s.type(), s.value()});
  out.x509_svid_ttl = e.x509_svid_ttl();
  out.jwt_svid_ttl = e.jwt_svid_ttl();
  out.dns_names.assign(e.dns_names().begin(), e.dns_names().end());
  out.admin = e.admin();
  out.downstream = e.downstream();
  out.federates_with.assign(e.federates_with().begin(), e.federates_with().end());
  out.expires_at = e.expires_at();
  out.hint = e.hint();
  out.created_at = e.created_at();
  out.revision_number = e.revision_number();
  return out;
}

void toProto(const datastore::Bundle& b, mutual::v1::Bundle* out) {
  out->set_trust_domain(b.trust_domain);
  for (const auto& der : b.x509_authorities_der) out->add_x509_authorities(der);
  for (const auto& j : b.jwt_authorities) {
    auto* a = out->add_jwt_authorities();
    a->set_key_id(j.key_id);
    a->set_public_key(j.public_key_der);
    a->set_expires_at(j.expires_at);
  }
  out->set_refresh_hint(b.refresh_hint);
  out->set_sequence_number(b.sequence_number);
}

datastore::Bundle fromProto(const mutual::v1::Bundle& b) {
  datastore::Bundle out;
  out.trust_domain = b.trust_domain();
  out.x509_authorities_der.assign(b.x509_authorities().begin(), b.x509_authorities().end());
  for (const auto& j : b.jwt_authorities()) {
    out.jwt_authorities.push_back({j.key_id(), j.public_key(), j.expires_at()});
  }
  out.refresh_hint = b.refresh_hint();
  out.sequence_number = b.sequence_number();
  return out;
}

void toProto(const AuthorityInfo& info, mutual::v1::Authority* out) {
  out->set_authority_id(info.authority_id);
  out->set_status(std::string(authorityStatusName(info.status)));
  out->set_tainted(info.tainted);
  out->set_revoked(info.revoked);
  out->set_not_before(toUnix(info.not_before));
  out->set_not_after(toUnix(info.not_after));
  out->set_subject(info.subject);
  out->set_root_id(info.root_id);
  out->set_upstream_authority_id(info.upstream_authority_id);
  out->set_jwt_key_id(info.jwt_key_id);
  out->set_keys_present(info.keys_present);
  if (info.prepare_at) out->set_prepare_at(toUnix(*info.prepare_at));
  if (info.activate_at) out->set_activate_at(toUnix(*info.activate_at));
}

AuthorityInfo fromProto(const mutual::v1::Authority& a) {
  AuthorityInfo info;
  info.authority_id = a.authority_id();
  info.status = a.status() == "active"     ? AuthorityStatus::kActive
                : a.status() == "prepared" ? AuthorityStatus::kPrepared
                                           : AuthorityStatus::kOld;
  info.tainted = a.tainted();
  info.revoked = a.revoked();
  info.not_before = fromUnix(a.not_before());
  info.not_after = fromUnix(a.not_after());
  info.subject = a.subject();
  info.root_id = a.root_id();
  info.upstream_authority_id = a.upstream_authority_id();
  info.jwt_key_id = a.jwt_key_id();
  info.keys_present = a.keys_present();
  if (a.prepare_at() != 0) info.prepare_at = fromUnix(a.prepare_at());
  if (a.activate_at() != 0) info.activate_at = fromUnix(a.activate_at());
  return info;
}

grpc::Status toStatus(const Error& error) {
  if (error.code == Code::kOk) return grpc::Status(grpc::StatusCode::UNKNOWN, error.message);
  return grpc::Status(static_cast<grpc::StatusCode>(error.code), error.message, error.reason);
}

Error fromStatus(const grpc::Status& status, std::string_view what) {
  return Error{static_cast<Code>(status.error_code()),
               std::string(what) + ": " + status.error_message(), status.error_details()};
}

}  // namespace mutual::server::proto
