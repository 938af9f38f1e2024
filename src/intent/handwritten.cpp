// 78 shopper messages written by hand, not by the generator (src/intent/data.cpp): the phrasings a person
// types, in the six languages and a few mixes, with their gold answers by SPEC.md. `slm gen-data` writes them
// as DIR/handwritten.jsonl and `slm experiment` grades the base and the tuned model on them, so a model that
// only learned the generator's templates shows it. They share no sentence with the generator's banks
// (tests/test_intent_data.cpp checks that), and training never reads them.
#include "intent/data.h"

namespace slm::intent {

const char* handwritten_jsonl() {
    return R"jsonl({"text": "hey can u throw 3 pairs of socks in my cart", "gold": {"action": "add_to_cart", "product": "socks", "quantity": 3}, "lang": "en"}
{"text": "I'd like a blender please", "gold": {"action": "add_to_cart", "product": "blender", "quantity": 1}, "lang": "en"}
{"text": "add two of those yoga mats", "gold": {"action": "add_to_cart", "product": "yoga mat", "quantity": 2}, "lang": "en"}
{"text": "take the headphones out of my cart", "gold": {"action": "remove_from_cart", "product": "headphones", "quantity": null}, "lang": "en"}
{"text": "whats in my basket rn", "gold": {"action": "view_cart", "product": null, "quantity": null}, "lang": "en"}
{"text": "ok ready to pay", "gold": {"action": "checkout", "product": null, "quantity": null}, "lang": "en"}
{"text": "do you guys have any backpacks?", "gold": {"action": "search_product", "product": "backpack", "quantity": null}, "lang": "en"}
{"text": "how much is the coffee maker", "gold": {"action": "get_price", "product": "coffee maker", "quantity": null}, "lang": "en"}
{"text": "where's my package?? it's been a week", "gold": {"action": "track_order", "product": null, "quantity": null}, "lang": "en"}
{"text": "please cancel my order, I changed my mind", "gold": {"action": "cancel_order", "product": null, "quantity": null}, "lang": "en"}
{"text": "i want to send back the jacket, it doesnt fit", "gold": {"action": "return_product", "product": "jacket", "quantity": null}, "lang": "en"}
{"text": "what's the weather like today", "gold": {"action": "other", "product": null, "quantity": null}, "lang": "en"}
{"text": "remove 1 lipstick", "gold": {"action": "remove_from_cart", "product": "lipstick", "quantity": 1}, "lang": "en"}
{"text": "looking for a new laptop", "gold": {"action": "search_product", "product": "laptop", "quantity": null}, "lang": "en"}
{"text": "pon 4 toallas en el carrito porfa", "gold": {"action": "add_to_cart", "product": "towel", "quantity": 4}, "lang": "es"}
{"text": "quiero una mochila", "gold": {"action": "add_to_cart", "product": "backpack", "quantity": 1}, "lang": "es"}
{"text": "quita las botas del carrito", "gold": {"action": "remove_from_cart", "product": "boots", "quantity": null}, "lang": "es"}
{"text": "qué tengo en el carrito?", "gold": {"action": "view_cart", "product": null, "quantity": null}, "lang": "es"}
{"text": "cuánto cuesta la licuadora", "gold": {"action": "get_price", "product": "blender", "quantity": null}, "lang": "es"}
{"text": "tienen auriculares?", "gold": {"action": "search_product", "product": "headphones", "quantity": null}, "lang": "es"}
{"text": "mi paquete no llega, sabéis algo?", "gold": {"action": "track_order", "product": null, "quantity": null}, "lang": "es"}
{"text": "quiero devolver dos camisetas", "gold": {"action": "return_product", "product": "t-shirt", "quantity": 2}, "lang": "es"}
{"text": "hola, qué tal?", "gold": {"action": "other", "product": null, "quantity": null}, "lang": "es"}
{"text": "ya terminé, vamos a pagar", "gold": {"action": "checkout", "product": null, "quantity": null}, "lang": "es"}
{"text": "cancela mi pedido por favor", "gold": {"action": "cancel_order", "product": null, "quantity": null}, "lang": "es"}
{"text": "añade tres libros", "gold": {"action": "add_to_cart", "product": "book", "quantity": 3}, "lang": "es"}
{"text": "leg bitte zwei Kissen in den Warenkorb", "gold": {"action": "add_to_cart", "product": "pillow", "quantity": 2}, "lang": "de"}
{"text": "ich möchte eine Kamera kaufen", "gold": {"action": "add_to_cart", "product": "camera", "quantity": 1}, "lang": "de"}
{"text": "entferne die Sonnenbrille aus dem Warenkorb", "gold": {"action": "remove_from_cart", "product": "sunglasses", "quantity": null}, "lang": "de"}
{"text": "was ist in meinem Warenkorb", "gold": {"action": "view_cart", "product": null, "quantity": null}, "lang": "de"}
{"text": "zur Kasse bitte", "gold": {"action": "checkout", "product": null, "quantity": null}, "lang": "de"}
{"text": "habt ihr Rucksäcke?", "gold": {"action": "search_product", "product": "backpack", "quantity": null}, "lang": "de"}
{"text": "was kostet die Tastatur?", "gold": {"action": "get_price", "product": "keyboard", "quantity": null}, "lang": "de"}
{"text": "wo bleibt meine Bestellung", "gold": {"action": "track_order", "product": null, "quantity": null}, "lang": "de"}
{"text": "Bestellung stornieren", "gold": {"action": "cancel_order", "product": null, "quantity": null}, "lang": "de"}
{"text": "ich will das Ladegerät zurückgeben, es ist kaputt", "gold": {"action": "return_product", "product": "charger", "quantity": null}, "lang": "de"}
{"text": "kennst du einen guten Witz?", "gold": {"action": "other", "product": null, "quantity": null}, "lang": "de"}
{"text": "3 Zahnpasta in den Korb", "gold": {"action": "add_to_cart", "product": "toothpaste", "quantity": 3}, "lang": "de"}
{"text": "ajoute deux lampes au panier", "gold": {"action": "add_to_cart", "product": "lamp", "quantity": 2}, "lang": "fr"}
{"text": "je voudrais un sac à dos", "gold": {"action": "add_to_cart", "product": "backpack", "quantity": 1}, "lang": "fr"}
{"text": "enlève le clavier du panier", "gold": {"action": "remove_from_cart", "product": "keyboard", "quantity": null}, "lang": "fr"}
{"text": "montre-moi mon panier stp", "gold": {"action": "view_cart", "product": null, "quantity": null}, "lang": "fr"}
{"text": "je veux payer maintenant", "gold": {"action": "checkout", "product": null, "quantity": null}, "lang": "fr"}
{"text": "vous avez des casques audio ?", "gold": {"action": "search_product", "product": "headphones", "quantity": null}, "lang": "fr"}
{"text": "combien coûte le grille-pain ?", "gold": {"action": "get_price", "product": "toaster", "quantity": null}, "lang": "fr"}
{"text": "ma commande n'est toujours pas arrivée, elle est où ?", "gold": {"action": "track_order", "product": null, "quantity": null}, "lang": "fr"}
{"text": "annulez ma commande svp", "gold": {"action": "cancel_order", "product": null, "quantity": null}, "lang": "fr"}
{"text": "je veux retourner 2 robes", "gold": {"action": "return_product", "product": "dress", "quantity": 2}, "lang": "fr"}
{"text": "bonjour, ça va ?", "gold": {"action": "other", "product": null, "quantity": null}, "lang": "fr"}
{"text": "mets 5 bouteilles d'eau dans le panier", "gold": {"action": "add_to_cart", "product": "water bottle", "quantity": 5}, "lang": "fr"}
{"text": "aggiungi due zaini al carrello", "gold": {"action": "add_to_cart", "product": "backpack", "quantity": 2}, "lang": "it"}
{"text": "vorrei un frullatore", "gold": {"action": "add_to_cart", "product": "blender", "quantity": 1}, "lang": "it"}
{"text": "togli le scarpe da ginnastica dal carrello", "gold": {"action": "remove_from_cart", "product": "sneakers", "quantity": null}, "lang": "it"}
{"text": "cosa c'è nel carrello?", "gold": {"action": "view_cart", "product": null, "quantity": null}, "lang": "it"}
{"text": "ok, voglio pagare adesso", "gold": {"action": "checkout", "product": null, "quantity": null}, "lang": "it"}
{"text": "avete tappetini da yoga?", "gold": {"action": "search_product", "product": "yoga mat", "quantity": null}, "lang": "it"}
{"text": "il portatile quanto lo fate?", "gold": {"action": "get_price", "product": "laptop", "quantity": null}, "lang": "it"}
{"text": "il mio pacco non è ancora arrivato, dov'è?", "gold": {"action": "track_order", "product": null, "quantity": null}, "lang": "it"}
{"text": "annulla l'ordine", "gold": {"action": "cancel_order", "product": null, "quantity": null}, "lang": "it"}
{"text": "voglio restituire la giacca", "gold": {"action": "return_product", "product": "jacket", "quantity": null}, "lang": "it"}
{"text": "che tempo fa domani?", "gold": {"action": "other", "product": null, "quantity": null}, "lang": "it"}
{"text": "metti 3 asciugamani nel carrello", "gold": {"action": "add_to_cart", "product": "towel", "quantity": 3}, "lang": "it"}
{"text": "coloca duas camisetas no carrinho", "gold": {"action": "add_to_cart", "product": "t-shirt", "quantity": 2}, "lang": "pt"}
{"text": "quero um relógio", "gold": {"action": "add_to_cart", "product": "watch", "quantity": 1}, "lang": "pt"}
{"text": "tira o livro do carrinho", "gold": {"action": "remove_from_cart", "product": "book", "quantity": null}, "lang": "pt"}
{"text": "mostra o meu carrinho", "gold": {"action": "view_cart", "product": null, "quantity": null}, "lang": "pt"}
{"text": "finalizar a compra", "gold": {"action": "checkout", "product": null, "quantity": null}, "lang": "pt"}
{"text": "vocês têm mochilas?", "gold": {"action": "search_product", "product": "backpack", "quantity": null}, "lang": "pt"}
{"text": "quanto custa a cafeteira?", "gold": {"action": "get_price", "product": "coffee maker", "quantity": null}, "lang": "pt"}
{"text": "cadê meu pedido?", "gold": {"action": "track_order", "product": null, "quantity": null}, "lang": "pt"}
{"text": "não quero mais, cancela a minha compra de ontem", "gold": {"action": "cancel_order", "product": null, "quantity": null}, "lang": "pt"}
{"text": "quero devolver o carregador", "gold": {"action": "return_product", "product": "charger", "quantity": null}, "lang": "pt"}
{"text": "bom dia!", "gold": {"action": "other", "product": null, "quantity": null}, "lang": "pt"}
{"text": "adiciona 4 toalhas", "gold": {"action": "add_to_cart", "product": "towel", "quantity": 4}, "lang": "pt"}
{"text": "pon two chargers en el cart", "gold": {"action": "add_to_cart", "product": "charger", "quantity": 2}, "lang": "es+en"}
{"text": "add drei Socken to my cart pls", "gold": {"action": "add_to_cart", "product": "socks", "quantity": 3}, "lang": "de+en"}
{"text": "how much for le parfum?", "gold": {"action": "get_price", "product": "perfume", "quantity": null}, "lang": "fr+en"}
{"text": "quiero cancelare l'ordine", "gold": {"action": "cancel_order", "product": null, "quantity": null}, "lang": "it+es"}
)jsonl";
}

}  // namespace slm::intent
