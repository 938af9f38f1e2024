// A tiny SVG writer for slm's charts: shapes and text appended to a string, every text and attribute escaped,
// so the output is always well-formed XML.
#pragma once
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace slm::svg {

// Escapes &, <, >, " and ' for XML text and attribute values.
std::string escape(std::string_view s);

class Doc {
public:
    Doc(double width, double height);
    // A rectangle; a non-empty title becomes a tooltip (<title> child).
    void rect(double x, double y, double w, double h, const std::string& fill, const std::string& title = "",
              const std::string& stroke = "");
    void line(double x1, double y1, double x2, double y2, const std::string& stroke, double width = 1);
    // anchor: "start", "middle" or "end"; rotate: degrees around (x, y).
    void text(double x, double y, std::string_view s, double size = 12, const std::string& anchor = "start",
              double rotate = 0, const std::string& fill = "#222");
    // A horizontal linear gradient usable as fill="url(#id)" (stops: offset 0..1 and colour).
    void linear_gradient(const std::string& id, const std::vector<std::pair<double, std::string>>& stops);
    std::string str() const;  // the complete document

private:
    double w_, h_;
    std::string defs_, body_;
};

// "#rrggbb" for t in [0, 1] on a perceptually ordered ramp (dark blue -> teal -> green -> yellow).
std::string ramp_color(double t);

}  // namespace slm::svg
