//! The benchmarks of bearer-guard (see BENCHMARKS.md); the library target
//! is empty, the benchmarks are the `[[bench]]` targets beside it.
