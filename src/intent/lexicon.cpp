#include "intent/lexicon.h"

#include <cctype>

#include "common.h"
#include "intent/schema.h"

namespace slm::intent {

const std::vector<std::string>& languages() {
    static const std::vector<std::string> k = {"en", "es", "de", "fr", "it", "pt"};
    return k;
}

int language_index(const std::string& code) {
    for (size_t i = 0; i < languages().size(); i++)
        if (languages()[i] == code) return int(i);
    return -1;
}

namespace {

// One row per catalog id; per language "singular|plural|gender" entries separated by ';'. An empty singular
// marks a plural-only word. en/es/de/fr include the catalog's words (plural forms and genders added here);
// it/pt are ours.
struct Row {
    const char* id;
    const char* w[6];
};
const Row kRows[] = {
    {"t-shirt", {"t-shirt|t-shirts|m;tee|tees|m", "camiseta|camisetas|f;playera|playeras|f", "T-Shirt|T-Shirts|n",
                 "t-shirt|t-shirts|m;tee-shirt|tee-shirts|m", "maglietta|magliette|f;t-shirt|t-shirt|f",
                 "camiseta|camisetas|f;t-shirt|t-shirts|f"}},
    {"jeans", {"|jeans|m", "|vaqueros|m;|jeans|m", "|Jeans|f", "jean|jeans|m", "|jeans|m", "calça jeans|calças jeans|f"}},
    {"dress", {"dress|dresses|m", "vestido|vestidos|m", "Kleid|Kleider|n", "robe|robes|f", "vestito|vestiti|m",
               "vestido|vestidos|m"}},
    {"jacket", {"jacket|jackets|m", "chaqueta|chaquetas|f", "Jacke|Jacken|f", "veste|vestes|f", "giacca|giacche|f",
                "jaqueta|jaquetas|f"}},
    {"hoodie", {"hoodie|hoodies|m", "sudadera|sudaderas|f", "Kapuzenpullover|Kapuzenpullover|m;Hoodie|Hoodies|m",
                "sweat à capuche|sweats à capuche|m", "felpa con cappuccio|felpe con cappuccio|f", "moletom|moletons|m"}},
    {"sweater", {"sweater|sweaters|m;jumper|jumpers|m", "suéter|suéteres|m;jersey|jerséis|m", "Pullover|Pullover|m",
                 "pull|pulls|m", "maglione|maglioni|m", "suéter|suéteres|m"}},
    {"socks", {"sock|socks|m", "calcetín|calcetines|m", "Socke|Socken|f", "chaussette|chaussettes|f",
               "calzino|calzini|m", "meia|meias|f"}},
    {"sneakers", {"sneaker|sneakers|m;trainer|trainers|m", "zapatilla|zapatillas|f", "Turnschuh|Turnschuhe|m;Sneaker|Sneaker|m",
                  "basket|baskets|f", "scarpa da ginnastica|scarpe da ginnastica|f;sneaker|sneakers|f", "tênis|tênis|m"}},
    {"boots", {"boot|boots|m", "bota|botas|f", "Stiefel|Stiefel|m", "botte|bottes|f", "stivale|stivali|m", "bota|botas|f"}},
    {"sandals", {"sandal|sandals|m", "sandalia|sandalias|f", "Sandale|Sandalen|f", "sandale|sandales|f",
                 "sandalo|sandali|m", "sandália|sandálias|f"}},
    {"backpack", {"backpack|backpacks|m", "mochila|mochilas|f", "Rucksack|Rucksäcke|m", "sac à dos|sacs à dos|m",
                  "zaino|zaini|m", "mochila|mochilas|f"}},
    {"handbag", {"handbag|handbags|m;purse|purses|m", "bolso|bolsos|m", "Handtasche|Handtaschen|f",
                 "sac à main|sacs à main|m", "borsa|borse|f", "bolsa|bolsas|f"}},
    {"wallet", {"wallet|wallets|m", "cartera|carteras|f", "Geldbörse|Geldbörsen|f", "portefeuille|portefeuilles|m",
                "portafoglio|portafogli|m", "carteira|carteiras|f"}},
    {"watch", {"watch|watches|m", "reloj|relojes|m", "Uhr|Uhren|f", "montre|montres|f", "orologio|orologi|m",
               "relógio|relógios|m"}},
    {"sunglasses", {"|sunglasses|m", "|gafas de sol|f", "Sonnenbrille|Sonnenbrillen|f", "|lunettes de soleil|f",
                    "|occhiali da sole|m", "|óculos de sol|m"}},
    {"smartphone", {"phone|phones|m;smartphone|smartphones|m", "teléfono|teléfonos|m;móvil|móviles|m",
                    "Handy|Handys|n;Smartphone|Smartphones|n", "téléphone|téléphones|m;portable|portables|m",
                    "telefono|telefoni|m;cellulare|cellulari|m;smartphone|smartphone|m",
                    "celular|celulares|m;telemóvel|telemóveis|m;smartphone|smartphones|m"}},
    {"laptop", {"laptop|laptops|m;notebook|notebooks|m", "portátil|portátiles|m", "Laptop|Laptops|m;Notebook|Notebooks|n",
                "ordinateur portable|ordinateurs portables|m", "portatile|portatili|m;laptop|laptop|m",
                "notebook|notebooks|m;portátil|portáteis|m"}},
    {"tablet", {"tablet|tablets|m", "tableta|tabletas|f", "Tablet|Tablets|n", "tablette|tablettes|f", "tablet|tablet|m",
                "tablet|tablets|m"}},
    {"headphones", {"|headphones|m", "auricular|auriculares|m", "Kopfhörer|Kopfhörer|m", "casque|casques|m",
                    "cuffia|cuffie|f", "fone de ouvido|fones de ouvido|m"}},
    {"earbuds", {"earbud|earbuds|m", "audífono inalámbrico|audífonos inalámbricos|m", "Ohrhörer|Ohrhörer|m",
                 "écouteur|écouteurs|m", "auricolare|auricolari|m", "auricular|auriculares|m"}},
    {"charger", {"charger|chargers|m", "cargador|cargadores|m", "Ladegerät|Ladegeräte|n", "chargeur|chargeurs|m",
                 "caricabatterie|caricabatterie|m;caricatore|caricatori|m", "carregador|carregadores|m"}},
    {"phone case", {"phone case|phone cases|m", "funda|fundas|f", "Handyhülle|Handyhüllen|f", "coque|coques|f",
                    "cover|cover|f;custodia|custodie|f", "capinha|capinhas|f;capa de celular|capas de celular|f"}},
    {"smartwatch", {"smartwatch|smartwatches|m", "reloj inteligente|relojes inteligentes|m", "Smartwatch|Smartwatches|f",
                    "montre connectée|montres connectées|f", "smartwatch|smartwatch|m",
                    "relógio inteligente|relógios inteligentes|m;smartwatch|smartwatches|m"}},
    {"keyboard", {"keyboard|keyboards|m", "teclado|teclados|m", "Tastatur|Tastaturen|f", "clavier|claviers|m",
                  "tastiera|tastiere|f", "teclado|teclados|m"}},
    {"mouse", {"mouse|mice|m", "ratón|ratones|m", "Maus|Mäuse|f", "souris|souris|f", "mouse|mouse|m",
               "mouse|mouses|m;rato|ratos|m"}},
    {"monitor", {"monitor|monitors|m;screen|screens|m", "monitor|monitores|m", "Monitor|Monitore|m;Bildschirm|Bildschirme|m",
                 "écran|écrans|m", "monitor|monitor|m;schermo|schermi|m", "monitor|monitores|m;tela|telas|f"}},
    {"camera", {"camera|cameras|m", "cámara|cámaras|f", "Kamera|Kameras|f", "appareil photo|appareils photo|m",
                "fotocamera|fotocamere|f", "câmera|câmeras|f"}},
    {"blender", {"blender|blenders|m", "licuadora|licuadoras|f", "Mixer|Mixer|m", "mixeur|mixeurs|m",
                 "frullatore|frullatori|m", "liquidificador|liquidificadores|m"}},
    {"coffee maker", {"coffee maker|coffee makers|m", "cafetera|cafeteras|f", "Kaffeemaschine|Kaffeemaschinen|f",
                      "cafetière|cafetières|f", "macchina del caffè|macchine del caffè|f", "cafeteira|cafeteiras|f"}},
    {"toaster", {"toaster|toasters|m", "tostadora|tostadoras|f", "Toaster|Toaster|m", "grille-pain|grille-pain|m",
                 "tostapane|tostapane|m", "torradeira|torradeiras|f"}},
    {"frying pan", {"frying pan|frying pans|m;pan|pans|m", "sartén|sartenes|f", "Pfanne|Pfannen|f", "poêle|poêles|f",
                    "padella|padelle|f", "frigideira|frigideiras|f"}},
    {"towel", {"towel|towels|m", "toalla|toallas|f", "Handtuch|Handtücher|n", "serviette|serviettes|f",
               "asciugamano|asciugamani|m", "toalha|toalhas|f"}},
    {"pillow", {"pillow|pillows|m", "almohada|almohadas|f", "Kissen|Kissen|n", "oreiller|oreillers|m",
                "cuscino|cuscini|m", "travesseiro|travesseiros|m;almofada|almofadas|f"}},
    {"lamp", {"lamp|lamps|m", "lámpara|lámparas|f", "Lampe|Lampen|f", "lampe|lampes|f", "lampada|lampade|f",
              "luminária|luminárias|f;candeeiro|candeeiros|m"}},
    {"water bottle", {"water bottle|water bottles|m", "botella de agua|botellas de agua|f", "Trinkflasche|Trinkflaschen|f",
                      "gourde|gourdes|f", "borraccia|borracce|f", "garrafa de água|garrafas de água|f"}},
    {"yoga mat", {"yoga mat|yoga mats|m", "esterilla de yoga|esterillas de yoga|f", "Yogamatte|Yogamatten|f",
                  "tapis de yoga|tapis de yoga|m", "tappetino da yoga|tappetini da yoga|m", "tapete de yoga|tapetes de yoga|m"}},
    {"dumbbells", {"dumbbell|dumbbells|m", "mancuerna|mancuernas|f", "Hantel|Hanteln|f", "haltère|haltères|m",
                   "manubrio|manubri|m", "haltere|halteres|m"}},
    {"football", {"football|footballs|m;soccer ball|soccer balls|m", "balón de fútbol|balones de fútbol|m",
                  "Fußball|Fußbälle|m", "ballon de foot|ballons de foot|m", "pallone da calcio|palloni da calcio|m",
                  "bola de futebol|bolas de futebol|f"}},
    {"shampoo", {"shampoo|shampoos|m", "champú|champús|m", "Shampoo|Shampoos|n", "shampooing|shampooings|m",
                 "shampoo|shampoo|m", "xampu|xampus|m;champô|champôs|m"}},
    {"perfume", {"perfume|perfumes|m", "perfume|perfumes|m", "Parfüm|Parfüms|n", "parfum|parfums|m",
                 "profumo|profumi|m", "perfume|perfumes|m"}},
    {"lipstick", {"lipstick|lipsticks|m", "pintalabios|pintalabios|m", "Lippenstift|Lippenstifte|m",
                  "rouge à lèvres|rouges à lèvres|m", "rossetto|rossetti|m", "batom|batons|m"}},
    {"toothpaste", {"toothpaste|toothpastes|m", "pasta de dientes|pastas de dientes|f", "Zahnpasta|Zahnpasten|f",
                    "dentifrice|dentifrices|m", "dentifricio|dentifrici|m",
                    "pasta de dentes|pastas de dentes|f;creme dental|cremes dentais|m"}},
    {"book", {"book|books|m", "libro|libros|m", "Buch|Bücher|n", "livre|livres|m", "libro|libri|m", "livro|livros|m"}},
    {"board game", {"board game|board games|m", "juego de mesa|juegos de mesa|m", "Brettspiel|Brettspiele|n",
                    "jeu de société|jeux de société|m", "gioco da tavolo|giochi da tavolo|m",
                    "jogo de tabuleiro|jogos de tabuleiro|m"}},
    {"teddy bear", {"teddy bear|teddy bears|m", "osito de peluche|ositos de peluche|m", "Teddybär|Teddybären|m",
                    "ours en peluche|ours en peluche|m", "orsacchiotto|orsacchiotti|m;peluche|peluche|m",
                    "ursinho de pelúcia|ursinhos de pelúcia|m"}},
    {"coffee", {"coffee|coffees|m", "café|cafés|m", "Kaffee|Kaffees|m", "café|cafés|m", "caffè|caffè|m", "café|cafés|m"}},
    {"apple", {"apple|apples|m", "manzana|manzanas|f", "Apfel|Äpfel|m", "pomme|pommes|f", "mela|mele|f", "maçã|maçãs|f"}},
    {"milk", {"milk|milk|m", "leche|leche|f", "Milch|Milch|f", "lait|lait|m", "latte|latte|m", "leite|leite|m"}},
};

std::vector<std::string> split_on(const std::string& s, char sep) {
    std::vector<std::string> out;
    size_t start = 0;
    for (;;) {
        size_t p = s.find(sep, start);
        out.push_back(s.substr(start, p == std::string::npos ? std::string::npos : p - start));
        if (p == std::string::npos) return out;
        start = p + 1;
    }
}

// [product][lang] -> nouns, in catalog order; built once and checked against the catalog's ids.
std::vector<std::vector<std::vector<Noun>>> build_table() {
    const Catalog& cat = catalog();
    std::vector<std::vector<std::vector<Noun>>> t(cat.products.size());
    for (const Row& r : kRows) {
        int p = cat.index(r.id);
        if (p < 0) fail("intent lexicon: \"%s\" is not a catalog id", r.id);
        t[size_t(p)].resize(languages().size());
        for (size_t l = 0; l < languages().size(); l++) {
            for (const auto& entry : split_on(r.w[l], ';')) {
                auto f = split_on(entry, '|');
                if (f.size() != 3 || f[1].empty() || f[2].size() != 1)
                    fail("intent lexicon: bad entry \"%s\" for %s", entry.c_str(), r.id);
                t[size_t(p)][l].push_back(Noun{f[0], f[1], f[2][0]});
            }
        }
    }
    for (size_t p = 0; p < t.size(); p++)
        if (t[p].empty()) fail("intent lexicon: no words for catalog id \"%s\"", cat.products[p].id.c_str());
    return t;
}

bool starts_with(const std::string& s, const char* prefix) { return s.rfind(prefix, 0) == 0; }

// Vowel-initial for elision and "an": ASCII vowels plus the accented ones our words start with (é, É).
bool vowel_initial(const std::string& w, bool h_counts) {
    if (w.empty()) return false;
    char c = char(std::tolower((unsigned char)w[0]));
    if (c == 'a' || c == 'e' || c == 'i' || c == 'o' || c == 'u') return true;
    if (h_counts && c == 'h') return true;
    return starts_with(w, "\xC3\xA9") || starts_with(w, "\xC3\x89");
}

// Italian "lo"/"uno"/"gli": before s + consonant, z, gn, ps, x, y.
bool italian_lo(const std::string& w) {
    if (w.size() < 2) return false;
    char a = char(std::tolower((unsigned char)w[0])), b = char(std::tolower((unsigned char)w[1]));
    bool b_vowel = b == 'a' || b == 'e' || b == 'i' || b == 'o' || b == 'u';
    return (a == 's' && !b_vowel) || a == 'z' || a == 'x' || a == 'y' || (a == 'g' && b == 'n') || (a == 'p' && b == 's');
}

enum { EN, ES, DE, FR, IT, PT };

}  // namespace

const std::vector<Noun>& product_nouns(int product, int lang) {
    static const auto table = build_table();
    if (product < 0 || size_t(product) >= table.size() || lang < 0 || size_t(lang) >= languages().size())
        fail("intent lexicon: product %d / language %d out of range", product, lang);
    return table[size_t(product)][size_t(lang)];
}

bool has_singular(const Noun& n) { return !n.sg.empty(); }

std::string np_indef(int lang, const Noun& n, Case c) {
    if (n.sg.empty()) fail("intent lexicon: \"%s\" has no singular", n.pl.c_str());
    const std::string& w = n.sg;
    switch (lang) {
        case EN: return (vowel_initial(w, false) ? "an " : "a ") + w;
        case ES: return (n.gender == 'f' ? "una " : "un ") + w;
        case DE:
            if (n.gender == 'f') return "eine " + w;
            if (n.gender == 'm' && c == Case::acc) return "einen " + w;
            return "ein " + w;
        case FR: return (n.gender == 'f' ? "une " : "un ") + w;
        case IT:
            if (n.gender == 'f') return (vowel_initial(w, false) ? "un'" : "una ") + w;
            return (italian_lo(w) ? "uno " : "un ") + w;
        case PT: return (n.gender == 'f' ? "uma " : "um ") + w;
    }
    fail("intent lexicon: language %d out of range", lang);
}

std::string np_def(int lang, const Noun& n, bool plural, Case c) {
    if (!plural && n.sg.empty()) plural = true;
    const std::string& w = plural ? n.pl : n.sg;
    bool f = n.gender == 'f';
    switch (lang) {
        case EN: return "the " + w;
        case ES: return (plural ? (f ? "las " : "los ") : (f ? "la " : "el ")) + w;
        case DE:
            if (plural || f) return "die " + w;
            if (n.gender == 'n') return "das " + w;
            return (c == Case::acc ? "den " : "der ") + w;
        case FR:
            if (plural) return "les " + w;
            if (vowel_initial(w, true)) return "l'" + w;
            return (f ? "la " : "le ") + w;
        case IT:
            if (plural) {
                if (f) return "le " + w;
                return (vowel_initial(w, false) || italian_lo(w) ? "gli " : "i ") + w;
            }
            if (vowel_initial(w, false)) return "l'" + w;
            if (f) return "la " + w;
            return (italian_lo(w) ? "lo " : "il ") + w;
        case PT: return (plural ? (f ? "as " : "os ") : (f ? "a " : "o ")) + w;
    }
    fail("intent lexicon: language %d out of range", lang);
}

std::string number_word(int lang, int num, const Noun& noun, Case c) {
    static const char* const words[6][11] = {
        {"", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"},
        {"", "", "dos", "tres", "cuatro", "cinco", "seis", "siete", "ocho", "nueve", "diez"},
        {"", "", "zwei", "drei", "vier", "fünf", "sechs", "sieben", "acht", "neun", "zehn"},
        {"", "", "deux", "trois", "quatre", "cinq", "six", "sept", "huit", "neuf", "dix"},
        {"", "", "due", "tre", "quattro", "cinque", "sei", "sette", "otto", "nove", "dieci"},
        {"", "", "", "três", "quatro", "cinco", "seis", "sete", "oito", "nove", "dez"},
    };
    if (lang < 0 || lang > 5 || num < 1 || num > 10) fail("intent lexicon: no number word for %d in language %d", num, lang);
    if (num == 1) {
        if (lang == EN) return "one " + (noun.sg.empty() ? noun.pl : noun.sg);
        return np_indef(lang, noun, c);  // "un"/"una"/"ein"... are both the article and the number one
    }
    if (lang == PT && num == 2) return (noun.gender == 'f' ? "duas " : "dois ") + noun.pl;
    return std::string(words[lang][num]) + " " + noun.pl;
}

}  // namespace slm::intent
