// STUB: replaced when `slm logits` lands.
#include "commands.h"
#include "common.h"

namespace slm::cli {

int cmd_logits(int, char**) { fail("logits: not implemented yet"); }


}  // namespace slm::cli
