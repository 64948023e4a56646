//! count stage.
