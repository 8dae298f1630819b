#include "server/issued_recorder.h"

#include <spdlog/spdlog.h>

namespace mutual::server {

namespace {

constexpr int kAttempts = 3;
constexpr std::chrono::milliseconds kRetryPause{200};

}  // namespace

IssuedRecorder::IssuedRecorder(datastore::DataStore& store, Options options)
    : store_(store), options_(options) {
  if (options_.max_batch == 0) options_.max_batch = 1;
  if (options_.max_queue < options_.max_batch) options_.max_queue = options_.max_batch;
  writer_ = std::thread([this] { run(); });
}

IssuedRecorder::~IssuedRecorder() {
  (void)flush();
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  wake_.notify_all();
  writer_.join();
}

void IssuedRecorder::record(std::vector<datastore::IssuedCertificate> certs) {
  if (certs.empty()) return;
  std::unique_lock lock(mu_);
  progress_.wait(lock, [this] { return stop_ || queue_.size() < options_.max_queue; });
  const bool was_empty = queue_.empty();
  if (was_empty) oldest_ = std::chrono::steady_clock::now();
  for (auto& c : certs) queue_.push_back(std::move(c));
  enqueued_ += certs.size();
  if (was_empty || queue_.size() >= options_.max_batch) wake_.notify_one();
}

Result<void> IssuedRecorder::flush() {
  std::unique_lock lock(mu_);
  const uint64_t target = enqueued_;
  ++flushers_;
  wake_.notify_one();
  progress_.wait(lock, [this, target] { return done_ >= target; });
  --flushers_;
  if (has_error_) {
    has_error_ = false;
    return fail(last_error_);
  }
  return {};
}

uint64_t IssuedRecorder::recorded() const {
  std::lock_guard lock(mu_);
  return recorded_;
}

uint64_t IssuedRecorder::failed() const {
  std::lock_guard lock(mu_);
  return failed_;
}

void IssuedRecorder::run() {
  std::unique_lock lock(mu_);
  for (;;) {
    wake_.wait(lock, [this] { return stop_ || !queue_.empty(); });
    if (queue_.empty()) return;  // stopping, nothing left
    wake_.wait_until(lock, oldest_ + options_.max_delay, [this] {
      return stop_ || flushers_ > 0 || queue_.size() >= options_.max_batch;
    });
    const size_t n = std::min(queue_.size(), options_.max_batch);
    std::vector<datastore::IssuedCertificate> batch(
        std::make_move_iterator(queue_.begin()),
        std::make_move_iterator(queue_.begin() + static_cast<std::ptrdiff_t>(n)));
    queue_.erase(queue_.begin(), queue_.begin() + static_cast<std::ptrdiff_t>(n));
    if (!queue_.empty()) oldest_ = std::chrono::steady_clock::now();
    progress_.notify_all();  // room in the queue
    lock.unlock();

    Result<void> ok;
    for (int attempt = 1; attempt <= kAttempts; ++attempt) {
      ok = store_.recordIssuedBatch(batch);
      if (ok || ok.error().code == Code::kAlreadyExists) break;
      if (attempt < kAttempts) std::this_thread::sleep_for(kRetryPause);
    }
    uint64_t recorded = ok ? n : 0;
    if (!ok && ok.error().code == Code::kAlreadyExists) {
      // A serial recorded before (never expected from 128 random bits): keep the others.
      for (const auto& cert : batch) {
        if (store_.recordIssued(cert)) ++recorded;
      }
      ok = {};
    }
    if (!ok) {
      spdlog::error("issued certificates: {} records lost: {}", n, ok.error().message);
    }

    lock.lock();
    recorded_ += recorded;
    failed_ += n - recorded;
    done_ += n;
    if (!ok && !has_error_) {
      has_error_ = true;
      last_error_ = ok.error();
    }
    progress_.notify_all();
  }
}

}  // namespace mutual::server
