#pragma once

// YAML to json::Value trees, so one set of decoders (controllers/api/codec.h) reads both the
// files a user hands to `bursar simulate` and the JSON the API server returns. Every YAML input
// goes through here: manifests, scenarios, `bursar run --config` and kubeconfig files (which is
// why it sits below both controllers/api and operator/kube).
//
// Scalars are typed by the YAML 1.2 core schema, not YAML 1.1: `yes` and `on` stay strings and
// `0755` is the decimal 755 (octal is `0o755`). Plain `null`, `~` and empty values
// become null; `true`/`false` (also True, TRUE...) become booleans; integers (also 0x.. and
// 0o.., stored in decimal) and floats (also .inf and .nan) become numbers that keep their
// source text; anything quoted, block-scalar or tagged !!str is a string. Every value carries
// its 1-based source line; a block mapping or list under a key carries the key's line, so that
// messages about it point at the key. Duplicate mapping keys are an error, as in
// `kubectl apply`. Errors read `<source>:<line>:<col>: <reason>`. yaml-cpp exceptions never
// escape.
//
// Hostile input is bounded, never a crash: text over 4 MiB is refused before parsing (the largest
// manifest here, a CRD, is 41 KB; yaml-cpp may hold 100-250 bytes per byte of a flow collection,
// so 4 MiB bounds it near 1 GB, and brackets nested over 100 deep are refused from the text);
// collections nest at most 100 levels ("nesting deeper than 100 levels"); an alias inside the
// collection it names is a cycle and an error; and a whole file, aliases counted as the copies
// they make, expands to at most 1,000,000 values and 64 MiB of scalars ("billion laughs").
// Pitfall: yaml-cpp 0.7's LoadAll cannot be guarded from outside. It builds a node graph in
// which an alias is its anchor, so `&a [*a]` is a cycle any tree walk follows forever, and on a
// stray top-level `,` its parser reports an empty document at the same place forever, which
// LoadAll collects until memory runs out (a one-byte file took 2.8 GB in 4 s). So this reads
// yaml-cpp's parse events (YAML::Parser with our EventHandler) and builds the tree itself with
// an explicit stack: it stops the parser (by throwing from the handler) the moment a document
// starts where the previous one did, or a limit is crossed, before anything is allocated.

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "operator/json/json.h"

namespace bursar::yaml {

// Parses every document of a `---`-separated stream; empty documents (only comments, or
// nothing between two `---`) are skipped, so the result may be empty.
absl::StatusOr<std::vector<json::Value>> ParseYamlDocuments(std::string_view text,
                                                            std::string_view source_name);

// Reads and parses a file; `path` is the source name in messages. NotFound when it cannot be
// opened.
absl::StatusOr<std::vector<json::Value>> ReadYamlFile(const std::string& path);

}  // namespace bursar::yaml
