// STUB: replaced when `slm quantize` lands.
#include "commands.h"
#include "common.h"

namespace slm::cli {

int cmd_quantize(int, char**) { fail("quantize: not implemented yet"); }


}  // namespace slm::cli
