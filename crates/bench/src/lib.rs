//! Shared measuring helpers for the side-by-side benchmarks.
