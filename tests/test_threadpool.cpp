// The thread pool: every item exactly once, at any size, spinning or parked between regions; exceptions reach
// the caller; many short regions in a row (as one decoded token runs) neither lose nor duplicate work.
#include <doctest/doctest.h>

#include <atomic>
#include <stdexcept>
#include <vector>

#include "threadpool.h"

using slm::ThreadPool;

TEST_CASE("threadpool: parallel_for covers every item once, spinning or parking between regions") {
    for (int n_threads : {1, 2, 3, 4}) {
        for (int spin : {0, 1 << 11}) {
            ThreadPool pool(n_threads);
            pool.set_spin(spin);
            CAPTURE(n_threads);
            CAPTURE(spin);
            for (int64_t n : {int64_t(0), int64_t(1), int64_t(7), int64_t(1000), int64_t(100003)}) {
                std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
                pool.parallel_for(n, 3, [&](int64_t b, int64_t e, int t) {
                    CHECK(t >= 0);
                    CHECK(t < n_threads);
                    for (int64_t i = b; i < e; i++) hits[size_t(i)]++;
                });
                int bad = 0;
                for (auto& h : hits) bad += h.load() != 1;
                CHECK(bad == 0);
            }
        }
    }
}

TEST_CASE("threadpool: thousands of short regions in a row, each thread index once per run") {
    ThreadPool pool(3);
    std::vector<int> per_thread(3, 0);
    int64_t total = 0;
    for (int r = 0; r < 5000; r++) {
        std::atomic<int> mask{0};
        pool.run([&](int t) {
            mask.fetch_or(1 << t);
            per_thread[size_t(t)]++;  // each index runs on one thread only: no race
        });
        total += mask.load() == 7;
        if (r == 2500) pool.set_spin(0);  // switch to parking halfway
    }
    CHECK(total == 5000);
    CHECK(per_thread == std::vector<int>{5000, 5000, 5000});
}

TEST_CASE("threadpool: an exception in any thread is rethrown to the caller, and the pool keeps working") {
    ThreadPool pool(2);
    for (int who : {0, 1}) {
        CHECK_THROWS_WITH_AS(pool.run([&](int t) {
            if (t == who) throw std::runtime_error("boom");
        }),
                             "boom", std::runtime_error);
    }
    std::atomic<int> n{0};
    pool.parallel_for(100, 1, [&](int64_t b, int64_t e, int) { n += int(e - b); });
    CHECK(n.load() == 100);
}
