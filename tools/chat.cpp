// STUB: replaced when `slm chat` lands.
#include "commands.h"
#include "common.h"

namespace slm::cli {

int cmd_chat(int, char**) { fail("chat: not implemented yet"); }


}  // namespace slm::cli
