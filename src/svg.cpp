#include "svg.h"

#include <algorithm>
#include <cmath>

#include "common.h"

namespace slm::svg {

std::string escape(std::string_view s) {
    std::string o;
    o.reserve(s.size());
    for (char c : s) {
        switch (c) {
            case '&': o += "&amp;"; break;
            case '<': o += "&lt;"; break;
            case '>': o += "&gt;"; break;
            case '"': o += "&quot;"; break;
            case '\'': o += "&apos;"; break;
            default:
                // Control characters are not allowed in XML 1.0: drop them.
                if (static_cast<unsigned char>(c) >= 0x20 || c == '\t' || c == '\n') o += c;
        }
    }
    return o;
}

Doc::Doc(double width, double height) : w_(width), h_(height) {}

void Doc::rect(double x, double y, double w, double h, const std::string& fill, const std::string& title,
               const std::string& stroke) {
    body_ += strfmt("<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\"", x, y, w, h,
                    escape(fill).c_str());
    if (!stroke.empty()) body_ += strfmt(" stroke=\"%s\"", escape(stroke).c_str());
    if (title.empty()) {
        body_ += "/>\n";
    } else {
        body_ += "><title>" + escape(title) + "</title></rect>\n";
    }
}

void Doc::line(double x1, double y1, double x2, double y2, const std::string& stroke, double width) {
    body_ += strfmt("<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" stroke-width=\"%.1f\"/>\n",
                    x1, y1, x2, y2, escape(stroke).c_str(), width);
}

void Doc::text(double x, double y, std::string_view s, double size, const std::string& anchor, double rotate,
               const std::string& fill) {
    body_ += strfmt("<text x=\"%.1f\" y=\"%.1f\" font-size=\"%.1f\" text-anchor=\"%s\" fill=\"%s\"", x, y, size,
                    escape(anchor).c_str(), escape(fill).c_str());
    if (rotate != 0) body_ += strfmt(" transform=\"rotate(%.1f %.1f %.1f)\"", rotate, x, y);
    body_ += ">" + escape(s) + "</text>\n";
}

void Doc::linear_gradient(const std::string& id, const std::vector<std::pair<double, std::string>>& stops) {
    defs_ += "<linearGradient id=\"" + escape(id) + "\" x1=\"0\" y1=\"0\" x2=\"1\" y2=\"0\">\n";
    for (const auto& [off, color] : stops)
        defs_ += strfmt("<stop offset=\"%.3f\" stop-color=\"%s\"/>\n", off, escape(color).c_str());
    defs_ += "</linearGradient>\n";
}

std::string Doc::str() const {
    std::string s = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
    s += strfmt("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\" "
                "font-family=\"sans-serif\">\n",
                w_, h_, w_, h_);
    if (!defs_.empty()) s += "<defs>\n" + defs_ + "</defs>\n";
    s += strfmt("<rect x=\"0\" y=\"0\" width=\"%.0f\" height=\"%.0f\" fill=\"#ffffff\"/>\n", w_, h_);
    s += body_;
    s += "</svg>\n";
    return s;
}

std::string ramp_color(double t) {
    // Five stops close to viridis: readable in grey scale too, since lightness rises monotonically.
    static const double stops[5][3] = {
        {68, 1, 84}, {59, 82, 139}, {33, 145, 140}, {94, 201, 98}, {253, 231, 37},
    };
    if (!(t >= 0)) t = 0;  // also NaN
    if (t > 1) t = 1;
    double pos = t * 4;
    int i = std::min(3, int(pos));
    double f = pos - i;
    int c[3];
    for (int k = 0; k < 3; ++k) c[k] = int(std::lround(stops[i][k] + (stops[i + 1][k] - stops[i][k]) * f));
    return strfmt("#%02x%02x%02x", c[0], c[1], c[2]);
}

}  // namespace slm::svg
