#include "args.h"

#include <cerrno>
#include <cmath>
#include <cstdlib>

namespace slm::cli {

Args::Args(int argc, char** argv, const std::set<std::string>& value_opts, const std::set<std::string>& flag_opts) {
    for (int i = 1; i < argc; i++) {
        std::string a = argv[i];
        if (a == "--") {
            for (i++; i < argc; i++) pos_.push_back(argv[i]);
            break;
        }
        if (a.size() > 1 && a[0] == '-' && !(a.size() > 1 && (isdigit((unsigned char)a[1]) || a[1] == '.'))) {
            std::string name = a, value;
            bool has_eq = false;
            if (size_t eq = a.find('='); eq != std::string::npos && a.rfind("--", 0) == 0) {
                name = a.substr(0, eq);
                value = a.substr(eq + 1);
                has_eq = true;
            }
            if (name == "--help" || name == "-h" || flag_opts.count(name)) {
                if (has_eq) fail("option %s takes no value", name.c_str());
                flags_.insert(name);
            } else if (value_opts.count(name)) {
                if (!has_eq) {
                    if (i + 1 >= argc) fail("option %s needs a value", name.c_str());
                    value = argv[++i];
                }
                vals_.emplace(name, value);
            } else {
                fail("unknown option %s (see --help)", name.c_str());
            }
        } else {
            pos_.push_back(a);
        }
    }
}

bool Args::has(const std::string& opt) const { return flags_.count(opt) > 0 || vals_.count(opt) > 0; }

bool Args::given(const std::vector<std::string>& names) const {
    for (const auto& n : names) if (has(n)) return true;
    return false;
}

std::string Args::get(const std::vector<std::string>& names, const std::string& def) const {
    // the last occurrence among the aliases wins; multimap keeps insertion order per key only, so compare
    // across keys by scanning (argument lists are tiny)
    std::string out = def;
    for (const auto& n : names) {
        auto r = vals_.equal_range(n);
        for (auto it = r.first; it != r.second; ++it) out = it->second;
    }
    return out;
}

std::string Args::require(const std::vector<std::string>& names) const {
    if (!given(names)) fail("missing required option %s (see --help)", names.empty() ? "?" : names.back().c_str());
    return get(names);
}

int64_t Args::get_int(const std::vector<std::string>& names, int64_t def) const {
    if (!given(names)) return def;
    std::string v = get(names);
    errno = 0;
    char* end = nullptr;
    long long x = std::strtoll(v.c_str(), &end, 10);
    if (v.empty() || errno || !end || *end) fail("option %s: expected an integer, got \"%s\"", names.back().c_str(), v.c_str());
    return x;
}

double Args::get_float(const std::vector<std::string>& names, double def) const {
    if (!given(names)) return def;
    std::string v = get(names);
    errno = 0;
    char* end = nullptr;
    double x = std::strtod(v.c_str(), &end);
    if (v.empty() || errno || !end || *end || !std::isfinite(x))
        fail("option %s: expected a finite number, got \"%s\"", names.back().c_str(), v.c_str());
    return x;
}

}  // namespace slm::cli
