#!/usr/bin/env python3
"""Check an `slm export-hf` directory against the reference implementation (transformers), not part of slm.

    python3 tools/hf_check.py HF_DIR [--slm build/slm] [--gguf MODEL.gguf] [--cases FILE.jsonl ...] [--text TEXT]

1. Logits: loads HF_DIR with transformers' LlamaForCausalLM (float32, eager attention) and AutoTokenizer,
   tokenizes the text, and compares the logits at every position with `slm logits` for the same ids (f32 KV
   cache) on MODEL.gguf -- by default the GGUF that `slm convert HF_DIR` writes (F32 for a float32 export), so
   both sides compute on the same weights. For each position: slm's top-64 logits and its log-sum-exp against
   transformers'; for the last position all n_vocab logits. Passes when max |diff| < 1e-3.
2. Token ids: for each text of the encode-case files, transformers' tokenizer (no special tokens added, added
   tokens in the text recognized) against `slm tokenize -m MODEL.gguf`.
Prints the figures; exit status 0 when both agree. Needs torch and transformers (CPU is enough).
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile


def slm_logits(slm, gguf, ids, top, out_last):
    cmd = [slm, "logits", "-m", gguf, "--tokens", " ".join(map(str, ids)), "--kv-type", "f32", "--top", str(top),
           "--out", out_last]
    text = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    pos = []
    for line in text.splitlines():
        if not line.startswith("pos "):
            continue
        w = line.split()
        lse = float(w[3])
        top_ids = [(int(t.split(":")[0]), float(t.split(":")[1])) for t in w[5:]]
        pos.append((lse, top_ids))
    return pos


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("hf_dir")
    ap.add_argument("--slm", default="build/slm")
    ap.add_argument("--gguf", help="the GGUF to compare with (default: slm convert HF_DIR into a temporary file)")
    ap.add_argument("--text", default="The quick brown fox jumps over the lazy dog. Once upon a time, in a small "
                                      "shop, a customer asked: \"Can I add 2 red t-shirts (size M) to my cart?\" "
                                      "def f(x):\n    return x * 2  # 12345 ¿Y en azul? 🛒")
    ap.add_argument("--cases", nargs="*", default=[], help="encode-case JSONL files ({\"text\": ...} lines)")
    ap.add_argument("--max-cases", type=int, default=1000)
    ap.add_argument("--tol", type=float, default=1e-3)
    a = ap.parse_args()

    import torch
    from transformers import AutoTokenizer, LlamaForCausalLM

    tmp = tempfile.mkdtemp(prefix="hf_check.")
    gguf = a.gguf
    if not gguf:
        gguf = os.path.join(tmp, "model.gguf")
        subprocess.run([a.slm, "convert", a.hf_dir, "-o", gguf, "--quiet"], check=True, stdout=subprocess.DEVNULL)

    tok = AutoTokenizer.from_pretrained(a.hf_dir)
    model = LlamaForCausalLM.from_pretrained(a.hf_dir, torch_dtype=torch.float32, attn_implementation="eager")
    model.eval()
    ids = tok(a.text)["input_ids"]
    with torch.no_grad():
        ref = model(torch.tensor([ids])).logits[0].double()
    lse_ref = torch.logsumexp(ref, dim=-1)
    last_path = os.path.join(tmp, "last.f32")
    got = slm_logits(a.slm, gguf, ids, 64, last_path)
    if len(got) != len(ids):
        print(f"slm logits printed {len(got)} positions for {len(ids)} tokens")
        return 1
    max_top = max_lse = 0.0
    top1_same = 0
    for p, (lse, top) in enumerate(got):
        max_lse = max(max_lse, abs(lse - float(lse_ref[p])))
        for i, v in top:
            max_top = max(max_top, abs(v - float(ref[p, i])))
        top1_same += int(top[0][0] == int(torch.argmax(ref[p])))
    last = torch.frombuffer(bytearray(open(last_path, "rb").read()), dtype=torch.float32).double()
    max_last = float((last - ref[-1]).abs().max())
    ok_logits = max(max_top, max_lse, max_last) < a.tol
    print(f"logits: {len(ids)} tokens, vocab {ref.shape[1]}: max |diff| top-64 {max_top:.3g}, lse {max_lse:.3g}, "
          f"last position (all logits) {max_last:.3g}; top-1 agrees at {top1_same}/{len(ids)} -> "
          f"{'PASS' if ok_logits else 'FAIL'} (< {a.tol})")

    ok_ids = True
    for path in a.cases:
        texts = []
        with open(path, encoding="utf-8") as f:
            for line in f:
                if line.strip():
                    texts.append(json.loads(line)["text"])
        texts = texts[: a.max_cases]
        inp = os.path.join(tmp, "cases.jsonl")
        with open(inp, "w", encoding="utf-8") as f:
            for t in texts:
                f.write(json.dumps({"text": t}) + "\n")
        out = subprocess.run([a.slm, "tokenize", "-m", gguf, "--jsonl", inp], check=True, capture_output=True,
                             text=True).stdout.splitlines()
        same = 0
        first_bad = None
        for t, line in zip(texts, out):
            s = json.loads(line)["ids"]
            h = tok(t, add_special_tokens=False)["input_ids"]
            if s == h:
                same += 1
            elif first_bad is None:
                first_bad = (t, s[:12], h[:12])
        print(f"token ids: {path}: {same}/{len(texts)} texts identical")
        if first_bad:
            print(f"  first difference: {first_bad[0]!r}: slm {first_bad[1]} transformers {first_bad[2]}")
        ok_ids = ok_ids and same == len(texts)
    return 0 if ok_logits and ok_ids else 1


if __name__ == "__main__":
    sys.exit(main())
