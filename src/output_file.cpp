#include "output_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <random>

#include "common.h"
#include "input_file.h"

namespace slm {

namespace {

std::string dir_of(const std::string& path) {
    size_t s = path.find_last_of('/');
    if (s == std::string::npos) return ".";
    if (s == 0) return "/";
    return path.substr(0, s);
}

std::string base_of(const std::string& path) {
    size_t s = path.find_last_of('/');
    return s == std::string::npos ? path : path.substr(s + 1);
}

// The target must be absent or a regular file (stat follows a symlink: a link to a regular file is fine, the
// rename replaces the link itself).
void check_existing(const std::string& path) {
    struct stat st;
    if (::stat(path.c_str(), &st) != 0) {
        if (errno == ENOENT) {
            struct stat lst;  // a dangling symlink: refuse rather than guess what it was meant to be
            if (::lstat(path.c_str(), &lst) == 0 && S_ISLNK(lst.st_mode))
                fail("%s: is a symbolic link to nothing; refusing to write over it", path.c_str());
            return;
        }
        fail("%s: cannot check the output path: %s", path.c_str(), std::strerror(errno));
    }
    if (S_ISDIR(st.st_mode)) fail("%s: is a directory, expected a file name to write", path.c_str());
    if (!S_ISREG(st.st_mode))
        fail("%s: exists and is not a regular file (a device, FIFO or socket); refusing to replace it", path.c_str());
}

// The targets of the open OutputFiles: by canonical path (two outputs on one file) and, where the target
// existed, by (device, inode) (input_file.h refuses to read it).
struct Target {
    bool exists;            // dev and ino are known (the target existed when the OutputFile was made)
    uint64_t dev, ino;
    std::string canonical;  // the target's absolute path with links and dots resolved (as far as it exists)
    std::string path;
    bool replaces_input;    // Replaces::input: the command may read this file before replacing it
    const OutputFile* self;
};

std::string canonical_of(const std::string& path) {
    std::error_code ec;
    std::filesystem::path p = std::filesystem::weakly_canonical(std::filesystem::absolute(path, ec), ec);
    return ec ? path : p.string();
}
std::mutex g_targets_mu;
std::vector<Target> g_targets;

void forget_target(const OutputFile* self) {
    std::lock_guard<std::mutex> lk(g_targets_mu);
    for (size_t i = 0; i < g_targets.size(); i++)
        if (g_targets[i].self == self) {
            g_targets.erase(g_targets.begin() + long(i));
            return;
        }
}

}  // namespace

std::string OutputFile::open_target(uint64_t dev, uint64_t ino) {
    std::lock_guard<std::mutex> lk(g_targets_mu);
    for (const Target& t : g_targets)
        if (t.exists && t.dev == dev && t.ino == ino && !t.replaces_input) return t.path;
    return "";
}

void OutputFile::check_target(const std::string& path) {
    if (path.empty()) fail("empty output file name");
    if (path.back() == '/') fail("%s: is a directory name, expected a file name to write", path.c_str());
    check_existing(path);
    const std::string dir = dir_of(path);
    struct stat st;
    if (::stat(dir.c_str(), &st) != 0)
        fail("%s: cannot write: folder %s: %s", path.c_str(), dir.c_str(), std::strerror(errno));
    if (!S_ISDIR(st.st_mode)) fail("%s: cannot write: %s is not a folder", path.c_str(), dir.c_str());
}

OutputFile::OutputFile(const std::string& path, Replaces replaces) : path_(path) {
    check_target(path);
    // Two outputs of one command on the same file would leave only the last one written.
    struct stat st;
    const bool exists = ::stat(path.c_str(), &st) == 0;
    const std::string canon = canonical_of(path);
    {
        std::lock_guard<std::mutex> lk(g_targets_mu);
        for (const Target& t : g_targets)
            if (t.canonical == canon || (exists && t.exists && t.dev == uint64_t(st.st_dev) && t.ino == uint64_t(st.st_ino)))
                fail("%s: is already an output of this command (as %s)", path.c_str(), t.path.c_str());
    }
    if (exists && replaces == Replaces::nothing_read) {
        const std::string in = remembered_input(uint64_t(st.st_dev), uint64_t(st.st_ino));
        if (!in.empty())
            fail("%s: is also an input of this command (%s); refusing to replace it: write the output to another file",
                 path.c_str(), in.c_str());
    }
    const std::string dir = dir_of(path), base = base_of(path);
    std::random_device rd;
    std::mt19937_64 rng((uint64_t(rd()) << 32) ^ rd() ^ uint64_t(::getpid()));
    for (int attempt = 0; attempt < 100; attempt++) {
        const std::string tmp = strfmt("%s/.%s.%016llx.tmp", dir.c_str(), base.c_str(), (unsigned long long)rng());
        int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0666);
        if (fd >= 0) {
            fd_ = fd;
            tmp_ = tmp;
            std::lock_guard<std::mutex> lk(g_targets_mu);
            g_targets.push_back({exists, exists ? uint64_t(st.st_dev) : 0, exists ? uint64_t(st.st_ino) : 0, canon,
                                 path, replaces == Replaces::input, this});
            registered_ = true;
            return;
        }
        if (errno != EEXIST) fail("%s: cannot create a file in %s: %s", path.c_str(), dir.c_str(), std::strerror(errno));
    }
    fail("%s: cannot create a temporary file in %s (100 names taken)", path.c_str(), dir.c_str());
}

OutputFile::OutputFile(OutputFile&& o) noexcept
    : path_(std::move(o.path_)), tmp_(std::move(o.tmp_)), fd_(o.fd_), committed_(o.committed_),
      registered_(o.registered_), written_(o.written_), buf_(std::move(o.buf_)) {
    o.fd_ = -1;
    o.committed_ = true;
    if (registered_) {
        std::lock_guard<std::mutex> lk(g_targets_mu);
        for (Target& t : g_targets)
            if (t.self == &o) t.self = this;
        o.registered_ = false;
    }
}

OutputFile::~OutputFile() {
    if (registered_) forget_target(this);
    if (fd_ >= 0) ::close(fd_);
    if (!committed_ && !tmp_.empty()) ::unlink(tmp_.c_str());
}

void OutputFile::flush() {
    size_t done = 0;
    while (done < buf_.size()) {
        ssize_t r = ::write(fd_, buf_.data() + done, buf_.size() - done);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) fail("%s: write failed: %s", path_.c_str(), std::strerror(errno));
        done += size_t(r);
    }
    buf_.clear();
}

void OutputFile::write(const void* data, size_t n) {
    if (fd_ < 0) fail("%s: write after commit", path_.c_str());
    constexpr size_t kBuf = size_t(1) << 20;
    const char* p = static_cast<const char*>(data);
    if (buf_.size() + n > kBuf) flush();
    if (n >= kBuf) {
        buf_.assign(p, n);  // large blocks go straight through
        flush();
    } else {
        buf_.append(p, n);
    }
    written_ += n;
}

void OutputFile::commit() {
    if (fd_ < 0) fail("%s: committed twice", path_.c_str());
    flush();
    if (::fsync(fd_) != 0) fail("%s: fsync failed: %s", path_.c_str(), std::strerror(errno));
    int fd = fd_;
    fd_ = -1;
    if (::close(fd) != 0) fail("%s: close failed: %s", path_.c_str(), std::strerror(errno));
    check_existing(path_);  // again: something may have appeared at the target while the work ran
    if (::rename(tmp_.c_str(), path_.c_str()) != 0)
        fail("%s: cannot move the finished file into place: %s", path_.c_str(), std::strerror(errno));
    committed_ = true;
    if (registered_) forget_target(this), registered_ = false;
    // Make the rename itself durable (best effort: some file systems refuse fsync on a folder).
    int dfd = ::open(dir_of(path_).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        (void)::fsync(dfd);
        ::close(dfd);
    }
}

void write_output_file(const std::string& path, std::string_view content) {
    write_output_file(path, [&](OutputFile& f) { f.write(content); });
}

void write_output_file(const std::string& path, const std::function<void(OutputFile&)>& fill) {
    OutputFile f(path);
    fill(f);
    f.commit();
}

}  // namespace slm
