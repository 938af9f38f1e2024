// The CPU-only build's make_cuda_backend (src/backend.h): a weak definition that the real one in
// kernels/cuda/backend.cu replaces when `make cuda` links it (build/slm-cuda, build/slm-gpu-tests).
#include "backend.h"
#include "common.h"

namespace slm {

__attribute__((weak)) std::unique_ptr<Backend> make_cuda_backend(int) {
    fail("--gpu: this slm was built without CUDA (make cuda builds build/slm-cuda, which has it)");
}

}  // namespace slm
