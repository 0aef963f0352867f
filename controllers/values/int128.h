#pragma once

// The compiler's 128-bit integers, for exact fixed-point arithmetic (money × time, nano-unit
// quantities). Not absl::int128: the callers use constexpr arithmetic and the
// __builtin_*_overflow checks, which need the built-in types. __extension__ keeps -Wpedantic
// quiet about them.

namespace bursar::values {

__extension__ typedef __int128 Int128;
__extension__ typedef unsigned __int128 UInt128;

}  // namespace bursar::values
