#include "progress.h"

#include <algorithm>
#include <cstdio>

#include "common.h"

namespace slm {

std::string fmt_duration(double s) {
    if (!(s >= 0) || s > 1e7) return "?";
    const int t = int(s + 0.5);
    if (t >= 3600) return strfmt("%dh%02dm", t / 3600, t / 60 % 60);
    if (t >= 60) return strfmt("%dm%02ds", t / 60, t % 60);
    return strfmt("%ds", t);
}

Progress::Progress(std::string label, std::string item, std::string rate_unit, double work_scale, bool enabled,
                   double delay, double interval)
    : label_(std::move(label)), item_(std::move(item)), rate_unit_(std::move(rate_unit)), scale_(work_scale),
      delay_(delay), interval_(interval), enabled_(enabled), start_(std::chrono::steady_clock::now()), last_(start_) {}

double Progress::seconds() const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
}

void Progress::update(double done, double total, double work_done, double work_total, const std::string& extra) {
    if (!enabled_ || finished_) return;
    const auto now = std::chrono::steady_clock::now();
    const double el = std::chrono::duration<double>(now - start_).count();
    const bool last_one = done >= total;
    if (!last_one && (el < delay_ || (shown_ && std::chrono::duration<double>(now - last_).count() < interval_))) return;
    if (last_one && !shown_ && el < delay_) return;  // finished before anything needed showing
    if (last_one && final_shown_) return;
    final_shown_ = last_one;
    last_ = now;
    const double rate = work_done / scale_ / std::max(el, 1e-9);
    const double eta = rate > 0 ? std::max(0.0, work_total - work_done) / scale_ / rate : -1;
    std::fprintf(stderr, "\r%s: %.0f/%.0f %s, %.1f %s, ETA %s%s%s   ", label_.c_str(), done, total, item_.c_str(), rate,
                 rate_unit_.c_str(), fmt_duration(eta).c_str(), extra.empty() ? "" : ", ", extra.c_str());
    std::fflush(stderr);
    shown_ = true;
}

void Progress::finish() {
    if (shown_ && !finished_) std::fprintf(stderr, "\n");
    finished_ = true;
}

}  // namespace slm
