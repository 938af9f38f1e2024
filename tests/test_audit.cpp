// slm audit: error metrics on synthetic tensors with known errors, KL / agreement / perplexity on known
// distributions, a file against itself (all zero), the JSON and SVG outputs, and a real audit of llama3-tiny
// F16 against its Q8_0 and Q4_K_M made by slm quantize.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <random>

#include "audit.h"
#include "../tools/commands.h"
#include "common.h"
#include "forward.h"
#include "gguf.h"
#include "json.h"
#include "model.h"
#include "quantize.h"
#include "test_util.h"
#include "threadpool.h"
#include "tokenizer.h"

using namespace slm;

namespace {

const char* kTiny = "models/llama3-tiny-f16.gguf";

// llama3-tiny quantized by slm to `type`, made once per test run.
std::string tiny_quantized(const std::string& type) {
    static std::map<std::string, std::string> made;
    auto it = made.find(type);
    if (it != made.end()) return it->second;
    std::string dir = test::scratch_dir("audit-" + type);
    std::string out = dir + "/tiny-" + type + ".gguf";
    ThreadPool pool(2);
    auto be_pool = make_cpu_backend(pool);
    quant::QuantizeOptions o;
    o.progress = false;
    quant::quantize_file(test::fixture(kTiny), out, *quant::mix_from_name(type), pool, o);
    made[type] = out;
    return out;
}

// A minimal XML well-formedness check: tags balance and nest, attributes are quoted, entities are known,
// no stray '<' or '&' in text.
bool well_formed_xml(const std::string& s, std::string* why) {
    std::vector<std::string> stack;
    size_t i = 0;
    auto bad = [&](const std::string& m) {
        *why = m + " at byte " + std::to_string(i);
        return false;
    };
    auto check_text = [&](size_t a, size_t b) {
        for (size_t k = a; k < b; ++k) {
            if (s[k] == '>') return false;
            if (s[k] == '&') {
                size_t semi = s.find(';', k);
                if (semi == std::string::npos || semi > b) return false;
                std::string ent = s.substr(k, semi - k + 1);
                if (ent != "&amp;" && ent != "&lt;" && ent != "&gt;" && ent != "&quot;" && ent != "&apos;") return false;
            }
        }
        return true;
    };
    if (s.rfind("<?xml", 0) == 0) {
        i = s.find("?>");
        if (i == std::string::npos) return bad("unterminated XML declaration");
        i += 2;
    }
    bool seen_root = false;
    while (i < s.size()) {
        size_t lt = s.find('<', i);
        if (lt == std::string::npos) {
            if (!check_text(i, s.size())) return bad("bad character in text");
            break;
        }
        if (!check_text(i, lt)) return bad("bad character in text");
        size_t gt = lt + 1;
        char quote = 0;
        for (; gt < s.size(); ++gt) {  // find the tag's end outside quoted attribute values
            if (quote) {
                if (s[gt] == quote) quote = 0;
                else if (s[gt] == '<') return bad("'<' inside an attribute");
            } else if (s[gt] == '"' || s[gt] == '\'') {
                quote = s[gt];
            } else if (s[gt] == '>') {
                break;
            }
        }
        if (gt >= s.size()) return bad("unterminated tag");
        std::string tag = s.substr(lt + 1, gt - lt - 1);
        i = gt + 1;
        if (tag.empty()) return bad("empty tag");
        if (tag[0] == '/') {
            std::string name = tag.substr(1);
            if (stack.empty() || stack.back() != name) return bad("mismatched </" + name + ">");
            stack.pop_back();
            continue;
        }
        bool self_close = tag.back() == '/';
        if (self_close) tag.pop_back();
        size_t sp = tag.find_first_of(" \t\n");
        std::string name = tag.substr(0, sp);
        if (name.empty() || !std::isalpha(static_cast<unsigned char>(name[0]))) return bad("bad tag name");
        // attributes: name="value" pairs
        size_t k = sp == std::string::npos ? tag.size() : sp;
        while (k < tag.size()) {
            while (k < tag.size() && std::isspace(static_cast<unsigned char>(tag[k]))) ++k;
            if (k >= tag.size()) break;
            size_t eq = tag.find('=', k);
            if (eq == std::string::npos || eq + 1 >= tag.size()) return bad("attribute without value in <" + name + ">");
            char q = tag[eq + 1];
            if (q != '"' && q != '\'') return bad("unquoted attribute in <" + name + ">");
            size_t end = tag.find(q, eq + 2);
            if (end == std::string::npos) return bad("unterminated attribute");
            k = end + 1;
        }
        if (stack.empty()) {
            if (seen_root) return bad("second root element");
            seen_root = true;
        }
        if (!self_close) stack.push_back(name);
    }
    if (!stack.empty()) {
        *why = "unclosed <" + stack.back() + ">";
        return false;
    }
    if (!seen_root) {
        *why = "no root element";
        return false;
    }
    return true;
}

}  // namespace

TEST_CASE("audit: metrics of a known perturbation") {
    std::mt19937 rng(7);
    std::normal_distribution<float> nd(0.0f, 1.0f);
    const int n = 4096;
    std::vector<float> ref(n), q(n);
    for (int i = 0; i < n; ++i) ref[i] = nd(rng);

    SUBCASE("scaled copy: q = 1.1 ref -> error 0.1 ref, SNR 20 dB") {
        double sum_sq = 0, max_abs = 0;
        for (int i = 0; i < n; ++i) {
            q[i] = ref[i] * 1.1f;
            double e = double(q[i]) - ref[i];
            sum_sq += double(ref[i]) * ref[i];
            max_abs = std::max(max_abs, std::fabs(e));
        }
        audit::ErrorSums s = audit::compare_values(ref.data(), q.data(), n);
        CHECK(s.n == n);
        CHECK(s.snr_db() == doctest::Approx(20.0).epsilon(1e-4));
        CHECK(s.rel_fro() == doctest::Approx(0.1).epsilon(1e-4));
        CHECK(s.rmse() == doctest::Approx(0.1 * std::sqrt(sum_sq / n)).epsilon(1e-4));
        CHECK(s.max_abs_err == doctest::Approx(max_abs));
    }
    SUBCASE("additive noise of known power: SNR = 10 log10(P_signal / P_noise)") {
        std::normal_distribution<float> noise(0.0f, 0.01f);
        double ps = 0, pn = 0;
        for (int i = 0; i < n; ++i) {
            float e = noise(rng);
            q[i] = ref[i] + e;
            double de = double(q[i]) - ref[i];
            ps += double(ref[i]) * ref[i];
            pn += de * de;
        }
        audit::ErrorSums s = audit::compare_values(ref.data(), q.data(), n);
        CHECK(s.snr_db() == doctest::Approx(10 * std::log10(ps / pn)).epsilon(1e-6));
        CHECK(s.snr_db() > 35);  // ~ 10 log10(1 / 1e-4) = 40 dB
        CHECK(s.snr_db() < 45);
    }
    SUBCASE("identical: zero error, infinite SNR; pooling adds up") {
        audit::ErrorSums s = audit::compare_values(ref.data(), ref.data(), n);
        CHECK(s.rmse() == 0);
        CHECK(s.rel_fro() == 0);
        CHECK(std::isinf(s.snr_db()));
        for (int i = 0; i < n; ++i) q[i] = ref[i] + (i % 2 ? 0.5f : -0.25f);
        audit::ErrorSums a = audit::compare_values(ref.data(), q.data(), n / 2);
        audit::ErrorSums b = audit::compare_values(ref.data() + n / 2, q.data() + n / 2, n / 2);
        audit::ErrorSums whole = audit::compare_values(ref.data(), q.data(), n);
        a.add(b);
        CHECK(a.n == whole.n);
        CHECK(a.sum_sq_err == doctest::Approx(whole.sum_sq_err));
        CHECK(a.max_abs_err == whole.max_abs_err);
        CHECK(a.max_abs_err == doctest::Approx(0.5));
    }
}

TEST_CASE("audit: tensor names to kind and layer") {
    CHECK(audit::tensor_kind("blk.12.attn_q.weight") == "attn_q");
    CHECK(audit::tensor_layer("blk.12.attn_q.weight") == 12);
    CHECK(audit::tensor_kind("token_embd.weight") == "token_embd");
    CHECK(audit::tensor_layer("token_embd.weight") == -1);
    CHECK(audit::tensor_layer("blk.x.attn_q.weight") == -1);
    CHECK(audit::tensor_kind("rope_freqs.weight") == "rope_freqs");
}

TEST_CASE("audit: KL, agreement and perplexity on known distributions") {
    SUBCASE("identical rows: KL 0, agreement 100%, equal perplexity") {
        audit::TextAccumulator acc;
        std::vector<float> l = {1.0f, 2.0f, -1.0f, 0.5f};
        acc.add(l.data(), l.data(), 4, 1);
        acc.add(l.data(), l.data(), 4, -1);
        audit::TextAudit t = acc.finish();
        CHECK(t.n_positions == 2);
        CHECK(t.kl_max == doctest::Approx(0.0));
        CHECK(t.top1_agreement == 1.0);
        CHECK(t.ppl_ref == doctest::Approx(t.ppl_quant));
    }
    SUBCASE("two tokens: p = (1/2, 1/2), q = (3/4, 1/4) -> KL = ln(4/3)/2") {
        audit::TextAccumulator acc;
        std::vector<float> lr = {0.0f, 0.0f}, lq = {float(std::log(3.0)), 0.0f};
        acc.add(lr.data(), lq.data(), 2, 0);
        audit::TextAudit t = acc.finish();
        CHECK(t.kl_mean == doctest::Approx(0.5 * std::log(4.0 / 3.0)).epsilon(1e-6));
        CHECK(t.ppl_ref == doctest::Approx(2.0));         // -log(1/2)
        CHECK(t.ppl_quant == doctest::Approx(4.0 / 3.0)); // -log(3/4)
        CHECK(t.top1_agreement == 1.0);  // ties resolve to the first index in both
    }
    SUBCASE("uniform reference over V: perplexity V; disagreeing argmax counted") {
        audit::TextAccumulator acc;
        const int V = 100;
        std::vector<float> lr(V, 0.0f), lq(V, 0.0f);
        lq[7] = 5.0f;
        for (int i = 0; i < 10; ++i) acc.add(lr.data(), lq.data(), V, i);
        audit::TextAudit t = acc.finish();
        CHECK(t.ppl_ref == doctest::Approx(double(V)));
        CHECK(t.top1_agreement == 0.0);
        CHECK(t.kl_median == doctest::Approx(t.kl_mean));
        CHECK(t.kl_p99 == doctest::Approx(t.kl_max));
    }
    SUBCASE("median and p99 of a known set") {
        audit::TextAccumulator acc;
        std::vector<float> lr = {0.0f, 0.0f};
        // KL grows with the quant logit gap; positions get gaps 0..99
        for (int i = 0; i < 100; ++i) {
            std::vector<float> lq = {float(i) * 0.05f, 0.0f};
            acc.add(lr.data(), lq.data(), 2, -1);
        }
        audit::TextAudit t = acc.finish();
        CHECK(t.kl.size() == 100);
        std::vector<double> s = t.kl;
        std::sort(s.begin(), s.end());
        CHECK(t.kl_median == doctest::Approx(0.5 * (s[49] + s[50])));
        CHECK(t.kl_p99 == doctest::Approx(s[98]));
        CHECK(t.kl_max == doctest::Approx(s[99]));
        CHECK(t.ppl_ref == 0);  // no next tokens given
    }
}

TEST_CASE("audit: a file against itself, JSON fields and well-formed SVG") {
    SLM_REQUIRE_FIXTURE(kTiny);
    ThreadPool pool(2);
    auto be_pool = make_cpu_backend(pool);
    gguf::File f = gguf::File::open(test::fixture(kTiny));
    audit::Report r = audit::audit_weights(f, f, pool);
    REQUIRE(r.tensors.size() == f.tensors().size());
    for (const auto& t : r.tensors) {
        CAPTURE(t.name);
        CHECK(t.err.sum_sq_err == 0);
        CHECK(t.err.max_abs_err == 0);
        CHECK(t.err.n == f.find_tensor(t.name)->n_elements());
    }
    CHECK(r.by_layer.size() == 3);  // 0, 1, other
    CHECK(r.by_layer.back().key == "other");
    CHECK(r.total_quantized.n == 0);

    json::Value j = json::parse(audit::to_json(r).dump(2));
    for (const char* k : {"reference", "quantized", "tensors", "by_layer", "by_kind", "total", "text"}) {
        CAPTURE(k);
        CHECK(j.find(k) != nullptr);
    }
    REQUIRE(j.at("tensors").size() == r.tensors.size());
    const json::Value& t0 = j.at("tensors")[0];
    for (const char* k : {"name", "kind", "layer", "ref_type", "quant_type", "shape", "bpw", "rmse", "max_abs_err",
                          "snr_db", "rel_fro"}) {
        CAPTURE(k);
        CHECK(t0.find(k) != nullptr);
    }
    CHECK(t0.at("snr_db").is_null());  // infinite SNR is written as null (JSON has no inf)
    CHECK(t0.at("rel_fro").as_number() == 0);

    std::string svg = audit::to_svg(r);
    std::string why;
    CHECK_MESSAGE(well_formed_xml(svg, &why), why);
    CHECK(svg.find("<svg") != std::string::npos);
    CHECK(svg.find("layer") != std::string::npos);
    CHECK(svg.find("tensor kind") != std::string::npos);
    // the well-formedness check itself rejects broken documents
    CHECK_FALSE(well_formed_xml("<svg><g></svg>", &why));
    CHECK_FALSE(well_formed_xml("<svg><text>a < b</text></svg>", &why));
    CHECK_FALSE(well_formed_xml("<svg><rect x=1/></svg>", &why));
}

TEST_CASE("audit: text against itself gives KL 0 and 100% agreement") {
    SLM_REQUIRE_FIXTURE(kTiny);
    ThreadPool pool(2);
    auto be_pool = make_cpu_backend(pool);
    auto m = Model::load(test::fixture(kTiny), test::cpu());
    std::vector<int32_t> ids = m->tokenizer().encode(audit::default_text(), true);
    CHECK(ids.size() > 200);  // "a few hundred tokens"
    ContextOptions co;
    co.n_ctx = 48;
    Context c1(*m, *be_pool, co), c2(*m, *be_pool, co);
    audit::TextAudit t = audit::audit_text(c1, c2, ids, 48);
    CHECK(t.n_tokens == 48);
    CHECK(t.n_positions == 48);
    CHECK(t.kl_max == doctest::Approx(0.0).epsilon(1e-9));
    CHECK(t.top1_agreement == 1.0);
    CHECK(t.ppl_ref == t.ppl_quant);
    CHECK(std::isfinite(t.ppl_ref));
    CHECK(t.ppl_ref > 1);
}

TEST_CASE("audit: llama3-tiny F16 vs slm's Q8_0 and Q4_K_M") {
    SLM_REQUIRE_FIXTURE(kTiny);
    ThreadPool pool(2);
    auto be_pool = make_cpu_backend(pool);
    gguf::File ref = gguf::File::open(test::fixture(kTiny));
    std::map<std::string, audit::Report> reports;
    auto rm = Model::load(test::fixture(kTiny), test::cpu());
    std::vector<int32_t> ids = rm->tokenizer().encode(audit::default_text(), true);
    for (const char* type : {"Q8_0", "Q4_K_M"}) {
        CAPTURE(type);
        gguf::File q = gguf::File::open(tiny_quantized(type));
        audit::Report r = audit::audit_weights(ref, q, pool);
        for (const auto& t : r.tensors) {
            CAPTURE(t.name);
            CHECK(std::isfinite(t.err.rmse()));
            CHECK(std::isfinite(t.err.max_abs_err));
            if (t.q_type != t.ref_type) {
                CHECK(std::isfinite(t.err.snr_db()));
                CHECK(t.err.rel_fro() > 0);
                CHECK(t.err.rel_fro() < 0.2);
            } else {
                CHECK(t.err.sum_sq_err == 0);  // norms copied
            }
        }
        CHECK(r.total_quantized.n > 0);
        auto qm = Model::load(tiny_quantized(type), test::cpu());
        ContextOptions co;
        co.n_ctx = 32;
        Context cr(*rm, *be_pool, co), cq(*qm, *be_pool, co);
        r.text = audit::audit_text(cr, cq, ids, 32);
        CHECK(std::isfinite(r.text->kl_mean));
        CHECK(r.text->kl_mean > 0);
        CHECK(std::isfinite(r.text->ppl_quant));
        MESSAGE(type << ": rel.err " << r.total_quantized.rel_fro() << ", SNR " << r.total_quantized.snr_db()
                     << " dB, KL mean " << r.text->kl_mean << ", top-1 " << r.text->top1_agreement);
        reports[type] = std::move(r);
    }
    const audit::Report &q8 = reports["Q8_0"], &q4 = reports["Q4_K_M"];
    CHECK(q4.total_quantized.rel_fro() > q8.total_quantized.rel_fro());
    CHECK(q4.total_quantized.snr_db() < q8.total_quantized.snr_db());
    CHECK(q4.total.bpw() < q8.total.bpw());
    CHECK(q4.text->kl_mean > q8.text->kl_mean);
    std::string table = audit::format_report(q4);
    CHECK(table.find("blk.1.ffn_down.weight") != std::string::npos);
    CHECK(table.find("top-1 agreement") != std::string::npos);
}

TEST_CASE("audit: command line writes JSON and SVG; bad input is refused") {
    SLM_REQUIRE_FIXTURE(kTiny);
    std::string dir = test::scratch_dir("audit-cli");
    auto run = [](std::vector<std::string> a) {
        std::vector<char*> argv;
        for (auto& s : a) argv.push_back(s.data());
        return cli::cmd_audit(int(argv.size()), argv.data());
    };
    std::string q8 = tiny_quantized("Q8_0");
    CHECK(run({"audit", test::fixture(kTiny), q8, "--no-text", "--json", dir + "/a.json", "--svg", dir + "/a.svg",
               "--threads", "2"}) == 0);
    json::Value j = json::parse(test::read_text(dir + "/a.json"));
    CHECK(j.at("tensors").size() == 21);
    CHECK(j.at("text").is_null());
    std::string why;
    CHECK_MESSAGE(well_formed_xml(test::read_text(dir + "/a.svg"), &why), why);

    CHECK_THROWS_AS(run({"audit", test::fixture(kTiny)}), slm::Error);
    CHECK_THROWS_AS(run({"audit", test::fixture(kTiny), dir + "/missing.gguf"}), slm::Error);
    CHECK_THROWS_AS(run({"audit", test::fixture(kTiny), q8, "--ctx", "1"}), slm::Error);
    CHECK_THROWS_AS(run({"audit", test::fixture(kTiny), q8, "--bogus"}), slm::Error);
    CHECK_THROWS_WITH_AS(run({"audit", test::fixture(kTiny), q8, "--text", dir + "/none.txt"}),
                         doctest::Contains("none.txt"), slm::Error);
    // Different models: tensor sets differ.
    SLM_REQUIRE_FIXTURE("models/stories260K.gguf");
    CHECK_THROWS_AS(run({"audit", test::fixture(kTiny), test::fixture("models/stories260K.gguf"), "--no-text"}),
                    slm::Error);
}
