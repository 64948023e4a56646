//! infer stage.
