// `slm eval`: accuracy, speed and memory of a model (optionally with a LoRA adapter) on the intent task.
#include <cmath>
#include <cstdio>
#include <optional>
#include <string>

#include "args.h"
#include "output_file.h"
#include "commands.h"
#include "common.h"
#include "intent/eval.h"
#include "model.h"
#include "forward.h"
#include "threadpool.h"

namespace slm::cli {

static const char* kEvalHelp =
    "usage: slm eval -m MODEL.gguf --data FILE.jsonl [--lora ADAPTER.gguf] [--constrained] [--few-shot K]\n"
    "                [--no-system] [--threads N] [--limit N] [--max-tokens N] [--report OUT.md] [--json OUT.json]\n"
    "                [--quiet] [--gpu] [--no-lookup]\n"
    "\n"
    "Evaluates a model on the e-commerce intent task (../shared/intents/SPEC.md). For each example the model\n"
    "gets a chat prompt in the model's template (the fixed system prompt, K solved few-shot turns, the user's\n"
    "message), decodes\n"
    "greedily, and the reply is graded by exact match of the parsed JSON object (types matter).\n"
    "The system prompt and few-shot turns are evaluated once and kept in the KV cache for every example.\n"
    "\n"
    "  -m, --model PATH     GGUF model\n"
    "  --chat-template NAME llama3|chatml|llama2|none (default: the family of the model's tokenizer.chat_template;\n"
    "                       none, with a note, for a model without one)\n"
    "  --data PATH          JSONL: gen-data's {\"messages\": [...]} lines or {\"text\": ..., \"gold\": {...}} lines\n"
    "  --lora PATH          LoRA adapter (GGUF) applied on top of the model; --lora-scale S (default 1)\n"
    "  --constrained        mask every token that cannot continue a valid answer; stop when the object is complete\n"
    "  --few-shot K         K solved examples (built-in bank from the train phrasings) before each query (default 0)\n"
    "  --no-system          no system prompt (for a model fine-tuned without one: `slm train --drop-system`);\n"
    "                       a template's own default system message (SmolLM2's) still applies\n"
    "  --threads N          worker threads (default 0: one per core)\n"
    "  --limit N            evaluate the first N examples only\n"
    "  --max-tokens N       unconstrained token budget per answer (default 48)\n"
    "  --no-lookup          one token per forward pass (default: lookup decoding guesses the next tokens from\n"
    "                       earlier replies and checks them in one pass: the same replies, fewer passes)\n"
    "  --report PATH        write a Markdown report      --json PATH   write a JSON report (with every reply)\n"
    "  --quiet              no progress line on stderr\n"
    "  --gpu                compute on CUDA device 0 (build/slm-cuda; F16 and GPTQ-4 weights as stored, other\n"
    "                       types dequantized to fp32 with the CPU's activation rounding; f16 KV cache; no LoRA)\n";

int cmd_eval(int argc, char** argv) {
    Args args(argc, argv,
              {"-m", "--model", "--data", "--lora", "--lora-scale", "--few-shot", "--threads", "-t", "--limit",
               "--max-tokens", "--report", "--json", "--chat-template"},
              {"--constrained", "--quiet", "--no-system", "--gpu", "--no-lookup"});
    if (args.help()) {
        std::fputs(kEvalHelp, stdout);
        return 0;
    }
    if (!args.positionals().empty()) fail("unexpected argument \"%s\" (see --help)", args.positionals()[0].c_str());
    std::string model_path = args.require({"-m", "--model"});
    std::string data_path = args.require({"--data"});
    intent::EvalOptions opt;
    opt.constrained = args.has("--constrained");
    opt.lookup = !args.has("--no-lookup");
    opt.progress = !args.has("--quiet");
    opt.system = !args.has("--no-system");
    int64_t few = args.get_int({"--few-shot"}, 0), limit = args.get_int({"--limit"}, -1),
            threads = args.get_int({"--threads", "-t"}, 0), max_tokens = args.get_int({"--max-tokens"}, 48);
    if (few < 0 || few > 200) fail("--few-shot must be in [0, 200], got %lld", (long long)few);
    if (args.given({"--limit"}) && limit < 1) fail("--limit must be at least 1, got %lld", (long long)limit);
    if (threads < 0 || threads > 1024) fail("--threads must be in [0, 1024] (0 = one per core), got %lld", (long long)threads);
    if (max_tokens < 1 || max_tokens > 4096) fail("--max-tokens must be in [1, 4096], got %lld", (long long)max_tokens);
    opt.few_shot = int(few);
    opt.limit = int(limit);
    opt.max_tokens = int(max_tokens);
    opt.chat_template = args.get({"--chat-template"});
    double lora_scale = args.get_float({"--lora-scale"}, 1.0);
    if (std::fabs(lora_scale) > 1000) fail("--lora-scale must be in [-1000, 1000], got %g", lora_scale);

    // Outputs created and the data read first: a bad path fails before a slow model load and evaluation.
    std::optional<OutputFile> report_out, json_out;
    if (args.given({"--report"})) report_out.emplace(args.get({"--report"}));
    if (args.given({"--json"})) json_out.emplace(args.get({"--json"}));
    std::vector<intent::EvalItem> items = intent::read_eval_file(data_path);
    ThreadPool pool{int(threads)};
    std::unique_ptr<Backend> backend = args.has("--gpu") ? make_cuda_backend(0) : make_cpu_backend(pool);
    std::unique_ptr<Model> model = Model::load(model_path, *backend);
    std::string lora = args.get({"--lora"});
    if (!lora.empty()) model->load_lora(lora, *backend, float(lora_scale));
    ContextOptions co;
    co.n_ctx = intent::eval_context_size(*model, opt);
    Context ctx(*model, *backend, co);

    intent::EvalResult r = intent::evaluate(ctx, items, opt);
    r.threads = pool.size();
    r.model = model_path;
    r.data = data_path;
    r.lora = lora;
    std::fputs(r.summary().c_str(), stdout);
    if (report_out) {
        report_out->write(r.to_markdown());
        report_out->commit();
    }
    if (json_out) {
        json_out->write(r.to_json().dump(2) + "\n");
        json_out->commit();
    }
    return 0;
}

}  // namespace slm::cli
