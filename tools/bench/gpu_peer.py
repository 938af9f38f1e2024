# The peer figures for issue 14, timed in the same call as slm-gpu-bench: torch's bf16 GEMV and its int4
# weight-only GEMV (_weight_int4pack_mm, group 128) at batch 1 on Llama-3.2-1B's shapes, and transformers'
# eager FP16 generate / prefill 512 on a random Llama-3.2-1B-shaped model. Prints markdown; never fatal.
import sys, time
import torch

dev = "cuda"
out = []
def say(s):
    print(s, flush=True)
    out.append(s)

def graph_time(fn, per_graph=100):
    fn(0)
    torch.cuda.synchronize()
    g = torch.cuda.CUDAGraph()
    s = torch.cuda.Stream()
    with torch.cuda.stream(s):
        with torch.cuda.graph(g):
            for i in range(per_graph):
                fn(i)
    ts = []
    for r in range(8):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record(); g.replay(); b.record(); b.synchronize()
        if r >= 2:
            ts.append(a.elapsed_time(b) / 1e3 / per_graph)
    ts.sort()
    return ts[len(ts) // 2]

say("\n## Peer: torch %s on the same card\n" % torch.__version__)
say("| n_out x n_in | torch bf16 us | torch int4 (g128) us | int4 speed-up |\n|---|---|---|---|")
for N, K in [(2048, 2048), (512, 2048), (8192, 2048), (2048, 8192), (128256, 2048)]:
    R = max(2, (1 << 30) // (N * K * 2) + 1)
    x = torch.randn(1, K, device=dev, dtype=torch.bfloat16)
    Ws = [torch.randn(N, K, device=dev, dtype=torch.bfloat16) for _ in range(R)]
    t_bf = graph_time(lambda i: torch.nn.functional.linear(x, Ws[i % R]))
    del Ws
    t_q = float("nan")
    try:
        Rq = max(2, (1 << 30) // (N * K // 2) + 1)
        packed = []
        for _ in range(Rq):
            w = torch.randint(0, 256, (N, K // 2), device=dev, dtype=torch.uint8)
            packed.append(torch._convert_weight_to_int4pack(w, 8))
        sz = torch.randn(K // 128, N, 2, device=dev, dtype=torch.bfloat16) * 0.01
        t_q = graph_time(lambda i: torch._weight_int4pack_mm(x, packed[i % Rq], 128, sz))
        del packed
    except Exception as e:
        say("<!-- int4 failed: %s -->" % str(e).splitlines()[0][:200])
    say("| %d x %d | %.2f | %.2f | %.2fx |" % (N, K, t_bf * 1e6, t_q * 1e6, t_bf / t_q))
    torch.cuda.empty_cache()

try:
    from transformers import LlamaConfig, LlamaForCausalLM
    cfg = LlamaConfig(hidden_size=2048, intermediate_size=8192, num_hidden_layers=16, num_attention_heads=32,
                      num_key_value_heads=8, vocab_size=128256, tie_word_embeddings=True, max_position_embeddings=2048,
                      rope_theta=500000.0)
    with torch.device(dev):
        model = LlamaForCausalLM(cfg).to(torch.float16).eval()
    ids = torch.randint(0, 128256, (1, 512), device=dev)
    with torch.no_grad():
        model(ids); torch.cuda.synchronize()
        ts = []
        for _ in range(5):
            t0 = time.perf_counter(); model(ids); torch.cuda.synchronize(); ts.append(time.perf_counter() - t0)
        ts.sort()
        pp = 512 / ts[len(ts) // 2]
        p16 = ids[:, :16]
        model.generate(p16, max_new_tokens=8, min_new_tokens=8, do_sample=False)
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        model.generate(p16, max_new_tokens=64, min_new_tokens=64, do_sample=False)
        torch.cuda.synchronize()
        tg = 64 / (time.perf_counter() - t0)
    say("\ntransformers eager FP16, random Llama-3.2-1B shape: generate %.1f tok/s (batch 1, 64 new tokens), "
        "prefill pp512 %.0f tok/s\n" % (tg, pp))
except Exception as e:
    say("\ntransformers peer failed: %s\n" % str(e).splitlines()[0][:300])

if len(sys.argv) > 1:
    open(sys.argv[1], "w").write("\n".join(out) + "\n")
