#pragma once

#include <compare>
#include <string>
#include <string_view>

#include "base/error.h"

namespace mutual::spiffe {

// A trust domain name: non-empty, only [a-z0-9._-]. Comparable, hashable by name().
class TrustDomain {
 public:
  // Accepts a bare name ("example.org") or, as go-spiffe does, any SPIFFE ID
  // ("spiffe://example.org/x"), whose trust domain is taken.
  static Result<TrustDomain> parse(std::string_view text);

  const std::string& name() const { return name_; }
  // "spiffe://example.org": the trust domain's own ID, used as a bundle key and as the CA SAN.
  std::string idString() const { return "spiffe://" + name_; }
  auto operator<=>(const TrustDomain&) const = default;

 private:
  friend class SpiffeId;
  explicit TrustDomain(std::string name) : name_(std::move(name)) {}
  std::string name_;
};

// A SPIFFE ID: spiffe://<trust-domain>[<path>]. The error messages are go-spiffe's.
class SpiffeId {
 public:
  static Result<SpiffeId> parse(std::string_view text);
  // Builds an ID from a trust domain and a path ("" or "/a/b"); the path is validated.
  static Result<SpiffeId> fromPath(const TrustDomain& td, std::string_view path);

  const TrustDomain& trustDomain() const { return td_; }
  const std::string& path() const { return path_; }  // "" for the trust domain's own ID
  bool isRoot() const { return path_.empty(); }
  std::string str() const { return td_.idString() + path_; }
  bool memberOf(const TrustDomain& td) const { return td_ == td; }
  auto operator<=>(const SpiffeId&) const = default;

 private:
  SpiffeId(TrustDomain td, std::string path) : td_(std::move(td)), path_(std::move(path)) {}
  TrustDomain td_;
  std::string path_;
};

// Validates a path ("" or "/seg/seg"); the error messages are go-spiffe's.
Result<void> validatePath(std::string_view path);

}  // namespace mutual::spiffe
