// STUB: replaced when `slm audit` lands.
#include "commands.h"
#include "common.h"

namespace slm::cli {

int cmd_audit(int, char**) { fail("audit: not implemented yet"); }


}  // namespace slm::cli
