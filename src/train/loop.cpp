#include "train/loop.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <numeric>
#include <random>

#include "common.h"
#include "gguf.h"
#include "input_file.h"
#include "model.h"
#include "progress.h"
#include "threadpool.h"

namespace slm::train {

namespace {

double now_s() {
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// The order of epoch e: a Fisher-Yates shuffle driven by raw 64-bit draws of mt19937_64(seed, e) (no standard
// library distribution, so every platform gives the same order).
std::vector<int> epoch_order(size_t n, uint64_t seed, int epoch) {
    std::vector<int> o(n);
    std::iota(o.begin(), o.end(), 0);
    std::mt19937_64 g(seed * 1000003ull + uint64_t(epoch));
    for (size_t i = n; i > 1; i--) std::swap(o[i - 1], o[size_t(g() % i)]);
    return o;
}

}  // namespace

double dataset_loss(Trainer& tr, const Dataset& d, int batch) {
    double sum = 0;
    int64_t n_t = 0;
    for (size_t i = 0; i < d.seqs.size(); i += size_t(batch)) {
        std::vector<const Sequence*> b;
        for (size_t j = i; j < std::min(d.seqs.size(), i + size_t(batch)); j++) {
            b.push_back(&d.seqs[j]);
            n_t += d.seqs[j].n_targets();
        }
        sum += tr.loss(b);
    }
    return n_t ? sum / double(n_t) : 0.0;
}

// Where the adapter being validated goes for the length of the validation (beside the output).
static std::string validation_adapter_path(const LoopOptions& opt) {
    return (opt.out.empty() ? std::string("slm-train") : opt.out) + ".val.tmp.gguf";
}

static OutputFile::Replaces checkpoint_replaces(const LoopOptions& opt) {
    return same_existing_file(opt.ckpt_path, opt.resume) ? OutputFile::Replaces::input : OutputFile::Replaces::nothing_read;
}

TrainOutputs open_outputs(const LoopOptions& opt) {
    TrainOutputs o;
    if (!opt.out.empty()) o.out.emplace(opt.out);
    // The checkpoint may be the file --resume continues (it is read before the first new one is committed).
    if (!opt.ckpt_path.empty()) o.checkpoint.emplace(opt.ckpt_path, checkpoint_replaces(opt));
    if (opt.eval_n != 0 && !opt.base_path.empty()) OutputFile::check_target(validation_adapter_path(opt));
    return o;
}

void save_checkpoint(const std::string& path, const Trainer& tr, const AdamW& adam, int64_t step, const LoopOptions& opt) {
    OutputFile out(path);
    save_checkpoint(out, tr, adam, step, opt);
}

void save_checkpoint(OutputFile& out, const Trainer& tr, const AdamW& adam, int64_t step, const LoopOptions& opt) {
    gguf::Writer w;
    w.set("general.type", gguf::Value::make_string("slm-train-checkpoint"));
    w.set("train.step", gguf::Value::make_u64(uint64_t(step)));
    w.set("train.adam_t", gguf::Value::make_u64(uint64_t(adam.t)));
    w.set("train.seed", gguf::Value::make_u64(opt.seed));
    w.set("train.full", gguf::Value::make_bool(tr.options().full));
    w.set("train.rank", gguf::Value::make_i32(tr.options().lora.rank));
    w.set("train.alpha", gguf::Value::make_f32(tr.options().lora.alpha));
    const Trainer& t = tr;
    const std::vector<float>& theta = const_cast<Trainer&>(t).params();
    const int64_t n = int64_t(theta.size());
    w.add_tensor_view("params", GgmlType::F32, {n}, theta.data(), uint64_t(n) * 4);
    std::vector<float> zero;
    if (adam.m.empty()) zero.assign(size_t(n), 0.0f);
    const float* m = adam.m.empty() ? zero.data() : adam.m.data();
    const float* v = adam.v.empty() ? zero.data() : adam.v.data();
    w.add_tensor_view("adam.m", GgmlType::F32, {n}, m, uint64_t(n) * 4);
    w.add_tensor_view("adam.v", GgmlType::F32, {n}, v, uint64_t(n) * 4);
    w.write(out);
    out.commit();
}

int64_t load_checkpoint(const std::string& path, Trainer& tr, AdamW& adam) {
    gguf::File f = gguf::File::open(path, gguf::LoadMode::read);
    if (f.get_string("general.type", "") != "slm-train-checkpoint") fail("%s: not an slm training checkpoint", path.c_str());
    if (f.get_bool("train.full", false) != tr.options().full || f.get_int("train.rank", 0) != tr.options().lora.rank)
        fail("%s: the checkpoint was made with other settings (--full / --rank)", path.c_str());
    const size_t n = tr.params().size();
    auto get = [&](const char* name, std::vector<float>& dst) {
        const gguf::TensorInfo* t = f.find_tensor(name);
        if (!t || t->type != GgmlType::F32 || size_t(t->n_elements()) != n)
            fail("%s: tensor %s missing or not %zu floats (another model or --targets?)", path.c_str(), name, n);
        dst.resize(n);
        std::memcpy(dst.data(), f.tensor_data(*t), n * sizeof(float));
    };
    get("params", tr.params());
    get("adam.m", adam.m);
    get("adam.v", adam.v);
    adam.t = int64_t(f.get_uint("train.adam_t"));
    return int64_t(f.get_uint("train.step"));
}

LoopResult train_loop(Trainer& tr, ThreadPool& /*pool: the trainer's backend holds it*/, const Dataset& train, const Dataset* val,
                      const LoopOptions& opt, TrainOutputs* outputs) {
    if (opt.batch <= 0) fail("--batch must be positive (got %d)", opt.batch);
    if (opt.accum <= 0) fail("--accum must be positive (got %d)", opt.accum);
    if (opt.epochs <= 0) fail("--epochs must be positive (got %d)", opt.epochs);
    if (!(opt.lr > 0) || !std::isfinite(opt.lr)) fail("--lr must be positive (got %g)", opt.lr);
    const size_t N = train.seqs.size();
    const int64_t n_batches = int64_t((N + size_t(opt.batch) - 1) / size_t(opt.batch));
    const int64_t spe = (n_batches + opt.accum - 1) / opt.accum;  // optimizer steps per epoch
    int64_t total = spe * opt.epochs;
    if (opt.max_steps > 0) total = std::min(total, opt.max_steps);
    const int64_t warmup = opt.warmup < 1 ? int64_t(std::llround(opt.warmup * double(total))) : int64_t(opt.warmup);

    std::optional<TrainOutputs> own;
    if (!outputs) outputs = &own.emplace(open_outputs(opt));
    // Commits the open checkpoint file and opens the next one (so every later checkpoint has its file already).
    auto checkpoint = [&](const AdamW& adam, int64_t at_step, bool last) {
        if (!outputs->checkpoint) outputs->checkpoint.emplace(opt.ckpt_path, checkpoint_replaces(opt));
        save_checkpoint(*outputs->checkpoint, tr, adam, at_step, opt);
        outputs->checkpoint.reset();
        if (!last) outputs->checkpoint.emplace(opt.ckpt_path, checkpoint_replaces(opt));
    };

    AdamW adam;
    adam.weight_decay = opt.weight_decay;
    std::vector<uint8_t> decay(tr.params().size(), 1);
    for (const Param& p : tr.param_list())
        if (!p.decay) std::fill(decay.begin() + long(p.offset), decay.begin() + long(p.offset + p.size), 0);
    int64_t step = 0;
    if (!opt.resume.empty()) {
        step = load_checkpoint(opt.resume, tr, adam);
        if (opt.progress) std::fprintf(stderr, "resumed from %s at step %lld\n", opt.resume.c_str(), (long long)step);
    }
    const int64_t start_step = step;
    const double avg_len = double(train.n_tokens) / double(N);
    const double flops_tok = tr.flops_per_token(int64_t(avg_len), double(train.n_targets) / double(train.n_tokens));

    LoopResult res;
    const double t0 = now_s();
    int64_t tokens_done = 0;
    std::vector<int> order;
    int order_epoch = -1;
    const int64_t stop = opt.stop_after > 0 ? std::min(total, opt.stop_after) : total;
    for (; step < stop; step++) {
        const int epoch = int(step / spe);
        if (epoch != order_epoch) {
            order = epoch_order(N, opt.seed, epoch);
            order_epoch = epoch;
        }
        const int64_t k = step % spe;
        std::vector<std::vector<const Sequence*>> micro;
        int64_t n_targets = 0;
        for (int64_t b = k * opt.accum; b < std::min(n_batches, (k + 1) * opt.accum); b++) {
            micro.emplace_back();
            for (int64_t j = b * opt.batch; j < std::min<int64_t>(int64_t(N), (b + 1) * opt.batch); j++) {
                const Sequence* s = &train.seqs[size_t(order[size_t(j)])];
                micro.back().push_back(s);
                n_targets += s->n_targets();
                tokens_done += int64_t(s->ids.size());
            }
        }
        tr.zero_grads();
        double loss = 0;
        for (const auto& mb : micro) loss += tr.forward_backward(mb, 1.0 / double(std::max<int64_t>(1, n_targets)));
        const double gnorm = clip_global_norm(tr.grads(), opt.clip);
        const double lr = lr_at(opt.sched, opt.lr, step, total, warmup);
        adam.step(tr.params(), tr.grads(), lr, decay);
        res.last_loss = loss / double(std::max<int64_t>(1, n_targets));
        res.steps = step + 1;
        const double el = now_s() - t0;
        res.seconds = el;
        res.tokens_per_s = double(tokens_done) / std::max(el, 1e-9);
        res.gflops = res.tokens_per_s * flops_tok * 1e-9;
        if (opt.progress) {
            std::fprintf(stderr, "\rstep %lld/%lld  epoch %d  loss %.4f  |g| %.3g  lr %.3g  %.0f tok/s  %.1f GFLOP/s  ETA %s   ",
                         (long long)(step + 1), (long long)total, epoch + 1, res.last_loss, gnorm, lr, res.tokens_per_s,
                         res.gflops, fmt_duration(el / double(step + 1 - start_step) * double(total - step - 1)).c_str());
        }
        if (!opt.ckpt_path.empty() && opt.save_every > 0 && (step + 1) % opt.save_every == 0)
            checkpoint(adam, step + 1, false);
        const bool epoch_end = (step + 1) % spe == 0 || step + 1 == total;
        if (epoch_end && val) {
            if (opt.progress) std::fprintf(stderr, "\n");
            res.val_loss = dataset_loss(tr, *val, opt.batch);
            std::string match;
            if (opt.eval_n != 0 && !opt.base_path.empty() && !opt.val_path.empty()) {
                const std::string tmp = validation_adapter_path(opt);
                tr.save(tmp);
                std::unique_ptr<Model> m;
                if (tr.options().full) {
                    m = Model::load(tmp, tr.backend());
                } else {
                    m = Model::load(opt.base_path, tr.backend());
                    m->load_lora(tmp, tr.backend());
                }
                res.val_match = exact_match(*m, tr.backend(), opt.val_path, opt.drop_system, opt.eval_n < 0 ? -1 : opt.eval_n,
                                            opt.chat_template, opt.progress);
                m.reset();
                std::filesystem::remove(tmp);
                match = "  val " + res.val_match.summary();
            }
            std::fprintf(stderr, "epoch %d: train loss %.4f  val loss %.4f%s  (%s of training so far)\n", epoch + 1, res.last_loss,
                         res.val_loss, match.c_str(), fmt_duration(res.seconds).c_str());
        }
    }
    if (opt.progress) std::fprintf(stderr, "\n");
    if (!opt.ckpt_path.empty()) checkpoint(adam, step, true);
    if (!opt.out.empty() && step == total) {
        if (!outputs->out) outputs->out.emplace(opt.out);
        tr.save(*outputs->out);
        outputs->out.reset();
    }
    return res;
}

}  // namespace slm::train
