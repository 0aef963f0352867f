#pragma once

// Text from users (a YAML value, a file name, a CSV cell) reaches error messages and terminals.
// A raw control byte there rings the bell, moves the cursor or hides the rest of the line, so
// every message shown to a person passes through EscapeControlBytes first.
// Pitfall: '\n' is kept, because multi-line messages use it as their separator; callers that
// need one line must quote the value (api::Quote) instead.

#include <string>
#include <string_view>

namespace bursar::values {

// `text` with every control byte other than '\n' (0x00-0x1f, 0x7f) written as `\xHH`, e.g. a
// bell as `\x07`. Other bytes, UTF-8 included, are kept as they are.
std::string EscapeControlBytes(std::string_view text);

}  // namespace bursar::values
