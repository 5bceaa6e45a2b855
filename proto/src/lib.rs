//! The messages between the wamux supervisor and its workers, and how they travel.
//!
//! One worker process runs one WhatsApp Web session. It connects to the supervisor's Unix
//! socket and the two exchange length-prefixed [postcard] frames (see [`frame`]):
//!
//! 1. The worker sends [`Hello`] with [`PROTOCOL_VERSION`] and its session id.
//! 2. The supervisor answers [`HelloReply::Welcome`], or [`HelloReply::Refused`] and closes the
//!    socket when the version differs or the session id is not the one it started.
//! 3. From then on the worker sends [`WorkerEvent`]s and the supervisor sends
//!    [`SupervisorCommand`]s, each direction independent of the other.
//! 4. Either side closing its end is a clean stop ([`frame::read_frame`] returns `Ok(None)`); a
//!    socket that ends inside a frame is an error, so a crash is never mistaken for a goodbye.
//!
//! An isolated worker's browser reaches the web over a second socket, the egress ([`egress`]).

pub mod egress;
pub mod frame;
mod messages;

pub use egress::{EgressFailure, EgressReply, EgressRequest};
pub use frame::{FrameError, MAX_FRAME_LEN, read_frame, write_frame};
pub use messages::*;
