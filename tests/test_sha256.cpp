// SHA-256 against the FIPS 180-4 / NIST example vectors, and streaming in awkward pieces against one shot.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "sha256.h"

using slm::Sha256;
using slm::sha256_hex;

TEST_CASE("quantize: sha256 known vectors") {
    CHECK(sha256_hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    CHECK(sha256_hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    // 56 bytes: the padding no longer fits in the same block.
    CHECK(sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq") ==
          "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    CHECK(sha256_hex("abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrs"
                     "mnopqrstnopqrstu") ==
          "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1");
    // One million 'a', fed in pieces of 1000.
    Sha256 h;
    std::string chunk(1000, 'a');
    for (int i = 0; i < 1000; ++i) h.update(chunk.data(), chunk.size());
    CHECK(h.finish_hex() == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST_CASE("quantize: sha256 streaming equals one shot at every split") {
    std::vector<uint8_t> data(300);
    for (size_t i = 0; i < data.size(); ++i) data[i] = uint8_t(i * 131 + 7);
    for (size_t len : {0, 1, 55, 56, 63, 64, 65, 119, 120, 128, 300}) {
        std::string whole = sha256_hex(data.data(), len);
        for (size_t split = 0; split <= len; split += 7) {
            Sha256 h;
            h.update(data.data(), split);
            h.update(data.data() + split, len - split);
            CHECK_MESSAGE(h.finish_hex() == whole, "len " << len << " split " << split);
        }
        Sha256 h;  // reuse after reset gives the same answer
        h.update("xyz", 3);
        h.finish();
        h.reset();
        h.update(data.data(), len);
        CHECK(h.finish_hex() == whole);
    }
}
