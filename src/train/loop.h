// The training loop of `slm train`: epochs of shuffled, packed batches (sequences laid end to end, so no
// compute is spent on padding), gradient accumulation, global-norm clipping, AdamW with warm-up and decay,
// a progress line, validation (loss and greedy exact match) after each epoch, checkpoints and resume.
//
// Determinism: the data order of epoch e is a function of (seed, e) alone and every op sums in a fixed order
// whatever the thread count, so a checkpoint (parameters, AdamW moments and step count: the data order and
// RNG state follow from the step) resumes bit for bit.
#pragma once
#include <cstdint>
#include <optional>
#include <string>

#include "output_file.h"

#include "train/data.h"
#include "train/optim.h"
#include "train/trainer.h"

namespace slm::train {

struct LoopOptions {
    int epochs = 1;
    double lr = 2e-4;
    int batch = 8;               // sequences per micro-batch
    int accum = 1;               // micro-batches per optimizer step
    double warmup = 0.03;        // < 1: fraction of the steps; >= 1: steps
    Schedule sched = Schedule::cosine;
    int64_t max_steps = 0;       // 0: epochs * steps per epoch (the schedule's length)
    int64_t stop_after = 0;      // stop (checkpointing) once this many steps are done (0: at the end)
    uint64_t seed = 42;          // data order
    double clip = 1.0;           // global gradient norm (0: off)
    double weight_decay = 0.0;
    int64_t save_every = 0;      // checkpoint every N steps (0: only at the end, when ckpt_path is set)
    std::string ckpt_path;       // where checkpoints go ("" : none)
    std::string resume;          // checkpoint to continue from
    std::string out;             // adapter (LoRA) or model (--full) written at the end ("" : none)
    std::string base_path;       // the base GGUF (for validation exact match: a fresh model + the adapter)
    int eval_n = 100;            // validation examples graded by exact match per epoch (0: none, < 0: all)
    std::string val_path;        // the validation JSONL (graded through intent::evaluate)
    bool drop_system = false;    // validation prompts without the system message (as trained)
    std::string chat_template;   // --chat-template override ("" : the model's own)
    bool progress = true;
};

struct LoopResult {
    int64_t steps = 0;
    double last_loss = 0;        // mean loss per target token of the last step
    double tokens_per_s = 0, gflops = 0, seconds = 0;
    double val_loss = -1;        // mean per target token after the last epoch (-1: no validation data)
    MatchResult val_match;
};

// Mean loss per target token of a dataset (forward only, in batches of `batch` sequences).
double dataset_loss(Trainer& tr, const Dataset& d, int batch);

// The files a run writes (output_file.h), opened before the work: a refused target (a device, a FIFO, a
// directory) or a missing folder fails at once instead of after hours of training. `out` (opt.out) is committed
// at the end when every step has run; `checkpoint` (opt.ckpt_path) is committed at each checkpoint, and the
// next one is opened at once, so a checkpoint is never half written and the path is checked again every time.
struct TrainOutputs {
    std::optional<OutputFile> out, checkpoint;
};
// Opens the outputs opt names (none where the path is empty); also checks the validation adapter's path.
TrainOutputs open_outputs(const LoopOptions& opt);

// outputs: the files the caller opened before its own work (loading, a --test evaluation); nullptr: the loop
// opens them itself before the first step.
LoopResult train_loop(Trainer& tr, ThreadPool& pool, const Dataset& train, const Dataset* val, const LoopOptions& opt,
                      TrainOutputs* outputs = nullptr);

// Checkpoint files (GGUF: the parameters, AdamW's moments, the step). The OutputFile form commits `out`.
void save_checkpoint(OutputFile& out, const Trainer& tr, const AdamW& adam, int64_t step, const LoopOptions& opt);
void save_checkpoint(const std::string& path, const Trainer& tr, const AdamW& adam, int64_t step, const LoopOptions& opt);
int64_t load_checkpoint(const std::string& path, Trainer& tr, AdamW& adam);

}  // namespace slm::train
