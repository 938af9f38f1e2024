#include "intent/schema.h"

#include "common.h"

namespace slm::intent {

const std::vector<ActionRule>& actions() {
    // SPEC.md's table, in its order. The constrained decoder and the validator both read these rules.
    static const std::vector<ActionRule> k = {
        {"add_to_cart", Need::required, Need::optional, "put items in the cart"},
        {"remove_from_cart", Need::required, Need::optional, "take items out of the cart"},
        {"view_cart", Need::null, Need::null, "show what is in the cart"},
        {"checkout", Need::null, Need::null, "pay / place the order now"},
        {"search_product", Need::required, Need::null, "look for / browse a product"},
        {"get_price", Need::required, Need::null, "ask what a product costs"},
        {"track_order", Need::null, Need::null, "where is my order / delivery status"},
        {"cancel_order", Need::null, Need::null, "cancel an order"},
        {"return_product", Need::optional, Need::optional, "send something back / refund"},
        {"other", Need::null, Need::null, "anything outside shopping (greetings, weather, jokes)"},
    };
    return k;
}

int num_actions() { return int(actions().size()); }

int action_index(std::string_view name) {
    const auto& a = actions();
    for (size_t i = 0; i < a.size(); i++)
        if (name == a[i].name) return int(i);
    return -1;
}

int Catalog::index(std::string_view id) const {
    for (size_t i = 0; i < products.size(); i++)
        if (products[i].id == id) return int(i);
    return -1;
}

static std::vector<std::string> split(std::string_view s, std::string_view sep) {
    std::vector<std::string> out;
    size_t start = 0;
    for (;;) {
        size_t p = s.find(sep, start);
        out.emplace_back(s.substr(start, p == std::string_view::npos ? std::string_view::npos : p - start));
        if (p == std::string_view::npos) break;
        start = p + sep.size();
    }
    return out;
}

Catalog parse_catalog(std::string_view tsv, const std::string& source) {
    Catalog cat;
    size_t line_no = 0, pos = 0;
    while (pos < tsv.size()) {
        size_t nl = tsv.find('\n', pos);
        std::string_view line = tsv.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
        pos = nl == std::string_view::npos ? tsv.size() : nl + 1;
        line_no++;
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        if (line.empty()) continue;
        auto cols = split(line, "\t");
        if (line_no == 1) {
            if (cols.size() < 3 || cols[0] != "id" || cols[1] != "category")
                fail("%s line 1: expected the header \"id<TAB>category<TAB>LANG...\"", source.c_str());
            cat.languages.assign(cols.begin() + 2, cols.end());
            continue;
        }
        if (cols.size() != cat.languages.size() + 2)
            fail("%s line %zu: expected %zu tab-separated columns, found %zu", source.c_str(), line_no,
                 cat.languages.size() + 2, cols.size());
        Product p;
        p.id = cols[0];
        p.category = cols[1];
        if (p.id.empty()) fail("%s line %zu: empty product id", source.c_str(), line_no);
        if (cat.index(p.id) >= 0) fail("%s line %zu: duplicate product id \"%s\"", source.c_str(), line_no, p.id.c_str());
        for (size_t l = 0; l < cat.languages.size(); l++) {
            auto words = split(cols[2 + l], ", ");
            for (const auto& w : words)
                if (w.empty())
                    fail("%s line %zu: empty product word in column %s", source.c_str(), line_no, cat.languages[l].c_str());
            p.words.push_back(std::move(words));
        }
        cat.products.push_back(std::move(p));
    }
    if (cat.languages.empty()) fail("%s: empty catalog (no header row)", source.c_str());
    if (cat.products.empty()) fail("%s: the catalog lists no products", source.c_str());
    return cat;
}

std::string_view embedded_catalog_tsv() {
    static const char* const k =
#include "intent/catalog.inc"
        ;
    return k;
}

const Catalog& catalog() {
    static const Catalog k = parse_catalog(embedded_catalog_tsv(), "embedded catalog (src/intent_catalog.inc)");
    return k;
}

json::Value to_json(const Answer& a) {
    json::Value v = json::Value::object();
    v.set("action", a.action);
    v.set("product", a.product ? json::Value(*a.product) : json::Value());
    v.set("quantity", a.quantity ? json::Value(*a.quantity) : json::Value());
    return v;
}

std::string canonical_text(const Answer& a) { return to_json(a).dump(); }

static bool no(std::string* why, std::string msg) {
    if (why) *why = std::move(msg);
    return false;
}

bool validate(const json::Value& v, std::string* why) {
    if (!v.is_object()) return no(why, "not a JSON object");
    for (const auto& kv : v.as_object())
        if (kv.first != "action" && kv.first != "product" && kv.first != "quantity")
            return no(why, strfmt("unexpected key \"%s\"", kv.first.c_str()));
    const json::Value* act = v.find("action");
    const json::Value* prod = v.find("product");
    const json::Value* qty = v.find("quantity");
    if (!act || !prod || !qty) return no(why, "the keys action, product and quantity must all be present");
    if (!act->is_string()) return no(why, "action is not a string");
    int ai = action_index(act->as_string());
    if (ai < 0) return no(why, strfmt("unknown action \"%s\"", act->as_string().c_str()));
    const ActionRule& rule = actions()[size_t(ai)];

    if (prod->is_null()) {
        if (rule.product == Need::required) return no(why, strfmt("%s needs a product", rule.name));
    } else if (prod->is_string()) {
        if (catalog().index(prod->as_string()) < 0)
            return no(why, strfmt("product \"%s\" is not a catalog id", prod->as_string().c_str()));
        if (rule.product == Need::null) return no(why, strfmt("%s takes no product (null)", rule.name));
    } else {
        return no(why, "product is neither a string nor null");
    }

    if (qty->is_null()) return true;
    if (!qty->is_integer()) return no(why, "quantity is neither an integer nor null");
    if (qty->as_int() < 1 || qty->as_int() > kMaxQuantity)
        return no(why, strfmt("quantity %lld is outside [1, %lld]", (long long)qty->as_int(), (long long)kMaxQuantity));
    if (rule.quantity == Need::null) return no(why, strfmt("%s takes no quantity (null)", rule.name));
    return true;
}

bool parse_reply(std::string_view reply, json::Value* out, std::string* why) {
    json::Value v;
    if (!json::try_parse(reply, &v, why)) return false;
    if (!v.is_object()) return no(why, "the reply is JSON but not an object");
    if (out) *out = std::move(v);
    return true;
}

// Field agreement: same JSON type and value; a quantity must be an integer (2.0 is not the integer 2).
static bool field_equal(const json::Value* pred, const json::Value& gold) {
    if (!pred) return false;
    if (gold.is_number() && !pred->is_integer()) return false;
    return *pred == gold;
}

Grade grade(std::string_view reply, const json::Value& gold) {
    Grade g;
    json::Value pred;
    if (!parse_reply(reply, &pred)) return g;
    g.valid_json = true;
    g.valid_schema = validate(pred);
    if (const json::Value* a = pred.find("action"); a && a->is_string()) g.pred_action = a->as_string();
    g.action = field_equal(pred.find("action"), gold.at("action"));
    g.product = field_equal(pred.find("product"), gold.at("product"));
    g.quantity = field_equal(pred.find("quantity"), gold.at("quantity"));
    g.exact = g.valid_schema && pred == gold;
    return g;
}

static std::string join_ids(const std::vector<std::string>& v) {
    std::string s;
    for (size_t i = 0; i < v.size(); i++) s += (i ? ", " : "") + v[i];
    return s;
}

const std::string& system_prompt() {
    static const std::string k = [] {
        std::vector<std::string> all, prod_required, qty_null;
        for (const auto& a : actions()) {
            all.push_back(a.name);
            if (a.product == Need::required) prod_required.push_back(a.name);
            if (a.quantity == Need::null) qty_null.push_back(a.name);
        }
        std::vector<std::string> ids;
        for (const auto& p : catalog().products) ids.push_back(p.id);
        std::string s =
            "You read one message from a shopper (English, Spanish, German, French, Italian, Portuguese, or a mix) "
            "and reply with exactly one JSON object and nothing else, with the keys in this order: "
            "{\"action\": ACTION, \"product\": PRODUCT, \"quantity\": QUANTITY}.\n";
        s += "ACTION is one of: " + join_ids(all) + ".\n";
        s += "PRODUCT is the catalog id of the product the message is about, whatever the language, spelling or "
             "plural, or null. It is required for " + join_ids(prod_required) +
             ", optional for return_product, and null for the other actions. Catalog ids: " + join_ids(ids) + ".\n";
        s += "QUANTITY is the integer number of items the message states (digits or number words; a word for "
             "\"a\"/\"one\" counts as 1), or null when none is stated. It is always null for " + join_ids(qty_null) +
             ".";
        return s;
    }();
    return k;
}

}  // namespace slm::intent
