// `slm merge`: bakes a LoRA adapter into its base model: W' = W + scale * B A for every adapted weight.
#include <cstdio>
#include <map>
#include <string>

#include "args.h"
#include "backend.h"
#include "commands.h"
#include "common.h"
#include "gguf.h"
#include "lora.h"
#include "model.h"
#include "output_file.h"
#include "threadpool.h"

namespace slm::cli {

static const char* kMergeHelp =
    "usage: slm merge -m BASE.gguf --lora ADAPTER.gguf -o OUT.gguf [--type F16|F32|BF16] [--scale S]\n"
    "\n"
    "Writes BASE with the adapter merged into its weights (W + scale * alpha/r * B A). A quantized base is\n"
    "dequantized first: every matrix of OUT is stored as --type (default F16); 1-D tensors (norms) stay F32.\n"
    "The result runs without --lora and gives the logits of BASE --lora ADAPTER.\n"
    "\n"
    "  -m, --model FILE   base model (GGUF)\n"
    "  --lora FILE        LoRA adapter (llama.cpp's GGUF layout, as `slm train` writes)\n"
    "  -o, --out FILE     merged model\n"
    "  --type T           F16 (default), F32 or BF16\n"
    "  --scale S          user scale of the adapter (default 1)\n";

int cmd_merge(int argc, char** argv) {
    Args args(argc, argv, {"-m", "--model", "--lora", "-o", "--out", "--type", "--scale"}, {});
    if (args.help()) {
        std::fputs(kMergeHelp, stdout);
        return 0;
    }
    if (!args.positionals().empty()) fail("unexpected argument \"%s\" (see --help)", args.positionals()[0].c_str());
    const std::string base = args.require({"-m", "--model"}), lora = args.require({"--lora"}), out = args.require({"-o", "--out"});
    const std::string tname = args.get({"--type"}, "F16");
    const auto ot = type_from_name(tname);
    if (!ot || (*ot != GgmlType::F16 && *ot != GgmlType::F32 && *ot != GgmlType::BF16))
        fail("--type must be F16, F32 or BF16 (got \"%s\")", tname.c_str());
    const float user_scale = float(args.get_float({"--scale"}, 1.0));
    // Opened before the work (output_file.h): a device, a FIFO or a missing folder as -o fails now.
    OutputFile out_file(out);

    gguf::File bf = gguf::File::open(base);
    gguf::File af = gguf::File::open(lora);
    const LoraAdapter ad = parse_lora_adapter(af);
    std::map<std::string, const LoraTensorPair*> pairs;
    for (const LoraTensorPair& p : ad.pairs) pairs[p.base_name] = &p;
    ThreadPool pool(0);
    auto be = make_cpu_backend(pool);

    // Dequantizes rows [0, w.n_out) of any supported type through the backend.
    auto dequant = [&](const WeightView& w) {
        std::vector<float> f(size_t(w.n_in) * size_t(w.n_out));
        std::vector<int32_t> ids(size_t(std::min<int64_t>(w.n_out, 4096)));
        for (int64_t r0 = 0; r0 < w.n_out; r0 += int64_t(ids.size())) {
            const int nr = int(std::min<int64_t>(int64_t(ids.size()), w.n_out - r0));
            for (int i = 0; i < nr; i++) ids[size_t(i)] = int32_t(r0 + i);
            be->embed(w, ids.data(), nr, f.data() + size_t(r0) * size_t(w.n_in));
        }
        return f;
    };

    gguf::Writer wr;
    for (const gguf::KV& kv : bf.metadata()) wr.set(kv.key, kv.value);
    wr.set("general.file_type", gguf::Value::make_u32(*ot == GgmlType::F32 ? 0 : *ot == GgmlType::F16 ? 1 : 32));
    wr.remove("general.quantization_version");
    int merged = 0;
    for (const gguf::TensorInfo& t : bf.tensors()) {
        std::vector<int64_t> ne(t.ne.begin(), t.ne.begin() + t.n_dims);
        const auto it = pairs.find(t.name);
        if (t.n_dims != 2 && it == pairs.end()) {  // norms, rope_freqs: as they are
            wr.add_tensor_view(t.name, t.type, ne, bf.tensor_data(t), t.nbytes);
            continue;
        }
        const WeightView w = ggml_view(t.type, bf.tensor_data(t), t.ne[0], t.ne[1]);
        std::vector<float> f = dequant(w);
        if (it != pairs.end()) {
            const LoraTensorPair& p = *it->second;
            if (p.a.n_in != w.n_in || p.b.n_out != w.n_out)
                fail("%s: %s: adapter shape [%lld, %lld] x [%lld, %lld] does not fit the weight [%lld, %lld]", lora.c_str(),
                     t.name.c_str(), (long long)p.a.n_in, (long long)p.a.n_out, (long long)p.b.n_in, (long long)p.b.n_out,
                     (long long)w.n_in, (long long)w.n_out);
            const std::vector<float> A = dequant(p.a), B = dequant(p.b);  // A [r][n_in], B [n_out][r]
            const int64_t r = p.rank();
            const float s = ad.effective_scale(user_scale, r);
            pool.parallel_for(w.n_out, 16, [&](int64_t o0, int64_t o1, int) {
                for (int64_t o = o0; o < o1; o++) {
                    float* row = f.data() + size_t(o) * size_t(w.n_in);
                    for (int64_t k = 0; k < r; k++) {
                        const float c = s * B[size_t(o * r + k)];
                        const float* a = A.data() + size_t(k) * size_t(w.n_in);
                        for (int64_t i = 0; i < w.n_in; i++) row[i] += c * a[i];
                    }
                }
            });
            merged++;
            pairs.erase(it);
        }
        std::vector<uint8_t> bytes(size_t(row_bytes(*ot, w.n_in)) * size_t(w.n_out));
        if (*ot == GgmlType::F32) {
            std::memcpy(bytes.data(), f.data(), bytes.size());
        } else {
            uint16_t* h = reinterpret_cast<uint16_t*>(bytes.data());
            for (size_t i = 0; i < f.size(); i++) h[i] = *ot == GgmlType::F16 ? fp32_to_fp16(f[i]) : fp32_to_bf16(f[i]);
        }
        wr.add_tensor(t.name, *ot, ne, std::move(bytes));
    }
    if (!pairs.empty()) fail("%s: the adapter names %s, which %s does not have", lora.c_str(), pairs.begin()->first.c_str(), base.c_str());
    wr.write(out_file);
    out_file.commit();
    std::printf("merged %d adapted weights of %s into %s (%s)\n", merged, lora.c_str(), out.c_str(), type_name(*ot));
    return 0;
}

}  // namespace slm::cli
