pub mod domain;
pub mod sandbox;
