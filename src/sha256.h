// SHA-256 (FIPS 180-4), written for slm so that quantized tensors can be compared with the digests in
// llama.cpp's manifests and files can be fingerprinted without any external library.
#pragma once
#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace slm {

class Sha256 {
public:
    Sha256() { reset(); }
    void reset();
    void update(const void* data, size_t n);
    // Finishes the hash and returns the 32-byte digest; the object must be reset() before reuse.
    std::array<uint8_t, 32> finish();
    // Lower-case hex of finish().
    std::string finish_hex();

private:
    void block(const uint8_t* p);  // one 64-byte block
    std::array<uint32_t, 8> h_{};
    uint8_t buf_[64]{};
    size_t buf_len_ = 0;
    uint64_t total_bytes_ = 0;
};

// One-shot helpers.
std::string sha256_hex(const void* data, size_t n);
inline std::string sha256_hex(std::string_view s) { return sha256_hex(s.data(), s.size()); }

}  // namespace slm
