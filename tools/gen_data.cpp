// `slm gen-data`: writes the multilingual e-commerce intent dataset (train / val / test JSONL).
#include <cstdio>
#include <string>

#include "args.h"
#include "commands.h"
#include "common.h"
#include "intent/data.h"

namespace slm::cli {

static const char* kHelp =
    "usage: slm gen-data -o DIR [--n 3000] [--seed 1] [--noise 0.4] [--langs en,es,de,fr,it,pt] [--n-test 600]\n"
    "\n"
    "Generates shopper messages with their gold JSON answers for the intent task (../shared/intents/SPEC.md):\n"
    "  DIR/train.jsonl  90% of --n examples      DIR/val.jsonl  the other 10%\n"
    "  DIR/test.jsonl   --n-test examples from a separate bank of phrasings and noise (never used for train/val)\n"
    "Each line: {\"messages\": [system, user, assistant], \"lang\": ..., \"noise\": [...]}.\n"
    "  DIR/handwritten.jsonl  78 messages written by hand, not generated ({\"text\", \"gold\", \"lang\"}): for\n"
    "                   `slm eval` only, to see whether a tuned model learned more than the generator's phrasings\n"
    "\n"
    "  -o, --out DIR    output directory (created if needed)\n"
    "  --n N            train + val examples (default 3000, 10..1e8; the free disk space is checked first)\n"
    "  --n-test N       test examples (default 600)\n"
    "  --seed S         PRNG seed (default 1); the same seed gives the same files on every machine\n"
    "  --noise R        share of messages that get noise (typos, slang, emoji, ...), 0..1 (default 0.4)\n"
    "  --mix R          share of messages that mix two languages, 0..1 (default 0.12)\n"
    "  --langs LIST     comma-separated subset of en,es,de,fr,it,pt (default all)\n";

int cmd_gen_data(int argc, char** argv) {
    Args args(argc, argv, {"-o", "--out", "--n", "--n-test", "--seed", "--noise", "--mix", "--langs"}, {});
    if (args.help()) {
        std::fputs(kHelp, stdout);
        return 0;
    }
    if (!args.positionals().empty()) fail("unexpected argument \"%s\" (see --help)", args.positionals()[0].c_str());
    std::string out = args.require({"-o", "--out"});
    int64_t n = args.get_int({"--n"}, 3000), n_test = args.get_int({"--n-test"}, 600);
    if (n < 10 || n > 100000000) fail("--n must be in [10, 1e8], got %lld", (long long)n);
    if (n_test < 1 || n_test > 100000000) fail("--n-test must be in [1, 1e8], got %lld", (long long)n_test);
    double noise = args.get_float({"--noise"}, 0.4), mix = args.get_float({"--mix"}, 0.12);
    if (!(noise >= 0 && noise <= 1)) fail("--noise must be in [0, 1], got %g", noise);
    if (!(mix >= 0 && mix <= 1)) fail("--mix must be in [0, 1], got %g", mix);
    int64_t seed = args.get_int({"--seed"}, 1);
    if (seed < 0) fail("--seed must be 0 or more, got %lld", (long long)seed);

    intent::GenOptions opt;
    opt.seed = uint64_t(seed);
    opt.noise_per_mille = int(noise * 1000 + 0.5);
    opt.mix_per_mille = int(mix * 1000 + 0.5);
    if (args.given({"--langs"})) {
        std::string s = args.get({"--langs"});
        size_t start = 0;
        for (;;) {
            size_t c = s.find(',', start);
            std::string l = s.substr(start, c == std::string::npos ? std::string::npos : c - start);
            if (l.empty()) fail("--langs: empty language in \"%s\"", s.c_str());
            opt.langs.push_back(l);
            if (c == std::string::npos) break;
            start = c + 1;
        }
    }
    intent::DatasetCounts c = intent::write_dataset(out, int(n), int(n_test), opt, /*progress=*/true);
    std::printf("wrote %s/train.jsonl (%d), %s/val.jsonl (%d), %s/test.jsonl (%d), %s/handwritten.jsonl\n", out.c_str(),
                c.train, out.c_str(), c.val, out.c_str(), c.test, out.c_str());
    return 0;
}

}  // namespace slm::cli
