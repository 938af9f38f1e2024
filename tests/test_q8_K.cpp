#include <cstring>

#include "cpu/kernels.h"
#include "cpu/q8_K.h"
#include "test_util.h"

using slm::kernels::block_q8_K;

TEST_CASE("q8_K: quantize matches ggml's bytes") {
    SLM_REQUIRE_FIXTURE("kquants/q8_K.q");
    auto in = slm::test::read_f32(slm::test::fixture("kquants/input.f32"));
    auto ref = slm::test::read_bytes(slm::test::fixture("kquants/q8_K.q"));
    REQUIRE(in.size() == 48 * 1024);
    REQUIRE(ref.size() == 48 * 4 * sizeof(block_q8_K));
    std::vector<block_q8_K> out(48 * 4);
    slm::kernels::type_ops(slm::GgmlType::Q8_K).quantize(in.data(), out.data(), int64_t(in.size()));
    const block_q8_K* r = reinterpret_cast<const block_q8_K*>(ref.data());
    int zero_blocks = 0;
    for (size_t b = 0; b < out.size(); b++) {
        CHECK(std::memcmp(&out[b].d, &r[b].d, 4) == 0);
        CHECK(std::memcmp(out[b].qs, r[b].qs, sizeof(out[b].qs)) == 0);
        // ggml leaves bsums unwritten for an all-zero block (its bytes in the fixture are leftovers); slm
        // writes zeros, the true sums. Everywhere else the sums must agree.
        if (r[b].d == 0) {
            zero_blocks++;
            for (int j = 0; j < 16; j++) CHECK(out[b].bsums[j] == 0);
        } else {
            CHECK(std::memcmp(out[b].bsums, r[b].bsums, sizeof(out[b].bsums)) == 0);
        }
    }
    CHECK(zero_blocks > 0);  // the fixture has all-zero rows: the special case is exercised
}
