// llama_api_check: two llama.cpp library calls slm compares itself with, without building llama.cpp's common
// library and tools (a long build on a small machine). Not part of slm's build: tools/bench/llamacpp.sh
// api-build links it with llama.cpp's libllama and ggml libraries.
//
//   llama_api_check quantize IN.gguf OUT.gguf FTYPE_ID   llama_model_quantize with llama-quantize's defaults (no
//                                                        imatrix, 2 threads): what `llama-quantize IN OUT TYPE 2`
//                                                        does after parsing its arguments
//   llama_api_check logits MODEL.gguf [--lora A.gguf] OUT.f32 TOKEN...
//                                                        one batch of token ids through llama.cpp's CPU backend
//                                                        (with the adapter at scale 1); writes the last
//                                                        position's logits as float32
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "llama.h"

static int usage() {
    std::fprintf(stderr,
                 "usage: llama_api_check quantize IN.gguf OUT.gguf FTYPE_ID\n"
                 "       llama_api_check logits MODEL.gguf [--lora ADAPTER.gguf] OUT.f32 TOKEN...\n");
    return 2;
}

int main(int argc, char** argv) {
    if (argc < 2) return usage();
    const std::string cmd = argv[1];
    llama_backend_init();
    if (cmd == "quantize") {
        if (argc != 5) return usage();
        llama_model_quantize_params p = llama_model_quantize_default_params();
        p.ftype = llama_ftype(std::atoi(argv[4]));
        p.nthread = 2;
        const uint32_t rc = llama_model_quantize(argv[2], argv[3], &p);
        llama_backend_free();
        return rc ? 1 : 0;
    }
    if (cmd != "logits" || argc < 5) return usage();
    int i = 2;
    const char* model_path = argv[i++];
    const char* lora_path = nullptr;
    if (std::strcmp(argv[i], "--lora") == 0) {
        if (argc < 7) return usage();
        lora_path = argv[i + 1];
        i += 2;
    }
    const char* out_path = argv[i++];
    std::vector<llama_token> tokens;
    for (; i < argc; i++) tokens.push_back(llama_token(std::atoi(argv[i])));
    if (tokens.empty()) return usage();

    llama_model_params mp = llama_model_default_params();
    mp.n_gpu_layers = 0;
    llama_model* model = llama_model_load_from_file(model_path, mp);
    if (!model) return std::fprintf(stderr, "cannot load %s\n", model_path), 1;
    llama_context_params cp = llama_context_default_params();
    cp.n_ctx = 512;
    cp.n_batch = 512;
    cp.n_ubatch = 512;
    cp.n_threads = 2;
    cp.n_threads_batch = 2;
    llama_context* ctx = llama_init_from_model(model, cp);
    if (!ctx) return std::fprintf(stderr, "cannot make a context\n"), 1;
    if (lora_path) {
        llama_adapter_lora* a = llama_adapter_lora_init(model, lora_path);
        if (!a) return std::fprintf(stderr, "cannot load adapter %s\n", lora_path), 1;
        float scale = 1.0f;
        if (llama_set_adapters_lora(ctx, &a, 1, &scale) != 0) return std::fprintf(stderr, "cannot apply adapter\n"), 1;
    }
    if (llama_decode(ctx, llama_batch_get_one(tokens.data(), int32_t(tokens.size()))) != 0)
        return std::fprintf(stderr, "decode failed\n"), 1;
    const int n_vocab = llama_vocab_n_tokens(llama_model_get_vocab(model));
    const float* logits = llama_get_logits_ith(ctx, -1);
    FILE* f = std::fopen(out_path, "wb");
    if (!f || std::fwrite(logits, sizeof(float), size_t(n_vocab), f) != size_t(n_vocab)) return std::fprintf(stderr, "cannot write %s\n", out_path), 1;
    std::fclose(f);
    llama_free(ctx);
    llama_model_free(model);
    llama_backend_free();
    return 0;
}
