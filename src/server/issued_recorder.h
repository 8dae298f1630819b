#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>

#include "base/error.h"
#include "datastore/datastore.h"

// Records issued certificates in the datastore behind the signer's back, in batches: one
// transaction (one fsync) per batch instead of one per certificate. On the VM disk the
// benchmarks ran on a committed transaction costs ~0.6 ms of CPU and ~4 ms of wall time, five
// times the signature itself, so recording each SVID before answering would cap the server at
// ~1,400 certificates per CPU second with a 4 ms p50 (docs/server.md, "Signing performance").
//
// The trade: a record reaches the database at most `max_delay` after the SVID was signed; a
// crash loses the records of that window (never the certificates' validity, which does not
// depend on the record). flush() and the destructor write everything queued.
namespace mutual::server {

class IssuedRecorder {
 public:
  struct Options {
    size_t max_batch = 2000;                  // rows per transaction
    std::chrono::milliseconds max_delay{50};  // oldest queued record waits at most this
    size_t max_queue = 200000;                // record() blocks beyond this (backpressure)
  };

  IssuedRecorder(datastore::DataStore& store, Options options);
  explicit IssuedRecorder(datastore::DataStore& store) : IssuedRecorder(store, Options{}) {}
  // Flushes, then stops the writer thread.
  ~IssuedRecorder();
  IssuedRecorder(const IssuedRecorder&) = delete;
  IssuedRecorder& operator=(const IssuedRecorder&) = delete;

  // Queues records; returns at once unless the queue is full.
  void record(std::vector<datastore::IssuedCertificate> certs);
  // Waits until everything queued before this call is committed (or failed). Returns the
  // first error since the previous flush, if any.
  Result<void> flush();

  uint64_t recorded() const;  // rows committed so far
  uint64_t failed() const;    // rows given up on (logged)

 private:
  void run();

  datastore::DataStore& store_;
  Options options_;
  mutable std::mutex mu_;
  std::condition_variable wake_;      // the writer: work or stop
  std::condition_variable progress_;  // flush() and blocked record(): a batch is done
  std::deque<datastore::IssuedCertificate> queue_;
  std::chrono::steady_clock::time_point oldest_{};
  uint64_t enqueued_ = 0;  // rows ever queued
  uint64_t done_ = 0;      // rows ever committed or given up on
  uint64_t recorded_ = 0;
  uint64_t failed_ = 0;
  int flushers_ = 0;
  bool stop_ = false;
  Error last_error_;
  bool has_error_ = false;
  std::thread writer_;
};

}  // namespace mutual::server
