// Shared by the libFuzzer harnesses (tests/fuzz/fuzz_NAME.cpp, built and run by `make fuzz`).
//
// Convention: each harness defines LLVMFuzzerTestOneInput, calls the parser under test on the bytes, and
// treats slm::Error as the expected way to refuse input. Anything else (a crash, a sanitizer report, another
// exception type, a broken invariant reported by FUZZ_CHECK, an allocation above -malloc_limit_mb, a
// timeout) is a finding. Fixtures needed at start-up come from $SLM_FIXTURES (default ../shared/fixtures).
#pragma once
#include <cstdio>
#include <cstdlib>
#include <string>

#include "common.h"

namespace slm::fuzz {

inline std::string fixture(const std::string& rel) {
    const char* d = std::getenv("SLM_FIXTURES");
    return std::string(d && *d ? d : "../shared/fixtures") + "/" + rel;
}

}  // namespace slm::fuzz

// An invariant the code promises: a violation aborts, which libFuzzer records as a crash with its input.
#define FUZZ_CHECK(cond)                                                                    \
    do {                                                                                    \
        if (!(cond)) {                                                                      \
            std::fprintf(stderr, "FUZZ_CHECK failed: %s (%s:%d)\n", #cond, __FILE__, __LINE__); \
            std::abort();                                                                   \
        }                                                                                   \
    } while (0)
