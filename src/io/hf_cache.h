// Checkpoint folders named by a Hugging Face repo id ("Datadog/Toto-Open-Base-1.0"), found in
// the local Hugging Face cache, offline. fcast never downloads: a model fetched on a connected
// machine with `huggingface-cli download ORG/NAME` (or any huggingface_hub call) lands in
//   $HF_HUB_CACHE, else $HF_HOME/hub, else $XDG_CACHE_HOME/huggingface/hub, else
//   ~/.cache/huggingface/hub
// as models--ORG--NAME/snapshots/<revision>/ (refs/main names the revision).
//
//   std::string dir = resolve_model_dir("Datadog/Toto-Open-Base-1.0", "--model");
//
// Thread-safe (reads the environment and the file system only).
#pragma once
#include <string>

namespace fcast {

// True when `s` has the form of a repo id: ORG/NAME, one slash, no leading '.', '/' or '~'.
bool looks_like_repo_id(const std::string& s);

// The hub cache folder the variables above select.
std::string hf_hub_cache_dir();

// `given` when it is an existing path; else, for a repo id, its snapshot folder in the hub cache
// (the revision refs/main names, else the only or newest snapshot). Throws fcast::Error naming
// `flag`, the folder looked up and how to fetch the model when neither exists.
std::string resolve_model_dir(const std::string& given, const std::string& flag);

}  // namespace fcast
