// STUB: replaced when `slm gen-data` lands.
#include "commands.h"
#include "common.h"

namespace slm::cli {

int cmd_gen_data(int, char**) { fail("gen-data: not implemented yet"); }


}  // namespace slm::cli
