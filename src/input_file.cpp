#include "input_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <mutex>
#include <vector>

#include "common.h"
#include "output_file.h"

namespace slm {

namespace {
struct Remembered {
    uint64_t dev, ino;
    std::string path;
};
std::mutex g_inputs_mu;
bool g_remember = false;
std::vector<Remembered> g_inputs;
}  // namespace

void remember_inputs() {
    std::lock_guard<std::mutex> lk(g_inputs_mu);
    g_remember = true;
}

std::string remembered_input(uint64_t dev, uint64_t ino) {
    std::lock_guard<std::mutex> lk(g_inputs_mu);
    for (const Remembered& r : g_inputs)
        if (r.dev == dev && r.ino == ino) return r.path;
    return "";
}

int open_input(const std::string& path, const char* what) {
    if (path.empty()) fail("empty file name (expected %s)", what);
    // O_NONBLOCK: opening a FIFO without a writer would otherwise wait forever. It is cleared again once the
    // file is known to be regular (where it makes no difference anyway).
    int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        if (errno == ENOENT) fail("%s: cannot open: no such file (expected %s)", path.c_str(), what);
        fail("%s: cannot open: %s (expected %s)", path.c_str(), std::strerror(errno), what);
    }
    struct stat st;
    if (::fstat(fd, &st) != 0) {
        int e = errno;
        ::close(fd);
        fail("%s: cannot stat: %s", path.c_str(), std::strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        ::close(fd);
        const char* kind = S_ISDIR(st.st_mode)    ? "a directory"
                           : S_ISFIFO(st.st_mode) ? "a FIFO (named pipe)"
                           : S_ISCHR(st.st_mode)  ? "a character device"
                           : S_ISBLK(st.st_mode)  ? "a block device"
                           : S_ISSOCK(st.st_mode) ? "a socket"
                                                  : "not a regular file";
        fail("%s: is %s, expected %s", path.c_str(), kind, what);
    }
    const std::string out = OutputFile::open_target(uint64_t(st.st_dev), uint64_t(st.st_ino));
    if (!out.empty()) {
        ::close(fd);
        fail("%s: is also this command's output (%s); it would be replaced by what is read from it: write the "
             "output to another file", path.c_str(), out.c_str());
    }
    {
        std::lock_guard<std::mutex> lk(g_inputs_mu);
        if (g_remember && g_inputs.size() < 4096) g_inputs.push_back({uint64_t(st.st_dev), uint64_t(st.st_ino), path});
    }
    int fl = ::fcntl(fd, F_GETFL);
    if (fl >= 0) (void)::fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
    return fd;
}

bool same_existing_file(const std::string& a, const std::string& b) {
    struct stat sa, sb;
    return !a.empty() && !b.empty() && ::stat(a.c_str(), &sa) == 0 && ::stat(b.c_str(), &sb) == 0 &&
           sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

std::string read_input_file(const std::string& path, const char* what, uint64_t max_bytes) {
    int fd = open_input(path, what);
    struct Closer {
        int fd;
        ~Closer() { ::close(fd); }
    } closer{fd};
    struct stat st;
    if (::fstat(fd, &st) != 0) fail("%s: cannot stat: %s", path.c_str(), std::strerror(errno));
    if (uint64_t(st.st_size) > max_bytes)
        fail("%s: %llu bytes, more than the %llu this reader accepts (expected %s)", path.c_str(),
             (unsigned long long)st.st_size, (unsigned long long)max_bytes, what);
    std::string out(size_t(st.st_size), '\0');
    size_t done = 0;
    while (done < out.size()) {
        ssize_t r = ::read(fd, out.data() + done, out.size() - done);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) fail("%s: read failed: %s", path.c_str(), std::strerror(errno));
        if (r == 0) break;  // the file shrank: keep what is there
        done += size_t(r);
    }
    out.resize(done);
    return out;
}

}  // namespace slm
