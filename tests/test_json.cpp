#include "json.h"

#include "common.h"
#include "test_util.h"

using slm::json::Value;

TEST_CASE("json: parse and dump round trip") {
    Value v = slm::json::parse(R"({"action": "add_to_cart", "product": "t-shirt", "quantity": 2, "x": [1.5, true, null, "é\n"]})");
    CHECK(v.at("action").as_string() == "add_to_cart");
    CHECK(v.at("quantity").is_integer());
    CHECK(v.at("quantity").as_int() == 2);
    CHECK(v.at("x")[0].as_number() == 1.5);
    CHECK(v.at("x")[2].is_null());
    CHECK(v.at("x")[3].as_string() == "é\n");
    CHECK(v.dump() == R"({"action": "add_to_cart", "product": "t-shirt", "quantity": 2, "x": [1.5, true, null, "é\n"]})");
    CHECK(slm::json::parse(v.dump(2)) == v);
}

TEST_CASE("json: integers and floats are different") {
    CHECK(slm::json::parse("2").is_integer());
    CHECK_FALSE(slm::json::parse("2.0").is_integer());
    CHECK_FALSE(slm::json::parse("2e0").is_integer());
    CHECK(slm::json::parse("\"2\"") != slm::json::parse("2"));
    CHECK(slm::json::parse("-0").as_int() == 0);
}

TEST_CASE("json: unicode escapes and surrogate pairs") {
    CHECK(slm::json::parse(R"("\u00e9\ud83d\ude00")").as_string() == "é\xF0\x9F\x98\x80");
    CHECK(slm::json::parse(R"("\ud83d")").as_string() == "\xEF\xBF\xBD");
}

TEST_CASE("json: object comparison ignores key order") {
    CHECK(slm::json::parse(R"({"a":1,"b":null})") == slm::json::parse(R"({"b": null, "a": 1})"));
    CHECK(slm::json::parse(R"({"a":1})") != slm::json::parse(R"({"a":1,"b":2})"));
}

TEST_CASE("json: bad input is a clear error") {
    const char* bad[] = {"", "{", "[1,]", "{\"a\" 1}", "tru", "\"abc", "01", "1.", "{\"a\":1}x", "\"\x01\"", "\"\xff\"", "[1 2]", "-"};
    for (const char* b : bad) {
        std::string err;
        Value v;
        CHECK_MESSAGE(!slm::json::try_parse(b, &v, &err), b);
        CHECK(err.find("JSON line") != std::string::npos);
    }
    std::string deep(100000, '[');
    CHECK_THROWS_AS(slm::json::parse(deep), slm::Error);
}

TEST_CASE("json: large objects parse in linear time, duplicate keys keep the last value") {
    std::string text = "{";
    for (int i = 0; i < 200000; i++) text += (i ? ",\"k" : "\"k") + std::to_string(i) + "\": " + std::to_string(i);
    text += ", \"k7\": -1}";
    Value v = slm::json::parse(text);
    CHECK(v.size() == 200000);
    CHECK(v.at("k199999").as_int() == 199999);
    CHECK(v.at("k7").as_int() == -1);
}

TEST_CASE("json: value_end finds where the first object closes (strings and escapes respected)") {
    CHECK(slm::json::value_end(R"({"a": 1})") == 8);
    CHECK(slm::json::value_end(R"({"a": "}"} tail)") == 10);
    CHECK(slm::json::value_end(R"({"a": "\"}"}x)") == 12);
    CHECK(slm::json::value_end(R"({"a": {"b": [1]}})") == 17);
    CHECK(slm::json::value_end(R"({"a": 1)") == std::string::npos);
    CHECK(slm::json::value_end("no json here") == std::string::npos);
    CHECK(slm::json::value_end("} x") == 1);
}
