// STUB: replaced when `slm tokenize` lands.
#include "commands.h"
#include "common.h"

namespace slm::cli {

int cmd_tokenize(int, char**) { fail("tokenize: not implemented yet"); }
int cmd_detokenize(int, char**) { fail("detokenize: not implemented yet"); }

}  // namespace slm::cli
