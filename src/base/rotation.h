#pragma once

#include <chrono>
#include <cstdint>

#include "base/clock.h"

// Rotation and retry arithmetic as pure functions of (now, validity, jitter) — SPIRE's
// rotationutil and Linkerd's refresh logic — so they are tested without sleeping.
namespace mutual {

// When a certificate valid [not_before, not_after) should be renewed: at half its lifetime,
// moved by `jitter` (a fraction in [-1, 1], scaled to ±10% of the lifetime) so that many
// workloads issued together do not renew together.
TimePoint renewalTime(TimePoint not_before, TimePoint not_after, double jitter);

// True when `now` is at or past renewalTime, or the certificate is already expired.
bool shouldRenew(TimePoint now, TimePoint not_before, TimePoint not_after, double jitter);

// Exponential backoff with full jitter for retry `attempt` (0-based): a delay drawn from
// [base * 2^attempt / 2, base * 2^attempt], capped at `cap`. `unit_random` is in [0, 1).
std::chrono::milliseconds backoffDelay(unsigned attempt, std::chrono::milliseconds base,
                                       std::chrono::milliseconds cap, double unit_random);

// A uniform value in [0, 1) from the thread's own generator (seeded from the OS once).
double unitRandom();

}  // namespace mutual
