// The one progress line of long jobs, on stderr, redrawn in place:
//   "quantize: 12/147 tensors, 85.3 MB/s, ETA 1m05s"
// The count is in items (tensors, lines, tokens, examples); the rate and ETA come from the work done, which may
// be counted in another unit (bytes for MB/s) so uneven items do not skew them. Redrawn at most every
// `interval` seconds (always at the end), and only once `delay` seconds have passed, so quick jobs stay quiet.
#pragma once
#include <chrono>
#include <string>

namespace slm {

// "42s", "3m07s", "2h05m" ("?" for negative or absurd values).
std::string fmt_duration(double seconds);

class Progress {
public:
    // label: "quantize"; item: "tensors"; rate_unit: what work/second is shown in ("MB/s", "tok/s", ...);
    // work_scale: work units per rate unit (1e6 for bytes shown as MB/s).
    Progress(std::string label, std::string item, std::string rate_unit, double work_scale = 1.0,
             bool enabled = true, double delay = 0.0, double interval = 0.5);
    // done/total items; work_done/work_total for the rate and ETA; extra is appended ("exact 41.2%").
    void update(double done, double total, double work_done, double work_total, const std::string& extra = "");
    void update(double done, double total, const std::string& extra = "") { update(done, total, done, total, extra); }
    // Ends the line (if anything was printed).
    void finish();
    ~Progress() { finish(); }
    double seconds() const;

private:
    std::string label_, item_, rate_unit_;
    double scale_, delay_, interval_;
    bool enabled_, shown_ = false, finished_ = false, final_shown_ = false;
    std::chrono::steady_clock::time_point start_, last_;
};

}  // namespace slm
