// `slm convert HF_DIR -o OUT.gguf [--type F32|F16|BF16|Q8_0]`: a Hugging Face LlamaForCausalLM checkpoint
// (config.json, safetensors, tokenizer.json) to GGUF, as llama.cpp's converter writes it (src/hf.cpp); GPTQ
// checkpoints in the AutoGPTQ layout to slm's GPTQ-4 layout.
#include <cstdio>

#include "args.h"
#include "commands.h"
#include "common.h"
#include "hf.h"
#include "backend.h"
#include "threadpool.h"

namespace slm::cli {

int cmd_convert(int argc, char** argv) {
    Args args(argc, argv, {"-o", "--out", "--type"}, {"--quiet"});
    if (args.help()) {
        std::printf(
            "usage: slm convert HF_DIR -o OUT.gguf [--type F32|F16|BF16|Q8_0] [--quiet]\n"
            "\n"
            "Converts a Hugging Face Llama checkpoint directory to GGUF without Python: config.json\n"
            "(LlamaForCausalLM: GQA, head_dim, rope_theta / rope_scaling or rope_parameters with llama3 scaling,\n"
            "tie_word_embeddings, rms_norm_eps, max_position_embeddings, eos ids), model.safetensors or the shards\n"
            "of model.safetensors.index.json (F32, F16, BF16), tokenizer.json + tokenizer_config.json (special\n"
            "tokens, add_bos_token, chat_template or chat_template.jinja) and generation_config.json. Tensor names,\n"
            "the Q/K row permutation, rope_freqs.weight and metadata as llama.cpp's converter writes them.\n"
            "Weights are streamed one tensor at a time from the mapped shards, with a progress line.\n"
            "\n"
            "GPTQ checkpoints (AutoGPTQ / GPTQModel, 4 bits: quantize_config.json or config.json's\n"
            "quantization_config with quant_method \"gptq\"; each layer matrix as qweight / qzeros / scales / g_idx,\n"
            "checkpoint_format \"gptq\" (zeros stored minus one) or \"gptq_v2\") become slm's GPTQ-4 layout\n"
            "(kernels/cpu/gptq.cpp: act-order columns sorted by g_idx, stored with their permutation); embeddings,\n"
            "norms and lm_head convert as above. --type does not apply to them.\n"
            "\n"
            "  -o, --out PATH   the GGUF file to write\n"
            "  --type T         matrix type: F32, F16, BF16 or Q8_0 (default: as stored); norms are always F32\n"
            "  --quiet          no progress line\n");
        return 0;
    }
    const auto& pos = args.positionals();
    if (pos.size() != 1) fail("expected one HF_DIR, got %zu argument(s) (see --help)", pos.size());
    const std::string out = args.require({"-o", "--out"});
    hf::ConvertOptions opt;
    opt.type = args.get({"--type"});
    opt.progress = !args.has("--quiet");
    ThreadPool pool(1);
    const std::unique_ptr<Backend> backend = make_cpu_backend(pool);
    const hf::ConvertResult r = hf::convert(pos[0], out, *backend, opt);
    std::printf("%s -> %s: %d tensors, %.2f MB, %.2f s\n", pos[0].c_str(), out.c_str(), r.n_tensors, r.bytes / 1e6, r.seconds);
    return 0;
}

}  // namespace slm::cli
