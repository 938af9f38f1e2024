// Tiny command-line helper shared by the subcommands: `--name value`, `--name=value`, `-x value`, flags and
// positionals. Unknown options and missing values are errors that name the option.
#pragma once
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "common.h"

namespace slm::cli {

class Args {
public:
    // value_opts: options that take a value ("-m", "--model", ...); flag_opts: options that take none.
    // "--help"/"-h" is always a flag. Throws slm::Error on unknown options or a missing value.
    Args(int argc, char** argv, const std::set<std::string>& value_opts, const std::set<std::string>& flag_opts);

    bool help() const { return has("--help") || has("-h"); }
    bool has(const std::string& opt) const;
    // Last value given for any of the aliases (e.g. {"-m", "--model"}).
    std::string get(const std::vector<std::string>& names, const std::string& def = "") const;
    bool given(const std::vector<std::string>& names) const;
    std::string require(const std::vector<std::string>& names) const;  // error names the option when absent
    int64_t get_int(const std::vector<std::string>& names, int64_t def) const;
    double get_float(const std::vector<std::string>& names, double def) const;
    const std::vector<std::string>& positionals() const { return pos_; }

private:
    std::multimap<std::string, std::string> vals_;
    std::set<std::string> flags_;
    std::vector<std::string> pos_;
};

}  // namespace slm::cli
