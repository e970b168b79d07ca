// Placeholder until `fcast predict toto` lands.
#include "tools/commands.h"
namespace fcast::tools {
void register_predict_toto(CLI::App&) {}
}  // namespace fcast::tools
