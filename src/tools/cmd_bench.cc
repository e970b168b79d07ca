// Placeholder until `fcast bench` lands.
#include "tools/commands.h"
namespace fcast::tools {
void register_bench(CLI::App&) {}
}  // namespace fcast::tools
