// Every subcommand of `slm`: one function per file in tools/, each taking (argc, argv) with argv[0] the
// subcommand's name, returning the process exit code. main.cpp maps names to these.
#pragma once

namespace slm::cli {

int cmd_inspect(int argc, char** argv);     // tools/inspect.cpp
int cmd_tokenize(int argc, char** argv);    // tools/tokenize.cpp
int cmd_detokenize(int argc, char** argv);  // tools/tokenize.cpp
int cmd_run(int argc, char** argv);         // tools/run.cpp
int cmd_chat(int argc, char** argv);        // tools/chat.cpp
int cmd_logits(int argc, char** argv);      // tools/logits.cpp
int cmd_quantize(int argc, char** argv);    // tools/quantize.cpp
int cmd_audit(int argc, char** argv);       // tools/audit.cpp
int cmd_gen_data(int argc, char** argv);    // tools/gen_data.cpp
int cmd_eval(int argc, char** argv);        // tools/eval.cpp
int cmd_synth(int argc, char** argv);       // tools/synth.cpp
int cmd_bench(int argc, char** argv);       // tools/bench.cpp
int cmd_convert(int argc, char** argv);     // tools/convert.cpp
int cmd_export_hf(int argc, char** argv);   // tools/export_hf.cpp
int cmd_train(int argc, char** argv);       // tools/train.cpp
int cmd_merge(int argc, char** argv);       // tools/merge.cpp
int cmd_experiment(int argc, char** argv);  // tools/experiment.cpp

struct Command {
    const char* name;
    int (*fn)(int, char**);
    const char* summary;
};
// The table main() dispatches on (tools/main.cpp).
extern const Command kCommands[];
extern const int kNumCommands;

}  // namespace slm::cli
