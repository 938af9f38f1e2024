// `slm export-hf MODEL.gguf OUT_DIR [--dtype bf16|f16|f32]`: a llama GGUF model as a Hugging Face checkpoint
// directory that transformers' LlamaForCausalLM and AutoTokenizer load (src/hf.cpp).
#include <cstdio>

#include "args.h"
#include "commands.h"
#include "common.h"
#include "hf.h"
#include "backend.h"
#include "threadpool.h"

namespace slm::cli {

int cmd_export_hf(int argc, char** argv) {
    Args args(argc, argv, {"--dtype", "--shard-mb"}, {"--quiet"});
    if (args.help()) {
        std::printf(
            "usage: slm export-hf MODEL.gguf OUT_DIR [--dtype bf16|f16|f32] [--shard-mb N] [--quiet]\n"
            "\n"
            "Writes OUT_DIR/config.json, model.safetensors (or shards and model.safetensors.index.json),\n"
            "tokenizer.json (rebuilt from the GGUF vocabulary and merges; SentencePiece vocabularies as BPE with\n"
            "byte fallback, merges ordered by score), tokenizer_config.json (special tokens, add_bos_token, the\n"
            "chat template) and generation_config.json. Quantized tensors are dequantized; Q and K rows are put\n"
            "back in Hugging Face's rotate-half order.\n"
            "\n"
            "  --dtype D      bf16, f16 or f32 for every tensor (default: F32/F16/BF16 tensors as stored,\n"
            "                 quantized ones as f32, which holds their dequantized values exactly)\n"
            "  --shard-mb N   split the weights into shards of about N MB (default: one file)\n"
            "  --quiet        no progress line\n");
        return 0;
    }
    const auto& pos = args.positionals();
    if (pos.size() != 2) fail("expected MODEL.gguf OUT_DIR, got %zu argument(s) (see --help)", pos.size());
    hf::ExportOptions opt;
    opt.dtype = args.get({"--dtype"});
    const int64_t shard_mb = args.get_int({"--shard-mb"}, 0);
    if (shard_mb < 0 || shard_mb > (1 << 20)) fail("--shard-mb %lld: expected 0..1048576", (long long)shard_mb);
    opt.shard_bytes = uint64_t(shard_mb) * 1000000ull;
    opt.progress = !args.has("--quiet");
    ThreadPool pool(1);
    const std::unique_ptr<Backend> backend = make_cpu_backend(pool);
    const hf::ExportResult r = hf::export_hf(pos[0], pos[1], *backend, opt);
    std::printf("%s -> %s: %d tensors in %d shard(s), %.2f MB\n", pos[0].c_str(), pos[1].c_str(), r.n_tensors,
                r.n_shards, r.bytes / 1e6);
    return 0;
}

}  // namespace slm::cli
