// STUB: replaced when `slm run` lands.
#include "commands.h"
#include "common.h"

namespace slm::cli {

int cmd_run(int, char**) { fail("run: not implemented yet"); }


}  // namespace slm::cli
