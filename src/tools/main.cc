// fcast: the command-line entry point. Each subcommand is registered from its own file.
// Exit status: 0 success, 1 an error while working (a message names the problem), 2 a usage
// error (unknown or missing option or subcommand), with a did-you-mean where one is close.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <cctype>
#include <iostream>

#include "core/error.h"
#include "tools/commands.h"

namespace {

using fcast::cat;

// Edit distance, for the did-you-mean of a mistyped option or subcommand.
size_t distance(const std::string& a, const std::string& b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

// The closest of `names` to `word`, or "" when none is close enough to be a typo.
std::string closest(const std::string& word, const std::vector<std::string>& names) {
  std::string best;
  size_t best_d = std::max<size_t>(2, word.size() / 3) + 1;
  for (const std::string& n : names) {
    const size_t d = distance(word, n);
    // A prefix counts as close too ("--pred" for "--prediction-length").
    const size_t score = n.rfind(word, 0) == 0 && word.size() >= 4 ? 1 : d;
    if (score < best_d) {
      best_d = score;
      best = n;
    }
  }
  return best;
}

std::vector<CLI::App*> all_subcommands(CLI::App* app) {
  return app->get_subcommands([](CLI::App*) { return true; });
}

std::vector<std::string> option_names(CLI::App* app) {
  std::vector<std::string> out;
  for (CLI::Option* o : app->get_options()) {
    for (const std::string& n : o->get_lnames()) out.push_back("--" + n);
    for (const std::string& n : o->get_snames()) out.push_back("-" + n);
  }
  return out;
}

std::string command_path(CLI::App* app) {
  std::string path;
  for (CLI::App* a = app; a; a = a->get_parent()) path = a->get_name() + (path.empty() ? "" : " " + path);
  return path;
}

// The subcommand the words name, from `app` down; *rest gets the first word that names none.
CLI::App* walk(CLI::App* app, const std::vector<std::string>& words, std::string* rest) {
  CLI::App* cur = app;
  for (const std::string& w : words) {
    CLI::App* next = nullptr;
    for (CLI::App* s : all_subcommands(cur))
      if (s->get_name() == w) next = s;
    if (!next) {
      if (rest) *rest = w;
      return cur;
    }
    cur = next;
  }
  return cur;
}

// The message of a usage error, with a did-you-mean for the first unknown option or
// subcommand of the deepest subcommand the command line reached.
std::string usage_message(CLI::App& app, const CLI::ParseError& e, const std::vector<std::string>& args) {
  CLI::App* cur = &app;
  std::vector<std::string> words;  // the subcommand path the command line took
  for (;;) {
    CLI::App* next = nullptr;
    for (CLI::App* s : cur->get_subcommands())
      if (s->parsed()) next = s;
    if (!next) break;
    cur = next;
    words.push_back(cur->get_name());
  }
  std::string msg = cat(command_path(cur), ": ", e.what());
  std::string hint;
  // A command that needs a subcommand and got none: the first word is a mistyped one.
  if (cur->get_subcommands().empty() && cur->get_require_subcommand_min() > 0) {
    std::vector<std::string> names;
    for (CLI::App* s : all_subcommands(cur)) names.push_back(s->get_name());
    size_t seen = 0;
    for (const std::string& arg : args) {
      if (seen < words.size() && arg == words[seen]) {
        ++seen;
        continue;
      }
      if (arg.empty() || arg[0] == '-') continue;
      const std::string near = closest(arg, names);
      std::string list;
      for (const std::string& n : names) list += (list.empty() ? "" : ", ") + n;
      hint = cat("unknown command '", arg, "'", near.empty() ? "" : cat("; did you mean '", near, "'?"),
                 " (commands: ", list, ")");
      break;
    }
  }
  const std::vector<std::string> known = option_names(cur);
  for (const std::string& arg : args) {
    if (!hint.empty()) break;
    if (arg.size() < 2 || arg[0] != '-' || arg == "--") continue;
    if (std::isdigit(static_cast<unsigned char>(arg[1])) || arg[1] == '.') continue;  // a negative number
    const std::string name = arg.substr(0, arg.find('='));
    if (std::find(known.begin(), known.end(), name) != known.end()) continue;
    bool elsewhere = false;  // an option of a command on the path (CLI11 checks it there)
    for (CLI::App* a = cur->get_parent(); a; a = a->get_parent()) {
      const auto up = option_names(a);
      elsewhere = elsewhere || std::find(up.begin(), up.end(), name) != up.end();
    }
    if (elsewhere || name == "-h" || name == "--help") continue;
    const std::string near = closest(name, known);
    hint = near.empty() ? cat("unknown option ", name) : cat("unknown option ", name, "; did you mean ", near, "?");
    break;
  }
  if (!hint.empty()) msg += " (" + hint + ")";
  msg += cat("\nRun `", command_path(cur), " --help` (or `fcast help", words.empty() ? "" : " ", [&] {
               std::string w;
               for (const std::string& s : words) w += (w.empty() ? "" : " ") + s;
               return w;
             }(),
             "`) for the options.");
  return msg;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"fcast: time-series forecasting engine for Toto, Kronos and the other registered models (eager and "
               "compiled execution)"};
  app.name("fcast");
  app.require_subcommand(1);
  app.set_version_flag("--version", FCAST_VERSION);
  fcast::tools::register_predict(app);
  fcast::tools::register_init_model(app);
  fcast::tools::register_golden(app);
  fcast::tools::register_bench(app);
  fcast::tools::register_config(app);
  fcast::tools::register_compile(app);
  fcast::tools::register_stress(app);
  fcast::tools::register_profile(app);
  fcast::tools::register_serve(app);
  fcast::tools::register_loadtest(app);
  fcast::tools::register_backtest(app);
  // `fcast help [COMMAND...]`: the help of a command, as `fcast COMMAND... --help` prints it.
  std::vector<std::string> help_words;
  CLI::App* help = app.add_subcommand("help", "Show the help of fcast or of a command: fcast help predict toto");
  help->add_option("command", help_words, "Command path, e.g. predict toto");
  help->callback([&] {
    std::string rest;
    CLI::App* target = walk(&app, help_words, &rest);
    if (!rest.empty()) {
      std::vector<std::string> names;
      for (CLI::App* s : all_subcommands(target)) names.push_back(s->get_name());
      const std::string near = closest(rest, names);
      throw fcast::tools::UsageError(cat("fcast help: no command '", rest, "' under '", command_path(target), "'",
                           near.empty() ? "" : cat("; did you mean '", near, "'?")));
    }
    // App::help() would describe the subcommand parsed last (`help` itself): format the target.
    std::cout << target->get_formatter()->make_help(target, target->get_name(), CLI::AppFormatMode::Normal);
  });

  std::vector<std::string> args(argv + 1, argv + argc);
  try {
    app.parse(argc, argv);
  } catch (const CLI::RuntimeError& e) {
    return e.get_exit_code();  // a command's own exit status (stress interrupted: 130; bench: a missed target)
  } catch (const CLI::ParseError& e) {
    // --help, --help-all and --version end the parse with an exit code of 0.
    if (e.get_exit_code() == 0) return app.exit(e);
    std::cerr << "fcast: usage error: " << usage_message(app, e, args) << "\n";
    return 2;
  } catch (const fcast::tools::UsageError& e) {
    std::cerr << "fcast: usage error: " << e.what() << "\n";
    return 2;
  } catch (const fcast::Error& e) {
    std::cerr << "fcast: error: " << e.what() << "\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "fcast: error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
