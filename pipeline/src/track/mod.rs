//! track stage.
