// `slm train`: LoRA / QLoRA (or --full) fine-tuning by hand-written backpropagation (src/train/).
#include <chrono>
#include <cstdio>
#include <optional>
#include <string>

#include "args.h"
#include "backend.h"
#include "chat_template.h"
#include "commands.h"
#include "common.h"
#include "json.h"
#include "model.h"
#include "output_file.h"
#include "threadpool.h"
#include "tokenizer.h"
#include "train/data.h"
#include "train/loop.h"
#include "train/trainer.h"

namespace slm::cli {

static long long clock_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

static const char* kTrainHelp =
    "usage: slm train -m BASE.gguf --data train.jsonl -o ADAPTER.gguf [options]\n"
    "\n"
    "Fine-tunes BASE on examples in the messages format (`slm gen-data`), loss on the assistant's tokens only.\n"
    "The base stays frozen in its stored type (a quantized base is QLoRA); LoRA A/B are float32, A random,\n"
    "B zero, scale alpha/rank (PEFT's conventions). The adapter is written in llama.cpp's LoRA GGUF layout\n"
    "(slm run/chat/logits/eval --lora ADAPTER.gguf, or slm merge).\n"
    "\n"
    "  -m, --model FILE   base model (GGUF)\n"
    "  --data FILE        training examples (JSONL)\n"
    "  --val FILE         validation examples: loss and greedy exact match after each epoch\n"
    "  -o, --out FILE     the adapter (with --full: the whole trained model, F32)\n"
    "  --rank N           LoRA rank (default 8)\n"
    "  --alpha A          LoRA alpha (default 16)\n"
    "  --targets LIST     projections to adapt, from q,k,v,o,gate,up,down (default all)\n"
    "  --full             train every weight (F32 master copies) instead of an adapter\n"
    "  --epochs N         (default 1)\n"
    "  --lr LR            peak learning rate (default 2e-4; --full: try 1e-3 on small models)\n"
    "  --batch N          sequences per micro-batch, packed without padding (default 8)\n"
    "  --accum N          micro-batches per optimizer step (default 1)\n"
    "  --seq N            longest example in tokens; longer ones are skipped and counted (default 256)\n"
    "  --warmup F         warm-up: a fraction of the steps if < 1, else a step count (default 0.03)\n"
    "  --sched S          cosine | linear | const (default cosine)\n"
    "  --max-steps N      stop after N optimizer steps (default: all epochs)\n"
    "  --clip X           clip gradients to global norm X (default 1; 0: off)\n"
    "  --wd X             AdamW decoupled weight decay (default 0)\n"
    "  --threads N        (default: all cores)\n"
    "  --seed S           seed of the LoRA initialisation and the data order (default 42)\n"
    "  --save-every N     write a checkpoint every N steps (to --ckpt, default OUT.ckpt)\n"
    "  --ckpt FILE        checkpoint path (also written at the end when given)\n"
    "  --resume CKPT      continue from a checkpoint, bit for bit (same data and options)\n"
    "  --eval-n N         validation examples graded by exact match per epoch (default 100; 0: none, -1: all)\n"
    "  --drop-system      leave system messages out of the prompts (shorter sequences; evaluate the same way:\n"
    "                     `slm eval --no-system`)\n"
    "  --chat-template N  llama3|chatml|llama2|none (default: the model's own tokenizer.chat_template)\n"
    "  --json FILE        write the run's figures (steps, time, tokens/s, GFLOP/s, losses, validation) as JSON\n"
    "  --test FILE        exact match (greedy, per language) on FILE with the base before and the adapter after\n"
    "  --eval-only        with --test: evaluate the base and stop (no training, nothing written)\n";

int cmd_train(int argc, char** argv) {
    Args args(argc, argv,
              {"-m", "--model", "--data", "--val", "-o", "--out", "--rank", "--alpha", "--targets", "--epochs", "--lr",
               "--batch", "--accum", "--seq", "--warmup", "--sched", "--max-steps", "--clip", "--wd", "--threads", "-t",
               "--seed", "--save-every", "--ckpt", "--resume", "--eval-n", "--test", "--chat-template", "--json"},
              {"--full", "--drop-system", "--eval-only"});
    if (args.help()) {
        std::fputs(kTrainHelp, stdout);
        return 0;
    }
    if (!args.positionals().empty()) fail("unexpected argument \"%s\" (see --help)", args.positionals()[0].c_str());
    const std::string base = args.require({"-m", "--model"});
    const std::string data = args.require({"--data"});
    const bool eval_only = args.has("--eval-only");
    if (eval_only && !args.given({"--test"})) fail("--eval-only needs --test FILE");
    const std::string out = eval_only ? args.get({"-o", "--out"}) : args.require({"-o", "--out"});
    train::TrainerOptions topt;
    topt.full = args.has("--full");
    const int64_t rank = args.get_int({"--rank"}, 8);
    if (rank <= 0 || rank > 65536) fail("--rank must be in [1, 65536] (got %lld)", (long long)rank);
    topt.lora.rank = int(rank);
    topt.lora.alpha = float(args.get_float({"--alpha"}, 16.0));
    if (args.given({"--targets"})) topt.lora.targets = train::parse_targets(args.get({"--targets"}));
    const int64_t seed = args.get_int({"--seed"}, 42);
    topt.seed = uint64_t(seed);

    train::LoopOptions lo;
    auto bounded = [&](const char* name, int64_t def, int64_t lo_, int64_t hi) {
        const int64_t v = args.get_int({name}, def);
        if (v < lo_ || v > hi) fail("%s must be in [%lld, %lld] (got %lld)", name, (long long)lo_, (long long)hi, (long long)v);
        return v;
    };
    lo.epochs = int(bounded("--epochs", 1, 1, 100000));
    lo.lr = args.get_float({"--lr"}, 2e-4);
    lo.batch = int(bounded("--batch", 8, 1, 65536));
    lo.accum = int(bounded("--accum", 1, 1, 65536));
    const int seq = int(bounded("--seq", 256, 2, 1 << 20));
    lo.warmup = args.get_float({"--warmup"}, 0.03);
    if (!(lo.warmup >= 0)) fail("--warmup must be >= 0 (got %g)", lo.warmup);
    lo.sched = train::parse_schedule(args.get({"--sched"}, "cosine"));
    lo.max_steps = bounded("--max-steps", 0, 0, int64_t(1) << 40);
    lo.clip = args.get_float({"--clip"}, 1.0);
    lo.weight_decay = args.get_float({"--wd"}, 0.0);
    if (!(lo.clip >= 0) || !(lo.weight_decay >= 0)) fail("--clip and --wd must be >= 0");
    lo.seed = uint64_t(seed);
    lo.save_every = bounded("--save-every", 0, 0, int64_t(1) << 40);
    lo.ckpt_path = args.get({"--ckpt"}, lo.save_every > 0 ? out + ".ckpt" : "");
    lo.resume = args.get({"--resume"});
    lo.eval_n = int(bounded("--eval-n", 100, -1, 1 << 30));
    lo.out = out;
    lo.base_path = base;
    const int threads = int(args.get_int({"--threads", "-t"}, 0));
    // The adapter and the checkpoint are opened now, before the model, the data and the training: a device,
    // a FIFO or a missing folder as -o / --ckpt fails in a second, not after the last step.
    std::optional<train::TrainOutputs> outputs;
    if (!eval_only) outputs.emplace(train::open_outputs(lo));

    std::optional<OutputFile> json_out;  // created before the work: a bad path fails now, not after training
    if (args.given({"--json"})) json_out.emplace(args.get({"--json"}));
    ThreadPool pool(threads);
    auto backend = make_cpu_backend(pool);
    auto model = Model::load(base, *backend);
    const std::string tpl_name = args.get({"--chat-template"});
    const chat::Template tpl =
        chat::resolve(model->tokenizer(), model->file().get_string("tokenizer.chat_template", ""), tpl_name);
    if (!tpl.note.empty()) std::fprintf(stderr, "%s\n", tpl.note.c_str());
    train::DataOptions dopt;
    dopt.max_seq = seq;
    dopt.drop_system = args.has("--drop-system");
    const train::Dataset tr_data = train::load_dataset(data, model->tokenizer(), tpl, dopt);
    train::Dataset val_data;
    const bool have_val = args.given({"--val"});
    if (have_val) val_data = train::load_dataset(args.get({"--val"}), model->tokenizer(), tpl, dopt);
    lo.val_path = args.get({"--val"});
    lo.drop_system = dopt.drop_system;
    lo.chat_template = tpl_name;

    const std::string test_path = args.get({"--test"});
    train::MatchResult before;
    if (!test_path.empty()) {
        const double t0 = double(clock_ms());
        before = train::exact_match(*model, *backend, test_path, dopt.drop_system, -1, tpl_name);
        std::printf("test before training (base %s): %s  [%.1f s]\n", base.c_str(), before.summary().c_str(),
                    (double(clock_ms()) - t0) / 1000.0);
        std::fflush(stdout);
        if (eval_only) return 0;
    }
    train::Trainer trainer(*model, *backend, pool, topt);
    size_t n_params = trainer.params().size();
    int max_len = 0;
    for (const auto& s : tr_data.seqs) max_len = std::max(max_len, int(s.ids.size()));
    std::fprintf(stderr, "train: %s (%s), %s, chat format %s, %d threads\n", base.c_str(), model->config().describe().c_str(),
                 topt.full ? "full training" : strfmt("LoRA rank %d alpha %g", topt.lora.rank, double(topt.lora.alpha)).c_str(),
                 chat::family_name(tpl.family), pool.size());
    std::fprintf(stderr, "train: %zu trainable parameters (%.1f MiB with gradients and AdamW moments)\n", n_params,
                 double(n_params) * 16 / 1048576.0);
    std::fprintf(stderr, "train: %s: %zu examples, %lld tokens (%lld targets), longest %d; %d skipped (longer than --seq %d)\n",
                 data.c_str(), tr_data.seqs.size(), (long long)tr_data.n_tokens, (long long)tr_data.n_targets, max_len,
                 tr_data.n_skipped_long, seq);
    if (have_val)
        std::fprintf(stderr, "train: %s: %zu examples (%d skipped)\n", val_data.path.c_str(), val_data.seqs.size(), val_data.n_skipped_long);
    std::fprintf(stderr, "train: saved activations for a batch of %d x %d tokens: %.1f MiB\n", lo.batch, max_len,
                 double(trainer.activation_bytes(int64_t(lo.batch) * max_len, max_len)) / 1048576.0);
    const train::LoopResult r = train::train_loop(trainer, pool, tr_data, have_val ? &val_data : nullptr, lo, &*outputs);
    std::printf("trained %lld steps in %.1f s: final loss %.4f, %.0f tokens/s, %.2f GFLOP/s", (long long)r.steps, r.seconds,
                r.last_loss, r.tokens_per_s, r.gflops);
    if (r.val_loss >= 0) std::printf(", val loss %.4f", r.val_loss);
    if (r.val_match.n) std::printf(", val %s", r.val_match.summary().c_str());
    std::printf("\nwrote %s\n", out.c_str());
    if (json_out) {
        json::Value j = json::Value::object();
        j.set("base", base);
        j.set("data", data);
        j.set("out", out);
        j.set("examples", int(tr_data.seqs.size()));
        j.set("skipped_long", tr_data.n_skipped_long);
        j.set("tokens", tr_data.n_tokens);
        j.set("targets", tr_data.n_targets);
        j.set("epochs", lo.epochs);
        j.set("batch", lo.batch);
        j.set("lr", lo.lr);
        j.set("rank", topt.full ? json::Value() : json::Value(topt.lora.rank));
        j.set("alpha", topt.full ? json::Value() : json::Value(double(topt.lora.alpha)));
        j.set("full", topt.full);
        j.set("threads", pool.size());
        j.set("chat_template", chat::family_name(tpl.family));
        j.set("drop_system", dopt.drop_system);
        j.set("steps", r.steps);
        j.set("seconds", r.seconds);
        j.set("tokens_per_second", r.tokens_per_s);
        j.set("gflops", r.gflops);
        j.set("final_loss", r.last_loss);
        j.set("val_loss", r.val_loss >= 0 ? json::Value(r.val_loss) : json::Value());
        j.set("val_exact", r.val_match.n ? json::Value(r.val_match.accuracy()) : json::Value());
        j.set("val_n", r.val_match.n);
        j.set("trainable_parameters", int64_t(n_params));
        json_out->write(j.dump(2) + "\n");
        json_out->commit();
    }
    if (!test_path.empty()) {
        std::unique_ptr<Model> tuned;
        if (topt.full) {
            tuned = Model::load(out, *backend);
        } else {
            tuned = Model::load(base, *backend);
            tuned->load_lora(out, *backend);
        }
        const train::MatchResult after = train::exact_match(*tuned, *backend, test_path, dopt.drop_system, -1, tpl_name);
        std::printf("test before training: %s\ntest after training:  %s\n", before.summary().c_str(), after.summary().c_str());
    }
    return 0;
}

}  // namespace slm::cli
