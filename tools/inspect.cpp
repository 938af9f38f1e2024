// STUB: replaced when `slm inspect` lands.
#include "commands.h"
#include "common.h"

namespace slm::cli {

int cmd_inspect(int, char**) { fail("inspect: not implemented yet"); }


}  // namespace slm::cli
