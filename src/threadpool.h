// One small pool of worker threads, owned by whoever creates it (a command, a test) and passed down to the
// code that wants to split work. No global pool, no hidden threads.
//
// Decoding one token runs ~130 parallel regions of a few tens of microseconds each: waking a sleeping thread
// costs about as much as the work. So between regions the workers spin on an atomic generation counter for a
// short while (kSpin, ~50-100 us) and only then park on a condition variable; the caller likewise spins before
// it parks waiting for the last worker. An idle pool therefore sleeps (no CPU burnt between commands).
#pragma once
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace slm {

class ThreadPool {
public:
    // n_threads <= 0: use std::thread::hardware_concurrency(). The calling thread counts as one worker.
    explicit ThreadPool(int n_threads = 0);
    ~ThreadPool();
    ThreadPool(const ThreadPool&) = delete;
    ThreadPool& operator=(const ThreadPool&) = delete;

    int size() const { return n_threads_; }

    // Run fn(thread_index) once on each of the size() threads (the caller is thread 0) and wait for all.
    // An exception thrown by fn on any thread is rethrown here, on the caller's thread (the first one thrown).
    // Not reentrant: fn must not call run() / parallel_for() on the same pool.
    void run(const std::function<void(int)>& fn);

    // Split [0, n) into contiguous chunks of at least `grain` items and call fn(begin, end, thread_index)
    // for each chunk; returns when all are done. Work is distributed dynamically (an atomic counter).
    void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t, int)>& fn);

    // How many spin iterations a waiting thread makes before it parks (tests set 0 to exercise parking).
    void set_spin(int iterations) { spin_ = iterations; }

private:
    void worker(int index);
    void execute(int index);  // runs the current job on this thread, recording an exception

    int n_threads_;
    int spin_;
    std::vector<std::thread> threads_;
    std::mutex mu_;
    std::condition_variable cv_start_, cv_done_;
    const std::function<void(int)>* job_ = nullptr;
    std::atomic<uint64_t> generation_{0};
    std::atomic<int> pending_{0};
    std::atomic<int> sleepers_{0};     // workers parked on cv_start_
    std::atomic<bool> caller_parked_{false};
    bool stop_ = false;
    std::mutex err_mu_;
    std::exception_ptr error_;
};

}  // namespace slm
