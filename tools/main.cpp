// `slm`: one static binary, one subcommand per job.
#include <cstdio>
#include <cstring>
#include <exception>

#include "commands.h"
#include "common.h"
#include "input_file.h"

namespace slm::cli {
const Command kCommands[] = {
    {"inspect", cmd_inspect, "show a GGUF file's header, metadata and tensor table"},
    {"tokenize", cmd_tokenize, "text -> token ids (GGUF, tokenizer.json or tokenizer.model)"},
    {"detokenize", cmd_detokenize, "token ids -> text"},
    {"run", cmd_run, "generate text from a prompt"},
    {"chat", cmd_chat, "interactive chat with history"},
    {"logits", cmd_logits, "print per-position logits (log-sum-exp, top-K), write the last as float32"},
    {"quantize", cmd_quantize, "quantize a GGUF model (Q8_0 ... Q2_K, the _M/_S mixes)"},
    {"audit", cmd_audit, "measure what quantization did: per-tensor errors, KL divergence, perplexity"},
    {"train", cmd_train, "LoRA / QLoRA / full fine-tuning by backpropagation"},
    {"merge", cmd_merge, "merge a LoRA adapter into its base model"},
    {"experiment", cmd_experiment, "the study end to end: data, base eval, QLoRA, merge, quantize, audit, eval, report"},
    {"gen-data", cmd_gen_data, "generate the multilingual e-commerce intent dataset"},
    {"eval", cmd_eval, "evaluate a model on the intent task"},
    {"synth", cmd_synth, "write a random-weight model with the exact layout of a known one"},
    {"bench", cmd_bench, "prompt and generation speed (llama-bench's table) against the measured ceilings"},
    {"convert", cmd_convert, "Hugging Face checkpoint directory (safetensors) -> GGUF"},
    {"export-hf", cmd_export_hf, "GGUF -> Hugging Face checkpoint directory (config, safetensors, tokenizer)"},
};
const int kNumCommands = int(sizeof(kCommands) / sizeof(kCommands[0]));
}  // namespace slm::cli

static void usage(FILE* out) {
    std::fprintf(out, "usage: slm COMMAND [options]   (slm COMMAND --help for each command's options)\n\ncommands:\n");
    for (int i = 0; i < slm::cli::kNumCommands; i++)
        std::fprintf(out, "  %-11s %s\n", slm::cli::kCommands[i].name, slm::cli::kCommands[i].summary);
}

int main(int argc, char** argv) {
    slm::remember_inputs();  // input_file.h: an output that is one of the command's inputs is refused
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (!std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h") || !std::strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    for (int i = 0; i < slm::cli::kNumCommands; i++) {
        if (std::strcmp(argv[1], slm::cli::kCommands[i].name)) continue;
        try {
            return slm::cli::kCommands[i].fn(argc - 1, argv + 1);
        } catch (const slm::Error& e) {
            std::fprintf(stderr, "slm %s: error: %s\n", argv[1], e.what());
            return 1;
        } catch (const std::bad_alloc&) {
            std::fprintf(stderr, "slm %s: error: out of memory\n", argv[1]);
            return 1;
        } catch (const std::exception& e) {
            std::fprintf(stderr, "slm %s: error: %s\n", argv[1], e.what());
            return 1;
        }
    }
    std::fprintf(stderr, "slm: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return 2;
}
