// STUB: replaced when `slm eval` lands.
#include "commands.h"
#include "common.h"

namespace slm::cli {

int cmd_eval(int, char**) { fail("eval: not implemented yet"); }


}  // namespace slm::cli
