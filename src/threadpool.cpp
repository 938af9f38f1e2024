#include "threadpool.h"

#include <algorithm>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define SLM_PAUSE() _mm_pause()
#else
#define SLM_PAUSE() ((void)0)
#endif

namespace slm {

namespace {
// About 50-100 microseconds of pause instructions on current x86 cores (a pause is ~40-140 cycles): longer than
// the gap between two parallel regions of a decoded token, much shorter than a human-visible idle.
constexpr int kSpin = 1 << 11;
}  // namespace

ThreadPool::ThreadPool(int n_threads) : spin_(kSpin) {
    if (n_threads <= 0) n_threads = int(std::max(1u, std::thread::hardware_concurrency()));
    n_threads_ = n_threads;
    for (int i = 1; i < n_threads_; i++) threads_.emplace_back([this, i] { worker(i); });
}

ThreadPool::~ThreadPool() {
    {
        std::lock_guard<std::mutex> lk(mu_);
        stop_ = true;
        generation_.fetch_add(1, std::memory_order_release);
    }
    cv_start_.notify_all();
    for (auto& t : threads_) t.join();
}

void ThreadPool::execute(int index) {
    try {
        (*job_)(index);
    } catch (...) {
        std::lock_guard<std::mutex> lk(err_mu_);
        if (!error_) error_ = std::current_exception();
    }
}

void ThreadPool::worker(int index) {
    uint64_t seen = 0;
    for (;;) {
        // Spin for the next generation, then park.
        uint64_t g = generation_.load(std::memory_order_acquire);
        for (int i = 0; g == seen && i < spin_; i++) {
            SLM_PAUSE();
            g = generation_.load(std::memory_order_acquire);
        }
        if (g == seen) {
            std::unique_lock<std::mutex> lk(mu_);
            sleepers_.fetch_add(1);
            cv_start_.wait(lk, [&] { return generation_.load(std::memory_order_acquire) != seen; });
            sleepers_.fetch_sub(1);
            g = generation_.load(std::memory_order_acquire);
        }
        {
            std::lock_guard<std::mutex> lk(mu_);
            if (stop_) return;
        }
        seen = g;
        execute(index);
        if (pending_.fetch_sub(1, std::memory_order_acq_rel) == 1 && caller_parked_.load()) {
            std::lock_guard<std::mutex> lk(mu_);  // the caller checks pending_ under the lock before it sleeps
            cv_done_.notify_one();
        }
    }
}

void ThreadPool::run(const std::function<void(int)>& fn) {
    if (n_threads_ == 1) {
        fn(0);
        return;
    }
    job_ = &fn;
    error_ = nullptr;
    pending_.store(n_threads_ - 1, std::memory_order_relaxed);
    {
        std::lock_guard<std::mutex> lk(mu_);  // orders the publication against a worker about to park
        generation_.fetch_add(1, std::memory_order_release);
    }
    if (sleepers_.load() > 0) cv_start_.notify_all();
    execute(0);
    for (int i = 0; pending_.load(std::memory_order_acquire) != 0 && i < spin_; i++) SLM_PAUSE();
    if (pending_.load(std::memory_order_acquire) != 0) {
        std::unique_lock<std::mutex> lk(mu_);
        caller_parked_.store(true);
        cv_done_.wait(lk, [&] { return pending_.load() == 0; });
        caller_parked_.store(false);
    }
    job_ = nullptr;
    if (error_) {
        std::exception_ptr e = error_;
        error_ = nullptr;
        std::rethrow_exception(e);
    }
}

void ThreadPool::parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t, int)>& fn) {
    if (n <= 0) return;
    grain = std::max<int64_t>(1, grain);
    // Aim for a few chunks per thread so uneven chunks balance out.
    int64_t chunk = std::max(grain, n / (int64_t(n_threads_) * 4));
    if (n_threads_ == 1 || n <= chunk) {
        fn(0, n, 0);
        return;
    }
    std::atomic<int64_t> next{0};
    run([&](int t) {
        for (;;) {
            int64_t b = next.fetch_add(chunk);
            if (b >= n) break;
            fn(b, std::min(n, b + chunk), t);
        }
    });
}

}  // namespace slm
