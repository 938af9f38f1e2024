#include "audit.h"

#include <algorithm>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cmath>
#include <cstring>
#include <map>

#include "backend.h"
#include "common.h"
#include "progress.h"
#include "unicode.h"
#include "forward.h"
#include "gguf.h"
#include "model.h"
#include "quantize.h"
#include "svg.h"
#include "threadpool.h"
#include "tokenizer.h"

namespace slm::audit {

// ---- error sums ----

void ErrorSums::add(const ErrorSums& o) {
    n += o.n;
    sum_sq_ref += o.sum_sq_ref;
    sum_sq_err += o.sum_sq_err;
    max_abs_err = std::max(max_abs_err, o.max_abs_err);
    if (std::isnan(o.max_abs_err)) max_abs_err = o.max_abs_err;  // keep NaN visible
    bytes += o.bytes;
}

double ErrorSums::rmse() const { return n ? std::sqrt(sum_sq_err / double(n)) : 0; }

double ErrorSums::snr_db() const {
    if (sum_sq_err == 0) return std::numeric_limits<double>::infinity();
    return 10.0 * std::log10(sum_sq_ref / sum_sq_err);
}

double ErrorSums::rel_fro() const {
    if (sum_sq_err == 0) return 0;
    return std::sqrt(sum_sq_err / sum_sq_ref);  // +inf for an all-zero reference with errors
}

ErrorSums compare_values(const float* ref, const float* q, int64_t n) {
    ErrorSums s;
    s.n = n;
    for (int64_t i = 0; i < n; ++i) {
        double r = ref[i], e = double(q[i]) - r;
        s.sum_sq_ref += r * r;
        s.sum_sq_err += e * e;
        double a = std::fabs(e);
        if (a > s.max_abs_err || std::isnan(a)) s.max_abs_err = a;
    }
    return s;
}

int tensor_layer(const std::string& name) {
    if (name.rfind("blk.", 0) != 0) return -1;
    int v = 0;
    size_t i = 4;
    for (; i < name.size() && name[i] >= '0' && name[i] <= '9' && v < 100000; ++i) v = v * 10 + (name[i] - '0');
    if (i == 4 || i >= name.size() || name[i] != '.') return -1;
    return v;
}

std::string tensor_kind(const std::string& name) {
    std::string s = name;
    if (tensor_layer(s) >= 0) s = s.substr(s.find('.', 4) + 1);
    if (s.size() > 7 && s.compare(s.size() - 7, 7, ".weight") == 0) s.resize(s.size() - 7);
    return s;
}

// ---- weights ----

Report audit_weights(const gguf::File& ref, const gguf::File& quant, ThreadPool& pool, bool progress) {
    Report rep;
    rep.ref_path = ref.path();
    rep.quant_path = quant.path();
    // A GPTQ weight NAME.weight is stored as NAME.qweight + parts (kernels/cpu/gptq.cpp).
    auto gptq_base = [](const std::string& name, const char* suffix) {
        const size_t n = std::strlen(suffix);
        return name.size() > n && name.compare(name.size() - n, n, suffix) == 0 ? name.substr(0, name.size() - n) : "";
    };
    for (const gguf::TensorInfo& rt : ref.tensors())
        if (!quant.find_tensor(rt.name) &&
            !(gptq_base(rt.name, ".weight").size() && quant.find_tensor(gptq_base(rt.name, ".weight") + ".qweight")))
            fail("%s has tensor %s, %s does not", ref.path().c_str(), escape_text(rt.name).c_str(), quant.path().c_str());

    std::map<int, GroupAudit> layers;
    std::vector<GroupAudit> kinds;
    uint64_t total_bytes = 0, done_bytes = 0;
    for (const gguf::TensorInfo& qt : quant.tensors()) total_bytes += qt.nbytes;
    Progress bar("audit: weights", "tensors", "MB/s", 1e6, progress);
    // Adds one tensor's errors to its layer, its kind and the totals.
    auto record = [&](TensorAudit&& ta) {
        GroupAudit& lg = layers[ta.layer];
        lg.key = ta.layer >= 0 ? std::to_string(ta.layer) : "other";
        lg.n_tensors++;
        lg.err.add(ta.err);
        auto it = std::find_if(kinds.begin(), kinds.end(), [&](const GroupAudit& g) { return g.key == ta.kind; });
        if (it == kinds.end()) {
            kinds.push_back({ta.kind, 0, {}});
            it = kinds.end() - 1;
        }
        it->n_tensors++;
        it->err.add(ta.err);
        rep.total.add(ta.err);
        if (ta.q_type != ta.ref_type || ta.q_gptq) rep.total_quantized.add(ta.err);
        rep.tensors.push_back(std::move(ta));
    };
    for (const gguf::TensorInfo& qt : quant.tensors()) {
        bool is_part = false;
        for (const char* p : {".scales", ".zeros", ".perm"}) {
            const std::string b = gptq_base(qt.name, p);
            is_part = is_part || (!b.empty() && quant.find_tensor(b + ".qweight"));
        }
        if (is_part) {
            done_bytes += qt.nbytes;
            continue;  // counted with its .qweight
        }
        if (const std::string base = gptq_base(qt.name, ".qweight"); !base.empty()) {
            const gguf::TensorInfo* rt = ref.find_tensor(base + ".weight");
            if (!rt || rt->n_dims != 2)
                fail("%s has GPTQ weight %s, %s has no matrix %s.weight", quant.path().c_str(), base.c_str(),
                     ref.path().c_str(), base.c_str());
            const WeightView w = gptq_weight_view(quant, base, rt->ne[0], rt->ne[1]);
            if (const std::string err = codec::check_weight(w); !err.empty())
                fail("%s: GPTQ weight %s: %s", quant.path().c_str(), base.c_str(), err.c_str());
            TensorAudit ta;
            ta.name = base + ".weight";
            ta.kind = tensor_kind(ta.name);
            ta.layer = tensor_layer(ta.name);
            ta.ref_type = rt->type;
            ta.q_type = qt.type;
            ta.q_gptq = true;
            ta.shape = {rt->ne[0], rt->ne[1]};
            const int64_t n_in = rt->ne[0];
            const int64_t rrow = row_bytes(rt->type, n_in);
            const uint8_t* rdata = ref.tensor_data(*rt);
            std::vector<ErrorSums> partial(size_t(pool.size()));
            pool.parallel_for(w.n_out, std::max<int64_t>(1, 65536 / n_in), [&](int64_t r0, int64_t r1, int ti) {
                std::vector<float> a(static_cast<size_t>(n_in)), b(static_cast<size_t>(n_in));
                for (int64_t r = r0; r < r1; ++r) {
                    codec::dequantize_row(rt->type, rdata + r * rrow, a.data(), n_in);
                    codec::dequantize_weight_row(w, r, b.data());
                    partial[size_t(ti)].add(compare_values(a.data(), b.data(), n_in));
                }
            });
            for (const ErrorSums& p : partial) ta.err.add(p);
            for (int i = 0; i < w.n_parts; i++) {
                const gguf::TensorInfo* pt = quant.find_tensor(base + "." + w.parts[size_t(i)].role);
                ta.err.bytes += pt ? pt->nbytes : 0;
            }
            record(std::move(ta));
            done_bytes += qt.nbytes;
            continue;
        }
        const gguf::TensorInfo* rt = ref.find_tensor(qt.name);
        if (!rt) fail("%s has tensor %s, %s does not", quant.path().c_str(), escape_text(qt.name).c_str(), ref.path().c_str());
        if (rt->ne != qt.ne)
            fail("tensor %s: shape differs between %s and %s", escape_text(qt.name).c_str(), ref.path().c_str(),
                 quant.path().c_str());
        TensorAudit ta;
        ta.name = qt.name;
        ta.kind = tensor_kind(qt.name);
        ta.layer = tensor_layer(qt.name);
        ta.ref_type = rt->type;
        ta.q_type = qt.type;
        for (uint32_t d = 0; d < std::max<uint32_t>(qt.n_dims, 1); ++d) ta.shape.push_back(qt.ne[d]);

        const int64_t n_per_row = qt.ne[0];
        const int64_t n_rows = qt.n_elements() / n_per_row;
        const int64_t rrow = row_bytes(rt->type, n_per_row), qrow = row_bytes(qt.type, n_per_row);
        const uint8_t* rdata = ref.tensor_data(*rt);
        const uint8_t* qdata = quant.tensor_data(qt);
        // Fail here, on this thread, for a type without a dequantizer.
        std::vector<float> probe(static_cast<size_t>(n_per_row));
        codec::dequantize_row(rt->type, rdata, probe.data(), n_per_row);
        codec::dequantize_row(qt.type, qdata, probe.data(), n_per_row);

        std::vector<ErrorSums> partial(size_t(pool.size()));
        const int64_t grain = std::max<int64_t>(1, 65536 / n_per_row);
        pool.parallel_for(n_rows, grain, [&](int64_t r0, int64_t r1, int ti) {
            std::vector<float> a(static_cast<size_t>(n_per_row)), b(static_cast<size_t>(n_per_row));
            for (int64_t r = r0; r < r1; ++r) {
                codec::dequantize_row(rt->type, rdata + r * rrow, a.data(), n_per_row);
                codec::dequantize_row(qt.type, qdata + r * qrow, b.data(), n_per_row);
                partial[size_t(ti)].add(compare_values(a.data(), b.data(), n_per_row));
            }
        });
        for (const ErrorSums& p : partial) ta.err.add(p);
        ta.err.bytes = qt.nbytes;

        record(std::move(ta));
        done_bytes += qt.nbytes;
        bar.update(double(rep.tensors.size()), double(quant.tensors().size()), double(done_bytes), double(total_bytes));
    }
    bar.finish();
    for (auto& [layer, g] : layers)
        if (layer >= 0) rep.by_layer.push_back(g);
    if (layers.count(-1)) rep.by_layer.push_back(layers[-1]);
    rep.by_kind = std::move(kinds);
    return rep;
}

// ---- text ----

void TextAccumulator::add(const float* lr, const float* lq, int n_vocab, int32_t next_token) {
    // log-softmax of both rows in double; KL(P_ref || P_q) = sum p_ref (log p_ref - log p_q).
    double max_r = -INFINITY, max_q = -INFINITY;
    int arg_r = 0, arg_q = 0;
    for (int i = 0; i < n_vocab; ++i) {
        if (lr[i] > max_r) { max_r = lr[i]; arg_r = i; }
        if (lq[i] > max_q) { max_q = lq[i]; arg_q = i; }
    }
    double sr = 0, sq = 0;
    for (int i = 0; i < n_vocab; ++i) {
        sr += std::exp(double(lr[i]) - max_r);
        sq += std::exp(double(lq[i]) - max_q);
    }
    const double lse_r = max_r + std::log(sr), lse_q = max_q + std::log(sq);
    double kl = 0;
    for (int i = 0; i < n_vocab; ++i) {
        double lp = double(lr[i]) - lse_r;
        double lpq = double(lq[i]) - lse_q;
        kl += std::exp(lp) * (lp - lpq);
    }
    kl_.push_back(std::max(0.0, kl));  // rounding can make an exact 0 slightly negative
    agree_ += arg_r == arg_q;
    if (next_token >= 0 && next_token < n_vocab) {
        nll_ref_ += lse_r - lr[next_token];
        nll_q_ += lse_q - lq[next_token];
        ++n_nll_;
    }
}

TextAudit TextAccumulator::finish() const {
    TextAudit t;
    t.n_positions = int(kl_.size());
    t.kl = kl_;
    if (kl_.empty()) return t;
    std::vector<double> s = kl_;
    std::sort(s.begin(), s.end());
    double sum = 0;
    for (double v : s) sum += v;
    t.kl_mean = sum / double(s.size());
    size_t n = s.size();
    t.kl_median = n % 2 ? s[n / 2] : 0.5 * (s[n / 2 - 1] + s[n / 2]);
    // nearest-rank percentile: the smallest value with at least 99% of the values at or below it
    size_t rank = size_t(std::ceil(0.99 * double(n)));
    t.kl_p99 = s[std::max<size_t>(rank, 1) - 1];
    t.kl_max = s.back();
    t.top1_agreement = double(agree_) / double(n);
    t.ppl_ref = n_nll_ ? std::exp(nll_ref_ / double(n_nll_)) : 0;
    t.ppl_quant = n_nll_ ? std::exp(nll_q_ / double(n_nll_)) : 0;
    return t;
}

void check_compatible(const Model& ref, const Model& quant) {
    const ModelConfig &a = ref.config(), &b = quant.config();
    auto same = [&](const char* what, int64_t x, int64_t y) {
        if (x != y)
            fail("the models differ in %s (%" PRId64 " in %s, %" PRId64 " in %s): they cannot be compared token by "
                 "token",
                 what, x, ref.file().path().c_str(), y, quant.file().path().c_str());
    };
    same("vocabulary size", a.n_vocab, b.n_vocab);
    same("embedding length", a.n_embd, b.n_embd);
    same("layer count", a.n_layer, b.n_layer);
    same("head count", a.n_head, b.n_head);
    same("KV head count", a.n_head_kv, b.n_head_kv);
    same("feed-forward length", a.n_ff, b.n_ff);
    const Tokenizer &ta = ref.tokenizer(), &tb = quant.tokenizer();
    same("tokenizer vocabulary size", ta.n_vocab(), tb.n_vocab());
    if (ta.model_name() != tb.model_name())
        fail("the models use different tokenizers (%s vs %s)", escape_text(ta.model_name()).c_str(), escape_text(tb.model_name()).c_str());
    for (int32_t i = 0; i < ta.n_vocab(); ++i)
        if (ta.token_text(i) != tb.token_text(i))
            fail("the models' tokenizers differ at token %d (\"%s\" vs \"%s\")", i, escape_text(ta.token_text(i)).c_str(),
                 escape_text(tb.token_text(i)).c_str());
}

TextAudit audit_text(Session& cr, Session& cq, const std::vector<int32_t>& ids_in, int n_ctx) {
    const Model &ref = cr.model(), &quant = cq.model();
    check_compatible(ref, quant);
    if (n_ctx < 2) fail("audit: --ctx %d: need at least 2 tokens", n_ctx);
    std::vector<int32_t> ids = ids_in;
    if (int(ids.size()) > n_ctx) ids.resize(size_t(n_ctx));
    if (ids.size() < 2) fail("audit: the text has %zu token(s); need at least 2", ids.size());
    const int n = int(ids.size());
    const int n_vocab = ref.config().n_vocab;
    if (cr.n_ctx() < n || cq.n_ctx() < n) fail("audit: the sessions hold %d / %d positions; %d are needed", cr.n_ctx(), cq.n_ctx(), n);
    cr.clear();
    cq.clear();
    TextAccumulator acc;
    const int chunk = 64;  // bounded memory: two chunks of logits at a time
    Progress bar("audit", "tokens", "tok/s (both models)");
    for (int p0 = 0; p0 < n; p0 += chunk) {
        int m = std::min(chunk, n - p0);
        const float* lr = cr.eval(ids.data() + p0, m, true);
        const float* lq = cq.eval(ids.data() + p0, m, true);
        for (int j = 0; j < m; ++j) {
            int pos = p0 + j;
            acc.add(lr + int64_t(j) * n_vocab, lq + int64_t(j) * n_vocab, n_vocab, pos + 1 < n ? ids[size_t(pos + 1)] : -1);
        }
        bar.update(double(p0 + m), double(n));
    }
    bar.finish();
    TextAudit t = acc.finish();
    t.n_tokens = n;
    return t;
}

// ---- output ----

namespace {

std::string fmt_num(double v, const char* f = "%.4g") {
    if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
    if (std::isnan(v)) return "nan";
    return strfmt(f, v);
}

// JSON has no inf / nan: write null there.
json::Value jnum(double v) { return std::isfinite(v) ? json::Value(v) : json::Value(); }

json::Value err_json(const ErrorSums& e) {
    json::Value o = json::Value::object();
    o.set("n_elements", json::Value(e.n));
    o.set("bytes", json::Value(int64_t(e.bytes)));
    o.set("bpw", jnum(e.bpw()));
    o.set("rmse", jnum(e.rmse()));
    o.set("max_abs_err", jnum(e.max_abs_err));
    o.set("snr_db", jnum(e.snr_db()));
    o.set("rel_fro", jnum(e.rel_fro()));
    return o;
}

std::string err_cols(const ErrorSums& e) {
    return strfmt("%6.3f  %10s  %10s  %8s  %10s", e.bpw(), fmt_num(e.rmse(), "%.3e").c_str(),
                  fmt_num(e.max_abs_err, "%.3e").c_str(), fmt_num(e.snr_db(), "%.2f").c_str(),
                  fmt_num(e.rel_fro(), "%.3e").c_str());
}

}  // namespace

std::string format_report(const Report& r) {
    std::string o;
    o += "reference: " + r.ref_path + "\nquantized: " + r.quant_path + "\n\n";
    size_t w = 6;
    for (const auto& t : r.tensors) w = std::max(w, t.name.size());
    const char* cols = "   bpw        RMSE    max|err|    SNR dB     rel.err";
    o += strfmt("%-*s  %-6s -> %-6s%s\n", int(w), "tensor", "ref", "quant", cols);
    for (const auto& t : r.tensors)
        o += strfmt("%-*s  %-6s -> %-6s  %s\n", int(w), t.name.c_str(), type_name(t.ref_type), t.q_type_name(),
                    err_cols(t.err).c_str());
    o += strfmt("\n%-8s %7s%s\n", "layer", "tensors", cols);
    for (const auto& g : r.by_layer) o += strfmt("%-8s %7d  %s\n", g.key.c_str(), g.n_tensors, err_cols(g.err).c_str());
    o += strfmt("\n%-14s %7s%s\n", "kind", "tensors", cols);
    for (const auto& g : r.by_kind) o += strfmt("%-14s %7d  %s\n", g.key.c_str(), g.n_tensors, err_cols(g.err).c_str());
    o += strfmt("\n%-22s %s\n", "all tensors", err_cols(r.total).c_str());
    o += strfmt("%-22s %s\n", "quantized tensors only", err_cols(r.total_quantized).c_str());
    if (r.text) {
        const TextAudit& t = *r.text;
        o += strfmt("\ntext: %d tokens\n", t.n_tokens);
        o += strfmt("  KL(ref || quant) per position: mean %.6f  median %.6f  p99 %.6f  max %.6f\n", t.kl_mean,
                    t.kl_median, t.kl_p99, t.kl_max);
        o += strfmt("  top-1 agreement: %.2f%% of %d positions\n", 100.0 * t.top1_agreement, t.n_positions);
        o += strfmt("  perplexity: reference %.4f, quantized %.4f (%+.2f%%)\n", t.ppl_ref, t.ppl_quant,
                    t.ppl_ref > 0 ? 100.0 * (t.ppl_quant / t.ppl_ref - 1) : 0.0);
    }
    return o;
}

json::Value to_json(const Report& r) {
    json::Value root = json::Value::object();
    root.set("reference", json::Value(r.ref_path));
    root.set("quantized", json::Value(r.quant_path));
    json::Value tensors = json::Value::array();
    for (const auto& t : r.tensors) {
        json::Value o = json::Value::object();
        o.set("name", json::Value(t.name));
        o.set("kind", json::Value(t.kind));
        o.set("layer", t.layer >= 0 ? json::Value(t.layer) : json::Value());
        o.set("ref_type", json::Value(type_name(t.ref_type)));
        o.set("quant_type", json::Value(t.q_type_name()));
        json::Value shape = json::Value::array();
        for (int64_t d : t.shape) shape.push_back(json::Value(d));
        o.set("shape", shape);
        const json::Value e = err_json(t.err);  // named: a temporary would die before the loop body
        for (const auto& [k, v] : e.as_object()) o.set(k, v);
        tensors.push_back(o);
    }
    root.set("tensors", tensors);
    auto groups = [](const std::vector<GroupAudit>& gs, const char* key_name) {
        json::Value a = json::Value::array();
        for (const auto& g : gs) {
            json::Value o = json::Value::object();
            o.set(key_name, json::Value(g.key));
            o.set("n_tensors", json::Value(g.n_tensors));
            const json::Value e = err_json(g.err);
            for (const auto& [k, v] : e.as_object()) o.set(k, v);
            a.push_back(o);
        }
        return a;
    };
    root.set("by_layer", groups(r.by_layer, "layer"));
    root.set("by_kind", groups(r.by_kind, "kind"));
    root.set("total", err_json(r.total));
    root.set("total_quantized", err_json(r.total_quantized));
    if (r.text) {
        const TextAudit& t = *r.text;
        json::Value o = json::Value::object();
        o.set("n_tokens", json::Value(t.n_tokens));
        o.set("n_positions", json::Value(t.n_positions));
        o.set("kl_mean", jnum(t.kl_mean));
        o.set("kl_median", jnum(t.kl_median));
        o.set("kl_p99", jnum(t.kl_p99));
        o.set("kl_max", jnum(t.kl_max));
        o.set("top1_agreement", jnum(t.top1_agreement));
        o.set("ppl_ref", jnum(t.ppl_ref));
        o.set("ppl_quant", jnum(t.ppl_quant));
        json::Value kl = json::Value::array();
        for (double v : t.kl) kl.push_back(jnum(v));
        o.set("kl_per_position", kl);
        root.set("text", o);
    } else {
        root.set("text", json::Value());
    }
    return root;
}

std::string to_svg(const Report& r) {
    // Columns: layers 0..L-1, then one column for tensors outside the layers. Rows: tensor kinds.
    int n_layer = 0;
    bool has_other = false;
    std::vector<std::string> kinds;
    for (const auto& t : r.tensors) {
        if (t.layer >= 0) n_layer = std::max(n_layer, t.layer + 1);
        else has_other = true;
        if (std::find(kinds.begin(), kinds.end(), t.kind) == kinds.end()) kinds.push_back(t.kind);
    }
    const int n_cols = n_layer + (has_other ? 1 : 0);
    // Log colour scale over the cells that changed.
    double lo = INFINITY, hi = -INFINITY;
    for (const auto& t : r.tensors) {
        double e = t.err.rel_fro();
        if (e > 0 && std::isfinite(e)) {
            lo = std::min(lo, std::log10(e));
            hi = std::max(hi, std::log10(e));
        }
    }
    if (!(lo <= hi)) lo = hi = -3;
    if (hi - lo < 1e-6) { lo -= 0.5; hi += 0.5; }

    const double cell_w = std::clamp(640.0 / std::max(n_cols, 1), 14.0, 48.0), cell_h = 22;
    const double left = 130, top = 60, legend_h = 90;
    const double width = left + cell_w * n_cols + 40, height = top + cell_h * double(kinds.size()) + 50 + legend_h;
    svg::Doc d(std::max(width, 460.0), height);
    d.text(10, 22, "Relative error ||q - ref|| / ||ref|| by layer and tensor kind", 15);
    d.text(10, 42, r.quant_path + " vs " + r.ref_path, 11, "start", 0, "#555");
    for (size_t k = 0; k < kinds.size(); ++k)
        d.text(left - 6, top + cell_h * double(k) + cell_h * 0.7, kinds[k], 11, "end");
    for (int c = 0; c < n_cols; ++c) {
        std::string label = c < n_layer ? std::to_string(c) : "other";
        double x = left + cell_w * (c + 0.5), y = top + cell_h * double(kinds.size()) + 14;
        if (c < n_layer && n_layer > 24 && c % 2) continue;  // keep labels legible on deep models
        d.text(x, y, label, 10, "middle");
    }
    d.text(left + cell_w * n_cols / 2, top + cell_h * double(kinds.size()) + 32, "layer", 12, "middle");
    d.text(16, top + cell_h * double(kinds.size()) / 2, "tensor kind", 12, "middle", -90);
    for (const auto& t : r.tensors) {
        int c = t.layer >= 0 ? t.layer : n_layer;
        size_t k = size_t(std::find(kinds.begin(), kinds.end(), t.kind) - kinds.begin());
        double e = t.err.rel_fro();
        std::string color = e > 0 && std::isfinite(e) ? svg::ramp_color((std::log10(e) - lo) / (hi - lo))
                                                      : (e == 0 ? "#d0d0d0" : "#ff0000");
        std::string tip = strfmt("%s: %s -> %s, rel.err %s, SNR %s dB", t.name.c_str(), type_name(t.ref_type),
                                 t.q_type_name(), fmt_num(e, "%.3e").c_str(), fmt_num(t.err.snr_db(), "%.2f").c_str());
        d.rect(left + cell_w * c, top + cell_h * double(k), cell_w - 1, cell_h - 1, color, tip);
    }
    // Legend: the colour ramp with log10 ticks, and the grey of unchanged tensors.
    const double ly = top + cell_h * double(kinds.size()) + 50, lw = 300;
    std::vector<std::pair<double, std::string>> stops;
    for (int i = 0; i <= 8; ++i) stops.push_back({i / 8.0, svg::ramp_color(i / 8.0)});
    d.linear_gradient("ramp", stops);
    d.text(left, ly, "relative error (log scale)", 11);
    d.rect(left, ly + 6, lw, 14, "url(#ramp)", "", "#888");
    for (int i = 0; i <= 4; ++i) {
        double v = lo + (hi - lo) * i / 4.0;
        double x = left + lw * i / 4.0;
        d.line(x, ly + 20, x, ly + 25, "#444");
        d.text(x, ly + 37, strfmt("%.1e", std::pow(10.0, v)), 10, "middle");
    }
    d.rect(left + lw + 20, ly + 6, 14, 14, "#d0d0d0", "", "#888");
    d.text(left + lw + 40, ly + 17, "unchanged", 10);
    return d.str();
}

// ---- the built-in text ----

const char* default_text() {
    // Short passages in several languages and scripts, plus numbers and code, so that an audit touches many
    // kinds of tokens. Written for slm (no external source).
    return
        "The quick brown fox jumps over the lazy dog while the baker on the corner takes the first loaves out of "
        "the oven. Quantization trades a little accuracy for a lot of memory: a weight stored in four bits "
        "instead of sixteen makes the model four times smaller.\n"
        "Der Zug nach Berlin fährt um halb neun vom Gleis sieben ab; bitte denken Sie an Ihre Fahrkarte und "
        "an einen Regenschirm, denn es soll den ganzen Tag regnen.\n"
        "Le marché ouvre tôt le samedi matin. On y trouve des fromages, du pain frais et des fraises qui "
        "sentent l'été, et les enfants choisissent toujours les plus rouges.\n"
        "¿Dónde está la biblioteca? Necesito devolver tres libros antes del viernes, o tendré que pagar una "
        "multa pequeña pero molesta.\n"
        "Oggi il cielo è limpido e la montagna sembra vicinissima; prendiamo il sentiero che passa accanto al "
        "lago e torniamo prima del tramonto.\n"
        "Obrigado pela ajuda com a mudança! Amanhã levo o café e os bolos para todos.\n"
        "Как пройти к вокзалу? Идите прямо до светофора, потом поверните налево и через пять минут увидите "
        "большое здание с часами.\n"
        "今日は朝から雨が降っています。図書館で本を読んでから、友達と駅の近くで昼ご飯を食べる予定です。\n"
        "我们明天早上八点在公园门口见面，然后一起去爬山。记得带水和一点吃的。\n"
        "오늘 저녁에는 가족과 함께 집에서 김치찌개를 만들어 먹을 거예요.\n"
        "السلام عليكم، هل يمكنك أن تخبرني متى يفتح المتحف غدا؟\n"
        "नमस्ते! कल सुबह हम बाज़ार जाएंगे और ताज़ी सब्ज़ियाँ खरीदेंगे।\n"
        "Order #48213: 3 x T-shirt (size M) at 12.99 EUR, 1 x mug at 7.50 EUR; total 46.47 EUR incl. 19% VAT.\n"
        "def mean(xs):\n    return sum(xs) / len(xs) if xs else 0.0\n\nprint(mean([1, 2, 3, 4]))  # 2.5\n";
}

}  // namespace slm::audit
