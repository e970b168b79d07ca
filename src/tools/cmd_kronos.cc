// Placeholder until the Kronos commands land.
#include "tools/commands.h"
namespace fcast::tools {
void register_predict_kronos(CLI::App&) {}
void register_init_kronos(CLI::App&) {}
}  // namespace fcast::tools
