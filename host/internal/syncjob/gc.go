package syncjob

// exportHeadroom is how far the heap may grow past its live heap during an
// export before the GC collects (proto/gcheadroom): a fixed distance rather
// than Go's doubling, so the export's peak is the same at 100,000 and
// 1,000,000 variants. Only the one-shot export does this (Runner.Export,
// `acs-connector feed export`); the daemon's runs keep Go's defaults, which
// suit the hooks served by the same heap.
const exportHeadroom = 32 << 20
