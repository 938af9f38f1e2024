// `slm tokenize` and `slm detokenize`: text <-> token ids with the tokenizer of a GGUF model, a Hugging Face
// tokenizer.json or a tiktoken tokenizer.model; `slm tokenize --bench` measures single-thread throughput.
#include <chrono>
#include <ctime>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "args.h"
#include "input_file.h"
#include "commands.h"
#include "common.h"
#include "progress.h"
#include "json.h"
#include "tokenizer.h"

namespace slm::cli {

namespace {

const char* kTokenizeUsage =
    "usage: slm tokenize -m FILE [--bos] [--no-special] [--pieces] [-p TEXT | --jsonl IN | < TEXT]\n"
    "       slm tokenize -m FILE --bench [TEXT_FILE] [--bench-mb N]\n"
    "\n"
    "Prints the token ids of a text, space-separated on one line. FILE is a .gguf model (its tokenizer.ggml.*\n"
    "metadata), a Hugging Face tokenizer.json or a tiktoken tokenizer.model (Llama 3).\n"
    "\n"
    "options:\n"
    "  -m, --model FILE   the tokenizer\n"
    "  -p, --prompt TEXT  the text (default: all of standard input)\n"
    "  --jsonl IN         read lines {\"text\": ...} from IN ('-' for stdin), write one {\"ids\": [...]} per line\n"
    "                     (a UTF-8 BOM and blank lines are skipped, as slm eval does)\n"
    "  --bos              put the BOS token first (default: none)\n"
    "  --no-special       treat special-token text such as <|eot_id|> as plain text\n"
    "  --pieces           print id:\"piece\" pairs instead of bare ids\n"
    "  --special-names S  tiktoken tokenizer.model only: whose special-token names (llama3.0, llama3.1 =\n"
    "                     llama3.2, or a tokenizer_config.json); default: a tokenizer_config.json beside the\n"
    "                     file, else llama3.1 (as the fixture GGUF), with a note on stderr\n"
    "  --bench [FILE]     encode FILE (default: a generated mixed-language text) on one thread and report\n"
    "                     load time, MB/s and tokens/s, first with an empty pre-token cache, then warm\n"
    "  --bench-mb N       size of the generated benchmark text in MB (default 4)\n";

const char* kDetokenizeUsage =
    "usage: slm detokenize -m FILE [--no-special] (--ids \"1 2 3\" | --jsonl IN | < IDS)\n"
    "\n"
    "Prints the text of a list of token ids (separated by spaces, commas or newlines; [ ] are ignored),\n"
    "exactly as decoded, with no newline added.\n"
    "\n"
    "options:\n"
    "  -m, --model FILE   the tokenizer (.gguf, tokenizer.json or tokenizer.model)\n"
    "  --ids IDS          the ids (default: read from standard input)\n"
    "  --jsonl IN         read lines {\"ids\": [...]} from IN ('-' for stdin), write one {\"text\": ...} per line\n"
    "  --no-special       leave control tokens (BOS, EOS, <|eot_id|> ...) out of the text\n"
    "  --special-names S  as for slm tokenize\n";

std::string read_all(std::istream& in) {
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

std::string read_path(const std::string& path) {
    if (path == "-") return read_all(std::cin);
    return read_input_file(path, "a JSONL file");
}

// The tokenizer of -m, with --special-names for tiktoken files; says on stderr what it chose that the file
// does not say.
Tokenizer load_tokenizer(const std::string& path, const Args& args) {
    TiktokenSpecials sp;
    if (args.given({"--special-names"})) sp = TiktokenSpecials::from_choice(args.get({"--special-names"}));
    Tokenizer tok = Tokenizer::load(path, sp);
    if (!tok.load_note().empty()) std::fprintf(stderr, "note: %s\n", tok.load_note().c_str());
    return tok;
}

void write_out(const std::string& s) { std::fwrite(s.data(), 1, s.size(), stdout); }

std::string ids_line(const Tokenizer& tok, const std::vector<int32_t>& ids, bool pieces) {
    std::string out;
    for (size_t i = 0; i < ids.size(); i++) {
        if (i) out += ' ';
        out += std::to_string(ids[i]);
        if (pieces) {
            out += ':';
            json::write_string(out, tok.token_to_piece(ids[i]));
        }
    }
    return out;
}


// A deterministic mixed-language text for --bench: sentences of common words in several scripts, with
// made-up words (so the pre-token cache does not see only repeats), numbers, punctuation, code and emoji.
std::string bench_text(size_t bytes) {
    static const std::vector<std::vector<std::string>> words = {
        {"the", "order", "was", "shipped", "yesterday", "and", "customer", "wants", "to", "cancel", "please", "refund",
         "my", "laptop", "arrived", "broken", "where", "is", "package", "I'll", "don't", "we've", "price", "of"},
        {"die", "Bestellung", "wurde", "gestern", "versandt", "und", "ich", "möchte", "stornieren", "bitte", "Rückerstattung",
         "für", "Größe", "Übersicht", "schön"},
        {"el", "pedido", "llegó", "dañado", "quiero", "devolver", "camisetas", "azules", "¿dónde", "está", "envío", "señor"},
        {"la", "commande", "n'est", "pas", "arrivée", "je", "voudrais", "être", "remboursé", "très", "déçu", "élève"},
        {"заказ", "был", "отправлен", "вчера", "я", "хочу", "отменить", "пожалуйста", "возврат", "денег"},
        {"我想", "买三件", "T恤", "订单", "已经", "发货", "了吗", "请", "退款", "谢谢"},
        {"注文", "した", "商品", "が", "届きません", "キャンセル", "お願いします", "ありがとう"},
        {"الطلب", "لم", "يصل", "بعد", "أريد", "إلغاء", "شكرا"},
        {"η", "παραγγελία", "μου", "δεν", "έφτασε", "ευχαριστώ"},
        {"मेरा", "ऑर्डर", "कहाँ", "है", "कृपया", "रद्द", "करें"},
    };
    static const char* punct[] = {".", ",", "!", "?", "...", ":", ";", " -", " (ok)", "\"", "'"};
    static const char* extras[] = {"🦙", "😀", "✅", "👨‍👩‍👧", "  ", "\t", "```", "{\"a\": 1}", "x = f(y) + 3;", "https://example.com/a?b=c"};
    static const char* letters[] = {"abcdefghijklmnopqrstuvwxyz", "äöüßabcdefghijklmnoprstuvwz", "áéíóúñabcdeilmnorstu",
                                    "абвгдежзиклмнопрстуфхцчшщыэюя"};
    std::mt19937 rng(20261127);
    std::string out;
    out.reserve(bytes + 256);
    while (out.size() < bytes) {
        const auto& lang = words[rng() % words.size()];
        int n_words = 4 + int(rng() % 14);
        for (int w = 0; w < n_words; w++) {
            if (w) out += ' ';
            unsigned r = rng() % 100;
            if (r < 70) {
                out += lang[rng() % lang.size()];
            } else if (r < 85) {
                // a made-up word from one alphabet (UTF-8 aware: pick whole characters)
                std::string_view alpha = letters[rng() % 4];
                std::vector<std::string_view> chars;
                for (size_t i = 0; i < alpha.size();) {
                    size_t len = (uint8_t(alpha[i]) < 0x80) ? 1 : (uint8_t(alpha[i]) < 0xE0 ? 2 : 3);
                    chars.push_back(alpha.substr(i, len));
                    i += len;
                }
                int len = 2 + int(rng() % 10);
                for (int k = 0; k < len; k++) out += chars[rng() % chars.size()];
            } else if (r < 93) {
                out += std::to_string(rng() % (r < 89 ? 100 : 10000000));
            } else {
                out += extras[rng() % (sizeof(extras) / sizeof(extras[0]))];
            }
        }
        out += punct[rng() % (sizeof(punct) / sizeof(punct[0]))];
        out += (rng() % 5 == 0) ? "\n\n" : (rng() % 2 ? "\n" : " ");
    }
    return out;
}

int run_bench(const std::string& model, const std::string& file, double mb) {
    using clock = std::chrono::steady_clock;
    auto t0 = clock::now();
    Tokenizer tok = Tokenizer::load(model);
    double load_s = std::chrono::duration<double>(clock::now() - t0).count();
    std::string text;
    std::string what;
    if (!file.empty()) {
        text = read_path(file);
        what = file;
    } else {
        if (!(mb > 0 && mb <= 1024)) fail("--bench-mb: expected a size in MB in (0, 1024], got %g", mb);
        text = bench_text(size_t(mb * 1e6));
        what = "generated mixed-language text";
    }
    std::printf("tokenizer: %s (%s, pre %s, %d tokens), loaded in %.3f s\n", model.c_str(), tok.model_name().c_str(),
                tok.pre_name().c_str(), tok.n_vocab(), load_s);
    std::printf("text: %s, %.2f MB\n", what.c_str(), text.size() / 1e6);
    // Encode line by line in 64 KB chunks, as a caller feeding documents would, with progress on stderr.
    std::vector<std::string_view> chunks;
    for (size_t pos = 0; pos < text.size();) {
        size_t end = std::min(text.size(), pos + 65536);
        size_t nl = text.find('\n', end);
        end = nl == std::string::npos ? text.size() : nl + 1;
        chunks.push_back(std::string_view(text).substr(pos, end - pos));
        pos = end;
    }
    // CPU time of this thread next to wall time: on a busy machine the wall figure measures the neighbours.
    auto thread_cpu_s = [] {
        timespec ts{};
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
        return double(ts.tv_sec) + ts.tv_nsec * 1e-9;
    };
    for (const char* pass : {"cold cache", "warm cache"}) {
        size_t n_tokens = 0, done = 0;
        double cpu0 = thread_cpu_s();
        auto start = clock::now();
        Progress progress(strfmt("bench (%s)", pass), "MB", "MB/s", 1e6, true, 1.0, 1.0);
        for (std::string_view c : chunks) {
            n_tokens += tok.encode(c, false, true).size();
            done += c.size();
            progress.update(double(done) / 1e6, double(text.size()) / 1e6, double(done), double(text.size()));
        }
        double s = std::chrono::duration<double>(clock::now() - start).count();
        double cpu = thread_cpu_s() - cpu0;
        progress.finish();
        std::printf("encode (%s): %zu tokens, %.2f bytes/token; wall %.3f s: %.2f MB/s, %.2f M tokens/s; "
                    "thread CPU %.3f s: %.2f MB/s (1 thread)\n",
                    pass, n_tokens, double(text.size()) / double(n_tokens), s, text.size() / 1e6 / s,
                    n_tokens / 1e6 / s, cpu, text.size() / 1e6 / cpu);
    }
    return 0;
}

std::vector<int32_t> parse_ids(std::string_view s, int32_t n_vocab) {
    std::vector<int32_t> ids;
    size_t i = 0;
    while (i < s.size()) {
        char c = s[i];
        if (c == ' ' || c == ',' || c == '\n' || c == '\r' || c == '\t' || c == '[' || c == ']') {
            i++;
            continue;
        }
        size_t j = i;
        while (j < s.size() && !(s[j] == ' ' || s[j] == ',' || s[j] == '\n' || s[j] == '\r' || s[j] == '\t' || s[j] == '[' || s[j] == ']')) j++;
        std::string tokstr(s.substr(i, j - i));
        char* end = nullptr;
        long long v = std::strtoll(tokstr.c_str(), &end, 10);
        if (end == tokstr.c_str() || *end != '\0') fail("'%s' is not a token id", tokstr.c_str());
        if (v < 0 || v >= n_vocab) fail("token id %lld is out of range (vocabulary of %d tokens)", v, n_vocab);
        ids.push_back(int32_t(v));
        i = j;
    }
    return ids;
}

}  // namespace

// Parses one line of a JSONL input into v and returns its field `key` (nullptr when v is not an object or has
// no such field); a line that is not JSON fails naming the file and the line.
static const json::Value* jsonl_field(const std::string& path, const json::JsonlLine& line, json::Value& v, const char* key) {
    std::string err;
    if (!json::try_parse(line.text, &v, &err)) fail("%s: line %zu: %s", path.c_str(), line.line_no, err.c_str());
    return v.is_object() ? v.find(key) : nullptr;
}

int cmd_tokenize(int argc, char** argv) {
    // "--bench" takes an optional file: take it (and the file, if the next argument is not an option) out first.
    std::vector<char*> rest;
    bool bench = false;
    std::string bench_file;
    for (int i = 0; i < argc; i++) {
        if (i > 0 && std::strcmp(argv[i], "--bench") == 0) {
            bench = true;
            if (i + 1 < argc && argv[i + 1][0] != '-') bench_file = argv[++i];
            continue;
        }
        rest.push_back(argv[i]);
    }
    Args args(int(rest.size()), rest.data(), {"-m", "--model", "-p", "--prompt", "--jsonl", "--bench-mb", "--special-names"},
              {"--bos", "--no-special", "--pieces"});
    if (args.help()) {
        std::fputs(kTokenizeUsage, stdout);
        return 0;
    }
    if (!args.positionals().empty()) fail("unexpected argument '%s' (the text goes in -p TEXT or on stdin)", args.positionals()[0].c_str());
    std::string model = args.require({"-m", "--model"});
    if (bench) return run_bench(model, bench_file, args.get_float({"--bench-mb"}, 4.0));
    if (args.given({"-p", "--prompt"}) && args.given({"--jsonl"})) fail("give either -p TEXT or --jsonl IN, not both");
    const bool bos = args.has("--bos");
    const bool parse_special = !args.has("--no-special");
    const bool pieces = args.has("--pieces");
    Tokenizer tok = load_tokenizer(model, args);

    if (args.given({"--jsonl"})) {
        std::string path = args.get({"--jsonl"});
        std::string data = read_path(path);
        auto lines = json::jsonl_lines(data);  // the JSONL rule (BOM, blank lines) that eval uses too
        Progress progress("tokenize", "lines", "lines/s", 1.0, lines.size() > 1000, 0.5, 1.0);
        std::string out;
        for (size_t i = 0; i < lines.size(); i++) {
            const size_t ln = lines[i].line_no;
            json::Value v;
            const json::Value* text = jsonl_field(path, lines[i], v, "text");
            if (!text || !text->is_string()) fail("%s: line %zu: expected an object with a string \"text\"", path.c_str(), ln);
            std::vector<int32_t> ids = tok.encode(text->as_string(), bos, parse_special);
            out += "{\"ids\": [";
            for (size_t k = 0; k < ids.size(); k++) {
                if (k) out += ", ";
                out += std::to_string(ids[k]);
            }
            out += "]}\n";
            if (out.size() > (1 << 20)) {
                write_out(out);
                out.clear();
            }
            progress.update(double(i + 1), double(lines.size()));
        }
        write_out(out);
        progress.finish();
        return 0;
    }
    std::string text = args.given({"-p", "--prompt"}) ? args.get({"-p", "--prompt"}) : read_all(std::cin);
    write_out(ids_line(tok, tok.encode(text, bos, parse_special), pieces) + "\n");
    return 0;
}

int cmd_detokenize(int argc, char** argv) {
    Args args(argc, argv, {"-m", "--model", "--ids", "--jsonl", "--special-names"}, {"--no-special"});
    if (args.help()) {
        std::fputs(kDetokenizeUsage, stdout);
        return 0;
    }
    if (!args.positionals().empty()) fail("unexpected argument '%s' (the ids go in --ids or on stdin)", args.positionals()[0].c_str());
    std::string model = args.require({"-m", "--model"});
    if (args.given({"--ids"}) && args.given({"--jsonl"})) fail("give either --ids or --jsonl, not both");
    const bool render_control = !args.has("--no-special");
    Tokenizer tok = load_tokenizer(model, args);
    if (args.given({"--jsonl"})) {
        std::string path = args.get({"--jsonl"});
        std::string data = read_path(path);
        auto lines = json::jsonl_lines(data);
        std::string out;
        for (size_t i = 0; i < lines.size(); i++) {
            const size_t ln = lines[i].line_no;
            json::Value v;
            const json::Value* ids = jsonl_field(path, lines[i], v, "ids");
            if (!ids || !ids->is_array()) fail("%s: line %zu: expected an object with an array \"ids\"", path.c_str(), ln);
            std::vector<int32_t> list;
            for (size_t k = 0; k < ids->size(); k++) {
                const json::Value& x = (*ids)[k];
                if (!x.is_integer() || x.as_int() < 0 || x.as_int() >= tok.n_vocab())
                    fail("%s: line %zu: ids[%zu] is not a token id of this vocabulary (0..%d)", path.c_str(), ln, k, tok.n_vocab() - 1);
                list.push_back(int32_t(x.as_int()));
            }
            out += "{\"text\": ";
            json::write_string(out, tok.decode(list, render_control));
            out += "}\n";
        }
        write_out(out);
        return 0;
    }
    std::string ids_text = args.given({"--ids"}) ? args.get({"--ids"}) : read_all(std::cin);
    write_out(tok.decode(parse_ids(ids_text, tok.n_vocab()), render_control));
    return 0;
}

}  // namespace slm::cli
