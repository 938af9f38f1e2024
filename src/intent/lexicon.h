// Words for the intent data generator: every catalog product in six languages (singular, plural, gender),
// number words, and the article / noun-phrase grammar each language needs ("una camiseta", "einen Pullover",
// "l'écran", "uno zaino", "duas camisetas"). The catalog gives en/es/de/fr words; the Italian and Portuguese
// words and all plural forms are ours. A test checks that every catalog word appears here.
#pragma once
#include <string>
#include <vector>

namespace slm::intent {

// The generator's languages, in this order: en es de fr it pt.
const std::vector<std::string>& languages();
int language_index(const std::string& code);  // -1 when unknown

struct Noun {
    std::string sg;        // singular; empty for plural-only words ("jeans", "gafas de sol")
    std::string pl;        // plural (may equal sg: "Stiefel", "souris")
    char gender = 'm';     // 'm', 'f' or 'n' (German); English ignores it
};

// The nouns naming catalog().products[product] in languages()[lang] (at least one each).
const std::vector<Noun>& product_nouns(int product, int lang);

enum class Case { acc, nom };  // German needs the case for "einen"/"ein", "den"/"der"; others ignore it

// Noun phrases. indef: "a t-shirt" / "una camiseta" (requires a singular); def: "the t-shirt(s)" /
// "los vaqueros"; counted: "two t-shirts" / "duas camisetas" (n in 1..10, number word agreeing with the noun).
std::string np_indef(int lang, const Noun& n, Case c);
std::string np_def(int lang, const Noun& n, bool plural, Case c);
std::string number_word(int lang, int n, const Noun& noun, Case c);  // n in 1..10
bool has_singular(const Noun& n);

}  // namespace slm::intent
