// One small pool of worker threads, owned by whoever creates it (a command, a test) and passed down to the
// code that wants to split work. No global pool, no hidden threads.
#pragma once
#include <condition_variable>
#include <cstdint>
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
    void run(const std::function<void(int)>& fn);

    // Split [0, n) into contiguous chunks of at least `grain` items and call fn(begin, end, thread_index)
    // for each chunk; returns when all are done. Work is distributed dynamically (an atomic counter).
    void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t, int)>& fn);

private:
    void worker(int index);

    int n_threads_;
    std::vector<std::thread> threads_;
    std::mutex mu_;
    std::condition_variable cv_start_, cv_done_;
    const std::function<void(int)>* job_ = nullptr;
    uint64_t generation_ = 0;
    int pending_ = 0;
    bool stop_ = false;
};

}  // namespace slm
