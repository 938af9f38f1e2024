// The one way slm writes a file (models, adapters, checkpoints, reports, logits, data sets).
//
//     OutputFile out(path);            // BEFORE the work: checks the target, creates the temporary
//     ... hours of work ...
//     out.write(bytes, n);             // as often as needed (buffered)
//     out.commit();                    // flush, fsync, rename over the target; the file is now there
//
// What it guarantees:
// - A target that exists and is not a regular file (a device such as /dev/null, a FIFO, a directory, a
//   socket) is refused with an error naming it; a symlink is followed only if it points at a regular file (the
//   rename then replaces the link, never the file it points to).
// - The temporary file is created in the target's own folder (so the rename is atomic and stays on one file
//   system) with an unpredictable name, exclusively (O_CREAT | O_EXCL | O_NOFOLLOW): a planted file or symlink
//   cannot redirect the write.
// - The data is written to disk (fsync) before the rename, so a crash leaves the old file or the new one,
//   never a torn one.
// - Creating the OutputFile is what fails when the folder is missing or not writable, so a command that
//   constructs its outputs first fails in a second instead of after the work.
// - An OutputFile destroyed without commit() (an exception, an early return) removes its temporary; the target
//   is left untouched.
// - While an OutputFile is open, its target is the command's output: an input opened with input_file.h that is
//   the same file (same device and inode, whatever the path spelling or link) is refused, so `slm quantize
//   a.gguf a.gguf` fails before the work instead of replacing the user's file. An output meant to replace what
//   the command reads (a training checkpoint that --resume continues) says so with Replaces::input.
// Every error is an slm::Error naming the target path (never only the temporary's name).
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace slm {

class OutputFile {
public:
    enum class Replaces { nothing_read, input };
    explicit OutputFile(const std::string& path, Replaces replaces = Replaces::nothing_read);
    ~OutputFile();  // removes the temporary unless committed
    OutputFile(OutputFile&& o) noexcept;
    OutputFile& operator=(OutputFile&&) = delete;
    OutputFile(const OutputFile&) = delete;
    OutputFile& operator=(const OutputFile&) = delete;

    const std::string& path() const { return path_; }

    void write(const void* data, size_t n);
    void write(std::string_view s) { write(s.data(), s.size()); }
    // Bytes written so far.
    size_t size() const { return written_; }

    // Flushes, fsyncs and renames the temporary over the target. After it, write() and commit() fail.
    void commit();

    // Checks that `path` could be written by an OutputFile (the folder exists; the target is absent or a regular
    // file) without creating anything: for options checked before an OutputFile is opened.
    static void check_target(const std::string& path);

    // The target of an open OutputFile (not marked Replaces::input) that is the file (dev, ino), or "".
    static std::string open_target(uint64_t dev, uint64_t ino);

private:
    void flush();
    std::string path_, tmp_;
    int fd_ = -1;
    bool committed_ = false;
    bool registered_ = false;
    size_t written_ = 0;
    std::string buf_;
};

// Writes a whole file through an OutputFile (small outputs whose content is ready).
void write_output_file(const std::string& path, std::string_view content);
// Opens path, lets fill() write into it, commits (the writers' write(path) forms).
void write_output_file(const std::string& path, const std::function<void(OutputFile&)>& fill);

// Collects what a writer emits in memory (the writers' to_bytes forms share their file code this way).
struct MemorySink {
    std::vector<uint8_t> bytes;
    void write(const void* p, size_t n) {
        const uint8_t* b = static_cast<const uint8_t*>(p);
        bytes.insert(bytes.end(), b, b + n);
    }
    void write(std::string_view s) { write(s.data(), s.size()); }
};
// The bytes emit(sink) writes, in memory.
template <class Emit>
std::vector<uint8_t> emitted_bytes(Emit&& emit) {
    MemorySink sink;
    emit(sink);
    return std::move(sink.bytes);
}

}  // namespace slm
