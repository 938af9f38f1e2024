// The one way slm opens a file it reads (models, tokenizers, data sets, reports to compare).
//
// The type of the path is checked before anything can block: a FIFO, a device or a socket given as an input
// would make open() or read() wait forever (or read without end), so every input must be a regular file, and
// the file is opened non-blocking before its type is known. Errors name the path and say what it is.
#pragma once
#include <cstdint>
#include <string>

namespace slm {

// Opens `path` for reading; returns the file descriptor (the caller closes it). `what` says what the file
// should be, for the error ("a GGUF file", "a tokenizer file", "a JSONL file"). Fails (slm::Error) on a missing
// path, a directory, or anything that is not a regular file.
int open_input(const std::string& path, const char* what);

// Reads a whole regular file into memory. Files larger than max_bytes are refused with an error naming the
// path (nothing is allocated for them).
std::string read_input_file(const std::string& path, const char* what, uint64_t max_bytes = uint64_t(1) << 32);

// From this call on, the process remembers every file it opens through open_input, and an OutputFile whose
// target is one of them is refused (output_file.h): the command-line tool calls it once at start, so `slm
// quantize a.gguf a.gguf` fails instead of replacing the user's file. (Off by default: a test process that
// writes and reads the same files over many cases would otherwise refuse its own later writes.)
void remember_inputs();
// The path an input was opened under, if the file (dev, ino) is a remembered input; "" otherwise.
std::string remembered_input(uint64_t dev, uint64_t ino);

// Whether a and b name one existing file (same device and inode, whatever the spelling or links).
bool same_existing_file(const std::string& a, const std::string& b);

}  // namespace slm
