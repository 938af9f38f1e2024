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

}  // namespace slm
