//! `lmtally-parsers`: pure parsers for FlexLM / FlexNet debug logs.
//!
//! No I/O. [`frame::Framer`] cuts bytes into lines, [`line::parse_line`] reads one line (envelope,
//! usage message, date anchor, session reset), and [`dater::Dater`] gives each line of one file its
//! date. The contract is `shared/spec/realtime-users-count.md`, sections 1 and 2.

pub mod date;
pub mod dater;
pub mod frame;
pub mod line;

pub use date::{Day, Instant};
pub use dater::Dater;
pub use frame::{Framed, Framer};
pub use line::{parse_line, Line, Msg, ResetScope, UsageKind};
