//! Holds only the renamed-dependency test in `tests/`.
