#pragma once

// Heap bytes in use, for the memory benchmarks: glibc's small-block heap (uordblks) and the big
// blocks it maps on their own (hblkhd: a hash table's slot array or a long vector; mallinfo2's
// uordblks alone leaves them out).
#include <malloc.h>

#include <cstddef>

namespace bursar {

inline size_t HeapBytesInUse() {
  const struct mallinfo2 info = mallinfo2();
  return info.uordblks + info.hblkhd;
}

}  // namespace bursar
