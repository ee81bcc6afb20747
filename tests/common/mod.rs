//! Helpers shared by the black-box tests. Each test binary uses only part of them.
#![allow(dead_code)]

pub mod contract;
