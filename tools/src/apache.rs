//! The Apache importer lives in `ringkeeper-import` so that the server can run it on its
//! first start; `rk-import` and the tests reach it through this name.

pub use ringkeeper_import::*;
