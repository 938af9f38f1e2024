#include "intent/data.h"

#include <algorithm>
#include <cctype>
#include <cstring>
#include <filesystem>
#include <cstdio>
#include <set>

#include <sys/statvfs.h>

#include "common.h"
#include "output_file.h"
#include "progress.h"
#include "intent/eval.h"
#include "intent/lexicon.h"

namespace slm::intent {

int Rng::weighted(const std::vector<int>& w) {
    int total = 0;
    for (int x : w) total += x;
    int r = uniform(total);
    for (size_t i = 0; i < w.size(); i++) {
        if (r < w[i]) return int(i);
        r -= w[i];
    }
    return int(w.size()) - 1;
}

namespace {

enum { EN, ES, DE, FR, IT, PT };

// Phrasing templates. Slots (at most one per template) name the product and decide the quantity:
//   {q}   a counted noun phrase: "2 t-shirts", "3x t-shirts", "t-shirts x3", "two t-shirts", "a t-shirt" (-> 1),
//         or "the t-shirt" / bare "t-shirts" (-> null). German accusative.
//   {t}   a topic without a number: "a t-shirt", "the t-shirt", "t-shirts" (quantity null). German accusative.
//   {ts}  a singular topic, "a t-shirt" / "the t-shirt" (German nominative): for "how much is {ts}".
//   {tb}  a bare noun, singular or plural, after a preposition ("price of {tb}").
//   {tp}  a bare plural.
// A template without a slot names no product. Grammar is kept simple where a slot follows a preposition
// that would contract with an article (es "del", fr "du", it "al", pt "do"): those templates use {tb}.
struct Template {
    int lang;
    const char* action;
    const char* text;
};

const Template kTrainTemplates[] = {
    // English
    {EN, "add_to_cart", "add {q} to my cart"}, {EN, "add_to_cart", "I want to buy {q}"},
    {EN, "add_to_cart", "put {q} in the basket"}, {EN, "add_to_cart", "can you add {q} to my cart?"},
    {EN, "add_to_cart", "I'll take {q}"},
    {EN, "remove_from_cart", "remove {q} from my cart"}, {EN, "remove_from_cart", "take {q} out of the cart"},
    {EN, "remove_from_cart", "delete {q} from my basket"}, {EN, "remove_from_cart", "drop {q} from my cart"},
    {EN, "view_cart", "show me my cart"}, {EN, "view_cart", "what's in my cart?"}, {EN, "view_cart", "view cart"},
    {EN, "view_cart", "open my basket"}, {EN, "view_cart", "what did I put in the cart?"},
    {EN, "checkout", "checkout"}, {EN, "checkout", "I want to pay now"}, {EN, "checkout", "proceed to checkout"},
    {EN, "checkout", "place my order"}, {EN, "checkout", "let's pay"},
    {EN, "search_product", "I'm looking for {t}"}, {EN, "search_product", "do you have {t}?"},
    {EN, "search_product", "show me {t}"}, {EN, "search_product", "search for {t}"}, {EN, "search_product", "find {t}"},
    {EN, "get_price", "how much is {ts}?"}, {EN, "get_price", "what's the price of {ts}?"},
    {EN, "get_price", "price of {tb}?"}, {EN, "get_price", "how much does {ts} cost?"},
    {EN, "track_order", "where is my order?"}, {EN, "track_order", "track my order"},
    {EN, "track_order", "when will my package arrive?"}, {EN, "track_order", "order status"},
    {EN, "track_order", "has my parcel shipped?"},
    {EN, "cancel_order", "cancel my order"}, {EN, "cancel_order", "I want to cancel the order"},
    {EN, "cancel_order", "please cancel my purchase"}, {EN, "cancel_order", "stop my order"},
    {EN, "return_product", "I want to return {q}"}, {EN, "return_product", "how do I return {q}?"},
    {EN, "return_product", "return {q}"}, {EN, "return_product", "refund for {tb}"},
    {EN, "return_product", "I'd like a refund"}, {EN, "return_product", "I want to return my order"},
    {EN, "other", "hello"}, {EN, "other", "what's the weather like today?"}, {EN, "other", "tell me a joke"},
    {EN, "other", "how are you?"}, {EN, "other", "thanks, bye"}, {EN, "other", "who won the game last night?"},
    // Spanish
    {ES, "add_to_cart", "añade {q} al carrito"}, {ES, "add_to_cart", "quiero comprar {q}"},
    {ES, "add_to_cart", "pon {q} en mi carrito"}, {ES, "add_to_cart", "agrega {q} a la cesta"},
    {ES, "add_to_cart", "me llevo {q}"},
    {ES, "remove_from_cart", "quita {q} del carrito"}, {ES, "remove_from_cart", "elimina {q} de mi carrito"},
    {ES, "remove_from_cart", "saca {q} de la cesta"}, {ES, "remove_from_cart", "borra {q} del carrito"},
    {ES, "view_cart", "muéstrame mi carrito"}, {ES, "view_cart", "¿qué hay en mi carrito?"},
    {ES, "view_cart", "ver carrito"}, {ES, "view_cart", "enséñame la cesta"},
    {ES, "checkout", "quiero pagar"}, {ES, "checkout", "finalizar compra"}, {ES, "checkout", "proceder al pago"},
    {ES, "checkout", "vamos a pagar ya"},
    {ES, "search_product", "busco {t}"}, {ES, "search_product", "¿tienen {t}?"},
    {ES, "search_product", "enséñame {t}"}, {ES, "search_product", "muéstrame {t}"},
    {ES, "get_price", "¿cuánto cuesta {ts}?"}, {ES, "get_price", "¿qué precio tiene {ts}?"},
    {ES, "get_price", "precio de {tb}"}, {ES, "get_price", "¿cuánto vale {ts}?"},
    {ES, "track_order", "¿dónde está mi pedido?"}, {ES, "track_order", "quiero rastrear mi pedido"},
    {ES, "track_order", "¿cuándo llega mi paquete?"}, {ES, "track_order", "estado de mi envío"},
    {ES, "cancel_order", "cancela mi pedido"}, {ES, "cancel_order", "quiero cancelar el pedido"},
    {ES, "cancel_order", "anula mi compra"},
    {ES, "return_product", "quiero devolver {q}"}, {ES, "return_product", "¿cómo devuelvo {q}?"},
    {ES, "return_product", "devolución de {tb}"}, {ES, "return_product", "quiero devolver mi pedido"},
    {ES, "return_product", "quiero un reembolso"},
    {ES, "other", "hola"}, {ES, "other", "¿qué tiempo hace hoy?"}, {ES, "other", "cuéntame un chiste"},
    {ES, "other", "¿cómo estás?"}, {ES, "other", "gracias, adiós"},
    // German
    {DE, "add_to_cart", "Leg {q} in den Warenkorb"}, {DE, "add_to_cart", "Ich möchte {q} kaufen"},
    {DE, "add_to_cart", "Füge {q} zum Warenkorb hinzu"}, {DE, "add_to_cart", "Ich nehme {q}"},
    {DE, "add_to_cart", "Pack {q} in meinen Warenkorb"},
    {DE, "remove_from_cart", "Entferne {q} aus dem Warenkorb"}, {DE, "remove_from_cart", "Nimm {q} aus meinem Warenkorb"},
    {DE, "remove_from_cart", "Lösch {q} aus dem Korb"},
    {DE, "view_cart", "Zeig mir meinen Warenkorb"}, {DE, "view_cart", "Was ist in meinem Warenkorb?"},
    {DE, "view_cart", "Warenkorb anzeigen"}, {DE, "view_cart", "Was hab ich im Korb?"},
    {DE, "checkout", "Zur Kasse"}, {DE, "checkout", "Ich möchte jetzt bezahlen"},
    {DE, "checkout", "Bestellung abschließen"}, {DE, "checkout", "Jetzt kaufen und bezahlen"},
    {DE, "search_product", "Ich suche {t}"}, {DE, "search_product", "Habt ihr {t}?"},
    {DE, "search_product", "Zeig mir {t}"}, {DE, "search_product", "Gibt es {t}?"},
    {DE, "get_price", "Was kostet {ts}?"}, {DE, "get_price", "Wie viel kostet {ts}?"},
    {DE, "get_price", "Preis für {tb}?"},
    {DE, "track_order", "Wo ist meine Bestellung?"}, {DE, "track_order", "Sendungsverfolgung bitte"},
    {DE, "track_order", "Wann kommt mein Paket?"}, {DE, "track_order", "Status meiner Bestellung"},
    {DE, "cancel_order", "Storniere meine Bestellung"}, {DE, "cancel_order", "Ich möchte die Bestellung stornieren"},
    {DE, "cancel_order", "Bestellung abbrechen"},
    {DE, "return_product", "Ich möchte {q} zurückgeben"}, {DE, "return_product", "Wie kann ich {q} zurückschicken?"},
    {DE, "return_product", "Ich will mein Geld zurück"}, {DE, "return_product", "Rücksendung für meine Bestellung"},
    {DE, "other", "Hallo"}, {DE, "other", "Wie ist das Wetter heute?"}, {DE, "other", "Erzähl mir einen Witz"},
    {DE, "other", "Wie geht's?"}, {DE, "other", "Danke, tschüss"},
    // French
    {FR, "add_to_cart", "Ajoute {q} au panier"}, {FR, "add_to_cart", "Je veux acheter {q}"},
    {FR, "add_to_cart", "Mets {q} dans mon panier"}, {FR, "add_to_cart", "Je prends {q}"},
    {FR, "add_to_cart", "Tu peux ajouter {q} à mon panier ?"},
    {FR, "remove_from_cart", "Enlève {q} du panier"}, {FR, "remove_from_cart", "Retire {q} de mon panier"},
    {FR, "remove_from_cart", "Supprime {q} du panier"},
    {FR, "view_cart", "Montre-moi mon panier"}, {FR, "view_cart", "Qu'est-ce qu'il y a dans mon panier ?"},
    {FR, "view_cart", "Voir le panier"}, {FR, "view_cart", "Affiche mon panier"},
    {FR, "checkout", "Je veux payer"}, {FR, "checkout", "Passer la commande"}, {FR, "checkout", "Valider mon panier"},
    {FR, "checkout", "Aller au paiement"},
    {FR, "search_product", "Je cherche {t}"}, {FR, "search_product", "Vous avez {t} ?"},
    {FR, "search_product", "Montre-moi {t}"}, {FR, "search_product", "Recherche {t}"},
    {FR, "get_price", "Combien coûte {ts} ?"}, {FR, "get_price", "C'est combien, {ts} ?"},
    {FR, "get_price", "Prix {tb} ?"},
    {FR, "track_order", "Où est ma commande ?"}, {FR, "track_order", "Suivre ma commande"},
    {FR, "track_order", "Quand arrive mon colis ?"}, {FR, "track_order", "Statut de ma livraison"},
    {FR, "cancel_order", "Annule ma commande"}, {FR, "cancel_order", "Je veux annuler la commande"},
    {FR, "cancel_order", "Annuler mon achat"},
    {FR, "return_product", "Je veux retourner {q}"}, {FR, "return_product", "Comment renvoyer {q} ?"},
    {FR, "return_product", "Je veux être remboursé"}, {FR, "return_product", "Retour de ma commande"},
    {FR, "other", "Bonjour"}, {FR, "other", "Quel temps fait-il aujourd'hui ?"},
    {FR, "other", "Raconte-moi une blague"}, {FR, "other", "Ça va ?"}, {FR, "other", "Merci, au revoir"},
    // Italian
    {IT, "add_to_cart", "Aggiungi {q} al carrello"}, {IT, "add_to_cart", "Voglio comprare {q}"},
    {IT, "add_to_cart", "Metti {q} nel carrello"}, {IT, "add_to_cart", "Prendo {q}"},
    {IT, "add_to_cart", "Puoi aggiungere {q} al mio carrello?"},
    {IT, "remove_from_cart", "Togli {q} dal carrello"}, {IT, "remove_from_cart", "Rimuovi {q} dal mio carrello"},
    {IT, "remove_from_cart", "Elimina {q} dal carrello"},
    {IT, "view_cart", "Mostrami il carrello"}, {IT, "view_cart", "Cosa c'è nel mio carrello?"},
    {IT, "view_cart", "Vedi carrello"}, {IT, "view_cart", "Fammi vedere il carrello"},
    {IT, "checkout", "Voglio pagare"}, {IT, "checkout", "Procedi al pagamento"}, {IT, "checkout", "Completa l'ordine"},
    {IT, "checkout", "Vai alla cassa"},
    {IT, "search_product", "Cerco {t}"}, {IT, "search_product", "Avete {t}?"}, {IT, "search_product", "Mostrami {t}"},
    {IT, "search_product", "Sto cercando {t}"},
    {IT, "get_price", "Quanto costa {ts}?"}, {IT, "get_price", "Qual è il prezzo di {tb}?"},
    {IT, "get_price", "Prezzo {tb}?"},
    {IT, "track_order", "Dov'è il mio ordine?"}, {IT, "track_order", "Traccia il mio ordine"},
    {IT, "track_order", "Quando arriva il mio pacco?"}, {IT, "track_order", "Stato della spedizione"},
    {IT, "cancel_order", "Annulla il mio ordine"}, {IT, "cancel_order", "Voglio cancellare l'ordine"},
    {IT, "cancel_order", "Annulla l'acquisto"},
    {IT, "return_product", "Voglio restituire {q}"}, {IT, "return_product", "Come faccio a rendere {q}?"},
    {IT, "return_product", "Voglio un rimborso"}, {IT, "return_product", "Reso del mio ordine"},
    {IT, "other", "Ciao"}, {IT, "other", "Che tempo fa oggi?"}, {IT, "other", "Raccontami una barzelletta"},
    {IT, "other", "Come stai?"}, {IT, "other", "Grazie, arrivederci"},
    // Portuguese
    {PT, "add_to_cart", "Adiciona {q} ao carrinho"}, {PT, "add_to_cart", "Quero comprar {q}"},
    {PT, "add_to_cart", "Coloca {q} no meu carrinho"}, {PT, "add_to_cart", "Vou levar {q}"},
    {PT, "add_to_cart", "Pode adicionar {q} no carrinho?"},
    {PT, "remove_from_cart", "Remove {q} do carrinho"}, {PT, "remove_from_cart", "Tira {q} do meu carrinho"},
    {PT, "remove_from_cart", "Exclui {q} do carrinho"},
    {PT, "view_cart", "Mostra meu carrinho"}, {PT, "view_cart", "O que tem no meu carrinho?"},
    {PT, "view_cart", "Ver carrinho"}, {PT, "view_cart", "Abre o carrinho"},
    {PT, "checkout", "Quero pagar"}, {PT, "checkout", "Finalizar compra"}, {PT, "checkout", "Ir para o pagamento"},
    {PT, "checkout", "Fechar o pedido"},
    {PT, "search_product", "Estou procurando {t}"}, {PT, "search_product", "Vocês têm {t}?"},
    {PT, "search_product", "Mostra {t}"}, {PT, "search_product", "Procuro {t}"},
    {PT, "get_price", "Quanto custa {ts}?"}, {PT, "get_price", "Qual o preço de {tb}?"}, {PT, "get_price", "Preço {tb}?"},
    {PT, "track_order", "Onde está meu pedido?"}, {PT, "track_order", "Rastrear meu pedido"},
    {PT, "track_order", "Quando chega minha encomenda?"}, {PT, "track_order", "Status da entrega"},
    {PT, "cancel_order", "Cancela meu pedido"}, {PT, "cancel_order", "Quero cancelar o pedido"},
    {PT, "cancel_order", "Cancelar a compra"},
    {PT, "return_product", "Quero devolver {q}"}, {PT, "return_product", "Como devolvo {q}?"},
    {PT, "return_product", "Quero meu dinheiro de volta"}, {PT, "return_product", "Devolução do meu pedido"},
    {PT, "other", "Oi"}, {PT, "other", "Como está o tempo hoje?"}, {PT, "other", "Me conta uma piada"},
    {PT, "other", "Tudo bem?"}, {PT, "other", "Obrigado, tchau"},
    // English, more phrasings: commands and questions, formal and casual, fragments
    {EN, "add_to_cart", "{q} pls"}, {EN, "add_to_cart", "add {q}"}, {EN, "add_to_cart", "add {q} please"},
    {EN, "add_to_cart", "i need {q}"}, {EN, "add_to_cart", "could you please add {q} to my basket"},
    {EN, "add_to_cart", "I would like to order {q}"}, {EN, "add_to_cart", "put {q} in my cart"},
    {EN, "add_to_cart", "gimme {q}"}, {EN, "add_to_cart", "cart: {q}"}, {EN, "add_to_cart", "{q} in the cart please"},
    {EN, "add_to_cart", "can I get {q}?"}, {EN, "add_to_cart", "buy {q}"}, {EN, "add_to_cart", "i'd like to purchase {q}"},
    {EN, "add_to_cart", "stick {q} in my basket"}, {EN, "add_to_cart", "also add {q}"},
    {EN, "add_to_cart", "please include {q} in my order"}, {EN, "add_to_cart", "let me get {q}"},
    {EN, "remove_from_cart", "remove {q} from the order"}, {EN, "remove_from_cart", "no {q} please, take it out"},
    {EN, "remove_from_cart", "take out {q}"}, {EN, "remove_from_cart", "delete {q}"},
    {EN, "remove_from_cart", "I don't want {q} anymore, remove it from the cart"},
    {EN, "remove_from_cart", "could you remove {q} from my basket?"}, {EN, "remove_from_cart", "cart: remove {q}"},
    {EN, "remove_from_cart", "pull {q} out of my cart"}, {EN, "remove_from_cart", "please drop {q}"},
    {EN, "remove_from_cart", "can you take {q} off my order before I pay?"},
    {EN, "remove_from_cart", "I changed my mind about {q}, remove it"}, {EN, "remove_from_cart", "erase {q} from the cart"},
    {EN, "view_cart", "cart?"}, {EN, "view_cart", "my cart"}, {EN, "view_cart", "show cart"},
    {EN, "view_cart", "can I see my cart?"}, {EN, "view_cart", "what have I got in my basket?"},
    {EN, "view_cart", "show me what's in the basket"}, {EN, "view_cart", "display my shopping cart"},
    {EN, "view_cart", "how many items are in my cart?"}, {EN, "view_cart", "let me see the cart"},
    {EN, "view_cart", "could you show me my basket please?"}, {EN, "view_cart", "check my cart"},
    {EN, "view_cart", "what's in the basket right now"},
    {EN, "checkout", "pay"}, {EN, "checkout", "check out please"}, {EN, "checkout", "I'm done shopping, let's check out"},
    {EN, "checkout", "ready to check out"}, {EN, "checkout", "complete my purchase"}, {EN, "checkout", "go to checkout"},
    {EN, "checkout", "I'd like to pay for my items"}, {EN, "checkout", "buy everything in my cart"},
    {EN, "checkout", "that's all, I'll pay now"}, {EN, "checkout", "can I pay now?"}, {EN, "checkout", "confirm my order"},
    {EN, "checkout", "let's wrap this up and pay"},
    {EN, "search_product", "looking for {t}"}, {EN, "search_product", "got any {tp}?"},
    {EN, "search_product", "do you sell {t}?"}, {EN, "search_product", "I need to find {t}"},
    {EN, "search_product", "search {tp}"}, {EN, "search_product", "can you help me find {t}?"},
    {EN, "search_product", "what {tp} do you have?"}, {EN, "search_product", "show me your {tp}"},
    {EN, "search_product", "I'm searching for {t}"}, {EN, "search_product", "are there any {tp} available?"},
    {EN, "search_product", "{tp}?"}, {EN, "search_product", "any good {tp}?"},
    {EN, "search_product", "I'd like to see some {tp}"},
    {EN, "get_price", "price of {ts}?"}, {EN, "get_price", "how much is {ts} going to cost me?"}, {EN, "get_price", "{tb} price?"},
    {EN, "get_price", "what does {ts} cost?"}, {EN, "get_price", "how expensive is {ts}?"},
    {EN, "get_price", "could you tell me the price of {ts}?"}, {EN, "get_price", "how much do you charge for {tb}?"},
    {EN, "get_price", "what's {ts} going for?"}, {EN, "get_price", "is {ts} expensive?"},
    {EN, "get_price", "price check on {tb}"}, {EN, "get_price", "how much are {tp}?"},
    {EN, "track_order", "where's my stuff?"}, {EN, "track_order", "tracking info please"},
    {EN, "track_order", "has my order shipped yet?"}, {EN, "track_order", "when does my order arrive?"},
    {EN, "track_order", "can you check on my delivery?"}, {EN, "track_order", "I'd like to know the status of my order"},
    {EN, "track_order", "is my package on its way?"}, {EN, "track_order", "my order hasn't arrived"},
    {EN, "track_order", "where is my parcel right now"}, {EN, "track_order", "delivery status?"},
    {EN, "track_order", "track package"}, {EN, "track_order", "how long until my order gets here?"},
    {EN, "cancel_order", "cancel order"}, {EN, "cancel_order", "cancel it"}, {EN, "cancel_order", "I need to cancel my order"},
    {EN, "cancel_order", "can you cancel the order I placed?"}, {EN, "cancel_order", "don't ship my order, cancel it"},
    {EN, "cancel_order", "I'd like to cancel my purchase please"}, {EN, "cancel_order", "please stop the order from shipping"},
    {EN, "cancel_order", "how do I cancel my order?"}, {EN, "cancel_order", "nevermind, cancel the whole order"},
    {EN, "cancel_order", "is it too late to cancel my order?"}, {EN, "cancel_order", "order cancellation please"},
    {EN, "return_product", "return {q} please"}, {EN, "return_product", "I'd like to return {q}"},
    {EN, "return_product", "can I return {q}?"}, {EN, "return_product", "{q} arrived broken, I want to return it"},
    {EN, "return_product", "I want a refund for {q}"}, {EN, "return_product", "how do I get a refund?"},
    {EN, "return_product", "start a return"}, {EN, "return_product", "I need to return something"},
    {EN, "return_product", "the item is damaged, I want a refund"}, {EN, "return_product", "ship back {q}"},
    {EN, "return_product", "what's your return policy for {tb}?"}, {EN, "return_product", "refund please"},
    {EN, "other", "hi there"}, {EN, "other", "thank you so much"}, {EN, "other", "who are you?"},
    {EN, "other", "what's your name?"}, {EN, "other", "can you help me with my homework?"},
    {EN, "other", "what's the capital of France?"}, {EN, "other", "good night"}, {EN, "other", "lol"},
    {EN, "other", "what day is it today?"}, {EN, "other", "recommend a good movie"}, {EN, "other", "are you a robot?"},
    {EN, "other", "it's raining again"}, {EN, "other", "ok thanks"}, {EN, "other", "how old are you?"},
    // Spanish, more phrasings
    {ES, "add_to_cart", "{q} porfa"}, {ES, "add_to_cart", "añade {q} a mi carrito, por favor"},
    {ES, "add_to_cart", "necesito {q}"}, {ES, "add_to_cart", "¿me añades {q} al carrito?"},
    {ES, "add_to_cart", "agrega {q}"}, {ES, "add_to_cart", "mete {q} en la cesta"},
    {ES, "add_to_cart", "quisiera comprar {q}"}, {ES, "add_to_cart", "dame {q}"},
    {ES, "add_to_cart", "¿podrías agregar {q} a mi cesta?"}, {ES, "add_to_cart", "súmame {q} al pedido"},
    {ES, "add_to_cart", "compro {q}"}, {ES, "add_to_cart", "también {q}, al carrito"},
    {ES, "add_to_cart", "ponme {q}"}, {ES, "add_to_cart", "incluye {q} en mi compra"},
    {ES, "remove_from_cart", "quita {q}"}, {ES, "remove_from_cart", "ya no quiero {q} en el carrito"},
    {ES, "remove_from_cart", "elimina {q}"}, {ES, "remove_from_cart", "¿puedes quitar {q} de la cesta?"},
    {ES, "remove_from_cart", "saca {q} del carrito, por favor"}, {ES, "remove_from_cart", "borra {q}"},
    {ES, "remove_from_cart", "fuera {q} del carrito"}, {ES, "remove_from_cart", "¿me quitas {q}?"},
    {ES, "remove_from_cart", "quiero eliminar {q} de mi cesta"}, {ES, "remove_from_cart", "sácame {q} del pedido"},
    {ES, "view_cart", "¿mi carrito?"}, {ES, "view_cart", "carrito"}, {ES, "view_cart", "¿qué tengo en la cesta?"},
    {ES, "view_cart", "quiero ver mi carrito"}, {ES, "view_cart", "¿puedo ver la cesta?"},
    {ES, "view_cart", "enséñame lo que llevo"}, {ES, "view_cart", "mostrar carrito"},
    {ES, "view_cart", "¿cuántos artículos hay en mi carrito?"}, {ES, "view_cart", "revisa mi carrito"},
    {ES, "view_cart", "¿me enseñas el carrito?"}, {ES, "view_cart", "a ver qué hay en la cesta"},
    {ES, "checkout", "pagar"}, {ES, "checkout", "quiero pagar ya"}, {ES, "checkout", "ir a caja"},
    {ES, "checkout", "ya está, a pagar"}, {ES, "checkout", "confirma mi pedido"}, {ES, "checkout", "¿puedo pagar ahora?"},
    {ES, "checkout", "quisiera finalizar la compra"}, {ES, "checkout", "compra todo lo del carrito"},
    {ES, "checkout", "eso es todo, pago ahora"}, {ES, "checkout", "llévame a la caja"}, {ES, "checkout", "realizar el pago"},
    {ES, "search_product", "busco {t}, ¿tienen?"}, {ES, "search_product", "estoy buscando {t}"},
    {ES, "search_product", "¿hay {tp}?"}, {ES, "search_product", "quiero ver {tp}"},
    {ES, "search_product", "buscar {tp}"}, {ES, "search_product", "¿me ayudas a encontrar {t}?"},
    {ES, "search_product", "¿qué {tp} tenéis?"}, {ES, "search_product", "¿tenéis {t}?"},
    {ES, "search_product", "necesito encontrar {t}"}, {ES, "search_product", "¿{tp}?"},
    {ES, "search_product", "¿tienes {t}?"},
    {ES, "get_price", "¿cuánto es {ts}?"},

    {ES, "get_price", "¿qué cuesta {ts}?"},
    {ES, "get_price", "precio {tb}"}, {ES, "get_price", "quisiera saber el precio de {tb}"},
    {ES, "get_price", "¿cuánto sale {ts}?"}, {ES, "get_price", "¿cuál es el precio de {tb}?"},
    {ES, "track_order", "¿dónde está mi paquete?"}, {ES, "track_order", "¿ya enviaron mi pedido?"},
    {ES, "track_order", "seguimiento del pedido"}, {ES, "track_order", "¿cuándo me llega el pedido?"},
    {ES, "track_order", "quiero saber el estado de mi pedido"}, {ES, "track_order", "¿mi paquete está en camino?"},
    {ES, "track_order", "aún no recibo mi pedido"}, {ES, "track_order", "¿puedes revisar mi envío?"},
    {ES, "track_order", "rastrear paquete"}, {ES, "track_order", "¿cuánto tarda en llegar mi pedido?"},
    {ES, "cancel_order", "cancelar pedido"}, {ES, "cancel_order", "cancélalo"}, {ES, "cancel_order", "necesito cancelar mi pedido"},
    {ES, "cancel_order", "¿cómo cancelo mi pedido?"}, {ES, "cancel_order", "no envíen mi pedido, lo cancelo"},
    {ES, "cancel_order", "quisiera anular mi pedido"}, {ES, "cancel_order", "olvídalo, cancela todo el pedido"},
    {ES, "cancel_order", "¿estoy a tiempo de cancelar el pedido?"}, {ES, "cancel_order", "anular pedido"},
    {ES, "return_product", "devolver {q}"}, {ES, "return_product", "quisiera devolver {q}"},
    {ES, "return_product", "¿puedo devolver {q}?"}, {ES, "return_product", "quiero el reembolso de {tb}"},
    {ES, "return_product", "¿cómo pido un reembolso?"}, {ES, "return_product", "quiero hacer una devolución"},
    {ES, "return_product", "el producto llegó roto, quiero devolverlo"}, {ES, "return_product", "devuélveme el dinero"},
    {ES, "return_product", "necesito devolver {q}, vino con un defecto"}, {ES, "return_product", "reembolso, por favor"},
    {ES, "other", "buenos días"}, {ES, "other", "muchas gracias"}, {ES, "other", "¿quién eres?"},
    {ES, "other", "¿cómo te llamas?"}, {ES, "other", "¿me ayudas con los deberes?"},
    {ES, "other", "¿cuál es la capital de Francia?"}, {ES, "other", "jajaja"}, {ES, "other", "¿qué día es hoy?"},
    {ES, "other", "recomiéndame una película"}, {ES, "other", "¿eres un robot?"}, {ES, "other", "vale, gracias"},
    {ES, "other", "hasta luego"}, {ES, "other", "¿va a llover mañana?"},
    // German, more phrasings (the slots are accusative except {ts})
    {DE, "add_to_cart", "{q} bitte"}, {DE, "add_to_cart", "Bitte {q} in den Warenkorb legen"},
    {DE, "add_to_cart", "Ich brauche {q}"}, {DE, "add_to_cart", "Kannst du {q} hinzufügen?"},
    {DE, "add_to_cart", "Könnten Sie {q} in meinen Warenkorb legen?"}, {DE, "add_to_cart", "Ich würde gern {q} bestellen"},
    {DE, "add_to_cart", "Gib mir {q}"}, {DE, "add_to_cart", "Füg {q} hinzu"}, {DE, "add_to_cart", "Ich kaufe {q}"},
    {DE, "add_to_cart", "Noch {q} dazu, bitte"}, {DE, "add_to_cart", "Tu {q} in meinen Korb"},
    {DE, "add_to_cart", "Warenkorb: {q}"}, {DE, "add_to_cart", "Ich will {q} kaufen"},
    {DE, "add_to_cart", "Leg mir {q} in den Korb"},
    {DE, "remove_from_cart", "Entferne {q}"}, {DE, "remove_from_cart", "Bitte {q} entfernen"},
    {DE, "remove_from_cart", "Nimm {q} wieder raus"}, {DE, "remove_from_cart", "Kannst du {q} aus dem Korb nehmen?"},
    {DE, "remove_from_cart", "Ich will {q} nicht mehr, bitte löschen"},
    {DE, "remove_from_cart", "Könnten Sie {q} aus meinem Warenkorb entfernen?"},
    {DE, "remove_from_cart", "Lösche {q} aus meinem Warenkorb"},
    {DE, "remove_from_cart", "Bitte nimm {q} aus der Bestellung"}, {DE, "remove_from_cart", "{q} aus dem Warenkorb löschen"},
    {DE, "view_cart", "Warenkorb?"}, {DE, "view_cart", "Mein Warenkorb"}, {DE, "view_cart", "Zeig den Korb"},
    {DE, "view_cart", "Kann ich meinen Warenkorb sehen?"}, {DE, "view_cart", "Was liegt in meinem Korb?"},
    {DE, "view_cart", "Was habe ich bisher im Warenkorb?"}, {DE, "view_cart", "Warenkorb öffnen"},
    {DE, "view_cart", "Wie viele Artikel sind im Warenkorb?"}, {DE, "view_cart", "Zeigen Sie mir bitte meinen Warenkorb"},
    {DE, "view_cart", "Lass mich den Warenkorb sehen"}, {DE, "view_cart", "Inhalt meines Korbs"},
    {DE, "checkout", "Bezahlen"}, {DE, "checkout", "Ich will zahlen"}, {DE, "checkout", "Zur Kasse gehen"},
    {DE, "checkout", "Das war's, ich möchte bezahlen"}, {DE, "checkout", "Kann ich jetzt bezahlen?"},
    {DE, "checkout", "Bestellung bestätigen"}, {DE, "checkout", "Kauf abschließen"}, {DE, "checkout", "Ab zur Kasse"},
    {DE, "checkout", "Alles im Warenkorb kaufen"}, {DE, "checkout", "Ich bin fertig, jetzt zahlen"},
    {DE, "checkout", "Bitte zur Zahlung"},
    {DE, "search_product", "Suche {t}"}, {DE, "search_product", "Haben Sie {t}?"},
    {DE, "search_product", "Gibt's bei euch {tp}?"},
    {DE, "search_product", "Zeigen Sie mir {t}"}, {DE, "search_product", "Kannst du mir {t} suchen?"},
    {DE, "search_product", "Welche {tp} habt ihr?"}, {DE, "search_product", "{tp}?"},
    {DE, "search_product", "Ich brauche dringend {t}, habt ihr sowas?"}, {DE, "search_product", "Finde {t}"},
    {DE, "search_product", "Führt ihr {tp}?"},
    {DE, "get_price", "Was kostet denn {ts}?"},
    {DE, "get_price", "Was kosten {tp}?"}, {DE, "get_price", "Können Sie mir sagen, was {ts} kostet?"},
    {DE, "get_price", "Ist {ts} teuer?"},
    {DE, "get_price", "{tb} Preis?"}, {DE, "get_price", "Wie hoch ist der Preis für {tb}?"},
    {DE, "get_price", "Wie viel kosten {tp}?"}, {DE, "get_price", "Was kostet bei euch {ts}?"},
    {DE, "track_order", "Wo ist mein Paket?"}, {DE, "track_order", "Wurde meine Bestellung schon verschickt?"},
    {DE, "track_order", "Wann wird meine Bestellung geliefert?"}, {DE, "track_order", "Sendung verfolgen"},
    {DE, "track_order", "Können Sie den Status meiner Bestellung prüfen?"}, {DE, "track_order", "Lieferstatus?"},
    {DE, "track_order", "Meine Bestellung ist noch nicht angekommen"}, {DE, "track_order", "Wie lange dauert die Lieferung noch?"},
    {DE, "track_order", "Paket verfolgen bitte"}, {DE, "track_order", "Ist mein Paket schon versandt?"},
    {DE, "cancel_order", "Bestellung stornieren bitte"}, {DE, "cancel_order", "Storno bitte"},
    {DE, "cancel_order", "Ich muss meine Bestellung stornieren"}, {DE, "cancel_order", "Wie storniere ich meine Bestellung?"},
    {DE, "cancel_order", "Bitte nicht verschicken, ich storniere"}, {DE, "cancel_order", "Kannst du meine Bestellung stornieren?"},
    {DE, "cancel_order", "Vergiss es, storniere die ganze Bestellung"}, {DE, "cancel_order", "Ich will meine Bestellung widerrufen"},
    {DE, "cancel_order", "Ist eine Stornierung noch möglich?"},
    {DE, "return_product", "{q} zurückgeben"}, {DE, "return_product", "Ich würde gern {q} zurückschicken"},
    {DE, "return_product", "Kann ich {q} umtauschen oder zurückgeben?"}, {DE, "return_product", "Ich will {q} zurücksenden"},
    {DE, "return_product", "Wie bekomme ich eine Rückerstattung?"}, {DE, "return_product", "Ich möchte etwas zurückgeben"},
    {DE, "return_product", "Das Teil kam beschädigt an, ich schicke es zurück"},
    {DE, "return_product", "Geld zurück bitte"},
    {DE, "return_product", "Ich möchte {q} retournieren"},
    {DE, "other", "Guten Morgen"}, {DE, "other", "Vielen Dank!"}, {DE, "other", "Wer bist du?"},
    {DE, "other", "Wie heißt du?"}, {DE, "other", "Hilfst du mir bei den Hausaufgaben?"},
    {DE, "other", "Was ist die Hauptstadt von Frankreich?"}, {DE, "other", "haha"}, {DE, "other", "Welcher Tag ist heute?"},
    {DE, "other", "Empfiehl mir einen Film"}, {DE, "other", "Bist du ein Roboter?"}, {DE, "other", "Ok, danke"},
    {DE, "other", "Bis später"}, {DE, "other", "Regnet es morgen?"},
    // French, more phrasings
    {FR, "add_to_cart", "{q} stp"}, {FR, "add_to_cart", "Ajoute {q} s'il te plaît"},
    {FR, "add_to_cart", "Pouvez-vous ajouter {q} à mon panier ?"}, {FR, "add_to_cart", "Je souhaite acheter {q}"},
    {FR, "add_to_cart", "Mets-moi {q}"}, {FR, "add_to_cart", "Donne-moi {q}"}, {FR, "add_to_cart", "J'achète {q}"},
    {FR, "add_to_cart", "Ajoute aussi {q}"}, {FR, "add_to_cart", "Panier : {q}"}, {FR, "add_to_cart", "Je vais prendre {q}"},
    {FR, "add_to_cart", "Je voudrais ajouter {q} au panier"}, {FR, "add_to_cart", "Mettez {q} dans mon panier, merci"},
    {FR, "add_to_cart", "Tu me mets {q} dans le panier ?"},
    {FR, "remove_from_cart", "Enlève {q}"}, {FR, "remove_from_cart", "Retire {q}, je n'en veux plus"},
    {FR, "remove_from_cart", "Supprime {q} de mon panier"}, {FR, "remove_from_cart", "Pouvez-vous retirer {q} du panier ?"},
    {FR, "remove_from_cart", "Tu peux enlever {q} ?"},
    {FR, "remove_from_cart", "Enlevez {q} de ma commande"}, {FR, "remove_from_cart", "Supprimer {q} du panier"},
    {FR, "remove_from_cart", "Retire-moi {q} du panier"}, {FR, "remove_from_cart", "Efface {q} du panier"},
    {FR, "view_cart", "Panier ?"}, {FR, "view_cart", "Mon panier"}, {FR, "view_cart", "Je peux voir mon panier ?"},
    {FR, "view_cart", "Qu'est-ce que j'ai dans le panier ?"}, {FR, "view_cart", "Montrez-moi mon panier, s'il vous plaît"},
    {FR, "view_cart", "Afficher le panier"}, {FR, "view_cart", "Combien d'articles dans mon panier ?"},
    {FR, "view_cart", "Fais voir le panier"}, {FR, "view_cart", "Je voudrais voir ce qu'il y a dans mon panier"},
    {FR, "view_cart", "Contenu de mon panier"}, {FR, "view_cart", "Vérifie mon panier"},
    {FR, "checkout", "Payer"}, {FR, "checkout", "Je passe à la caisse"}, {FR, "checkout", "Valider la commande"},
    {FR, "checkout", "C'est bon, je veux régler"}, {FR, "checkout", "Je peux payer maintenant ?"},
    {FR, "checkout", "Confirme ma commande"}, {FR, "checkout", "Finaliser mon achat"}, {FR, "checkout", "On passe au paiement"},
    {FR, "checkout", "J'ai fini, je paie"}, {FR, "checkout", "Acheter tout le panier"}, {FR, "checkout", "Procéder au paiement"},
    {FR, "search_product", "Je suis à la recherche de {tp}"}, {FR, "search_product", "Vous auriez {t} ?"},
    {FR, "search_product", "Tu as {t} ?"}, {FR, "search_product", "Chercher {tp}"}, {FR, "search_product", "{tp} ?"},
    {FR, "search_product", "Vous avez quoi comme {tp} ?"}, {FR, "search_product", "Pouvez-vous m'aider à trouver {t} ?"},
    {FR, "search_product", "Il vous reste {t} ?"},
    {FR, "search_product", "Trouve-moi {t}"}, {FR, "search_product", "Montrez-moi vos {tp}"},
    {FR, "get_price", "{ts} coûte combien ?"}, {FR, "get_price", "Combien pour {ts} ?"},
    {FR, "get_price", "Le prix pour {ts} ?"}, {FR, "get_price", "Ça coûte combien, {ts} ?"},
    {FR, "get_price", "Pouvez-vous me dire combien coûte {ts} ?"},
    {FR, "get_price", "{ts}, c'est combien ?"}, {FR, "get_price", "Vous faites {ts} à combien ?"},
    {FR, "get_price", "Combien vous vendez {ts} ?"},
    {FR, "track_order", "Où en est ma commande ?"}, {FR, "track_order", "Mon colis est où ?"},
    {FR, "track_order", "Ma commande est partie ?"}, {FR, "track_order", "Quand est-ce que je reçois ma commande ?"},
    {FR, "track_order", "Suivi du colis"}, {FR, "track_order", "Pouvez-vous vérifier ma livraison ?"},
    {FR, "track_order", "Je n'ai pas encore reçu ma commande"}, {FR, "track_order", "Mon colis est en route ?"},
    {FR, "track_order", "Suivre mon colis svp"}, {FR, "track_order", "Dans combien de temps arrive ma commande ?"},
    {FR, "cancel_order", "Annuler la commande"}, {FR, "cancel_order", "Annule-la"}, {FR, "cancel_order", "Je dois annuler ma commande"},
    {FR, "cancel_order", "Comment annuler ma commande ?"}, {FR, "cancel_order", "N'expédiez pas ma commande, je l'annule"},
    {FR, "cancel_order", "Je souhaite annuler mon achat"}, {FR, "cancel_order", "Laisse tomber, annule toute la commande"},
    {FR, "cancel_order", "Est-ce que je peux encore annuler ma commande ?"}, {FR, "cancel_order", "Annulation de commande"},
    {FR, "return_product", "Retourner {q}"}, {FR, "return_product", "Je voudrais renvoyer {q}"},
    {FR, "return_product", "Est-ce que je peux retourner {q} ?"}, {FR, "return_product", "Je veux me faire rembourser {q}"},
    {FR, "return_product", "Comment me faire rembourser ?"}, {FR, "return_product", "Je veux faire un retour"},
    {FR, "return_product", "L'article est arrivé cassé, je le renvoie"}, {FR, "return_product", "Remboursement svp"},
    {FR, "return_product", "Je renvoie {q}, ça ne me va pas"}, {FR, "return_product", "Demande de retour"},
    {FR, "other", "Salut"}, {FR, "other", "Merci beaucoup"}, {FR, "other", "Tu es qui ?"},
    {FR, "other", "Comment tu t'appelles ?"}, {FR, "other", "Tu peux m'aider pour mes devoirs ?"},
    {FR, "other", "Quelle est la capitale de l'Espagne ?"}, {FR, "other", "mdr"}, {FR, "other", "On est quel jour ?"},
    {FR, "other", "Conseille-moi un film"}, {FR, "other", "Tu es un robot ?"}, {FR, "other", "D'accord, merci"},
    {FR, "other", "À plus tard"}, {FR, "other", "Il va pleuvoir demain ?"},
    // Italian, more phrasings
    {IT, "add_to_cart", "{q} per favore"}, {IT, "add_to_cart", "Aggiungi {q}"}, {IT, "add_to_cart", "Mi serve {q}"},
    {IT, "add_to_cart", "Potrebbe aggiungere {q} al carrello?"}, {IT, "add_to_cart", "Vorrei comprare {q}"},
    {IT, "add_to_cart", "Dammi {q}"}, {IT, "add_to_cart", "Compro {q}"}, {IT, "add_to_cart", "Aggiungi anche {q}"},
    {IT, "add_to_cart", "Carrello: {q}"}, {IT, "add_to_cart", "Mettimi {q} nel carrello"},
    {IT, "add_to_cart", "Voglio aggiungere {q} al carrello"}, {IT, "add_to_cart", "Mi metti {q} nel carrello?"},
    {IT, "add_to_cart", "Acquisto {q}"}, {IT, "add_to_cart", "Prendo anche {q}"},
    {IT, "remove_from_cart", "Togli {q}"}, {IT, "remove_from_cart", "Rimuovi {q}"},
    {IT, "remove_from_cart", "Elimina {q} dal mio carrello, per favore"}, {IT, "remove_from_cart", "Puoi togliere {q}?"},
    {IT, "remove_from_cart", "Potrebbe rimuovere {q} dal carrello?"}, {IT, "remove_from_cart", "Non voglio più {q} nel carrello"},
    {IT, "remove_from_cart", "Togli {q} dall'ordine"}, {IT, "remove_from_cart", "Rimuovere {q} dal carrello"},
    {IT, "remove_from_cart", "Toglimi {q} dal carrello"}, {IT, "remove_from_cart", "Via {q} dal carrello"},
    {IT, "view_cart", "Carrello?"}, {IT, "view_cart", "Il mio carrello"}, {IT, "view_cart", "Posso vedere il carrello?"},
    {IT, "view_cart", "Cosa ho nel carrello?"}, {IT, "view_cart", "Mi mostri il carrello, per favore?"},
    {IT, "view_cart", "Visualizza carrello"}, {IT, "view_cart", "Quanti articoli ci sono nel carrello?"},
    {IT, "view_cart", "Fammi vedere cosa c'è nel carrello"}, {IT, "view_cart", "Contenuto del carrello"},
    {IT, "view_cart", "Controlla il mio carrello"}, {IT, "view_cart", "Voglio vedere il mio carrello"},
    {IT, "checkout", "Pagare"}, {IT, "checkout", "Vado alla cassa"}, {IT, "checkout", "Conferma l'ordine"},
    {IT, "checkout", "Ok, ho finito, voglio pagare"}, {IT, "checkout", "Posso pagare adesso?"},
    {IT, "checkout", "Concludi l'acquisto"}, {IT, "checkout", "Procediamo con il pagamento"},
    {IT, "checkout", "Compra tutto quello che c'è nel carrello"}, {IT, "checkout", "Basta così, pago"},
    {IT, "checkout", "Vorrei pagare"}, {IT, "checkout", "Passa al pagamento"},
    {IT, "search_product", "Sto cercando {t}, ce l'avete?"}, {IT, "search_product", "Hai {t}?"},
    {IT, "search_product", "Cerca {tp}"}, {IT, "search_product", "{tp}?"}, {IT, "search_product", "Che {tp} avete?"},
    {IT, "search_product", "Mi aiuti a trovare {t}?"}, {IT, "search_product", "Ci sono {tp}?"},
    {IT, "search_product", "Trovami {t}"},
    {IT, "search_product", "Avete per caso {t}?"},
    {IT, "get_price", "Prezzo di {tb}?"},
    {IT, "get_price", "{ts} quanto costa?"},
    {IT, "get_price", "Vorrei sapere il prezzo di {tb}"},
    {IT, "get_price", "A quanto vendete {ts}?"}, {IT, "get_price", "Quanto si paga {ts}?"},
    {IT, "track_order", "Dove si trova il mio ordine?"}, {IT, "track_order", "Il mio pacco dov'è?"},
    {IT, "track_order", "Il mio ordine è stato spedito?"}, {IT, "track_order", "Quando ricevo il mio ordine?"},
    {IT, "track_order", "Tracciamento del pacco"}, {IT, "track_order", "Può controllare la mia spedizione?"},
    {IT, "track_order", "Non ho ancora ricevuto l'ordine"}, {IT, "track_order", "Il pacco è in viaggio?"},
    {IT, "track_order", "Traccia il pacco per favore"}, {IT, "track_order", "Quanto manca alla consegna?"},
    {IT, "cancel_order", "Annullare l'ordine"}, {IT, "cancel_order", "Annullalo"}, {IT, "cancel_order", "Devo annullare il mio ordine"},
    {IT, "cancel_order", "Come annullo l'ordine?"}, {IT, "cancel_order", "Non spedite l'ordine, lo annullo"},
    {IT, "cancel_order", "Vorrei annullare il mio acquisto"}, {IT, "cancel_order", "Lascia stare, annulla tutto l'ordine"},
    {IT, "cancel_order", "Faccio ancora in tempo ad annullare l'ordine?"}, {IT, "cancel_order", "Annullamento ordine"},
    {IT, "return_product", "Restituire {q}"}, {IT, "return_product", "Vorrei restituire {q}"},
    {IT, "return_product", "Posso restituire {q}?"}, {IT, "return_product", "Voglio il rimborso per {tb}"},
    {IT, "return_product", "Come ottengo un rimborso?"}, {IT, "return_product", "Voglio fare un reso"},
    {IT, "return_product", "L'articolo è arrivato rotto, lo rimando indietro"}, {IT, "return_product", "Rimborso per favore"},
    {IT, "return_product", "Rimando indietro {q}, non mi va bene"}, {IT, "return_product", "Richiesta di reso"},
    {IT, "other", "Buongiorno"}, {IT, "other", "Grazie mille"}, {IT, "other", "Chi sei?"},
    {IT, "other", "Come ti chiami?"}, {IT, "other", "Mi aiuti con i compiti?"},
    {IT, "other", "Qual è la capitale della Spagna?"}, {IT, "other", "ahah"}, {IT, "other", "Che giorno è oggi?"},
    {IT, "other", "Consigliami un film"}, {IT, "other", "Sei un robot?"}, {IT, "other", "Va bene, grazie"},
    {IT, "other", "A dopo"}, {IT, "other", "Pioverà stasera?"},
    // Portuguese, more phrasings
    {PT, "add_to_cart", "{q} por favor"}, {PT, "add_to_cart", "Adiciona {q} pra mim"},
    {PT, "add_to_cart", "Poderia adicionar {q} ao meu carrinho?"}, {PT, "add_to_cart", "Gostaria de comprar {q}"},
    {PT, "add_to_cart", "Me dá {q}"}, {PT, "add_to_cart", "Compro {q}"}, {PT, "add_to_cart", "Adiciona também {q}"},
    {PT, "add_to_cart", "Carrinho: {q}"}, {PT, "add_to_cart", "Põe {q} no carrinho"},
    {PT, "add_to_cart", "Quero adicionar {q} ao carrinho"}, {PT, "add_to_cart", "Coloca {q} pra mim no carrinho?"},
    {PT, "add_to_cart", "Inclui {q} no meu pedido"}, {PT, "add_to_cart", "Vou querer {q}"},
    {PT, "remove_from_cart", "Remove {q}, por favor"}, {PT, "remove_from_cart", "Tira {q}"},
    {PT, "remove_from_cart", "Exclui {q} do meu carrinho, por favor"}, {PT, "remove_from_cart", "Pode tirar {q}?"},
    {PT, "remove_from_cart", "Poderia remover {q} do carrinho?"}, {PT, "remove_from_cart", "Não quero mais {q} no carrinho"},
    {PT, "remove_from_cart", "Tira {q} do pedido"}, {PT, "remove_from_cart", "Remover {q} do carrinho"},
    {PT, "remove_from_cart", "Deleta {q} do carrinho"}, {PT, "remove_from_cart", "Quero remover {q}"},
    {PT, "view_cart", "Carrinho?"}, {PT, "view_cart", "Meu carrinho"}, {PT, "view_cart", "Posso ver meu carrinho?"},
    {PT, "view_cart", "O que eu tenho no carrinho?"}, {PT, "view_cart", "Me mostra o carrinho, por favor"},
    {PT, "view_cart", "Exibir carrinho"}, {PT, "view_cart", "Quantos itens tem no meu carrinho?"},
    {PT, "view_cart", "Deixa eu ver o carrinho"}, {PT, "view_cart", "Conteúdo do carrinho"},
    {PT, "view_cart", "Confere meu carrinho"}, {PT, "view_cart", "Quero ver o que tem no carrinho"},
    {PT, "checkout", "Pagar"}, {PT, "checkout", "Vou para o caixa"}, {PT, "checkout", "Confirma o pedido"},
    {PT, "checkout", "Pronto, terminei, quero pagar"}, {PT, "checkout", "Posso pagar agora?"},
    {PT, "checkout", "Concluir pedido"}, {PT, "checkout", "Bora pagar"}, {PT, "checkout", "Comprar tudo do carrinho"},
    {PT, "checkout", "É só isso, vou pagar"}, {PT, "checkout", "Gostaria de pagar"}, {PT, "checkout", "Seguir para o pagamento"},
    {PT, "search_product", "Procuro {t}, vocês têm?"}, {PT, "search_product", "Tem {t}?"},
    {PT, "search_product", "Buscar {tp}"}, {PT, "search_product", "{tp}?"}, {PT, "search_product", "Que {tp} vocês têm?"},
    {PT, "search_product", "Me ajuda a achar {t}?"}, {PT, "search_product", "Tem {tp} aí?"},
    {PT, "search_product", "Acha {t} pra mim"},
    {PT, "search_product", "Vocês trabalham com {tp}?"}, {PT, "search_product", "Vocês teriam {t}?"},
    {PT, "get_price", "Qual é o preço de {tb}?"},
    {PT, "get_price", "Pode me dizer quanto custa {ts}?"}, {PT, "get_price", "{ts} custa quanto?"},
    {PT, "get_price", "Gostaria de saber o preço de {tb}"}, {PT, "get_price", "Quanto é {ts}?"},
    {PT, "get_price", "Qual o valor de {tb}?"}, {PT, "get_price", "Preço de {tb}?"},
    {PT, "track_order", "Onde está minha encomenda?"}, {PT, "track_order", "Meu pacote está onde?"},
    {PT, "track_order", "Meu pedido já saiu?"}, {PT, "track_order", "Quando recebo meu pedido?"},
    {PT, "track_order", "Rastreio do pacote"}, {PT, "track_order", "Pode verificar minha entrega?"},
    {PT, "track_order", "Ainda não recebi meu pedido"}, {PT, "track_order", "O pacote está a caminho?"},
    {PT, "track_order", "Rastreia meu pacote por favor"}, {PT, "track_order", "Quanto falta para a entrega?"},
    {PT, "cancel_order", "Cancelar pedido"}, {PT, "cancel_order", "Cancela isso"}, {PT, "cancel_order", "Preciso cancelar meu pedido"},
    {PT, "cancel_order", "Como cancelo o pedido?"}, {PT, "cancel_order", "Não enviem meu pedido, quero cancelar"},
    {PT, "cancel_order", "Gostaria de cancelar minha compra"}, {PT, "cancel_order", "Esquece, cancela o pedido todo"},
    {PT, "cancel_order", "Ainda dá tempo de cancelar o pedido?"}, {PT, "cancel_order", "Cancelamento do pedido"},
    {PT, "return_product", "Devolver {q}"}, {PT, "return_product", "Gostaria de devolver {q}"},
    {PT, "return_product", "Posso devolver {q}?"}, {PT, "return_product", "Quero reembolso de {tb}"},
    {PT, "return_product", "Como peço reembolso?"}, {PT, "return_product", "Quero fazer uma devolução"},
    {PT, "return_product", "O produto chegou quebrado, vou devolver"}, {PT, "return_product", "Reembolso por favor"},
    {PT, "return_product", "Vou devolver {q}, não serviu"}, {PT, "return_product", "Pedido de devolução"},
    {PT, "other", "Olá"}, {PT, "other", "Muito obrigado"}, {PT, "other", "Quem é você?"},
    {PT, "other", "Qual é o seu nome?"}, {PT, "other", "Me ajuda com a lição de casa?"},
    {PT, "other", "Qual é a capital da Espanha?"}, {PT, "other", "kkkk"}, {PT, "other", "Que dia é hoje?"},
    {PT, "other", "Me indica um filme"}, {PT, "other", "Você é um robô?"}, {PT, "other", "Beleza, obrigado"},
    {PT, "other", "Até mais"}, {PT, "other", "Vai chover amanhã?"},
};

// Train-bank patterns: a template whose "(a|b|c)" groups each take one of their alternatives, so one line
// stands for many phrasings (the verbs, containers and politeness a shopper picks from). Each pattern is one
// candidate like a template; its phrasing is drawn among its expansions, minus any that is a test template.
const Template kTrainPatterns[] = {
    // English
    {EN, "add_to_cart", "(please |pls |)(add|put|pop|stick|throw|toss|place|load) {q} (in|into) (my|the) (cart|basket|trolley|shopping cart)"},
    {EN, "add_to_cart", "(can|could|would) you (add|put|throw|stick) {q} (in|into) my (cart|basket|trolley)?"},
    {EN, "add_to_cart", "(I'd like|I want|I need|I wanna|gimme|get me|I'll have|I'd love|I'm gonna buy) {q}( please|, thanks|)"},
    {EN, "add_to_cart", "(buy|order|purchase) {q}( for me| please| now|)"},
    {EN, "remove_from_cart", "(please |)(remove|delete|drop|scrap|ditch|clear|pull) {q} (from|out of|off) (my|the) (cart|basket|trolley)"},
    {EN, "remove_from_cart", "I (don't want|no longer want|do not need) {q} in my (cart|basket) (anymore|any more)"},
    {EN, "remove_from_cart", "(can|could) you (remove|delete|take out) {q} from my (cart|basket)?"},
    {EN, "view_cart", "(show|display|list|open|check) (me |)(my|the) (cart|basket|trolley)( please|)"},
    {EN, "view_cart", "what('s| is| do I have) in (my|the) (cart|basket|trolley)( right now| so far|)?"},
    {EN, "view_cart", "(can I|could I|let me) (see|check|look at|review) (my|the) (cart|basket)( please|)"},
    {EN, "checkout", "(I'm ready to|I want to|let me|I'd like to|time to) (pay|check out|complete the order|finish my order|place the order)"},
    {EN, "checkout", "(go to|proceed to|continue to) (checkout|payment|the payment page)( please|)"},
    {EN, "checkout", "(pay for|order) (everything|it all|what's in my cart)( now|)"},
    {EN, "search_product", "(do you have|do you sell|do you carry|have you got|got any) {tp}( in stock| available|)?"},
    {EN, "search_product", "(I'm looking for|I'm searching for|looking for|searching for|find me|where can I find|I need to find) {t}"},
    {EN, "search_product", "(search|browse|look up|find) {tp}( please|)"},
    {EN, "get_price", "(how much is|how much for|what's the price of|what is the price of|price of|what's the cost of) {ts}?"},
    {EN, "get_price", "how much (does|would) {ts} cost( me|)?"},
    {EN, "get_price", "(tell me the price of|I want to know the price of|check the price of) {ts}"},
    {EN, "track_order", "(where is|where's|what's the status of|any news on|track|status of) my (order|package|parcel|delivery)( please|)?"},
    {EN, "track_order", "when (will|does) my (order|package|parcel|delivery) (arrive|come|get here)?"},
    {EN, "track_order", "has my (order|package|parcel) (shipped|been shipped|been sent|left the warehouse)( yet|)?"},
    {EN, "cancel_order", "(please |)(cancel|stop|abort|revoke) my (order|purchase|last order|recent order)( please|)"},
    {EN, "cancel_order", "I (want|need|would like) to cancel (my|the) (order|purchase)"},
    {EN, "cancel_order", "(don't|do not) (ship|send|process) my order, (cancel it|I changed my mind)"},
    {EN, "return_product", "I (want|need|would like) to (return|send back|give back) {q}"},
    {EN, "return_product", "(how do I|can I|how can I) (return|send back) {q}?"},
    {EN, "return_product", "(I want|I'd like|can I get|I need) a refund( please|, it arrived broken|)"},
    {EN, "other", "(hi|hello|hey|good evening|good night)( there|)(!|)"},
    {EN, "other", "(what's|how's) the weather (today|tomorrow|like outside|in Paris)?"},
    {EN, "other", "(tell me a joke|who are you|what's your name|how are you|thanks, bye|what day is it)(?|!|)"},
    // Spanish
    {ES, "add_to_cart", "(añade|agrega|mete|pon|echa|incluye|suma) {q} (al carrito|a la cesta|en el carrito|a mi carrito|en mi cesta)( por favor|, porfa|)"},
    {ES, "add_to_cart", "(quiero|quisiera|necesito|me llevo|dame|compro|voy a comprar|me gustaría comprar) {q}"},
    {ES, "add_to_cart", "(¿puedes|¿podrías|¿me puedes) (añadir|agregar|poner) {q} (al carrito|en la cesta)?"},
    {ES, "remove_from_cart", "(quita|elimina|saca|borra|remueve) {q} (del carrito|de la cesta|de mi carrito|de mi cesta)( por favor|)"},
    {ES, "remove_from_cart", "ya no quiero {q} en (el carrito|la cesta|mi carrito)"},
    {ES, "remove_from_cart", "(¿puedes|¿podrías) (quitar|eliminar|sacar|borrar) {q} (del carrito|de la cesta)?"},
    {ES, "view_cart", "(muéstrame|enséñame|quiero ver|revisa) (mi carrito|el carrito|mi cesta|la cesta)( por favor|)"},
    {ES, "view_cart", "¿qué (hay|tengo) en (mi carrito|el carrito|la cesta|mi cesta)?"},
    {ES, "checkout", "(quiero|quisiera|voy a) (pagar|finalizar la compra|terminar el pedido|hacer el pedido|confirmar el pedido)( ya| ahora|)"},
    {ES, "checkout", "(ir a pagar|ir a la caja|pasar por caja|proceder al pago)( por favor|)"},
    {ES, "search_product", "(¿tienen|¿tenéis|¿vendéis|¿hay) {tp}( disponibles| en stock|)?"},
    {ES, "search_product", "(busco|estoy buscando|necesito encontrar|muéstrame) {t}"},
    {ES, "get_price", "(¿cuánto cuesta|¿qué precio tiene|¿cuánto vale) {ts}?"},
    {ES, "get_price", "(¿cuál es el precio de|precio de|dime el precio de) {tb}"},
    {ES, "track_order", "¿(dónde está|dónde anda|cuándo llega|en qué estado está) mi (pedido|paquete|envío|compra)?"},
    {ES, "track_order", "(quiero rastrear|rastrea|seguimiento de) mi (pedido|paquete|envío)"},
    {ES, "cancel_order", "(cancela|anula) mi (pedido|compra)( por favor|, porfa|)"},
    {ES, "cancel_order", "(quiero|necesito|quisiera) (cancelar|anular) (mi pedido|el pedido|mi compra)"},
    {ES, "return_product", "(quiero|necesito|quisiera) devolver {q}"},
    {ES, "return_product", "(¿cómo devuelvo|¿puedo devolver) {q}?"},
    {ES, "return_product", "(quiero|necesito) (un reembolso|que me devuelvan el dinero)( por favor|)"},
    {ES, "other", "(hola|buenos días|buenas tardes|qué tal|gracias|adiós|hasta luego)(!|)"},
    {ES, "other", "¿(qué tiempo hace|qué hora es|cómo estás|quién eres)( hoy|)?"},
    // German
    {DE, "add_to_cart", "(leg|pack|tu|steck) {q} in (den|meinen) (Warenkorb|Korb|Einkaufswagen)( bitte|)"},
    {DE, "add_to_cart", "(füge|füg) {q} (zum Warenkorb|zu meinem Warenkorb|zum Einkaufswagen) hinzu( bitte|)"},
    {DE, "add_to_cart", "(ich möchte|ich will|ich nehme|ich brauche|ich kaufe|bestell mir|gib mir) {q}( bitte|)"},
    {DE, "remove_from_cart", "(entferne|lösch|nimm) {q} aus (dem|meinem) (Warenkorb|Korb|Einkaufswagen)( bitte|)"},
    {DE, "remove_from_cart", "(kannst du|könntest du) {q} aus dem (Warenkorb|Korb) (entfernen|löschen|nehmen)?"},
    {DE, "remove_from_cart", "ich will {q} nicht mehr im (Warenkorb|Korb|Einkaufswagen)"},
    {DE, "view_cart", "(zeig mir|zeige mir|öffne) (meinen Warenkorb|den Warenkorb|meinen Einkaufswagen)( bitte|)"},
    {DE, "view_cart", "was (ist|liegt|habe ich) in meinem (Warenkorb|Korb|Einkaufswagen)?"},
    {DE, "checkout", "(ich möchte|ich will|lass uns|jetzt) (bezahlen|zur Kasse gehen|zahlen)"},
    {DE, "checkout", "(zur Kasse|zum Bezahlen|weiter zur Kasse)( bitte|)"},
    {DE, "checkout", "ich möchte die Bestellung (abschließen|abschicken|bezahlen)"},
    {DE, "search_product", "(habt ihr|haben Sie|gibt es|führt ihr|verkaufen Sie) {tp}( auf Lager|)?"},
    {DE, "search_product", "(ich suche|ich brauche|zeig mir|suche) {t}"},
    {DE, "get_price", "(was kostet|wie viel kostet) {ts}?"},
    {DE, "get_price", "(was kosten|wie viel kosten) {tp}?"},
    {DE, "get_price", "(wie ist der Preis für|Preis für|sag mir den Preis für) {t}"},
    {DE, "track_order", "(wo ist|wo bleibt|wann kommt) (meine Bestellung|mein Paket|meine Lieferung|meine Sendung)?"},
    {DE, "track_order", "(Status|Sendungsverfolgung) (meiner Bestellung|meines Pakets|meiner Lieferung)( bitte|)"},
    {DE, "cancel_order", "(storniere|stornier|annulliere) (meine Bestellung|den Auftrag|meinen Kauf)( bitte|)"},
    {DE, "cancel_order", "ich (möchte|will) (meine Bestellung|die Bestellung|meinen Kauf) stornieren"},
    {DE, "return_product", "ich (möchte|will) {q} zurückgeben"},
    {DE, "return_product", "(wie kann ich|kann ich) {q} (zurückschicken|umtauschen)?"},
    {DE, "return_product", "ich (möchte|will|hätte gern) (mein Geld zurück|eine Rückerstattung)"},
    {DE, "other", "(hallo|guten Morgen|guten Tag|servus|danke|tschüss)(!|)"},
    {DE, "other", "(wie ist das Wetter|wie spät ist es|wer bist du|wie geht's)( heute|)?"},
    // French
    {FR, "add_to_cart", "(ajoute|mets|place) {q} (dans le panier|dans mon panier|au panier)( stp| s'il te plaît|)"},
    {FR, "add_to_cart", "(je veux|je voudrais|je prends|il me faut|donne-moi|j'achète) {q}"},
    {FR, "add_to_cart", "(tu peux|vous pouvez|pourrais-tu) (ajouter|mettre) {q} dans (le|mon) panier ?"},
    {FR, "remove_from_cart", "(enlève|retire|supprime|vire) {q} (du panier|de mon panier)( stp| s'il te plaît|)"},
    {FR, "remove_from_cart", "je ne veux plus {q} dans (le|mon) panier"},
    {FR, "remove_from_cart", "(tu peux|vous pouvez) (enlever|retirer|supprimer) {q} du panier ?"},
    {FR, "view_cart", "(montre-moi|affiche|ouvre) (mon panier|le panier)( stp|)"},
    {FR, "view_cart", "qu'est-ce qu'il y a dans (mon|le) panier ?"},
    {FR, "checkout", "(je veux|je voudrais|on peut) (payer|passer commande|valider ma commande|finaliser l'achat)( maintenant|)"},
    {FR, "checkout", "(aller|passer) (à la caisse|au paiement)( stp|)"},
    {FR, "search_product", "(vous avez|avez-vous|est-ce que vous avez|vous auriez) {t} ?"},
    {FR, "search_product", "(je cherche|je recherche|montre-moi) {t}"},
    {FR, "get_price", "(combien coûte|c'est combien) {ts} ?"},
    {FR, "get_price", "(je veux savoir|dites-moi) combien coûte {ts}"},
    {FR, "track_order", "(où est|où en est) (ma commande|mon colis|ma livraison) ?"},
    {FR, "track_order", "(suivre|suivi de) (ma commande|mon colis)( stp|)"},
    {FR, "track_order", "quand (arrive|arrivera) (ma commande|mon colis) ?"},
    {FR, "cancel_order", "(annule|annulez) (ma commande|mon achat)( stp| s'il vous plaît|)"},
    {FR, "cancel_order", "je (veux|voudrais) annuler (ma commande|mon achat)"},
    {FR, "return_product", "je (veux|voudrais) (retourner|renvoyer) {q}"},
    {FR, "return_product", "(comment|est-ce que je peux) (retourner|renvoyer) {q} ?"},
    {FR, "return_product", "je (veux|voudrais) (un remboursement|être remboursé)"},
    {FR, "other", "(bonjour|salut|bonsoir|merci|au revoir)( !|)"},
    {FR, "other", "(quel temps fait-il|quelle heure est-il|comment ça va|qui es-tu) ?"},
    // Italian
    {IT, "add_to_cart", "(aggiungi|metti) {q} nel (carrello|mio carrello)( per favore|)"},
    {IT, "add_to_cart", "(voglio|vorrei|prendo|compro|dammi) {q}( per favore|)"},
    {IT, "add_to_cart", "(puoi|potresti) (aggiungere|mettere) {q} nel carrello?"},
    {IT, "remove_from_cart", "(togli|rimuovi|elimina|cancella) {q} dal carrello( per favore|, grazie|)"},
    {IT, "remove_from_cart", "non voglio più {q} nel (carrello|mio carrello)"},
    {IT, "remove_from_cart", "(puoi|potresti) (togliere|rimuovere|eliminare) {q} dal carrello?"},
    {IT, "view_cart", "(mostrami|fammi vedere|apri) il (mio |)carrello( per favore|)"},
    {IT, "view_cart", "cosa c'è nel (mio |)carrello?"},
    {IT, "checkout", "(voglio|vorrei) (pagare|completare l'ordine|procedere al pagamento)( ora| adesso|)"},
    {IT, "checkout", "(vai|andiamo) alla cassa( per favore|)"},
    {IT, "search_product", "(avete|tenete) {tp}( disponibili|)?"},
    {IT, "search_product", "(cerco|sto cercando|mostrami) {t}"},
    {IT, "get_price", "(quanto costa|mi dici quanto costa) {ts}?"},
    {IT, "get_price", "(quanto costano|che prezzo hanno) {tp}?"},
    {IT, "track_order", "(dov'è|dove si trova) il mio (ordine|pacco)?"},
    {IT, "track_order", "quando arriva il mio (ordine|pacco)?"},
    {IT, "cancel_order", "(annulla|cancella) il mio ordine( per favore|)"},
    {IT, "cancel_order", "(voglio|vorrei) annullare (il mio ordine|l'ordine)"},
    {IT, "return_product", "(voglio|vorrei) (restituire|rendere) {q}"},
    {IT, "return_product", "(voglio|vorrei) un rimborso( per favore|)"},
    {IT, "return_product", "come (posso restituire|restituisco) {q}?"},
    {IT, "other", "(ciao|buongiorno|buonasera|grazie|arrivederci)(!|)"},
    {IT, "other", "(che tempo fa|che ore sono|come stai|chi sei)( oggi|)?"},
    // Portuguese
    {PT, "add_to_cart", "(adiciona|adicione|coloca|coloque|põe) {q} no (carrinho|meu carrinho)( por favor|)"},
    {PT, "add_to_cart", "(quero|queria|vou levar|me dá|compro) {q}"},
    {PT, "add_to_cart", "(pode|você pode) (adicionar|colocar) {q} no carrinho?"},
    {PT, "remove_from_cart", "(tira|tire|remove|remova|exclui|apaga) {q} do (carrinho|meu carrinho)( por favor|)"},
    {PT, "remove_from_cart", "não quero mais {q} no (carrinho|meu carrinho)"},
    {PT, "remove_from_cart", "(pode|você pode) (tirar|remover) {q} do carrinho?"},
    {PT, "view_cart", "(mostra|mostre|abre|abra) (o meu carrinho|meu carrinho|o carrinho)( por favor|)"},
    {PT, "view_cart", "o que (tem|há) no (meu |)carrinho?"},
    {PT, "checkout", "(quero|queria|vou) (pagar|finalizar a compra|fechar o pedido)( agora|)"},
    {PT, "checkout", "(ir para o|ir pro) pagamento( por favor|)"},
    {PT, "search_product", "(vocês têm|têm|tem) {tp}( disponíveis|)?"},
    {PT, "search_product", "(procuro|estou procurando|quero ver) {t}"},
    {PT, "get_price", "(quanto custa|me diz quanto custa) {ts}?"},
    {PT, "get_price", "(quanto custam|qual o preço de) {tp}?"},
    {PT, "track_order", "(onde está|cadê) (meu pedido|minha encomenda|meu pacote)?"},
    {PT, "track_order", "(rastrear|rastreio do) (meu pedido|meu pacote)( por favor|)"},
    {PT, "cancel_order", "(cancela|cancele) (meu pedido|minha compra)( por favor|)"},
    {PT, "cancel_order", "(quero|queria) cancelar (meu pedido|o pedido|minha compra)"},
    {PT, "return_product", "(quero|queria|preciso) devolver {q}"},
    {PT, "return_product", "(quero|queria) (meu dinheiro de volta|um reembolso)( por favor|)"},
    {PT, "other", "(oi|olá|bom dia|boa tarde|obrigado|tchau)(!|)"},
    {PT, "other", "(que horas são|como vai|quem é você|como está o tempo)( hoje|)?"},
};

// Phrasings only test.jsonl uses.
const Template kTestTemplates[] = {
    {EN, "add_to_cart", "throw {q} into my cart"}, {EN, "add_to_cart", "could you pop {q} in my basket?"},
    {EN, "add_to_cart", "grab me {q}"},
    {EN, "remove_from_cart", "get rid of {q} in my cart"}, {EN, "remove_from_cart", "scrap {q} from the basket"},
    {EN, "view_cart", "list everything in my basket"}, {EN, "view_cart", "cart contents?"},
    {EN, "checkout", "finish the purchase"}, {EN, "checkout", "take me to payment"},
    {EN, "search_product", "any {tp} in stock?"}, {EN, "search_product", "browse {tp}"},
    {EN, "get_price", "what would {ts} set me back?"}, {EN, "get_price", "cost of {tb}?"},
    {EN, "track_order", "my delivery still hasn't come, where is it?"}, {EN, "track_order", "any update on my shipment?"},
    {EN, "cancel_order", "I changed my mind, call off my order"}, {EN, "cancel_order", "undo the order I just placed"},
    {EN, "return_product", "I need to send back {q}"}, {EN, "return_product", "can I get my money back?"},
    {EN, "other", "good morning!"}, {EN, "other", "what time is it in Tokyo?"}, {EN, "other", "do you like music?"},

    {ES, "add_to_cart", "¿puedes meter {q} en el carro?"}, {ES, "add_to_cart", "apúntame {q}"},
    {ES, "remove_from_cart", "retira {q} de mi cesta"}, {ES, "remove_from_cart", "descarta {q} del carrito"},
    {ES, "view_cart", "¿qué llevo en el carrito?"}, {ES, "view_cart", "abre mi cesta"},
    {ES, "checkout", "tramita el pedido ya"}, {ES, "checkout", "quiero terminar la compra y pagar"},
    {ES, "search_product", "¿venden {t}?"}, {ES, "search_product", "ando buscando {t}"},
    {ES, "get_price", "¿a cuánto está {ts}?"}, {ES, "get_price", "¿me dices el precio de {tb}?"},
    {ES, "track_order", "mi pedido no ha llegado todavía"}, {ES, "track_order", "¿por dónde va mi paquete?"},
    {ES, "cancel_order", "quiero anular la orden que hice ayer"}, {ES, "cancel_order", "¿puedo cancelar mi compra?"},
    {ES, "return_product", "me gustaría devolver {q}, no me queda bien"},
    {ES, "return_product", "necesito que me reembolsen el dinero"},
    {ES, "other", "¿quién ganó el partido anoche?"}, {ES, "other", "buenas noches"},

    {DE, "add_to_cart", "Kannst du {q} in den Korb tun?"}, {DE, "add_to_cart", "Ich hätte gern {q}"},
    {DE, "remove_from_cart", "Bitte {q} aus dem Warenkorb streichen"},
    {DE, "remove_from_cart", "Schmeiß {q} aus dem Einkaufswagen"},
    {DE, "view_cart", "Inhalt vom Warenkorb bitte"}, {DE, "view_cart", "Öffne meinen Einkaufswagen"},
    {DE, "checkout", "Ich will die Bestellung aufgeben"}, {DE, "checkout", "Weiter zur Zahlung"},
    {DE, "search_product", "Verkauft ihr {t}?"}, {DE, "search_product", "Wo finde ich {t}?"},
    {DE, "get_price", "Wie teuer ist {ts}?"}, {DE, "get_price", "Was muss ich für {t} zahlen?"},
    {DE, "track_order", "Mein Paket ist immer noch nicht da"}, {DE, "track_order", "Ist meine Lieferung schon unterwegs?"},
    {DE, "cancel_order", "Bitte meinen Auftrag rückgängig machen"},
    {DE, "cancel_order", "Kann ich die Bestellung noch canceln?"},
    {DE, "return_product", "Bitte {q} zurücksenden, passt nicht"}, {DE, "return_product", "Erstattung bitte, die Ware ist kaputt"},
    {DE, "other", "Guten Abend!"}, {DE, "other", "Wer hat gestern das Spiel gewonnen?"},

    {FR, "add_to_cart", "Rajoute-moi {q} dans le panier"}, {FR, "add_to_cart", "J'aimerais commander {q}"},
    {FR, "remove_from_cart", "Vire {q} de mon panier"}, {FR, "remove_from_cart", "Ôte {q} du panier"},
    {FR, "view_cart", "C'est quoi dans mon panier ?"}, {FR, "view_cart", "Ouvre le panier"},
    {FR, "checkout", "On finalise l'achat"}, {FR, "checkout", "Je règle maintenant"},
    {FR, "search_product", "Vous vendez {t} ?"}, {FR, "search_product", "Je voudrais voir vos {tp}"},
    {FR, "get_price", "Ça vaut combien, {ts} ?"}, {FR, "get_price", "Quel est le tarif pour {t} ?"},
    {FR, "track_order", "Mon colis n'est toujours pas là"}, {FR, "track_order", "Ma commande a été expédiée ?"},
    {FR, "cancel_order", "Je ne veux plus de ma commande, annulez-la"}, {FR, "cancel_order", "Stoppe ma commande"},
    {FR, "return_product", "Je dois rendre {q}"}, {FR, "return_product", "Remboursez-moi s'il vous plaît"},
    {FR, "other", "Bonne soirée"}, {FR, "other", "Qui a gagné le match hier ?"},

    {IT, "add_to_cart", "Inserisci {q} nel carrello"}, {IT, "add_to_cart", "Vorrei ordinare {q}"},
    {IT, "remove_from_cart", "Leva {q} dal carrello"}, {IT, "remove_from_cart", "Cancella {q} dal mio carrello"},
    {IT, "view_cart", "Che cosa ho messo nel carrello?"}, {IT, "view_cart", "Apri il mio carrello"},
    {IT, "checkout", "Concludiamo l'acquisto"}, {IT, "checkout", "Pago adesso"},
    {IT, "search_product", "Vendete {t}?"}, {IT, "search_product", "Vorrei vedere {t}"},
    {IT, "get_price", "Quanto viene {ts}?"}, {IT, "get_price", "Mi dici quanto costa {ts}?"},
    {IT, "track_order", "Il pacco non è ancora arrivato"}, {IT, "track_order", "A che punto è la mia consegna?"},
    {IT, "cancel_order", "Non voglio più l'ordine, annullalo"}, {IT, "cancel_order", "Posso disdire l'ordine?"},
    {IT, "return_product", "Devo rispedire {q}"}, {IT, "return_product", "Rivoglio i miei soldi"},
    {IT, "other", "Buonanotte"}, {IT, "other", "Chi ha vinto la partita ieri?"},

    {PT, "add_to_cart", "Bota {q} no carrinho"}, {PT, "add_to_cart", "Queria encomendar {q}"},
    {PT, "remove_from_cart", "Apaga {q} do carrinho"}, {PT, "remove_from_cart", "Retira {q} do meu carrinho"},
    {PT, "view_cart", "Quais itens estão no carrinho?"}, {PT, "view_cart", "Me mostra o que eu coloquei no carrinho"},
    {PT, "checkout", "Vamos concluir a compra"}, {PT, "checkout", "Pagar agora"},
    {PT, "search_product", "Vocês vendem {t}?"}, {PT, "search_product", "Queria ver {t}"},
    {PT, "get_price", "Quanto sai {ts}?"}, {PT, "get_price", "Quanto está {ts}?"},
    {PT, "track_order", "Minha encomenda ainda não chegou"}, {PT, "track_order", "Meu pacote já foi enviado?"},
    {PT, "cancel_order", "Desisti, cancela a encomenda"}, {PT, "cancel_order", "Dá pra cancelar meu pedido?"},
    {PT, "return_product", "Vou mandar de volta {q}"}, {PT, "return_product", "Quero reembolso"},
    {PT, "other", "Boa noite"}, {PT, "other", "Quem ganhou o jogo ontem?"},
};

// Per-language noise vocabulary; [0] = train bank, [1] = test bank (disjoint lists).
struct LangNoise {
    std::vector<const char*> polite[2];   // appended (", please")
    std::vector<const char*> filler[2];   // prepended ("hey, ")
    std::vector<std::pair<const char*, const char*>> slang[2];  // whole-word substitutions
    std::vector<const char*> colour[2];   // descriptors appended to a product
    std::vector<const char*> size[2];
};

const LangNoise kNoise[6] = {
    {{{"please", "thanks", "pls", "thank you", "ty", "if possible"}, {"if you don't mind", "cheers"}},
     {{"hey", "um", "ok so", "hi", "hello", "so", "hmm", "excuse me"}, {"yo", "well"}},
     {{{"please", "pls"}, {"you", "u"}, {"thanks", "thx"}, {"to", "2"}, {"are", "r"}, {"want to", "wanna"}},
      {{"please", "plz"}, {"for", "4"}, {"the", "da"}, {"I'm", "im"}, {"my", "mah"}}},
     {{"in black", "in red", "in white"}, {"in navy blue", "in beige"}},
     {{"in size M", "in size L"}, {"size XL", "size 42"}}},
    {{{"por favor", "gracias", "por fa", "si puedes", "muchas gracias"}, {"si no es molestia", "mil gracias"}},
     {{"oye", "bueno", "hola", "a ver", "perdona", "buenas"}, {"mira", "pues nada"}},
     {{{"por favor", "porfa"}, {"que", "q"}, {"quiero", "kiero"}, {"qué", "q"}},
      {{"por favor", "xfa"}, {"por", "x"}, {"gracias", "grax"}}},
     {{"en negro", "en rojo", "en blanco"}, {"en azul marino", "en beige"}},
     {{"talla M", "talla L"}, {"talla XL", "talla 42"}}},
    {{{"bitte", "danke", "wäre nett", "danke schön", "wenn möglich"}, {"wenn's geht", "vielen Dank"}},
     {{"hey", "also", "hallo", "sag mal", "moin", "sorry"}, {"äh", "na"}},
     {{{"bitte", "pls"}, {"ich", "i"}, {"habe", "hab"}, {"nicht", "nich"}, {"einen", "nen"}},
      {{"danke", "thx"}, {"eine", "ne"}, {"bitte", "bidde"}, {"ist", "is"}}},
     {{"in Schwarz", "in Rot", "in Weiß"}, {"in Dunkelblau", "in Beige"}},
     {{"in Größe M", "in Größe L"}, {"Größe XL", "Größe 42"}}},
    {{{"s'il vous plaît", "merci", "merci d'avance", "si ça ne vous dérange pas"}, {"si possible", "merci beaucoup"}},
     {{"salut", "euh", "alors", "dis", "hé", "bonjour"}, {"bon", "coucou"}},
     {{{"s'il vous plaît", "svp"}, {"je veux", "jveux"}, {"quoi", "koi"}, {"merci", "mci"}},
      {{"s'il te plaît", "stp"}, {"c'est", "c"}, {"merci", "mrc"}, {"pourquoi", "pk"}}},
     {{"en noir", "en rouge", "en blanc"}, {"en bleu marine", "en beige"}},
     {{"taille M", "taille L"}, {"taille XL", "taille 42"}}},
    {{{"per favore", "grazie", "per cortesia", "grazie in anticipo"}, {"se possibile", "grazie mille"}},
     {{"ciao", "allora", "ehm", "scusa", "ehi", "buongiorno"}, {"senti", "boh"}},
     {{{"per favore", "x favore"}, {"che", "ke"}, {"non", "nn"}, {"grazie", "grz"}},
      {{"per favore", "x fav"}, {"perché", "xké"}, {"comunque", "cmq"}, {"mi", "m"}}},
     {{"in nero", "in rosso", "in bianco"}, {"blu navy", "beige"}},
     {{"taglia M", "taglia L"}, {"taglia XL", "taglia 42"}}},
    {{{"por favor", "obrigado", "por gentileza", "obrigada"}, {"se possível", "valeu"}},
     {{"oi", "então", "olha", "ei", "bom", "com licença"}, {"tipo", "e aí"}},
     {{{"por favor", "pfv"}, {"você", "vc"}, {"que", "q"}, {"obrigado", "obg"}},
      {{"obrigado", "vlw"}, {"também", "tb"}, {"não", "n"}, {"vocês", "vcs"}}},
     {{"em preto", "em vermelho", "em branco"}, {"azul-marinho", "bege"}},
     {{"tamanho M", "tamanho G"}, {"tamanho GG", "tamanho 42"}}},
};

const std::vector<const char*> kEmoji[2] = {
    {"\xF0\x9F\x99\x82", "\xF0\x9F\x9B\x92", "\xF0\x9F\x99\x8F", "\xF0\x9F\x98\x85", "\xF0\x9F\x91\x8D", "\xF0\x9F\x98\x8A"},
    {"\xF0\x9F\xA4\x94", "\xF0\x9F\x98\x82", "\xF0\x9F\xA5\xBA", "\xE2\x9C\xA8", "\xF0\x9F\x92\xAF"},
};

// --- UTF-8 helpers --------------------------------------------------------------------------------------

// Splits a string into code points (each as its UTF-8 bytes), so that typos never cut a character in half.
std::vector<std::string> chars_of(const std::string& s) {
    std::vector<std::string> out;
    for (size_t i = 0; i < s.size();) {
        unsigned char c = (unsigned char)s[i];
        size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 1;
        n = std::min(n, s.size() - i);
        out.push_back(s.substr(i, n));
        i += n;
    }
    return out;
}

std::string join_chars(const std::vector<std::string>& v) {
    std::string s;
    for (const auto& c : v) s += c;
    return s;
}

bool is_letter(const std::string& ch) {
    if (ch.size() == 1) return std::isalpha((unsigned char)ch[0]) != 0;
    return ch.size() == 2 && (unsigned char)ch[0] == 0xC3;  // Latin-1 letters (à, é, ß, ñ, ...)
}

// Case mapping for ASCII and the Latin-1 letters (U+00C0..U+00FE, whose UTF-8 forms differ by 0x20 in the
// second byte), which covers every letter of the six languages.
std::string to_upper(const std::string& s) {
    std::string o = s;
    for (size_t i = 0; i < o.size(); i++) {
        unsigned char c = (unsigned char)o[i];
        if (c >= 'a' && c <= 'z') o[i] = char(c - 32);
        else if (c == 0xC3 && i + 1 < o.size()) {
            unsigned char d = (unsigned char)o[i + 1];
            if (d >= 0xA0 && d <= 0xBE && d != 0xB7 && d != 0x9F) o[i + 1] = char(d - 0x20);
            i++;
        }
    }
    return o;
}
std::string to_lower(const std::string& s) {
    std::string o = s;
    for (size_t i = 0; i < o.size(); i++) {
        unsigned char c = (unsigned char)o[i];
        if (c >= 'A' && c <= 'Z') o[i] = char(c + 32);
        else if (c == 0xC3 && i + 1 < o.size()) {
            unsigned char d = (unsigned char)o[i + 1];
            if (d >= 0x80 && d <= 0x9E && d != 0x97) o[i + 1] = char(d + 0x20);
            i++;
        }
    }
    return o;
}

// What a phone keyboard without accents produces.
std::string strip_accents(const std::string& s) {
    static const std::pair<const char*, const char*> map[] = {
        {"á", "a"}, {"à", "a"}, {"â", "a"}, {"ã", "a"}, {"ä", "a"}, {"é", "e"}, {"è", "e"}, {"ê", "e"}, {"ë", "e"},
        {"í", "i"}, {"ì", "i"}, {"î", "i"}, {"ï", "i"}, {"ó", "o"}, {"ò", "o"}, {"ô", "o"}, {"õ", "o"}, {"ö", "o"},
        {"ú", "u"}, {"ù", "u"}, {"û", "u"}, {"ü", "u"}, {"ñ", "n"}, {"ç", "c"}, {"ß", "ss"}, {"Á", "A"}, {"É", "E"},
        {"Í", "I"}, {"Ó", "O"}, {"Ú", "U"}, {"Ä", "A"}, {"Ö", "O"}, {"Ü", "U"}, {"Ç", "C"}, {"Ñ", "N"}, {"À", "A"},
        {"È", "E"}, {"Ô", "O"}, {"Ê", "E"}, {"Â", "A"}, {"¿", ""}, {"¡", ""},
    };
    std::string out;
    for (const auto& ch : chars_of(s)) {
        const char* rep = nullptr;
        for (const auto& [from, to] : map)
            if (ch == from) rep = to;
        out += rep ? rep : ch;
    }
    return out;
}

// QWERTY neighbours, for the "fat finger" typo.
const char* neighbours(char c) {
    static const char* rows[] = {"qwertyuiop", "asdfghjkl", "zxcvbnm"};
    static char buf[8];
    c = char(std::tolower((unsigned char)c));
    int n = 0;
    for (int r = 0; r < 3; r++) {
        const char* row = rows[r];
        const char* p = std::strchr(row, c);
        if (!p || !c) continue;
        int i = int(p - row);
        if (i > 0) buf[n++] = row[i - 1];
        if (row[i + 1]) buf[n++] = row[i + 1];
        if (r > 0 && i < int(std::strlen(rows[r - 1]))) buf[n++] = rows[r - 1][i];
        if (r < 2 && i < int(std::strlen(rows[r + 1]))) buf[n++] = rows[r + 1][i];
    }
    buf[n] = 0;
    return buf;
}

std::vector<std::string> split_words(const std::string& s) {
    std::vector<std::string> w;
    size_t i = 0;
    while (i < s.size()) {
        size_t j = s.find(' ', i);
        if (j == std::string::npos) j = s.size();
        if (j > i) w.push_back(s.substr(i, j - i));
        i = j + 1;
    }
    return w;
}
std::string join_words(const std::vector<std::string>& w) {
    std::string s;
    for (size_t i = 0; i < w.size(); i++) s += (i ? " " : "") + w[i];
    return s;
}

// Words typos and elongation leave alone: anything holding a digit, and every number word, so the quantity
// stays recoverable. Product words may be misspelled (shoppers do that), the label stays the catalog id.
bool protected_word(const std::string& w) {
    static const std::set<std::string> numbers = {
        "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "a", "an", "un", "una",
        "uno", "dos", "tres", "cuatro", "cinco", "seis", "siete", "ocho", "nueve", "diez", "ein", "eine", "einen",
        "zwei", "drei", "vier", "fünf", "sechs", "sieben", "acht", "neun", "zehn", "une", "deux", "trois", "quatre",
        "cinq", "sept", "huit", "neuf", "dix", "due", "tre", "quattro", "cinque", "sei", "sette", "otto", "nove",
        "dieci", "um", "uma", "dois", "duas", "três", "sete", "oito", "dez"};
    for (char c : w)
        if (std::isdigit((unsigned char)c)) return true;
    std::string core;
    for (char c : w)
        if (c != ',' && c != '?' && c != '!' && c != '.') core += c;
    return numbers.count(to_lower(core)) > 0 || core.rfind("un'", 0) == 0;
}

const char* const kKindsTrain[] = {"typo_swap", "typo_drop", "typo_double", "typo_neighbor", "no_accents", "slang",
                                   "upper", "lower", "emoji", "no_punct", "filler", "politeness"};
const char* const kKindsTestOnly[] = {"elongate", "no_space"};

struct Built {
    std::string text;
    std::optional<std::string> product;
    std::optional<int64_t> quantity;
};

}  // namespace

const std::vector<std::string>& noise_kinds(Bank bank) {
    static const std::vector<std::string> train(std::begin(kKindsTrain), std::end(kKindsTrain));
    static const std::vector<std::string> test = [] {
        std::vector<std::string> v(std::begin(kKindsTrain), std::end(kKindsTrain));
        v.insert(v.end(), std::begin(kKindsTestOnly), std::end(kKindsTestOnly));
        return v;
    }();
    return bank == Bank::train ? train : test;
}

namespace {

// Every expansion of a pattern's "(a|b|c)" groups (no nesting), in order.
std::vector<std::string> expand_pattern(const std::string& p) {
    std::vector<std::string> out = {""};
    size_t i = 0;
    while (i < p.size()) {
        if (p[i] != '(') {
            size_t j = p.find('(', i);
            if (j == std::string::npos) j = p.size();
            for (auto& o : out) o += p.substr(i, j - i);
            i = j;
            continue;
        }
        const size_t close = p.find(')', i);
        if (close == std::string::npos) fail("intent pattern \"%s\": unclosed (", p.c_str());
        std::vector<std::string> alts;
        for (size_t a = i + 1;;) {
            const size_t bar = p.find('|', a);
            const size_t end = bar == std::string::npos || bar > close ? close : bar;
            alts.push_back(p.substr(a, end - a));
            if (end == close) break;
            a = end + 1;
        }
        std::vector<std::string> next;
        for (const auto& o : out)
            for (const auto& a : alts) next.push_back(o + a);
        out.swap(next);
        i = close + 1;
    }
    return out;
}

// The train patterns' expansions, each phrasing once, none equal to a test template (case aside): the banks
// stay disjoint phrasing by phrasing. Built once.
const std::vector<std::vector<std::string>>& pattern_expansions() {
    static const std::vector<std::vector<std::string>> k = [] {
        // Left out: an expansion that is a test template, a train template or an earlier expansion (case aside).
        std::set<std::string> seen;
        for (const Template& t : kTestTemplates) seen.insert(std::to_string(t.lang) + "|" + to_lower(t.text));
        for (const Template& t : kTrainTemplates) seen.insert(std::to_string(t.lang) + "|" + to_lower(t.text));
        std::vector<std::vector<std::string>> v;
        for (const Template& t : kTrainPatterns) {
            std::vector<std::string> keep;
            for (std::string& e : expand_pattern(t.text))
                if (seen.insert(std::to_string(t.lang) + "|" + to_lower(e)).second) keep.push_back(std::move(e));
            // (a pattern whose phrasings all exist already adds nothing and is no candidate)
            v.push_back(std::move(keep));
        }
        return v;
    }();
    return k;
}

}  // namespace

std::vector<std::string> template_strings(Bank bank) {
    std::vector<std::string> out;
    auto add = [&](const Template* b, const Template* e) {
        for (const Template* t = b; t != e; ++t) out.push_back(languages()[size_t(t->lang)] + "|" + t->action + "|" + t->text);
    };
    if (bank == Bank::train) {
        add(std::begin(kTrainTemplates), std::end(kTrainTemplates));
        const auto& ex = pattern_expansions();
        for (size_t i = 0; i < ex.size(); i++)
            for (const std::string& e : ex[i])
                out.push_back(languages()[size_t(kTrainPatterns[i].lang)] + "|" + kTrainPatterns[i].action + "|" + e);
    } else {
        add(std::begin(kTestTemplates), std::end(kTestTemplates));
    }
    return out;
}

Generator::Generator(const GenOptions& opt, Bank bank) : opt_(opt), bank_(bank), rng_(opt.seed * 2 + (bank == Bank::test)) {
    if (opt_.langs.empty()) opt_.langs = languages();
    for (const auto& l : opt_.langs) {
        int i = language_index(l);
        if (i < 0) fail("unknown language \"%s\" (expected some of en, es, de, fr, it, pt)", l.c_str());
        if (std::find(langs_.begin(), langs_.end(), i) == langs_.end()) langs_.push_back(i);
    }
    if (opt_.noise_per_mille < 0 || opt_.noise_per_mille > 1000) fail("noise rate must be in [0, 1]");
    for (int k = 0; k < 20; k++) rng_.next();  // decorrelate nearby seeds
    noun_turn_.assign(catalog().products.size() * languages().size(), 0);
}

namespace {

// A plural without a number: bare in every language but French, which needs "des" ("je cherche des lampes").
std::string bare_plural(int lang, const Noun& noun) { return (lang == FR ? "des " : "") + noun.pl; }

// The product phrase for a slot. frame = template language (German case comes from it), lang = the
// product's language (differs in mixed messages).
Built fill_slot(Rng& rng, const std::string& slot, int lang, int bank, int product, int turn) {
    const auto& nouns = product_nouns(product, lang);
    const Noun& noun = nouns[size_t(turn) % nouns.size()];
    const bool has_sg = has_singular(noun);
    Built b;
    b.product = catalog().products[size_t(product)].id;
    Case c = slot == "ts" ? Case::nom : Case::acc;
    std::string np;
    if (slot == "q") {
        // digits 30%, "3x" 6%, "x3" 4%, number word 22%, "a"/"one" 16%, definite 11%, bare plural 11%
        int form = rng.weighted({300, 60, 40, 220, 160, 110, 110});
        if (form == 4 && !has_sg) form = 3;
        int n = 1 + rng.weighted({150, 260, 190, 120, 80, 60, 40, 30, 30, 40});  // 1..10, small numbers common
        if (form == 0 && rng.chance(100)) n = 11 + rng.uniform(40);             // occasionally bigger, as digits
        if ((form == 1 || form == 2) && n == 1) n = 2;
        if (!has_sg && n == 1) n = 2;  // "one jeans" is not how anyone counts plural-only words
        const std::string& word = n == 1 ? noun.sg : noun.pl;
        switch (form) {
            case 0: np = std::to_string(n) + " " + word; b.quantity = n; break;
            case 1: np = std::to_string(n) + (rng.chance(500) ? "x " : " x ") + noun.pl; b.quantity = n; break;
            case 2: np = noun.pl + " x" + std::to_string(n); b.quantity = n; break;
            case 3: np = number_word(lang, n, noun, c); b.quantity = n; break;
            case 4: np = np_indef(lang, noun, c); b.quantity = 1; break;
            case 5: np = np_def(lang, noun, rng.chance(400), c); break;
            default: np = bare_plural(lang, noun); break;
        }
    } else if (slot == "t") {
        int form = rng.weighted({350, 300, 350});  // indefinite, definite, bare plural
        if (form == 0 && !has_sg) form = 2;
        np = form == 0 ? np_indef(lang, noun, c) : form == 1 ? np_def(lang, noun, false, c) : bare_plural(lang, noun);
    } else if (slot == "ts") {
        np = (has_sg && rng.chance(500)) ? np_indef(lang, noun, c) : np_def(lang, noun, false, c);
    } else if (slot == "tb") {
        np = (has_sg && rng.chance(500)) ? noun.sg : noun.pl;
    } else if (slot == "tp") {
        np = noun.pl;
    } else {
        fail("intent templates: unknown slot {%s}", slot.c_str());
    }
    // colours for most things, sizes for clothes and shoes; never part of the id
    const std::string& cat = catalog().products[size_t(product)].category;
    if (slot != "tb" && slot != "tp" && rng.chance(150)) {
        const LangNoise& ln = kNoise[lang];
        bool sized = cat == "apparel" || cat == "footwear";
        if (sized && rng.chance(500)) np += std::string(" ") + ln.size[bank][size_t(rng.uniform(int(ln.size[bank].size())))];
        else if (cat != "grocery" && cat != "beauty" && cat != "media")
            np += std::string(" ") + ln.colour[bank][size_t(rng.uniform(int(ln.colour[bank].size())))];
    }
    b.text = np;
    return b;
}

// Whole-word (whole-phrase) replacement, case-sensitive; returns whether anything changed.
bool replace_phrase(std::string& s, const std::string& from, const std::string& to) {
    bool changed = false;
    size_t pos = 0;
    while ((pos = s.find(from, pos)) != std::string::npos) {
        auto boundary = [&](size_t i) { return i >= s.size() || !(std::isalnum((unsigned char)s[i]) || (unsigned char)s[i] >= 0x80 || s[i] == '\''); };
        bool left = pos == 0 || boundary(pos - 1);
        bool right = boundary(pos + from.size());
        if (left && right && from != to) {
            s.replace(pos, from.size(), to);
            pos += to.size();
            changed = true;
        } else {
            pos += from.size();
        }
    }
    return changed;
}

void apply_typo(Rng& rng, std::string& text, const std::string& kind) {
    auto words = split_words(text);
    std::vector<size_t> cand;
    for (size_t i = 0; i < words.size(); i++)
        if (!protected_word(words[i]) && chars_of(words[i]).size() >= 4) cand.push_back(i);
    if (cand.empty()) return;
    std::string& w = words[cand[size_t(rng.uniform(int(cand.size())))]];
    auto ch = chars_of(w);
    // positions of letters, not the first (people rarely mistype the first letter)
    std::vector<size_t> pos;
    for (size_t i = 1; i < ch.size(); i++)
        if (is_letter(ch[i])) pos.push_back(i);
    if (pos.empty()) return;
    size_t p = pos[size_t(rng.uniform(int(pos.size())))];
    if (kind == "typo_swap") {
        size_t q = p + 1 < ch.size() ? p + 1 : p - 1;
        std::swap(ch[p], ch[q]);
    } else if (kind == "typo_drop") {
        ch.erase(ch.begin() + long(p));
    } else if (kind == "typo_double") {
        ch.insert(ch.begin() + long(p), ch[p]);
    } else {  // typo_neighbor
        if (ch[p].size() == 1) {
            const char* nb = neighbours(ch[p][0]);
            if (*nb) ch[p] = std::string(1, nb[rng.uniform(int(std::strlen(nb)))]);
        }
    }
    w = join_chars(ch);
    text = join_words(words);
}

void apply_noise(Rng& rng, std::string& text, const std::string& kind, int lang, int bank) {
    const LangNoise& ln = kNoise[lang];
    auto pick = [&](const std::vector<const char*>& v) { return std::string(v[size_t(rng.uniform(int(v.size())))]); };
    if (kind.rfind("typo_", 0) == 0) {
        apply_typo(rng, text, kind);
    } else if (kind == "no_accents") {
        text = strip_accents(text);
    } else if (kind == "slang") {
        bool any = false;
        for (const auto& [from, to] : ln.slang[bank]) any |= replace_phrase(text, from, to);
        if (!any) text += " " + std::string(ln.slang[bank][0].second);  // at least one slang word
    } else if (kind == "upper") {
        text = to_upper(text);
    } else if (kind == "lower") {
        text = to_lower(text);
    } else if (kind == "emoji") {
        std::string e = pick(kEmoji[bank]);
        if (rng.chance(300)) e += e;
        text = rng.chance(200) ? e + " " + text : text + " " + e;
    } else if (kind == "no_punct") {
        std::string o;
        for (const auto& ch : chars_of(text))
            if (ch != "?" && ch != "!" && ch != "." && ch != "," && ch != "\xC2\xBF" && ch != "\xC2\xA1") o += ch;
        text = o;
        while (!text.empty() && text.back() == ' ') text.pop_back();
    } else if (kind == "filler") {
        text = pick(ln.filler[bank]) + (rng.chance(500) ? ", " : " ") + text;
    } else if (kind == "politeness") {
        if (rng.chance(700)) text += (rng.chance(500) ? ", " : " ") + pick(ln.polite[bank]);
        else text = pick(ln.polite[bank]) + " " + text;
    } else if (kind == "elongate") {
        // "pleaseee", "holaaa": the last letter of a word stretched
        auto words = split_words(text);
        std::vector<size_t> cand;
        for (size_t i = 0; i < words.size(); i++)
            if (!protected_word(words[i]) && !words[i].empty() && std::isalpha((unsigned char)words[i].back())) cand.push_back(i);
        if (!cand.empty()) {
            std::string& w = words[cand[size_t(rng.uniform(int(cand.size())))]];
            w += std::string(size_t(2 + rng.uniform(3)), w.back());
            text = join_words(words);
        }
    } else if (kind == "no_space") {
        // two neighbouring words run together, never touching a number
        auto words = split_words(text);
        std::vector<size_t> cand;
        for (size_t i = 0; i + 1 < words.size(); i++)
            if (!protected_word(words[i]) && !protected_word(words[i + 1])) cand.push_back(i);
        if (!cand.empty()) {
            size_t i = cand[size_t(rng.uniform(int(cand.size())))];
            words[i] += words[i + 1];
            words.erase(words.begin() + long(i) + 1);
            text = join_words(words);
        }
    } else {
        fail("intent generator: unknown noise kind \"%s\"", kind.c_str());
    }
}

}  // namespace

// The hand-written messages (lower case), which no generated example may be: they stay unseen in training.
static const std::set<std::string>& handwritten_texts() {
    static const std::set<std::string> k = [] {
        std::set<std::string> out;
        for (const EvalItem& it : parse_eval_text(handwritten_jsonl(), "handwritten.jsonl")) out.insert(to_lower(it.text));
        return out;
    }();
    return k;
}

Example Generator::next() {
    for (int attempt = 0;; attempt++) {
        Example e = draw();
        if (attempt >= 1000 || !handwritten_texts().count(to_lower(e.text))) return e;
    }
}

Example Generator::draw() {
    const int bank = bank_ == Bank::train ? 0 : 1;
    // action mix (per mille): add 180, remove 100, view 80, checkout 80, search 120, price 120, track 80,
    // cancel 70, return 90, other 80
    static const std::vector<int> action_w = {180, 100, 80, 80, 120, 120, 80, 70, 90, 80};
    const char* action = actions()[size_t(rng_.weighted(action_w))].name;
    int frame = langs_[size_t(rng_.uniform(int(langs_.size())))];
    int prod_lang = frame;
    if (langs_.size() > 1 && rng_.chance(opt_.mix_per_mille)) {
        while (prod_lang == frame) prod_lang = langs_[size_t(rng_.uniform(int(langs_.size())))];
    }

    // Candidates: the templates, and (train bank) the patterns, each pattern weighing as much as 3 templates.
    constexpr int kPatternWeight = 3;
    std::vector<const char*> texts;
    std::vector<const std::vector<std::string>*> patterns;
    auto scan = [&](const Template* b, const Template* e) {
        for (const Template* t = b; t != e; ++t)
            if (t->lang == frame && !std::strcmp(t->action, action)) texts.push_back(t->text);
    };
    if (bank_ == Bank::train) scan(std::begin(kTrainTemplates), std::end(kTrainTemplates));
    else scan(std::begin(kTestTemplates), std::end(kTestTemplates));
    if (bank_ == Bank::train) {
        const auto& ex = pattern_expansions();
        for (size_t i = 0; i < ex.size(); i++)
            if (!ex[i].empty() && kTrainPatterns[i].lang == frame && !std::strcmp(kTrainPatterns[i].action, action))
                patterns.push_back(&ex[i]);
    }
    const int n_cands = int(texts.size() + kPatternWeight * patterns.size());
    if (n_cands == 0) fail("intent generator: no template for %s in %s", action, languages()[size_t(frame)].c_str());
    const int pick = rng_.uniform(n_cands);
    std::string text;
    if (pick < int(texts.size())) {
        text = texts[size_t(pick)];
    } else {
        const std::vector<std::string>& alts = *patterns[(size_t(pick) - texts.size()) / kPatternWeight];
        text = alts[size_t(rng_.uniform(int(alts.size())))];
    }

    Example ex;
    ex.gold.action = action;
    size_t open = text.find('{');
    if (open != std::string::npos) {
        size_t close = text.find('}', open);
        std::string slot = text.substr(open + 1, close - open - 1);
        const int n_products = int(catalog().products.size());
        if (deck_.empty()) {
            for (int p = n_products - 1; p >= 0; p--) deck_.push_back(p);
            for (int i = n_products - 1; i > 0; i--) std::swap(deck_[size_t(i)], deck_[size_t(rng_.uniform(i + 1))]);
        }
        const int product = deck_.back();
        deck_.pop_back();
        Built b = fill_slot(rng_, slot, prod_lang, bank, product,
                            noun_turn_[size_t(product) * languages().size() + size_t(prod_lang)]++);
        text.replace(open, close - open + 1, b.text);
        ex.gold.product = b.product;
        ex.gold.quantity = b.quantity;
    }
    bool mixed = prod_lang != frame;
    if (mixed && open == std::string::npos) {
        // no product slot: mix by a word or two from the second language (filler or politeness)
        const LangNoise& ln = kNoise[prod_lang];
        text = rng_.chance(500) ? std::string(ln.filler[bank][0]) + ", " + text : text + ", " + ln.polite[bank][0];
    }
    // Templates are written in sentence case in some languages and not in others; flip the first letter half
    // the time so that casing never tells the language (or the bank) apart.
    if (!text.empty() && std::isalpha((unsigned char)text[0]) && rng_.chance(500))
        text[0] = std::isupper((unsigned char)text[0]) ? char(std::tolower((unsigned char)text[0]))
                                                       : char(std::toupper((unsigned char)text[0]));
    if (rng_.chance(opt_.noise_per_mille)) {
        const auto& kinds = noise_kinds(bank_);
        int k = 1 + rng_.weighted({500, 350, 150});
        std::vector<std::string> chosen;
        while (int(chosen.size()) < k) {
            const std::string& kind = kinds[size_t(rng_.uniform(int(kinds.size())))];
            if (std::find(chosen.begin(), chosen.end(), kind) != chosen.end()) continue;
            if ((kind == "upper" || kind == "lower") &&
                (std::find(chosen.begin(), chosen.end(), "upper") != chosen.end() ||
                 std::find(chosen.begin(), chosen.end(), "lower") != chosen.end()))
                continue;
            chosen.push_back(kind);
        }
        // lexical noise first, then letters, then case / punctuation, emoji last (the order a typist makes them)
        auto rank = [](const std::string& k) {
            if (k == "filler" || k == "politeness") return 0;
            if (k == "slang") return 1;
            if (k == "upper" || k == "lower") return 3;
            if (k == "no_punct") return 4;
            if (k == "emoji") return 5;
            return 2;
        };
        std::stable_sort(chosen.begin(), chosen.end(), [&](const std::string& a, const std::string& b) { return rank(a) < rank(b); });
        int noise_lang = mixed && rng_.chance(300) ? prod_lang : frame;
        for (const auto& kind : chosen) apply_noise(rng_, text, kind, noise_lang, bank);
        ex.noise = chosen;
    }
    ex.text = text;
    ex.lang = languages()[size_t(frame)] + (mixed ? "+" + languages()[size_t(prod_lang)] : "");
    return ex;
}

std::string to_jsonl(const Example& e) {
    json::Value msgs = json::Value::array();
    auto msg = [](const char* role, const std::string& content) {
        json::Value m = json::Value::object();
        m.set("role", role);
        m.set("content", content);
        return m;
    };
    msgs.push_back(msg("system", system_prompt()));
    msgs.push_back(msg("user", e.text));
    msgs.push_back(msg("assistant", canonical_text(e.gold)));
    json::Value v = json::Value::object();
    v.set("messages", msgs);
    v.set("lang", e.lang);
    json::Value noise = json::Value::array();
    for (const auto& n : e.noise) noise.push_back(n);
    v.set("noise", noise);
    return v.dump();
}

DatasetCounts write_dataset(const std::string& dir, int n, int n_test, const GenOptions& opt, bool progress) {
    if (n < 10) fail("gen-data: --n must be at least 10 (got %d)", n);
    if (n_test < 1) fail("gen-data: --n-test must be at least 1 (got %d)", n_test);
    // construct the generators first: bad options fail before any file is created
    Generator train_gen(opt, Bank::train), test_gen(opt, Bank::test);
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec) fail("gen-data: cannot create directory %s: %s", dir.c_str(), ec.message().c_str());

    // Disk check before the work: the size of a sample of lines from a generator of the same options, times
    // the number asked for, against the space free in DIR.
    {
        Generator sample(opt, Bank::train);
        uint64_t bytes = 0;
        const int k = 200;
        for (int i = 0; i < k; i++) bytes += to_jsonl(sample.next()).size() + 1;
        const double need = double(bytes) / k * (double(n) + double(n_test)) * 1.1;
        struct statvfs vfs;
        if (::statvfs(dir.c_str(), &vfs) == 0) {
            const double avail = double(vfs.f_bavail) * double(vfs.f_frsize);
            if (need > avail)
                fail("gen-data: %d + %d examples need about %.1f MB, but %s has %.1f MB free", n, n_test, need / 1e6,
                     dir.c_str(), avail / 1e6);
        }
    }
    // All three outputs exist (as temporaries) before the first example is made.
    OutputFile train(dir + "/train.jsonl"), val(dir + "/val.jsonl"), test(dir + "/test.jsonl"),
        handwritten(dir + "/handwritten.jsonl");
    DatasetCounts c;
    const int64_t total = int64_t(n) + n_test;
    Progress bar("gen-data", "examples", "examples/s", 1.0, progress, 1.0);
    auto tick = [&](int64_t done) { bar.update(double(done), double(total)); };
    for (int i = 0; i < n; i++) {
        std::string line = to_jsonl(train_gen.next()) + "\n";
        if (i % 10 == 9) { val.write(line); c.val++; }  // every tenth example: exactly 10% validation
        else { train.write(line); c.train++; }
        if ((i & 255) == 0) tick(i);
    }
    for (int i = 0; i < n_test; i++) {
        test.write(to_jsonl(test_gen.next()) + "\n");
        c.test++;
        if ((i & 255) == 0) tick(int64_t(n) + i);
    }
    tick(total);
    bar.finish();
    train.commit();
    val.commit();
    test.commit();
    handwritten.write(std::string_view(handwritten_jsonl()));
    handwritten.commit();
    return c;
}

std::vector<Example> few_shot_examples(int k) {
    GenOptions opt;
    opt.seed = 20261127;
    opt.noise_per_mille = 300;
    Generator g(opt, Bank::train);
    std::vector<Example> out;
    // take actions in turn (SPEC order) so the shots cover the schema's cases
    size_t want = 0;
    for (int guard = 0; int(out.size()) < k && guard < 100000; guard++) {
        Example e = g.next();
        if (e.gold.action == actions()[want % actions().size()].name) {
            out.push_back(std::move(e));
            want++;
        }
    }
    return out;
}

}  // namespace slm::intent
